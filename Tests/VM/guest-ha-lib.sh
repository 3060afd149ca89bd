# Helpers of the three-master scenario (guest-ha.sh: API server stand-ins, or with run-ha.sh --real
# real Kubernetes), sourced after guest-lib.sh: etcd, messages between the guests, the balancer and its
# failover, snapshots, join files. guest-ha.sh defines ask (one request through the balancer: which
# master answered) and after_join; seed_join passes $join_extra to seed join.
# ---- helpers

# etcd_at 11[,12…] ARGS…: etcdctl over mutual TLS against those masters' client URLs (192.0.2.N:2379).
etcd_at() {
  local eps; eps=$(echo "$1" | sed 's#\([0-9][0-9]*\)#https://192.0.2.\1:2379#g'); shift
  etcdctl --endpoints="$eps" $etcd_tls --dial-timeout=3s --command-timeout=10s "$@"
}
# members_ok N NAME…: the member list through 192.0.2.N has exactly these members, all started, none a learner.
members_ok() {
  local at=$1 rows name; shift
  etcd_at "$at" member list -w table > "$state/members.txt" 2>&1 || return 1
  # | ID | STATUS | NAME | PEER ADDRS | CLIENT ADDRS | IS LEARNER |  ->  "STATUS NAME IS-LEARNER"
  rows=$(awk -F'|' 'NF >= 8 { for (i = 2; i <= 7; i++) gsub(/^ +| +$/, "", $i); if ($3 != "STATUS") print $3, $4, $7 }' "$state/members.txt")
  [ "$(echo "$rows" | grep -c .)" = $# ] || return 1
  [ "$(echo "$rows" | grep -c '^started [^ ]* false$')" = $# ] || return 1
  for name in "$@"; do echo "$rows" | grep -q "^started $name false$" || return 1; done
}
log_members() { while read -r line; do log "MEMBERS | $line"; done < "$state/members.txt"; }
# log_file PREFIX FILE: a command's output into the results, certificate keys (64 hex digits) masked.
log_file() { sed 's/[0-9a-f]\{64\}/<certificate key>/g' "$2" | while IFS= read -r line || [ -n "$line" ]; do log "$1 | $line"; done; }

# Messages over the link. After one wait for a peer has run out, the others wait 60 s at most, so a
# guest whose peer is gone still finishes and reports.
lost=
patience() { if [ -n "$lost" ]; then echo 60; else echo "$1"; fi; }
# tell IP PORT MESSAGE: retried until the peer listens.
tell() {
  local t0; t0=$(date +%s)
  until echo "$3" | socat -u - "TCP:$1:$2,connect-timeout=2" 2>/dev/null; do
    if [ $(( $(date +%s) - t0 )) -ge "$(patience "${tell_patience:-1200}")" ]; then lost=yes; fail "could not tell $1:$2 '$3' (nobody listened)"; return 1; fi
    sleep "${HANDOFF_PAUSE:-0.5}"
  done
  timeline "told $1:$2 '$3'"
}
# hear PORT SECONDS: one message from a peer, in $heard.
hear() {
  heard=$(timeout "$(patience "$2")" socat -u "TCP-LISTEN:$1,reuseaddr" - 2>/dev/null)
  if [ -n "$heard" ]; then timeline "heard '$heard' on :$1"; else lost=yes; timeline "heard nothing on :$1"; return 1; fi
}
# serve FILE PORT: hands the file to the first peer that fetches it (an operator would scp it).
serve() {
  if timeout "$(patience 900)" socat -u "OPEN:$1" "TCP-LISTEN:$2,reuseaddr" >> "$state/detail.log" 2>&1; then
    timeline "$(basename "$1") fetched from :$2"
  else
    lost=yes; fail "nobody fetched $(basename "$1") from :$2"; return 1
  fi
}
# fetch IP PORT DEST SECONDS: what the peer serves, retried until it does; umask 077 (join files and
# certificate keys are secrets).
fetch() {
  local t0; t0=$(date +%s)
  rm -f "$3"
  until (umask 077; socat -u "TCP:$1:$2,connect-timeout=2" "CREATE:$3" 2>/dev/null) && [ -s "$3" ]; do
    if [ $(( $(date +%s) - t0 )) -ge "$(patience "$4")" ]; then lost=yes; return 1; fi
    sleep "${HANDOFF_PAUSE:-1}"
  done
  timeline "fetched $(basename "$3") from $1:$2"
}

install_deb() {
  local t0 rc
  t0=$(ms); DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/kubeseed.deb > "$state/install.txt" 2>&1; rc=$?
  timeline "package installed (apt, $(( $(ms) - t0 )) ms)"
  if [ $rc = 0 ]; then pass "apt-get install ./kubeseed.deb (dependencies from Debian, already in the image)"
  else fail "apt install exit $rc"; log_file APT "$state/install.txt"; fi
}

balancer_log() { journalctl -b -u kubeseed-api-balancer.service --no-pager -o cat; }
# changes TEXT: how many lines with TEXT haproxy logged (e.g. "/api-1 is DOWN"; haproxy -Ws logs each
# state change twice, a [WARNING] on stderr and the log line: only "more than before" counts).
changes() { balancer_log | grep -c -- "$1"; }
# logged_ms TEXT: when haproxy last logged it, ms since the epoch (the journal's timestamp).
logged_ms() { journalctl -b -u kubeseed-api-balancer.service --no-pager -o short-unix | grep -- "$1" | tail -n 1 | awk '{ printf "%.0f", $1 * 1000 }'; }
# server_of IP: the balancer's name for the API server at IP (api-N).
server_of() { sed -n "s/^ *server \(api-[0-9]*\) ${1//./\\.}:6443.*/\1/p" "$balancer_cfg" | head -n 1; }
lists_all() { local n; for n in 11 12 13; do grep -Eq "^ *server api-[0-9]+ 192\.0\.2\.$n:6443( |$)" "$balancer_cfg" || return 1; done; }

balancer_checks() {
  local seq= try distinct
  expect "the balancer lists all three API servers (192.0.2.11, .12, .13)" lists_all || log_file BALANCER-CFG "$balancer_cfg"
  expect "the balancer (kubeseed-api-balancer.service) is active on 127.0.0.1:8443" sh -c \
    "systemctl is-active --quiet kubeseed-api-balancer.service && ss -Hltn 'sport = :8443' | grep -q '127.0.0.1:8443'"
  # A balancer just restarted checks its servers first: give it three tries, a few seconds apart.
  for try in 1 2 3; do
    seq=$(for i in 1 2 3 4 5 6 7 8 9; do ask; done | tr '\n' ' ')
    log "BALANCER $me, try $try: 9 requests through 127.0.0.1:8443 answered by: $seq"
    distinct=$(echo "$seq" | tr ' ' '\n' | grep '^master-' | sort -u | wc -l)
    [ "$distinct" -ge 2 ] && ! echo "$seq" | grep -q failed && break
    sleep 5
  done
  [ "$distinct" -ge 2 ] && pass "requests through the balancer reach the API servers of $distinct masters" \
    || { fail "requests through the balancer reach $distinct master's API server ($seq)"; log "balancer: $(balancer_log | tail -n 6 | tr '\n' '|')"; }
  refuse "no request through the balancer failed" sh -c "echo '$seq' | grep -q failed"
}

# balancer_events T0: what haproxy logged from T0 on (starts, servers' state changes), in ms since T0
balancer_events() {
  journalctl -b -u kubeseed-api-balancer.service --no-pager -o short-unix | awk -v t0="$1" '$1 * 1000 >= t0 - 1000 {
      $2 = ""; $3 = ""; line = $0; sub(/^[^ ]+ +/, "", line); printf "%+.0f ms %s\n", $1 * 1000 - t0, substr(line, 1, 200) }' \
    | grep -E 'is (UP|DOWN)|Proxy|Loading|Stopping|started|Starting|Reloading' | head -n 20 | while read -r line; do log "BALANCER-EVENT $me | $line"; done
}

# prepare_power_cut N, then power_cut: the next boot runs phase N; the power goes at once (sysrq 'b', and qemu runs
# with -no-reboot: no service stopped, no connection closed, nothing synced after the state files). 'o'
# is not a cut: the kernel shuts its devices down first, and the stand-in answered for 2 s more.
# prepare_power_cut N does the slow part first (the CPU report, the phase, sync: 4-5 s with three
# emulated guests), so that the others' windows begin when the power is about to go.
prepare_power_cut() {
  cpu_report "before the power cut"
  echo "$1" > "$state/phase"
  timeline "cutting the power for boot $1"
  sync
  echo 1 > /proc/sys/kernel/sysrq
}
power_cut() {
  echo b > /proc/sysrq-trigger
  sleep 30
}

# hold_connections: three connections through the balancer held open (one request each, kept alive
# by the stand-in): round robin puts one on each master. held_report T0 says which master each
# reached and when each closed: the ones on master-2 and master-3 must still be open (a failover
# leaves connections to live masters alone); the one on master-1 is logged (after a shutdown master-1
# closed it; after a power cut it is left to the client, README: the node-local API balancer). With
# --real, not run (the stand-in names the master in its answer).
hold_connections() {
  local i
  [ -z "$real" ] || return 0
  rm -f "$state"/held-*
  for i in 1 2 3; do
    # The time socat ends is written on its side of the pipe: the pipe itself lasts as long as the sleep.
    { printf 'GET /held HTTP/1.1\r\nHost: kubeseed-ha\r\n\r\n'; exec sleep 900; } \
      | { socat -t 0.2 - OPENSSL:127.0.0.1:8443,verify=0 > "$state/held-$i.txt" 2>/dev/null; ms > "$state/held-$i.closed"; } &
    sleep 0.3
  done
  wait_for 20 sh -c "grep -q 'master-[123]' $state/held-1.txt && grep -q 'master-[123]' $state/held-2.txt && grep -q 'master-[123]' $state/held-3.txt"
}
held_report() {
  local t0=$1 down_ms=$2 i who closed on1=
  [ -z "$real" ] || return 0
  for i in 1 2 3; do
    who=$(grep -o 'master-[123]' "$state/held-$i.txt" 2>/dev/null | head -n 1)
    closed=$(cat "$state/held-$i.closed" 2>/dev/null)
    if [ "$who" = master-1 ]; then
      on1=yes
      if [ -n "$closed" ]; then log "HELD on $me: the connection held to master-1 closed $(( closed - t0 )) ms after it went down (marked DOWN at $(( down_ms - t0 )) ms)"
      else log "HELD on $me: the connection held to master-1 is still open $(( $(ms) - t0 )) ms after it went down (marked DOWN at $(( down_ms - t0 )) ms)"; fi
    elif [ -n "$who" ]; then
      [ -z "$closed" ] && pass "failover: the connection held open to $who is still open" \
        || fail "failover: the connection held open to $who was closed $(( closed - t0 )) ms after master-1 went down"
    else
      fail "failover: held connection $i got no answer before the cut"
    fi
  done
  [ -n "$on1" ] || fail "failover: none of the three held connections reached master-1 (round robin)"
  pkill -f 'sleep 900' 2>/dev/null
  for i in 1 2 3; do wait_for 10 test -e "$state/held-$i.closed" > /dev/null; done
}

# probe: one request through the balancer, as "START END WHO" (ms; WHO the master that answered, or
# failed). Forks only socat (the clock is bash's, the input a here-string): forking date, grep and
# sleep for each, the probes could not start more than one every 1-3 s. With --real: ask.
probe() {
  local s e out
  s=${EPOCHREALTIME/./}
  if [ -n "$real" ]; then out=$(ask); else
    out=$(socat -T 12 -t 3 - OPENSSL:127.0.0.1:8443,verify=0 2>/dev/null <<< $'GET /whoami HTTP/1.1\r\nHost: kubeseed-ha\r\nConnection: close\r\n\r')
  fi
  e=${EPOCHREALTIME/./}
  [[ $out =~ master-[123] ]] && out=${BASH_REMATCH[0]} || out=failed
  echo "${s:0:-3} ${e:0:-3} $out"
}

# watch_failover T0 SERVER DOWNS [LABEL]: from T0 (the going-down message: master-1's API server
# stopped, or its power about to be cut) a request through the balancer starts every PROBE_MS (500)
# ms, each in the background (as a node's clients do: a request does not wait for another's answer).
# With three emulated guests on two cores a request's TLS handshake takes 2-5 s; every 250 ms, the
# probes' own handshakes made them take 7-12 s. It goes on until haproxy logged SERVER (master-1's) DOWN
# (more lines than DOWNS) and the last 10 requests by start time were answered by master-2 or
# master-3. The failover is done at the later of the two: haproxy's log line, and the start of the
# first request after which none went to master-1 or failed. Every request of the window is logged.
watch_failover() {
  local t0=$1 srv=$2 downs=$3 label=${4:-} window=$state/window.txt n=0 to1 failed slowest down_ms streak_ms end done= probes=() now pause probe_pause
  : > "$window"
  if [ -z "$srv" ]; then log "FAILOVER-MS none on $me: master-1 is not in $balancer_cfg"; fail "failover: master-1 is not behind this balancer"; return 1; fi
  # A read that times out on a pipe nobody writes: a pause without forking sleep.
  exec {pause}<> <(:)
  probe_pause=$(printf '%d.%03d' $(( ${PROBE_MS:-500} / 1000 )) $(( ${PROBE_MS:-500} % 1000 )))
  # journalctl (a second or more with three emulated guests) only once the last 10 answers are in and good.
  while now=${EPOCHREALTIME/./}; [ $(( ${now:0:-3} - t0 )) -lt 120000 ]; do
    probe >> "$window" &
    probes+=($!)
    read -r -t "$probe_pause" -u "$pause"
    n=$((n + 1))
    if [ $((n % 4)) = 0 ] && [ "$(sort -n "$window" | tail -n 10 | awk '$3 == "master-2" || $3 == "master-3"' | wc -l)" = 10 ] \
      && [ "$(changes "/$srv is DOWN")" -gt "$downs" ]; then done=yes; break; fi
  done
  exec {pause}<&-
  wait "${probes[@]}"
  sort -n "$window" -o "$window"
  n=$(wc -l < "$window")
  to1=$(awk '$3 == "master-1"' "$window" | wc -l)
  failed=$(awk '$3 != "master-1" && $3 != "master-2" && $3 != "master-3"' "$window" | wc -l)
  slowest=$(awk '{ d = $2 - $1; if (d > m) m = d } END { print m + 0 }' "$window")
  awk -v t0="$t0" '{ printf "WINDOW %s%s | request at +%d ms took %d ms: %s\n", me, label, $1 - t0, $2 - $1, $3 }' me="$me" label="${label:+ $label}" "$window" \
    | while read -r line; do log "$line"; done
  if [ -n "$done" ]; then
    down_ms=$(logged_ms "/$srv is DOWN")
    # The first request after the last one that went to master-1 or failed.
    streak_ms=$(awk '$3 != "master-2" && $3 != "master-3" { bad = NR } { s[NR] = $1 } END { print s[bad + 1] }' "$window")
    end=$down_ms; [ "$streak_ms" -gt "$end" ] && end=$streak_ms
    failover_down_ms=$down_ms
    balancer_events "$t0"
    log "FAILOVER-MS $(( end - t0 )) on $me${label:+ ($label)}: haproxy marked $srv (master-1) DOWN after $(( down_ms - t0 )) ms, none went to master-1 from $(( streak_ms - t0 )) ms on; $n requests in the window: $to1 answered by master-1, $failed failed, slowest $slowest ms"
    timeline "balancer stopped sending to master-1 ($(( end - t0 )) ms)"
    [ $(( end - t0 )) -lt 10000 ] && pass "failover${label:+ ($label)}: the balancer stopped sending to master-1 within $(( end - t0 )) ms of hearing it go down (under 10 s)" \
      || fail "failover${label:+ ($label)} took $(( end - t0 )) ms (10 s allowed)"
    [ "$failed" = 0 ] && pass "failover${label:+ ($label)}: none of the $n requests through the balancer failed" \
      || fail "failover${label:+ ($label)}: $failed of $n requests through the balancer failed"
  else
    failover_down_ms=$(ms)
    balancer_events "$t0"
    log "FAILOVER-MS none on $me${label:+ ($label)}: after 120 s, $(changes "/$srv is DOWN") DOWN lines for $srv (had $downs); $n requests: $to1 answered by master-1, $failed failed"
    fail "failover${label:+ ($label)}: the balancer did not stop sending to master-1 within 120 s"; log "balancer: $(balancer_log | tail -n 6 | tr '\n' '|')"
  fi
}

# What the host looked like before KubeSeed: names everywhere it writes, and the bytes of /etc
#.
snapshot() {
  { find /etc /lib/systemd/system /usr/bin /usr/share/man/man1 /usr/share/bash-completion /usr/share/doc/kubeseed \
      /opt /data /var/lib/kubeseed -xdev 2>/dev/null | grep -v '^/etc/ld.so.cache$' | sort
    find /etc -xdev -type f ! -name ld.so.cache -print0 2>/dev/null | sort -z | xargs -0 sha256sum
    cat /proc/sys/net/ipv4/ip_forward /proc/sys/vm/swappiness; cat /proc/swaps | sed 1d | awk '{print $1}'
  } > "$1"
}

# tamper SRC DEST: a copy of the join file with one character of the sealed secrets changed (the
# middle of the first long base64 run in the value of the first key named *sealed*, else *secret*).
tamper() {
  local at= run n text prefix pos c
  at=$(grep -n -m 1 -E '^[[:space:]]*[A-Za-z]*[Ss]ealed[A-Za-z]*:' "$1" | cut -d: -f1)
  [ -n "$at" ] || at=$(grep -n -m 1 -E '^[[:space:]]*[A-Za-z]*[Ss]ecrets?[A-Za-z]*:' "$1" | cut -d: -f1)
  [ -n "$at" ] || return 1
  log "TAMPER key '$(sed -n "${at}p" "$1" | cut -d: -f1 | tr -d ' ')' at line $at"
  # The value on the key's own line (after the colon), else the first following line with a long run.
  text=$(sed -n "${at}p" "$1" | cut -d: -f2-)
  if printf '%s' "$text" | grep -Eq '[A-Za-z0-9+/]{40,}'; then
    n=$at; prefix=$(sed -n "${at}p" "$1" | cut -d: -f1):; text=$(sed -n "${at}p" "$1")
  else
    n=$(tail -n +"$((at + 1))" "$1" | grep -n -m 1 -E '[A-Za-z0-9+/]{40,}' | cut -d: -f1)
    [ -n "$n" ] || return 1
    n=$((at + n)); prefix=; text=$(sed -n "${n}p" "$1")
  fi
  run=$(printf '%s' "${text#"$prefix"}" | grep -o -E '[A-Za-z0-9+/]{40,}' | head -n 1)
  prefix=${text%%"$run"*}
  pos=$(( ${#prefix} + ${#run} / 2 ))
  c=${text:pos:1}
  { head -n $((n - 1)) "$1"; printf '%s%s%s\n' "${text:0:pos}" "$([ "$c" = A ] && echo B || echo A)" "${text:pos+1}"; tail -n +$((n + 1)) "$1"; } > "$2"
  chmod 600 "$2"
  log "TAMPER line $n, character $((pos + 1)): '$c' changed"
  [ "$(cmp -l "$1" "$2" | wc -l)" = 1 ]
}

# mint NAME IP: a control-plane join file for NAME and its certificate key, both 0600 under /root.
mint() {
  local t0 rc key
  t0=$(ms); seed join-file "$1" --ip "$2" --role control-plane --output "/root/$1.yaml" > "$state/joinfile-$1.txt" 2>&1; rc=$?
  timeline "control-plane join file for $1 minted (exit $rc, $(( $(ms) - t0 )) ms)"
  log_file "JOIN-FILE $1" "$state/joinfile-$1.txt"
  key=$(grep -o '[0-9a-f]\{64\}' "$state/joinfile-$1.txt" | head -n 1)
  [ $rc = 0 ] && [ -s "/root/$1.yaml" ] && pass "seed join-file $1 --role control-plane" || fail "seed join-file $1: exit $rc"
  expect "the control-plane join file for $1 is 0600" test "$(stat -c %a "/root/$1.yaml" 2>/dev/null)" = 600
  [ -n "$key" ] && pass "seed join-file printed the one-time certificate key (64 hex digits)" || fail "no certificate key in the output of seed join-file $1"
  (umask 077; echo "$key" > "/root/$1.key")
}

# seed_join LABEL: seed join with the received file and key; the exit code in $join_rc.
join_rc=
seed_join() {
  local t0
  t0=$(ms); seed join /root/join.yaml --certificate-key-file /root/certificate.key "${join_extra[@]}" > "$state/join-$1.txt" 2>&1; join_rc=$?
  timeline "seed join ($1) done (exit $join_rc, $(( $(ms) - t0 )) ms)"
  log_file "JOIN $1" "$state/join-$1.txt"
}
receive_join_file() { # PORT-OF-FILE PORT-OF-KEY SECONDS
  if fetch 192.0.2.11 "$1" /root/join.yaml "$3" && fetch 192.0.2.11 "$2" /root/certificate.key 300; then
    pass "received the control-plane join file and its certificate key from master-1"
  else
    fail "no join file or certificate key from master-1"
  fi
  expect "the join file and the key file are 0600 (umask 077 on the receiver)" sh -c \
    "test \$(stat -c %a /root/join.yaml) = 600 && test \$(stat -c %a /root/certificate.key) = 600"
}
