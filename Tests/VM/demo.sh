#!/usr/bin/env bash
# The main job, safely, on throwaway VMs instead of this machine: four Debian bookworm guests (real
# systemd, real kernel) linked only to each other, as the guide's three-master cluster and a worker,
# running real Kubernetes 1.20.2 (built once from Debian's source package into the server archive a
# user brings). The KubeSeed .deb is installed on each with apt; `seed init` makes the first a master
# (PKI, etcd with mutual TLS, the control plane); `seed join` makes the other two masters from sealed
# control-plane join files (etcd joined as learners, then promoted); the worker joins with its join
# file; every node's balancer fronts all three API servers; master-1 is powered off and comes back;
# master-3 is reset and purged. Prints the timeline, the failover times, and kubectl's view of the
# cluster after the failover.
# Run as root on a Debian machine; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/VM/host-deps.sh
Tests/VM/run-ha.sh
