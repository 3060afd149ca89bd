#!/bin/bash
# Scenario "powercut". Runs inside the VM guest (real systemd, real disk) as kubeseed-vmtest.service,
# once per boot. The power is cut (sysrq 'b': an immediate reboot, nothing synced, the guest's page
# cache lost; qemu -no-reboot then exits) at a random point of the first `seed-agent run` and of
# `seed init`, CUTS times each (file cuts beside this script; 1 in CI, 5 in Tests/VM/run-powercuts.sh).
# After each cut the next boot checks: the journal is whole, the next run converges to the same files
# an uninterrupted run wrote, and reset still restores the host as it was.
#   boot 1:      reference agent run, reset; cut agent run 1
#   boot 1+i:    verify agent cut i; cut agent run i+1 (or, after the last, reference seed init and cut init 1)
#   …            the same for seed init
set -u
source /usr/local/lib/kubeseed-vmtest/guest-lib.sh
lib=/usr/local/lib/kubeseed-vmtest
cuts=$(cat "$lib/cuts" 2>/dev/null || echo 1)
step_file=$state/powercut.step

# Everything KubeSeed may touch, as paths, types, modes and content hashes (what reset must restore).
# Data directories (/data, /srv) are left out: reset keeps what etcd and containerd stored there.
snapshot() {
  {
    for f in /etc/fstab /etc/timezone /etc/crictl.yaml; do [ -e "$f" ] && sha256sum "$f"; done
    readlink /etc/localtime
    find /etc/sysctl.d /etc/modules-load.d /etc/systemd/system /etc/kubernetes /etc/etcd /etc/containerd /etc/cni \
      /opt/k8s /var/lib/kubeseed -xdev -printf '%p %y %m %l\n' 2>/dev/null | grep -v '^/var/lib/kubeseed-vmtest' | sort
    find /etc/sysctl.d /etc/modules-load.d /etc/systemd/system /etc/kubernetes /etc/containerd -xdev -type f -exec sha256sum {} + 2>/dev/null | sort
    systemctl is-enabled chrony.service containerd.service etcd.service 2>&1
  } > "$1"
}
# The files the journal says KubeSeed wrote, with their modes (and content hashes when $2 is "content").
journaled() {
  sed -n 's/.*"path" : "\(.*\)".*/\1/p' /var/lib/kubeseed/journal.json 2>/dev/null | sed 's#\\/#/#g' | sort -u | while read -r f; do
    [ -f "$f" ] || continue
    if [ "${2:-}" = content ]; then echo "$(stat -c %a "$f") $(sha256sum < "$f" | cut -c1-64) $f"; else echo "$(stat -c %a "$f") $f"; fi
  done > "$1"
}
journal_whole() { [ ! -e /var/lib/kubeseed/journal.json ] || tail -c 2 /var/lib/kubeseed/journal.json | grep -q '}'; }
# cut_during NAME BOOTNEXT MS COMMAND...: starts the command and cuts the power MS milliseconds in.
cut_during() {
  local name=$1 next=$2 delay=$3; shift 3
  echo "$next" > "$step_file"
  timeline "cutting the power $delay ms into $name"
  sync
  echo 1 > /proc/sys/kernel/sysrq
  "$@" > "$state/cut-$name.txt" 2>&1 &
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  echo b > /proc/sysrq-trigger
  sleep 30
}
reset_restores() {
  seed-agent reset > "$state/reset-$1.txt" 2>&1; local rc=$?
  snapshot "$state/after-$1.snap"
  if [ $rc = 0 ] && diff "$state/before.snap" "$state/after-$1.snap" > "$state/reset-$1.diff"; then
    pass "$1: reset restores the host as it was"
  else
    fail "$1: reset exit $rc; differs: $(head -c 500 "$state/reset-$1.diff" | tr '\n' '|')"
  fi
}
random_below() { echo $(( (RANDOM * 32768 + RANDOM) % $1 )); }

