#!/bin/bash
# Scenario "prep". Runs inside the VM guest (real systemd, Debian kernel) as kubeseed-vmtest.service, once per boot.
# Boot 1: make a swap file active and in fstab, snapshot the host, run check and apply.
# Boot 2: verify everything survived the reboot, apply again (zero writes), reset, compare with
# the snapshot byte for byte. Every result goes to the console as a RESULT line for the host.
set -u
source /usr/local/lib/kubeseed-vmtest/guest-lib.sh
phase=$(cat "$state/phase" 2>/dev/null || echo 1)
agent=/usr/bin/seed-agent
modules="ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh br_netfilter overlay nf_conntrack"
declare -A sysctls=(
  [net.bridge.bridge-nf-call-iptables]=1 [net.bridge.bridge-nf-call-ip6tables]=1 [net.ipv4.ip_forward]=1
  [vm.swappiness]=0 [vm.overcommit_memory]=1 [vm.panic_on_oom]=0 [fs.inotify.max_user_instances]=8192
  [fs.inotify.max_user_watches]=1048576 [fs.file-max]=52706963 [fs.nr_open]=52706963
  [net.netfilter.nf_conntrack_max]=2310720 [net.ipv4.neigh.default.gc_thresh1]=1024
  [net.ipv4.neigh.default.gc_thresh2]=2048 [net.ipv4.neigh.default.gc_thresh3]=4096)
# What apply may touch and reset must restore, captured byte for byte (symlinks as their targets).
snapshot() {
  local out=$1
  rm -rf "$out"; mkdir -p "$out"
  for f in /etc/fstab /etc/timezone; do [ -e "$f" ] && cp -a "$f" "$out/$(echo "$f" | tr / _)"; done
  readlink /etc/localtime > "$out/localtime.link" 2>/dev/null || echo absent > "$out/localtime.link"
  for d in /etc/sysctl.d /etc/modules-load.d /etc/systemd/system /etc/selinux; do
    (cd "$d" 2>/dev/null && find . -printf '%p %y %l %m\n' | sort) > "$out/listing$(echo "$d" | tr / _)"
  done
  for d in /opt/k8s /etc/kubernetes /etc/etcd /data /etc/cni /opt/cni /var/lib/kubeseed; do
    [ -e "$d" ] && echo present || echo absent
  done > "$out/dirs"
  systemctl is-enabled chrony.service > "$out/chrony.enabled" 2>&1
}
# Mtimes and hashes of every file apply manages, to prove a second run writes nothing.
fingerprint() {
  for f in /etc/fstab /etc/sysctl.d/kubeseed.conf /etc/modules-load.d/kubeseed.conf /var/lib/kubeseed/journal.json /etc/timezone; do
    [ -e "$f" ] && stat -c '%n %Y.%y %s' "$f" && sha256sum "$f"
  done
  find /etc/systemd/system -maxdepth 1 -lname /dev/null -printf '%p %T@\n' | sort
}

if [ "$phase" = 1 ]; then
  log "phase 1 on $(uname -r)"
  mkdir -p /etc/kubeseed && cp /usr/local/lib/kubeseed-vmtest/agent.yaml /etc/kubeseed/agent.yaml
  dd if=/dev/zero of=/swapfile bs=1M count=64 status=none && chmod 600 /swapfile && mkswap -q /swapfile
  echo "/swapfile none swap sw 0 0" >> /etc/fstab
  systemctl daemon-reload && systemctl start swapfile.swap
  expect "swap file active at start" grep -q '^/swapfile ' /proc/swaps
  # So the agent has to enable and start chrony itself (D-Bus jobs), and reset has to undo it.
  systemctl disable --now chrony.service 2>/dev/null
  t0=$(ms); "$agent" --help > /dev/null; t1=$(ms)
  log "STARTUP seed-agent --help wall_ms=$((t1 - t0))"
  # A default route on a dummy interface (no NIC: nothing leaves the guest) for netlink to find.
  dummy_default_route 192.0.2.10
  snapshot "$state/before"
  # The dummy interface's module is the test's own, not the agent's.
  ls /sys/module | grep -vx dummy > "$state/modules-before"

  t0=$(ms); "$agent" check > "$state/check.txt" 2>&1; rc=$?; t1=$(ms)
  cat "$state/check.txt" > /dev/console
  log "check exit $rc in $((t1 - t0)) ms"
  [ $rc = 0 ] && pass "check exits 0 (nothing fails)" || fail "check exit $rc"
  expect "check reads the default route over netlink" grep -q 'default route.*via kubeseed0, node IP 192.0.2.10, gateway 192.0.2.1' "$state/check.txt"
  "$agent" check --json > "$state/check.json" 2>&1 && grep -q '"state" : "will change"' "$state/check.json" \
    && pass "check --json reports changes" || fail "check --json"
  snapshot "$state/after-check"
  expect "check changed nothing" diff -r "$state/before" "$state/after-check"

  t0=$(ms); "$agent" apply > "$state/apply1.txt" 2>&1; rc=$?; t1=$(ms)
  cat "$state/apply1.txt" > /dev/console
  log "APPLY1 exit=$rc wall_ms=$((t1 - t0)) $(tail -n 1 "$state/apply1.txt")"
  [ $rc = 0 ] && pass "first apply exits 0" || fail "first apply exit $rc"
  for m in $modules; do expect "module $m loaded after apply" test -d /sys/module/$m; done
  expect "swap off after apply" test "$(wc -l < /proc/swaps)" = 1
  echo 2 > "$state/phase"
  sync
  log "phase 1 done"
  systemctl poweroff
  exit 0
