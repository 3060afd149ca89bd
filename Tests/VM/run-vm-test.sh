#!/usr/bin/env bash
# End-to-end tests of seed-agent on a real Debian bookworm guest (systemd, Debian kernel) under qemu.
# Each scenario is a guest script (guest-SCENARIO.sh) run by a unit at every boot; the disk is
# booted again until the script prints DONE (at most 3 boots). Fails loudly on any RESULT FAIL or a
# missing DONE. No network: -nic none.
#   prep: check, apply, reboot and verify, apply again (0 writes), reset (byte-identical), kill -9 mid-apply
#   join: drop a join file, the .path unit starts the agent, containerd up, kubelet/kube-proxy installed
#   master: seed init on Debian's plaintext etcd: mutual TLS, control-plane units, a join file, reset
#   powercut: the power cut at random points of the agent's first run and of seed init (KUBESEED_POWER_CUTS
#             each, default 1; Tests/VM/run-powercuts.sh runs 5): the next run converges, reset restores
#   real: seed init with real Kubernetes 1.20.2 (Tests/Kubernetes/build-kubernetes.sh): a Ready node, a pod,
#         logs, exec, a Service through IPVS, the approver and TLS bootstrap against the real API server
#   bench: not a test; Benchmarks/run.sh reads its BENCH lines
# Usage: Tests/VM/run-vm-test.sh [--keep] [SCENARIO...]   (default: all; KUBESEED_VM_TIMEOUT per boot, default 600 s;
#        KUBESEED_VM_CPU the guests' CPU model, default qemu64)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
timeout_s=${KUBESEED_VM_TIMEOUT:-600}
keep=
scenarios=()
for arg in "$@"; do
  case "$arg" in
    --keep) keep=--keep ;;
    *) scenarios+=("$arg") ;;
  esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(prep join master powercut real)
# The guests' CPU model: qemu64 has no AVX, so glibc's and Go's copies and hashes stay on the SSE2 paths,
# which TCG emulates more cheaply (the real scenario's seed init 137 s against 186 s with -cpu max).
# Benchmarks/run.sh keeps max, the model its table was measured on.
cpu_model=${KUBESEED_VM_CPU:-qemu64}
# Power cuts per run in the powercut scenario (each of the agent's first run and of seed init).
cuts=${KUBESEED_POWER_CUTS:-1}
start=$(date +%s)

if [ "$(id -u)" != 0 ]; then echo "run-vm-test: needs root (debootstrap, mkfs -d)" >&2; exit 1; fi
for tool in qemu-system-x86_64 debootstrap mkfs.ext4 debugfs; do
  command -v "$tool" >/dev/null || { echo "run-vm-test: $tool is missing (apt-get install qemu-system-x86 debootstrap e2fsprogs)" >&2; exit 1; }
done

image=$("$here/build-image.sh")
echo "run-vm-test: image $image"
k8s=
if printf '%s\n' "${scenarios[@]}" | grep -qx real; then
  k8s=$("$repo/Tests/Kubernetes/build-kubernetes.sh")
  echo "run-vm-test: Kubernetes $k8s ($(cat "$k8s/build-info" | tr '\n' ' '))"
fi

echo "run-vm-test: release build (static Swift runtime)"
(cd "$repo" && swift build -c release --static-swift-stdlib 2>&1 | tail -n 3)
# What the .deb ships: the one binary, seed, and seed-agent as a symlink to it (packaging/build-deb.sh).
binary="$repo/.build/release/seed"

work_root=$(mktemp -d /tmp/kubeseed-vmtest.XXXXXX)
cleanup() { if [ "$keep" = --keep ]; then echo "run-vm-test: kept $work_root"; else rm -rf "$work_root"; fi; }
trap cleanup EXIT

