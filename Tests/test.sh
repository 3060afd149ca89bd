#!/usr/bin/env bash
# The test command: unit tests (swift test), then the end-to-end test on a real Debian + systemd
# guest under qemu. Run as root on a Debian machine; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
source Tests/VM/host-deps.sh
echo "== swift test"
swift test
echo "== VM end-to-end test"
Tests/VM/run-vm-test.sh
