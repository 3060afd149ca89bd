#!/usr/bin/env bash
# The test command: unit tests (swift test), a short fuzz run, then the end-to-end tests on real Debian + systemd
# guests under qemu: the single-guest scenarios, then the three-master story with the .deb. Run as root
# on a Debian machine; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
source Tests/VM/host-deps.sh
echo "== swift test"
swift test
echo "== fuzz smoke (every parser from its seeds, AddressSanitizer)"
Tests/fuzz-smoke.sh
echo "== VM end-to-end test (one guest per scenario)"
Tests/VM/run-vm-test.sh
echo "== VM end-to-end test (three masters, the .deb)"
Tests/VM/run-ha.sh