# Test data made here for the join scenario: a throwaway CA (openssl) and a join file using it.
make_join_file() {
  local dir=$1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 30 -nodes -subj /CN=kubernetes-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  {
    echo "apiVersion: kubeseed.io/v1alpha1"
    echo "kind: JoinConfiguration"
    echo "cluster:"
    echo "  name: vmtest"
    echo "  kubernetesVersion: v1.31.2"
    echo "  apiServerEndpoints: [\"https://127.0.0.2:6443\", \"https://127.0.0.3:6443\"]"
    echo "  caCertificate: |"
    sed 's/^/    /' "$dir/ca.pem"
    echo "bootstrap:"
    echo "  token: abcdef.0123456789abcdef"
    echo "  expires: \"$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)\""
    echo "node:"
    echo "  name: worker-1"
    echo "host:"
    echo "  timezone: Asia/Shanghai"
    echo "  dataDir: /srv/kubeseed-data"
  } > "$dir/join.yaml"
  # The API server stand-ins' certificate (the join scenario's balancer checks them against this CA).
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=kube-apiserver-stand-in \
    -keyout "$dir/standin.key" -out "$dir/standin.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3\nextendedKeyUsage=serverAuth\n' > "$dir/standin.ext"
  openssl x509 -req -in "$dir/standin.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 30 \
    -extfile "$dir/standin.ext" -out "$dir/standin.pem" 2>/dev/null
  rm -f "$dir/ca.key"
}

