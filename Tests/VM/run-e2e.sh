#!/usr/bin/env bash
# End to end, as an operator does it, on two Debian bookworm guests (real systemd, Debian kernel)
# under qemu, linked only by a qemu `-netdev socket` on 127.0.0.1 (no route out of either guest):
#   master: apt installs the .deb, seed init (etcd healthy over mutual TLS, control-plane units),
#           seed join-file worker-1, hands the file over the link
#   worker: apt installs the .deb, receives the join file, seed-agent.path starts the agent, which
#           prepares the node, runs containerd, configures kubelet / kube-proxy for the master and reports ready
#   then both reboot: everything comes back by itself; the worker is reset and purged and compared
#   with its files before the install; the master's package is upgraded over itself, removed, purged.
# The guests' dependencies (containerd, etcd-server, …) are baked into the image (no network), so apt
# resolves them from what is installed. Prints a timeline; on failure, the guests' journal excerpts.
# Usage: Tests/VM/run-e2e.sh [--keep]   (KUBESEED_VM_TIMEOUT per boot round, default 900 s)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
timeout_s=${KUBESEED_VM_TIMEOUT:-900}
keep=${1:-}
start_ms=$(date +%s%3N)
if [ "$(id -u)" != 0 ]; then echo "run-e2e: needs root (debootstrap, mkfs -d)" >&2; exit 1; fi

