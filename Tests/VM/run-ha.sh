#!/usr/bin/env bash
# High availability end to end, as an operator does it, on three Debian bookworm guests (real systemd,
# Debian kernel) under qemu, each a master and a node: master-1 192.0.2.11, master-2 192.0.2.12,
# master-3 192.0.2.13. They are linked only to each other: a Linux bridge with one tap per guest in a
# network namespace this script creates (qemu runs inside it); no route out of any guest.
#   round 1: all three install the .deb; master-1 runs seed init and mints control-plane join files,
#            master-2 then master-3 join (one learner at a time), master-3 refusing a wrong certificate
#            key and a tampered file first; three etcd members, every balancer lists three API servers
#            (stand-ins: the Kubernetes binaries cannot be had); master-1 powers off and the others
#            measure how soon their balancers stop sending to it (FAILOVER-MS: requests every 500 ms,
#            every one printed; three connections held open across it) while etcd keeps a quorum
#   --failovers N (2-9; 1 in CI): master-1 boots and goes down N times in all, the odd times by a
#            power cut (sysrq: nothing stopped, no connection closed), the even ones by a shutdown;
#            every window is printed and the table at the end has one row per power-off and balancer
#   round 2: master-1 boots again on the same tap while the others keep running; etcd and its data
#            came back; master-3 is reset (its etcd member removed), purged and compared with its files
#            before the install; etcd has two members, both healthy.
# One guest script for all three (guest-ha.sh, switching on the hostname). Prints a merged timeline,
# the failover figures, and on failure the guests' journal excerpts.
# --real (a long proof, not part of Tests/test.sh): the same story on real Kubernetes 1.20.2 and a
# fourth guest, worker-1 192.0.2.21, a node that joins by its join file; the server archive and the pause
# and busybox images come from Tests/Kubernetes/build-kubernetes.sh and are handed over as a user does
# (--server-archive with its SHA-256, the agent's images directory). kubectl asserts four Ready nodes,
# roles and taints, TLS bootstrap and the approver (a serving request for another node's IP denied), a
# pod on the worker with logs and exec, a Service through IPVS from master-1, the EndpointSlice,
# CoreDNS's objects, the worker's token refused once deleted; the worker watches the failover too and
# reboots with its token gone; kubectl's view of the cluster after the failover is printed.
# Measured (2026-12-02, 2 host cores, TCG, one vCPU and qemu64 per guest, the cluster's timing at
# 500/5000 ms and 60/40/10 s, worker-1 booted once the masters joined): the run does not finish. seed init
# 190-204 s, master-2's join 229-283 s, master-3's 462 s; from master-2's join on, master-1 and master-2
# run at a load of 9-11, each minute about 15 s in etcd (22-29 s with three members), 10-13 s each in the
# kubelet and kube-apiserver (load_watch lines); kube-controller-manager and kube-scheduler lose their
# leases and are restarted. One real master and node at rest needs about 1.2 emulated vCPUs
# (run-vm-test.sh real): three of them do not fit in two host cores. Tests/VM/run-vm-test.sh real (one
# guest) and the real-API tests in swift test are what the tests run on real Kubernetes.
# Usage: Tests/VM/run-ha.sh [--keep] [--real] [--failovers N]   (KUBESEED_VM_TIMEOUT per boot round,
# default 1500 s; master-2 and master-3 run through every round and get that times the rounds)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
keep=; real=; failovers=1
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=--keep ;;
    --real) real=yes ;;
    --failovers) failovers=${2:-}; shift
      case "$failovers" in [1-9]) ;; *) echo "run-ha: --failovers takes 1 to 9, not '$failovers'" >&2; exit 2 ;; esac ;;
    *) echo "run-ha: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
timeout_s=${KUBESEED_VM_TIMEOUT:-$([ -n "$real" ] && echo 2700 || echo 1500)}
guests=(master-1 master-2 master-3); [ -n "$real" ] && guests+=(worker-1)
start_ms=$(date +%s%3N)
if [ "$(id -u)" != 0 ]; then echo "run-ha: needs root (debootstrap, mkfs -d, network namespaces)" >&2; exit 1; fi
for tool in qemu-system-x86_64 debootstrap mkfs.ext4 debugfs ip lintian; do
  command -v "$tool" >/dev/null || { echo "run-ha: $tool is missing" >&2; exit 1; }