total_passed=0
total_failed=0
status=0
for scenario in "${scenarios[@]}"; do
  guest="$here/guest-$scenario.sh"
  [ -f "$guest" ] || { echo "run-vm-test: no scenario '$scenario' ($guest)" >&2; exit 1; }
  work="$work_root/$scenario"
  mkdir -p "$work"
  echo "==== scenario $scenario"
  stage="$work/rootfs"
  cp -a "$image/rootfs" "$stage"
  install -m 0755 "$binary" "$stage/usr/bin/seed"
  ln -s seed "$stage/usr/bin/seed-agent"
  # Debian's etcd-server starts a plaintext etcd at boot; only the master scenario keeps it (to take it over).
  [ "$scenario" = master ] || [ "$scenario" = powercut ] || rm -f "$stage/etc/systemd/system/multi-user.target.wants/etcd.service"
  install -m 0644 "$repo/units/seed-agent.service" "$repo/units/seed-agent.path" "$stage/lib/systemd/system/"
  install -D -m 0755 "$guest" "$stage/usr/local/lib/kubeseed-vmtest/guest.sh"
  install -m 0644 "$here/guest-lib.sh" "$stage/usr/local/lib/kubeseed-vmtest/guest-lib.sh"
  install -D -m 0644 "$here/agent.yaml" "$stage/usr/local/lib/kubeseed-vmtest/agent.yaml"
  if [ "$scenario" = powercut ]; then
    echo "$cuts" > "$stage/usr/local/lib/kubeseed-vmtest/cuts"
    printf 'apiVersion: kubeseed.io/v1alpha1\nkind: ClusterConfiguration\ncluster:\n  name: powercut\nmaster:\n  name: master-1\n' \
      > "$stage/usr/local/lib/kubeseed-vmtest/cluster.yaml"
  fi
  if [ "$scenario" = join ] || [ "$scenario" = bench ] || [ "$scenario" = powercut ]; then
    make_join_file "$work" && install -m 0600 "$work/join.yaml" "$stage/usr/local/lib/kubeseed-vmtest/join.yaml"
    install -m 0600 "$work/standin.pem" "$work/standin.key" "$stage/usr/local/lib/kubeseed-vmtest/"
  fi
  if [ "$scenario" = bench ]; then
    install -m 0644 "$work/ca.pem" "$stage/usr/local/lib/kubeseed-vmtest/bench-ca.pem"
    install -m 0755 "$repo/Benchmarks/guide-node-prep.sh" "$stage/usr/local/lib/kubeseed-vmtest/guide-node-prep.sh"
  fi
  if [ "$scenario" = real ]; then
    install -d -m 0700 "$stage/usr/local/lib/kubeseed-vmtest/k8s"
    cp "$k8s/kubernetes-server-linux-amd64.tar.gz" "$k8s/pause.oci.tar" "$k8s/busybox.oci.tar" "$k8s/SHA256SUMS" "$stage/usr/local/lib/kubeseed-vmtest/k8s/"
    # seed upgrade apply's re-install: the same release rebuilt, each binary one byte longer (an ELF runs
    # as before with bytes after its last section), so every binary differs from the one installed.
    rebuild="$work/rebuild"; mkdir -p "$rebuild"
    tar -xzf "$k8s/kubernetes-server-linux-amd64.tar.gz" -C "$rebuild" \
      $(printf 'kubernetes/server/bin/%s ' kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)
    for binary in "$rebuild"/kubernetes/server/bin/*; do printf '\n' >> "$binary"; done
    tar -C "$rebuild" -cf - kubernetes | gzip -1 > "$stage/usr/local/lib/kubeseed-vmtest/k8s/kubernetes-server-rebuilt.tar.gz"
    rm -rf "$rebuild"
  fi
  install -m 0644 "$here/kubeseed-vmtest.service" "$stage/etc/systemd/system/kubeseed-vmtest.service"
  ln -s ../kubeseed-vmtest.service "$stage/etc/systemd/system/multi-user.target.wants/kubeseed-vmtest.service"
  disk="$work/disk.img"
  size=3G; memory=2048; boot_timeout=$timeout_s
  # The real control plane and kubelet need room: 430 MB of binaries, images, etcd.
  [ "$scenario" = real ] && { size=5G; memory=3072; boot_timeout=$(( timeout_s > 2400 ? timeout_s : 2400 )); }
  mkfs.ext4 -q -d "$stage" "$disk" "$size"
  rm -rf "$stage"
  echo "run-vm-test: disk ready after $(( $(date +%s) - start )) s"

  boots=3
  [ "$scenario" = powercut ] && boots=$((2 * cuts + 2))
  [ "$scenario" = real ] && boots=1
  for n in $(seq 1 "$boots"); do
    t0=$(date +%s)
    timeout "$boot_timeout" qemu-system-x86_64 -accel tcg,thread=multi -cpu "$cpu_model" -m "$memory" -smp 2 \
      -nographic -no-reboot -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
      -append "root=/dev/vda rw console=ttyS0 quiet edd=off" \
      -drive "file=$disk,format=raw,if=virtio" -nic none > "$work/console$n.log" 2>&1 || {
        echo "run-vm-test: boot $n: qemu exited $? (timeout ${boot_timeout}s?); console tail:" >&2
        tail -n 40 "$work/console$n.log" >&2
      }
    echo "run-vm-test: $scenario boot $n took $(( $(date +%s) - t0 )) s"
    debugfs -R "dump /var/lib/kubeseed-vmtest/results.txt $work/results.txt" "$disk" >/dev/null 2>&1 || true
    grep -q '^VMTEST DONE' "$work/results.txt" 2>/dev/null && break
  done

  # The guest's own record of results, read back from the disk (the console is the live copy).
  for f in check.txt apply1.txt apply2.txt reset.txt agent-journal.txt status.txt; do
    debugfs -R "dump /var/lib/kubeseed-vmtest/$f $work/$f" "$disk" >/dev/null 2>&1 || true
  done
  results="$work/results.txt"
  [ -s "$results" ] || { cat "$work"/console*.log | tr -d '\r' | grep '^VMTEST ' > "$results" || true; }
  sed -i 's/^VMTEST //' "$results"
  passed=$(grep -c '^RESULT PASS' "$results" || true)
  failed=$(grep -c '^RESULT FAIL' "$results" || true)
  echo "---- $scenario: guest results ----"
  grep -vE '^RESULT PASS' "$results" || true
  echo "---- $scenario: $passed checks passed"
  if [ "$failed" != 0 ]; then echo "run-vm-test: $scenario: $failed checks FAILED in the guest" >&2; status=1; fi
  if ! grep -q '^DONE' "$results"; then
    echo "run-vm-test: $scenario: the guest did not finish (no DONE marker); console tail:" >&2
    tail -n 60 "$(ls "$work"/console*.log | tail -n 1)" >&2 || true
    status=1
    failed=$((failed + 1))
  fi
  for f in check.txt apply1.txt apply2.txt reset.txt status.txt agent-journal.txt; do
    if [ -s "$work/$f" ]; then echo "---- $scenario: $f ----"; cat "$work/$f"; fi
  done
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
done
echo "run-vm-test: wall time $(( $(date +%s) - start )) s"
echo "vm: $total_passed passed, $total_failed failed"
[ "$status" = 0 ] && [ "$total_passed" -gt 0 ] || exit 1