image=$("$here/build-image.sh")
echo "run-e2e: image $image"
echo "run-e2e: building the package"
deb=$("$repo/packaging/build-deb.sh" "$repo/.build/deb" | tail -n 1)
echo "run-e2e: $deb ($(du -h "$deb" | cut -f1))"
lint=$(lintian --fail-on error "$deb" 2>&1) && lint_rc=0 || lint_rc=$?
echo "run-e2e: lintian: exit $lint_rc, $(echo "$lint" | grep -c '^E:' || true) errors, $(echo "$lint" | grep -c '^W:' || true) warnings"
echo "$lint" | grep '^E:' >&2 || true
work=$(mktemp -d /tmp/kubeseed-e2e.XXXXXX)
cleanup() {
  for pid in ${qemu_pids:-}; do kill "$pid" 2>/dev/null || true; done
  if [ "$keep" = --keep ]; then echo "run-e2e: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# A free port on 127.0.0.1 for the link between the guests.
port=$(shuf -i 20000-60000 -n 1)
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$(shuf -i 20000-60000 -n 1); done

stage_guest() { # NAME IP MAC
  local name=$1 ip=$2 mac=$3 stage="$work/$1-rootfs"
  cp -a "$image/rootfs" "$stage"
  install -m 0644 "$deb" "$stage/root/kubeseed.deb"
  [ "$name" = master ] || rm -f "$stage/etc/systemd/system/multi-user.target.wants/etcd.service"
  install -D -m 0755 "$here/guest-e2e-$name.sh" "$stage/usr/local/lib/kubeseed-vmtest/guest.sh"
  install -m 0644 "$here/guest-lib.sh" "$stage/usr/local/lib/kubeseed-vmtest/guest-lib.sh"
  install -m 0644 "$here/kubeseed-vmtest.service" "$stage/etc/systemd/system/kubeseed-vmtest.service"
  ln -s ../kubeseed-vmtest.service "$stage/etc/systemd/system/multi-user.target.wants/kubeseed-vmtest.service"
  # The link: a static address on the NIC (systemd-networkd), a default route to a gateway that does
  # not exist, so the master's IP is found over netlink and nothing can leave the two guests.
  mkdir -p "$stage/etc/systemd/network"
  printf '[Match]\nMACAddress=%s\n\n[Network]\nAddress=%s/24\nGateway=192.0.2.1\n' "$mac" "$ip" > "$stage/etc/systemd/network/10-kubeseed-e2e.network"
  ln -sf /lib/systemd/system/systemd-networkd.service "$stage/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
  mkdir -p "$stage/etc/systemd/system/sockets.target.wants" "$stage/etc/systemd/system/network-online.target.wants"
  ln -sf /lib/systemd/system/systemd-networkd.socket "$stage/etc/systemd/system/sockets.target.wants/systemd-networkd.socket"
  ln -sf /lib/systemd/system/systemd-networkd-wait-online.service "$stage/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service"
  echo "$name" > "$stage/etc/hostname"
  mkfs.ext4 -q -d "$stage" "$work/$name.img" 3G
  rm -rf "$stage"
}
stage_guest master 192.0.2.10 52:54:00:4b:53:10
stage_guest worker 192.0.2.11 52:54:00:4b:53:11
echo "run-e2e: disks ready after $(( ($(date +%s%3N) - start_ms) / 1000 )) s"

boot() { # NAME MAC NETDEV ROUND
  echo "TIMELINE $(date +%s%3N) $1 qemu started (round $4)" >> "$work/host-timeline.txt"
  timeout "$timeout_s" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 2048 -smp 2 \
    -nographic -no-reboot -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 quiet edd=off" \
    -drive "file=$work/$1.img,format=raw,if=virtio" \
    -netdev "socket,id=link,$3" -device "virtio-net-pci,netdev=link,mac=$2" > "$work/$1-console$4.log" 2>&1
}

for round in 1 2; do
  boot master 52:54:00:4b:53:10 "listen=127.0.0.1:$port" "$round" & master_pid=$!
  sleep 2
  boot worker 52:54:00:4b:53:11 "connect=127.0.0.1:$port" "$round" & worker_pid=$!
  qemu_pids="$master_pid $worker_pid"
  rc=0
  wait "$worker_pid" || rc=$?
  [ $rc = 0 ] || echo "run-e2e: round $round: worker qemu exited $rc (timeout ${timeout_s}s?)" >&2
  rc=0
  wait "$master_pid" || rc=$?
  [ $rc = 0 ] || echo "run-e2e: round $round: master qemu exited $rc (timeout ${timeout_s}s?)" >&2
  qemu_pids=
  echo "run-e2e: round $round done after $(( ($(date +%s%3N) - start_ms) / 1000 )) s"
done

status=0
total_passed=0
total_failed=0
for name in master worker; do
  results="$work/$name-results.txt"
  debugfs -R "dump /var/lib/kubeseed-vmtest/results.txt $results" "$work/$name.img" >/dev/null 2>&1 || true
  [ -s "$results" ] || { cat "$work/$name"-console*.log | tr -d '\r' | grep '^VMTEST ' > "$results" || true; }
  sed -i 's/^VMTEST //' "$results"
  passed=$(grep -c '^RESULT PASS' "$results" || true)
  failed=$(grep -c '^RESULT FAIL' "$results" || true)
  echo "---- $name: guest results (failures with their journal excerpt) ----"
  grep -vE '^(RESULT PASS|TIMELINE)' "$results" || true
  echo "---- $name: $passed checks passed, $failed failed"
  if ! grep -q '^DONE' "$results"; then
    echo "run-e2e: $name did not finish (no DONE marker); console tail:" >&2
    tail -n 40 "$(ls "$work/$name"-console*.log | tail -n 1)" >&2 || true
    failed=$((failed + 1))
  fi
  [ "$failed" = 0 ] || status=1
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
done

# Both guests saw the same cluster CA: the master's file and the one the worker got in its join file.
master_ca=$(sed -n 's/^CA-SHA256 //p' "$work/master-results.txt" | head -n 1)
worker_ca=$(sed -n 's/^CA-SHA256 //p' "$work/worker-results.txt" | head -n 1)
if [ -n "$master_ca" ] && [ "$master_ca" = "$worker_ca" ]; then
  echo "run-e2e: PASS the worker's CA is the master's ($master_ca)"; total_passed=$((total_passed + 1))
else
  echo "run-e2e: FAIL CA mismatch: master '$master_ca', worker '$worker_ca'" >&2; status=1; total_failed=$((total_failed + 1))
fi

echo "---- timeline (seconds since the harness started; guest clocks come from the host's RTC)"
cat "$work/host-timeline.txt" <(grep -h '^TIMELINE' "$work/master-results.txt" "$work/worker-results.txt" || true) \
  | sort -k2,2n | awk -v t0="$start_ms" '{ $1=""; ms=$2; $2=""; printf "%7.1f s %s\n", (ms - t0) / 1000, substr($0, 3) }'
echo "---- worker: seed-agent status"
sed -n 's/^STATUS | //p' "$work/worker-results.txt" | head -n 20
echo "run-e2e: wall time $(( ($(date +%s%3N) - start_ms) / 1000 )) s"
if [ "$lint_rc" = 0 ]; then total_passed=$((total_passed + 1)); else echo "run-e2e: FAIL lintian reports errors" >&2; status=1; total_failed=$((total_failed + 1)); fi
echo "e2e: $total_passed passed, $total_failed failed"
[ "$status" = 0 ] && [ "$total_passed" -gt 0 ]