dummy_default_route 192.0.2.10
mkdir -p /etc/kubeseed
step=$(cat "$step_file" 2>/dev/null || echo start)
log "powercut scenario, step $step, $cuts cuts each"

if [ "$step" = start ]; then
  snapshot "$state/before.snap"
  install -m 0600 "$lib/join.yaml" /root/join.yaml
  t0=$(ms); seed-agent run --once --join /root/join.yaml > "$state/ref-agent.txt" 2>&1; rc=$?
  agent_ms=$(( $(ms) - t0 )); echo "$agent_ms" > "$state/agent.ms"
  [ $rc = 0 ] && pass "reference agent run: ready in $agent_ms ms" || fail "reference agent run exit $rc: $(tail -c 300 "$state/ref-agent.txt")"
  journaled "$state/ref-agent.files" content
  reset_restores "reference agent run"
  cut_during agent-1 agent-1 "$(random_below "$agent_ms")" seed-agent run --once --join /root/join.yaml
fi

case "$step" in
  agent-*)
    i=${step#agent-}
    expect "agent cut $i: the journal is whole after the cut" journal_whole
    seed-agent run --once --join /root/join.yaml > "$state/agent-$i.txt" 2>&1; rc=$?
    [ $rc = 0 ] && pass "agent cut $i: the next run converges (ready)" || fail "agent cut $i: run exit $rc: $(tail -c 300 "$state/agent-$i.txt")"
    journaled "$state/agent-$i.files" content
    if diff "$state/ref-agent.files" "$state/agent-$i.files" > "$state/agent-$i.diff"; then
      pass "agent cut $i: the same files, modes and contents as the uninterrupted run"
    else
      fail "agent cut $i: files differ: $(head -c 400 "$state/agent-$i.diff" | tr '\n' '|')"
    fi
    reset_restores "agent cut $i"
    agent_ms=$(cat "$state/agent.ms")
    if [ "$i" -lt "$cuts" ]; then
      cut_during "agent-$((i + 1))" "agent-$((i + 1))" "$(random_below "$agent_ms")" seed-agent run --once --join /root/join.yaml
    fi
    cp "$lib/cluster.yaml" /etc/kubeseed/cluster.yaml
    t0=$(ms); seed init > "$state/ref-init.txt" 2>&1; rc=$?
    init_ms=$(( $(ms) - t0 )); echo "$init_ms" > "$state/init.ms"
    [ $rc = 0 ] && pass "reference seed init: done in $init_ms ms" || fail "reference seed init exit $rc: $(tail -c 300 "$state/ref-init.txt")"
    journaled "$state/ref-init.files"
    reset_restores "reference seed init"
    cut_during init-1 init-1 "$(random_below "$init_ms")" seed init
    ;;
  init-*)
    i=${step#init-}
    expect "init cut $i: the journal is whole after the cut" journal_whole
    seed init > "$state/init-$i.txt" 2>&1; rc=$?
    [ $rc = 0 ] && pass "init cut $i: the next seed init finishes" || fail "init cut $i: exit $rc: $(tail -c 400 "$state/init-$i.txt")"
    expect "init cut $i: etcd healthy over mutual TLS" grep -Eq 'etcd health +ok' "$state/init-$i.txt"
    journaled "$state/init-$i.files"
    # Keys and certificates are new on every run: the same files with the same modes.
    if diff "$state/ref-init.files" "$state/init-$i.files" > "$state/init-$i.diff"; then
      pass "init cut $i: the same files and modes as the uninterrupted seed init"
    else
      fail "init cut $i: files differ: $(head -c 400 "$state/init-$i.diff" | tr '\n' '|')"
    fi
    reset_restores "init cut $i"
    if [ "$i" -lt "$cuts" ]; then
      cut_during "init-$((i + 1))" "init-$((i + 1))" "$(random_below "$(cat "$state/init.ms")")" seed init
    fi
    ;;
esac
log "DONE"
sync
systemctl poweroff
