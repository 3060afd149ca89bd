# Shared by the guest scenario scripts (sourced): results go to the console as RESULT lines and to
# $state/results.txt, which the host reads back from the disk.
state=/var/lib/kubeseed-vmtest
mkdir -p "$state"
log() { echo "VMTEST $*" | tee -a "$state/results.txt" > /dev/console; }
pass() { log "RESULT PASS $*"; }
fail() { log "RESULT FAIL $*"; }
# expect NAME COMMAND...: pass when the command succeeds
expect() {
  local name=$1; shift
  if "$@" >> "$state/detail.log" 2>&1; then pass "$name"; else fail "$name (command: $*)"; return 1; fi
}
# refuse NAME COMMAND...: pass when the command fails
refuse() {
  local name=$1; shift
  if "$@" >> "$state/detail.log" 2>&1; then fail "$name (it succeeded: $*)"; return 1; else pass "$name"; fi
}
# Milliseconds since the epoch, from bash itself: a `date` process costs 50-120 ms in a TCG guest, which
# every timing took as its own. `$(ms)` still forks a subshell (10-50 ms): the benchmark reads
# $EPOCHREALTIME inline (`now_ms`-style arithmetic) where that matters.
ms() { echo $(( ${EPOCHREALTIME//[!0-9]/} / 1000 )); }
# A default route on a dummy interface (no NIC: nothing leaves the guest), for netlink to find.
dummy_default_route() {
  ip link add kubeseed0 type dummy && ip addr add "$1/24" dev kubeseed0 && ip link set kubeseed0 up \
    && ip route add default via 192.0.2.1 dev kubeseed0
}
# timeline EVENT: a timestamped milestone the host merges into one timeline
timeline() { log "TIMELINE $(date +%s%3N) $(hostname) $*"; }
# journal_excerpt UNIT...: the last lines of the units' journal, for a failure's context
journal_excerpt() {
  local unit
  for unit in "$@"; do
    journalctl -b -u "$unit" -n 15 --no-pager -o short-monotonic 2>&1 | sed "s/^/JOURNAL $unit | /" | while read -r line; do log "$line"; done
  done
}
# wait_for SECONDS COMMAND...: polls the test's own condition
wait_for() {
  local limit=$1; shift
  local t0; t0=$(date +%s)
  while ! "$@" > /dev/null 2>&1; do
    [ $(( $(date +%s) - t0 )) -ge "$limit" ] && return 1
    sleep "${WAIT_PAUSE:-0.5}"
  done
}
# cpu_report WHEN: where this guest's CPU went so far (the processes with the most CPU time, from ps):
# on two emulated host cores, the figure that says why a step was slow
cpu_report() {
  log "CPU $1: uptime $(cut -d' ' -f1 /proc/uptime) s, load $(cut -d' ' -f1-3 /proc/loadavg)"
  ps -eo cputimes=,comm= --sort=-cputimes 2>/dev/null | head -n 10 | while read -r t name; do log "CPU $1 | ${t}s $name"; done
}
# idle_profile SECONDS WHEN: where this guest's CPU goes over SECONDS while the test asks nothing: the
# guest's busy share (/proc/stat), each systemd unit's and the pods' share of the CPU they used (cgroup
# cpu.stat), the busiest first; with KUBECONFIG set, the API server's requests in the window by verb and
# resource (its /metrics), the most frequent first
idle_profile() {
  local seconds=$1 when=$2 t0 elapsed
  # kubectl's own start (seconds of an emulated vCPU) stays outside the CPU window.
  rm -f "$state/requests.before"
  [ -n "${KUBECONFIG:-}" ] && /opt/k8s/bin/kubectl --request-timeout=30s get --raw /metrics 2>/dev/null | grep '^apiserver_request_total' > "$state/requests.before"
  cgroup_usage > "$state/cpu.before"; head -n 1 /proc/stat > "$state/stat.before"
  t0=$(ms); sleep "$seconds"; elapsed=$(( $(ms) - t0 ))
  cgroup_usage > "$state/cpu.after"; head -n 1 /proc/stat > "$state/stat.after"
  log "IDLE $when: busy $(cat "$state/stat.before" "$state/stat.after" | awk '{ busy = $2 + $3 + $4 + $7 + $8 + $9; all = busy + $5 + $6 }
    NR == 1 { b = busy; a = all } NR == 2 { printf "%.0f%%", 100 * (busy - b) / (all - a) }') of the vCPU over $elapsed ms"
  # Shares, not rates: the cgroups' clock and /proc/stat's ticks disagree by about 2x in these guests.
  awk 'NR == FNR { before[$1] = $2; next } ($1 in before) { d[$1] = $2 - before[$1]; total += d[$1] }
      END { for (u in d) if (total > 0 && d[u] * 100 >= total) printf "%.0f %s\n", 100 * d[u] / total, u }' \
    "$state/cpu.before" "$state/cpu.after" | sort -rn | head -n 12 | while read -r share unit; do log "IDLE $when | $share% of the units' CPU: $unit"; done
  if [ -s "$state/requests.before" ]; then
    /opt/k8s/bin/kubectl --request-timeout=30s get --raw /metrics 2>/dev/null | grep '^apiserver_request_total' > "$state/requests.after"
    awk 'function key(line,   verb, res, sub_) {
        verb = line; sub(/.*verb="/, "", verb); sub(/".*/, "", verb)
        res = line; sub(/.*[{,]resource="/, "", res); sub(/".*/, "", res)
        sub_ = line; sub(/.*subresource="/, "", sub_); sub(/".*/, "", sub_)
        return verb " " res (sub_ == "" ? "" : "/" sub_) }
      NR == FNR { before[key($0)] += $NF; next } { after[key($0)] += $NF }
      END { for (k in after) if (after[k] - before[k] > 0) printf "%d %s\n", after[k] - before[k], k }' \
      "$state/requests.before" "$state/requests.after" | sort -rn | head -n 12 \
      | while read -r n request; do log "IDLE $when | API $n in ${seconds} s: $request"; done
  fi
}
# cgroup_usage: "NAME usec" for every systemd service and the pods, from cgroup v2's cpu.stat
cgroup_usage() {
  local f
  for f in /sys/fs/cgroup/system.slice/*/cpu.stat /sys/fs/cgroup/kubepods*/cpu.stat /sys/fs/cgroup/init.scope/cpu.stat; do
    [ -r "$f" ] && echo "$(basename "$(dirname "$f")") $(awk '$1 == "usage_usec" { print $2 }' "$f")"
  done
}
# phase: which boot of a multi-boot scenario this is (1, 2, …), kept on the guest's disk
phase() { cat "$state/phase" 2>/dev/null || echo 1; }
# power_off_for_boot N: the next boot of this disk runs phase N of the scenario
power_off_for_boot() {
  cpu_report "before powering off"
  echo "$1" > "$state/phase"
  timeline "powering off for boot $1"
  sync
  systemctl poweroff
  exit 0
}
# kubelet_shaped_cert PREFIX NODE: PREFIX.pem and PREFIX-key.pem, a client certificate of a kubelet's shape
# (CN=system:node:NODE, O=system:nodes, clientAuth) signed by the cluster CA, as TLS bootstrap hands out
kubelet_shaped_cert() {
  local cert=/etc/kubernetes/cert
  printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n' > "$1.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1-key.pem" -subj "/O=system:nodes/CN=system:node:$2" -out "$1.csr" 2>/dev/null \
    && openssl x509 -req -in "$1.csr" -CA $cert/ca.pem -CAkey $cert/ca-key.pem -set_serial "$(date +%s%N)" -days 1 -extfile "$1.ext" -out "$1.pem" 2>/dev/null \
    || fail "making a kubelet-shaped certificate with openssl"
}
# test_bridge_conflist CIDR: the tests' stand-in for a CNI DaemonSet (no CNI image can be had here): a
# bridge for this node's podCIDR, what flannel's host-gw would set up, at a name KubeSeed never writes.
test_bridge_conflist() {
  cat > /etc/cni/net.d/10-kubeseed-test-bridge.conflist <<EOF
{"cniVersion":"0.4.0","name":"test-pods","plugins":[
 {"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,"hairpinMode":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"$1"}]],"routes":[{"dst":"0.0.0.0/0"}]}},
 {"type":"portmap","capabilities":{"portMappings":true}}]}
EOF
}
