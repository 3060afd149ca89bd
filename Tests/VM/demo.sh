#!/usr/bin/env bash
# The main job, safely: seed-agent prepares a throwaway Debian bookworm VM (real systemd, real
# kernel modules) instead of this machine — check, apply, reboot, apply again, reset — and prints
# what it did. Run as root on a Debian machine; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/VM/host-deps.sh
Tests/VM/run-vm-test.sh
