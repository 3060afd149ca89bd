#!/usr/bin/env bash
# The main job, safely, on throwaway VMs instead of this machine: two Debian bookworm guests (real
# systemd, real kernel) linked only to each other. The KubeSeed .deb is installed on both with apt;
# `seed init` makes the first a master (PKI, etcd with mutual TLS, control-plane units); its join file
# goes to the second, where seed-agent prepares the node and reports ready; both reboot and come
# back by themselves; the worker is reset and purged. Prints the timeline and `seed-agent status`.
# Run as root on a Debian machine; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/VM/host-deps.sh
Tests/VM/run-e2e.sh
