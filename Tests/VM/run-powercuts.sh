#!/usr/bin/env bash
# The long power-cut proof (not part of CI, which cuts once each): the power is cut at CUTS random
# points (default 5) of the agent's first run and of seed init on a real guest; after each cut the
# next run converges to the files an uninterrupted run wrote, the journal is whole, and reset restores
# the host. About 2 minutes per cut under TCG on 2 cores.
# Usage: Tests/VM/run-powercuts.sh [CUTS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export KUBESEED_POWER_CUTS=${1:-5}
exec "$here/run-vm-test.sh" powercut
