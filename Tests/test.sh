#!/usr/bin/env bash
# The test command: unit tests (swift test), a short fuzz run, then the end-to-end tests on real Debian + systemd
# guests under qemu: the single-guest scenarios, then the three-master story with the .deb. Run as root
# on a Debian machine; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${KUBESEED_UPDATE_GOLDEN:-}" ]; then
  echo "test: KUBESEED_UPDATE_GOLDEN is set: every golden test would rewrite its file and pass; unset it to test" >&2
  exit 2
fi
source Tests/VM/host-deps.sh
echo "== Kubernetes 1.20.2 from Debian's source package (cached after the first build) and Debian's etcd"
KUBESEED_K8S_DIR=$(Tests/Kubernetes/build-kubernetes.sh)
KUBESEED_ETCD=$(Tests/Kubernetes/etcd-binary.sh)
export KUBESEED_K8S_DIR KUBESEED_ETCD
echo "== swift test (the real-API tests start etcd, kube-apiserver and kube-controller-manager on 127.0.0.21)"
swift test
echo "== fuzz smoke (every parser from its seeds, AddressSanitizer)"
Tests/fuzz-smoke.sh
echo "== VM end-to-end test (one guest per scenario)"
Tests/VM/run-vm-test.sh
echo "== VM end-to-end test (three masters, the .deb)"
Tests/VM/run-ha.sh