fi

if [ "$phase" = 2 ]; then
  log "phase 2 (after reboot)"
  for m in $modules; do expect "module $m loaded after reboot" test -d /sys/module/$m; done
  for k in "${!sysctls[@]}"; do
    v=$(sysctl -n "$k" 2>/dev/null)
    [ "$v" = "${sysctls[$k]}" ] && pass "sysctl $k=$v after reboot" || fail "sysctl $k is '$v', want ${sysctls[$k]}"
  done
  expect "swap stays off after reboot" test "$(wc -l < /proc/swaps)" = 1
  expect "swapfile.swap masked" test "$(systemctl is-enabled swapfile.swap 2>&1)" = masked
  expect "swap.target masked" test "$(systemctl is-enabled swap.target 2>&1)" = masked
  expect "time zone Asia/Shanghai after reboot" test "$(readlink -f /etc/localtime)" = /usr/share/zoneinfo/Asia/Shanghai
  expect "chrony active" systemctl is-active --quiet chrony.service
  expect "directory layout present" test -d /opt/k8s/bin -a -d /data/k8s/etcd/wal -a -d /etc/cni/net.d -a -d /opt/cni/bin
  expect "etcd data dir is 0700" test "$(stat -c %a /data/k8s/etcd/data)" = 700
  expect "journal is 0600" test "$(stat -c %a /var/lib/kubeseed/journal.json)" = 600

  fingerprint > "$state/fp-before"
  t0=$(ms); "$agent" apply > "$state/apply2.txt" 2>&1; rc=$?; t1=$(ms)
  cat "$state/apply2.txt" > /dev/console
  fingerprint > "$state/fp-after"
  log "APPLY2 exit=$rc wall_ms=$((t1 - t0)) $(tail -n 1 "$state/apply2.txt")"
  [ $rc = 0 ] && pass "second apply exits 0" || fail "second apply exit $rc"
  expect "second apply reports unchanged" grep -q 'unchanged: node already prepared (0 changes' "$state/apply2.txt"
  expect "second apply wrote no file" diff "$state/fp-before" "$state/fp-after"

  t0=$(ms); "$agent" reset > "$state/reset.txt" 2>&1; rc=$?; t1=$(ms)
  cat "$state/reset.txt" > /dev/console
  log "RESET exit=$rc wall_ms=$((t1 - t0))"
  [ $rc = 0 ] && pass "reset exits 0" || fail "reset exit $rc"
  snapshot "$state/after-reset"
  if diff -r "$state/before" "$state/after-reset" > "$state/reset.diff" 2>&1; then
    pass "reset restored fstab, sysctl.d, modules-load.d, masks, time zone, directories byte for byte"
  else
    fail "reset differs from before: $(head -c 600 "$state/reset.diff" | tr '\n' '|')"
  fi
  ls /sys/module | grep -vx dummy > "$state/modules-after-reset"
  expect "reset unloaded exactly the modules apply loaded" diff "$state/modules-before" "$state/modules-after-reset"
  expect "swap active again after reset" grep -q '^/swapfile ' /proc/swaps
  expect "chrony disabled and stopped again after reset" test "$(systemctl is-active chrony.service)" = inactive

  # Killed mid-apply: the next apply finishes the job, and reset still restores the original.
  "$agent" apply > "$state/apply-killed.txt" 2>&1 &
  pid=$!
  sleep "${KILL_AFTER:-1.8}"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  records=$(grep -c '^    {' /var/lib/kubeseed/journal.json 2>/dev/null || echo 0)
  log "KILLED apply after ${KILL_AFTER:-1.8} s; journal entries so far: $records"
  "$agent" apply > "$state/apply-resumed.txt" 2>&1; rc=$?
  log "RESUMED $(tail -n 1 "$state/apply-resumed.txt")"
  [ $rc = 0 ] && pass "apply after a kill -9 completes" || fail "apply after kill exit $rc"
  expect "third apply is unchanged" sh -c "'$agent' apply | grep -q 'unchanged: node already prepared (0 changes'"
  expect "reset after the interrupted apply exits 0" "$agent" reset
  snapshot "$state/after-second-reset"
  if diff -r "$state/before" "$state/after-second-reset" > "$state/reset2.diff" 2>&1; then
    pass "reset after an interrupted apply restored everything byte for byte"
  else
    fail "second reset differs: $(head -c 600 "$state/reset2.diff" | tr '\n' '|')"
  fi
  expect "check still runs after reset" "$agent" check
  log "DONE"
  sync
  systemctl poweroff
fi