done

image=$("$here/build-image.sh")
echo "run-ha: image $image"
if [ -n "$real" ]; then
  k8s=$("$repo/Tests/Kubernetes/build-kubernetes.sh")
  echo "run-ha: Kubernetes $k8s ($(tr '\n' ' ' < "$k8s/build-info"))"
fi
echo "run-ha: building the package"
deb=$("$repo/packaging/build-deb.sh" "$repo/.build/deb" | tail -n 1)
echo "run-ha: $deb ($(du -h "$deb" | cut -f1))"
lint=$(lintian --fail-on error "$deb" 2>&1) && lint_rc=0 || lint_rc=$?
echo "run-ha: lintian: exit $lint_rc, $(echo "$lint" | grep -c '^E:' || true) errors, $(echo "$lint" | grep -c '^W:' || true) warnings"
echo "$lint" | grep '^E:' >&2 || true
work=$(mktemp -d /tmp/kubeseed-ha.XXXXXX)
ns=kubeseed-ha-$$
cleanup() {
  local pidfile
  # Each pid file holds a running `timeout`, which passes the signal on to its qemu.
  for pidfile in "$work"/*.pid; do [ -e "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true; done
  sleep 1
  ip netns delete "$ns" 2>/dev/null || true
  if [ "$keep" = --keep ]; then echo "run-ha: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The link: a bridge and three taps, all up, in a namespace of their own (nothing else on it).
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add br0 type bridge
ip -n "$ns" link set br0 up
for n in $(seq 1 ${#guests[@]}); do
  ip -n "$ns" tuntap add "tap$n" mode tap
  ip -n "$ns" link set "tap$n" master br0
  ip -n "$ns" link set "tap$n" up
done

# One staged tree; each guest differs only in its name and its address.
stage="$work/rootfs"
cp -a "$image/rootfs" "$stage"
install -m 0644 "$deb" "$stage/root/kubeseed.deb"
if [ -n "$real" ]; then
  install -d -m 0700 "$stage/usr/local/lib/kubeseed-vmtest/k8s"
  cp "$k8s/kubernetes-server-linux-amd64.tar.gz" "$k8s/pause.oci.tar" "$k8s/busybox.oci.tar" "$k8s/SHA256SUMS" "$stage/usr/local/lib/kubeseed-vmtest/k8s/"
fi
# etcd.service stays enabled on all three: Debian's plaintext etcd is what seed init and seed join take over.
install -D -m 0755 "$here/guest-ha.sh" "$stage/usr/local/lib/kubeseed-vmtest/guest.sh"
install -m 0644 "$here/guest-lib.sh" "$here/guest-ha-lib.sh" "$stage/usr/local/lib/kubeseed-vmtest/"
echo "$failovers" > "$stage/usr/local/lib/kubeseed-vmtest/failovers"
install -m 0644 "$here/kubeseed-vmtest.service" "$stage/etc/systemd/system/kubeseed-vmtest.service"
ln -s ../kubeseed-vmtest.service "$stage/etc/systemd/system/multi-user.target.wants/kubeseed-vmtest.service"
ln -sf /lib/systemd/system/systemd-networkd.service "$stage/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
mkdir -p "$stage/etc/systemd/network" "$stage/etc/systemd/system/sockets.target.wants" "$stage/etc/systemd/system/network-online.target.wants"
ln -sf /lib/systemd/system/systemd-networkd.socket "$stage/etc/systemd/system/sockets.target.wants/systemd-networkd.socket"
ln -sf /lib/systemd/system/systemd-networkd-wait-online.service "$stage/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service"
stage_guest() { # NAME IP MAC
  # A static address on the NIC (systemd-networkd), a default route to a gateway that does not exist,
  # so each master's IP is found over netlink and nothing can leave the three guests.
  printf '[Match]\nMACAddress=%s\n\n[Network]\nAddress=%s/24\nGateway=192.0.2.1\n' "$3" "$2" > "$stage/etc/systemd/network/10-kubeseed-ha.network"
  echo "$1" > "$stage/etc/hostname"
  mkfs.ext4 -q -d "$stage" "$work/$1.img" "$([ -n "$real" ] && echo 5G || echo 3G)"
}
stage_guest master-1 192.0.2.11 52:54:00:4b:53:11
stage_guest master-2 192.0.2.12 52:54:00:4b:53:12
stage_guest master-3 192.0.2.13 52:54:00:4b:53:13
if [ -n "$real" ]; then
  # The worker runs no etcd: Debian's plaintext etcd (in the image) stays off there.
  rm -f "$stage/etc/systemd/system/multi-user.target.wants/etcd.service"
  stage_guest worker-1 192.0.2.21 52:54:00:4b:53:21
fi
rm -rf "$stage"
echo "run-ha: disks ready after $(( ($(date +%s%3N) - start_ms) / 1000 )) s"

# The qemu64 CPU model (no AVX): glibc's and Go's copies and hashes stay on the SSE2 paths, which TCG
# emulates more cheaply. Four guests on two host cores: with --real each gets one vCPU
# (KUBESEED_VM_SMP / KUBESEED_VM_CPU override).
vcpus=${KUBESEED_VM_SMP:-$([ -n "$real" ] && echo 1 || echo 2)}
cpu_model=${KUBESEED_VM_CPU:-qemu64}
boot() { # NAME N ROUND TIMEOUT: guest NAME on tapN, inside the namespace
  local rc=0 memory=2048 mac=52:54:00:4b:53:1$2
  [ -n "$real" ] && memory=2560
  [ "$2" = 4 ] && { memory=1536; mac=52:54:00:4b:53:21; }
  echo "TIMELINE $(date +%s%3N) $1 qemu started (round $3)" >> "$work/host-timeline.txt"
  timeout "$4" ip netns exec "$ns" qemu-system-x86_64 -accel tcg,thread=multi -cpu "$cpu_model" -m "$memory" -smp "$vcpus" \
    -nographic -no-reboot -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 quiet edd=off" \
    -drive "file=$work/$1.img,format=raw,if=virtio" \
    -netdev "tap,id=link,ifname=tap$2,script=no,downscript=no" -device "virtio-net-pci,netdev=link,mac=$mac" \
    > "$work/$1-console$3.log" 2>&1 < /dev/null &
  echo $! > "$work/$1-round$3.pid"
  wait $! || rc=$?
  rm -f "$work/$1-round$3.pid"
  echo "TIMELINE $(date +%s%3N) $1 qemu exited $rc (round $3)" >> "$work/host-timeline.txt"
  [ $rc = 0 ] || echo "run-ha: round $3: $1 qemu exited $rc (timeout ${4}s?)" >&2
  return 0
}

# Round 1: all three. master-2 and master-3 keep running through round 2.
boot master-1 1 1 "$timeout_s" & m1=$!
boot master-2 2 1 $(((failovers + 1) * timeout_s)) & m2=$!
boot master-3 3 1 $(((failovers + 1) * timeout_s)) & m3=$!
# worker-1: a second boot (its reboot) when it powered off for one.
w1=
if [ -n "$real" ]; then
  (
    # The worker boots once master-1 says the three masters joined (or has stopped): until then it would
    # only take its share of two host cores from the joins.
    until grep -aq 'three masters joined: worker-1 may boot' "$work/master-1-console1.log" 2>/dev/null || [ -e "$work/master-1-round1.exited" ]; do sleep 5; done
    boot worker-1 4 1 $((2 * timeout_s))
    if [ "$(debugfs -R "cat /var/lib/kubeseed-vmtest/phase" "$work/worker-1.img" 2>/dev/null | tr -d '[:space:]')" = 2 ]; then
      boot worker-1 4 2 "$timeout_s"
    else
      echo "run-ha: worker-1 did not power off for boot 2: no reboot" >&2
    fi
  ) & w1=$!
fi
wait "$m1"
touch "$work/master-1-round1.exited"
echo "run-ha: round 1 (master-1) done after $(( ($(date +%s%3N) - start_ms) / 1000 )) s"
# Rounds 2 on: master-1 again on the same tap, as long as it powered off for another boot (its disk
# says which boot is next).
round=1
while :; do
  phase=$(debugfs -R "cat /var/lib/kubeseed-vmtest/phase" "$work/master-1.img" 2>/dev/null | tr -d '[:space:]')
  [ "$phase" = $((round + 1)) ] || break
  round=$phase
  boot master-1 1 "$round" "$timeout_s" & m1=$!
  wait "$m1"
done
[ "$round" = $((failovers + 1)) ] || echo "run-ha: master-1 ran $round boots, not $((failovers + 1)) (phase '$phase')" >&2
wait "$m2" "$m3" $w1
echo "run-ha: all guests done after $(( ($(date +%s%3N) - start_ms) / 1000 )) s"

status=0
total_passed=0
total_failed=0
for name in "${guests[@]}"; do
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
    echo "run-ha: $name did not finish (no DONE marker); console tail:" >&2
    tail -n 40 "$(ls "$work/$name"-console*.log | tail -n 1)" >&2 || true
    failed=$((failed + 1))
  fi
  [ "$failed" = 0 ] || status=1
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
done

# All three saw the same cluster CA: master-1's, and the one each new master got from its join file.
cas=$(for name in master-1 master-2 master-3; do sed -n 's/^CA-SHA256 //p' "$work/$name-results.txt" | head -n 1; done || true)
if [ "$(echo "$cas" | grep -c .)" = 3 ] && [ "$(echo "$cas" | sort -u | wc -l)" = 1 ]; then
  echo "run-ha: PASS the three masters share one CA ($(echo "$cas" | head -n 1))"; total_passed=$((total_passed + 1))
else
  echo "run-ha: FAIL CA mismatch or missing: $(echo $cas)" >&2; status=1; total_failed=$((total_failed + 1))
fi

echo "---- timeline (seconds since the harness started; guest clocks come from the host's RTC)"
cat "$work/host-timeline.txt" <(grep -h '^TIMELINE' "$work"/master-*-results.txt "$work"/worker-*-results.txt || true) \
  | sort -k2,2n | awk -v t0="$start_ms" '{ $1=""; ms=$2; $2=""; printf "%7.1f s %s\n", (ms - t0) / 1000, substr($0, 3) }'
echo "---- failover figures"
for name in "${guests[@]:1}"; do
  grep -E '^(FAILOVER|FAILBACK)-MS|^HELD' "$work/$name-results.txt" | sed "s/^/$name: /" || echo "$name: none"
done
echo "---- failover windows: ms from the message to out of rotation, to haproxy's DOWN; requests (failed) and the slowest"
printf '%-34s %-9s %9s %8s %9s %8s\n' "power-off" balancer "out (ms)" "DOWN" requests slowest
for name in "${guests[@]:1}"; do
  sed -n 's/^FAILOVER-MS \([0-9]*\) on \([^ ]*\) (\(power-off [^)]*\)): haproxy marked [^ ]* (master-1) DOWN after \(-\{0,1\}[0-9]*\) ms, .*; \([0-9]*\) requests in the window: [0-9]* answered by master-1, \([0-9]*\) failed, slowest \([0-9]*\) ms$/\3|\2|\1|\4|\5 (\6)|\7/p' "$work/$name-results.txt"
done | sort -t'|' -k1,1V -k2,2 | awk -F'|' '{ printf "%-34s %-9s %9s %8s %9s %8s\n", $1, $2, $3, $4, $5, $6 }'
[ -z "$real" ] || echo "---- the real cluster after the failover and master-1's return (kubectl on master-2)"
[ -z "$real" ] || sed -n 's/^KUBECTL \(.*\) | /\1 | /p' "$work/master-2-results.txt" | sed 's/^get [^|]* | //' || true
echo "run-ha: wall time $(( ($(date +%s%3N) - start_ms) / 1000 )) s"
if [ "$lint_rc" = 0 ]; then total_passed=$((total_passed + 1)); else echo "run-ha: FAIL lintian reports errors" >&2; status=1; total_failed=$((total_failed + 1)); fi
echo "ha: $total_passed passed, $total_failed failed"
[ "$status" = 0 ] && [ "$total_passed" -gt 0 ]
