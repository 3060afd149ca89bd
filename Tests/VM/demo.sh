#!/usr/bin/env bash
# The main job, safely, on throwaway VMs instead of this machine: three Debian bookworm guests (real
# systemd, real kernel) linked only to each other, as the guide's three-master cluster. The KubeSeed
# .deb is installed on each with apt; `seed init` makes the first a master (PKI, etcd with mutual TLS,
# control-plane units); `seed join` makes the other two masters from sealed control-plane join files
# (etcd joined as learners, then promoted); every node's balancer fronts all three API servers (played
# by stand-ins: the Kubernetes binaries are not here); master-1 is powered off and comes back; master-3
# is reset and purged. Prints the timeline and the failover times. Then one more guest runs real
# Kubernetes 1.20.2 (built once from Debian's source package into the server archive a user brings):
# seed init makes it a master and a Ready node, a pod runs, and the demo ends with kubectl's view of it
# (kubectl get nodes -o wide, kubectl get pods -A -o wide).
# Run as root on a Debian machine; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/VM/host-deps.sh
Tests/VM/run-ha.sh
Tests/VM/run-vm-test.sh real
