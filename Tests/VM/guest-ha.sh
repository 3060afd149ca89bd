#!/bin/bash
# High availability end to end (see run-ha.sh): one script for the three guests, switching on the
# hostname. master-1 192.0.2.11, master-2 192.0.2.12, master-3 192.0.2.13, linked only to each other.
#   master-1: apt installs the .deb, seed init, an API server stand-in; mints master-2's control-plane
#             join file and hands it over with its certificate key; once master-2 has joined, master-3's.
#             Three etcd members, all started, none a learner; a key written through master-1 is read
#             through master-3. seed init again (its balancer now lists all three), then once more
#             (0 changes). Tells the others it is going down and powers off.
#             With run-ha.sh --failovers N, boots 2..N come back (etcd healthy, stand-in up), wait
#             for the others to see it back in rotation, and go down again: the odd power-offs cut the
#             power (sysrq, nothing stopped), the even ones shut down. The last boot:
#             etcd came back by itself, the key written while it was away reads through it,
#             three members; its stand-in starts again and it tells master-2 it is back.
#   master-2: joins with the file and the key (and again: 0 changes), later re-runs its join so its
#             balancer lists all three. Measures the failover when master-1 goes down (FAILOVER-MS,
#             each power-off, requests every 500 ms, three connections held open across it),
#             writes a key through etcd while master-1 is away, measures the way back (FAILBACK-MS);
#             once master-3 is reset, etcd has two members, both healthy.
#   master-3: a snapshot of its files before the install; refuses a wrong certificate key and a
#             tampered join file (exit 2, nothing changed on the host, no member added); then joins,
#             measures the failover too, is reset (its etcd member removed through a healthy peer),
#             purged, and compared with the snapshot.
# The restore on three masters, once master-1 is back (boot 2): master-2 snapshots etcd, deletes a key and
# writes another; master-3 then master-1 leave etcd (seed etcd leave); master-2 restores (a one-member
# etcd now); master-1 then master-3 come back (seed etcd rejoin) as new members that copy the restored
# data: three voters, the deleted key back on every member, the later one gone.
# With run-ha.sh --real (the server archive and images staged in /usr/local/lib/kubeseed-vmtest/k8s):
# real Kubernetes 1.20.2 (Tests/Kubernetes/build-kubernetes.sh, handed over as the upstream server
# archive with its SHA-256) instead of the stand-ins: kube-apiserver, kube-controller-manager and kube-scheduler on every master,
# every master a node, and worker-1 (192.0.2.21) a plain node that joins by its join file (the agent).
#   worker-1: installs the .deb and the binaries (seed-agent install-binaries), drops the join file
#             master-1 minted; the agent makes it a Ready node. It watches the failover through its own
#             balancer, then reboots (boot 2): Ready again with its token deleted (client certificate kept).
# Stand-in, named: the pod network is a bridge conflist per node for its podCIDR plus routes to the
# other nodes' podCIDRs over the shared link (what flannel's host-gw does); no CNI image can be had.
# The guests coordinate over the link with socat on fixed ports, each message with a time limit:
#   7000/7001 master-1 -> master-2 join file / certificate key    7002 master-2 -> master-1 joined
#   7003 master-1 -> master-2 re-run your join                    7004 master-2 -> master-1 ready for the failover
#   7005 master-1 -> master-2 going down                          7006 master-1 (boot 2) -> master-2 back
#   7007 master-3 -> master-2 reset done                          7008 master-2 -> master-1 (boot 2) finished
#   7010/7011 master-1 -> master-3 join file / certificate key    7012 master-3 -> master-1 bad inputs done
#   7013 master-1 -> master-3 go (etcd unchanged)                 7014 master-3 -> master-1 joined
#   7015 master-1 -> master-3 key written                         7016 master-3 -> master-1 ready for the failover
#   7017 master-1 -> master-3 going down                          7019 master-2 -> master-3 reset now
#   7040/7042 master-2 -> master-1 (boot 2) leave etcd / rejoin   7041/7043 master-1 -> master-2 left / rejoined
#   7044/7046 master-2 -> master-3 leave etcd / rejoin            7045/7047 master-3 -> master-2 left / rejoined
#   7030 master-1 -> worker-1 join file                           7031 worker-1 -> master-1 joined (Ready)
#   7032 worker-1 -> master-1 ready for the failover              7033 master-1 -> worker-1 going down
#   71C0/71C1 master-1 (boot C) -> master-2/master-3 back         71C2/71C3 master-2/master-3 -> master-1 ready
#   71C4/71C5 master-1 -> master-2/master-3 going down (power-off C, 2 <= C <= 9)
set -u
source /usr/local/lib/kubeseed-vmtest/guest-lib.sh
me=$(hostname)
case "$me" in worker-*) my_ip=192.0.2.2${me#worker-} ;; *) my_ip=192.0.2.1${me#master-} ;; esac
k8s=/usr/local/lib/kubeseed-vmtest/k8s
real=; [ -d $k8s ] && real=yes
# On real binaries most waits run kubectl, a Go binary that takes about a second of an emulated vCPU to
# start: asked every 3 s instead of every 0.5 s, the test's own polling stays a small part of the load.
[ -n "$real" ] && WAIT_PAUSE=3
# The hand-offs between guests (tell, fetch) retry every 3 s too: a guest waiting minutes for its join
# file would otherwise start a socat a second, on a host core the joins need.
[ -n "$real" ] && HANDOFF_PAUSE=3
# The cluster's timing (cluster.yaml on master-1, sealed into every master's join file): on real binaries
# the values for emulated 1-vCPU masters; with the stand-ins a small change, only to see it travel.
if [ -n "$real" ]; then
  heartbeat=500; timing='timing:\n  etcdHeartbeatInterval: 500\n  etcdElectionTimeout: 5000\n  leaderElection:\n    leaseDuration: 60\n    renewDeadline: 40\n    retryPeriod: 10\n'
else
  heartbeat=300; timing='timing:\n  etcdHeartbeatInterval: 300\n  etcdElectionTimeout: 3000\n'
fi
archive=$k8s/kubernetes-server-linux-amd64.tar.gz
archive_sha=$([ -n "$real" ] && sed -n 's/  kubernetes-server-linux-amd64.tar.gz$//p' $k8s/SHA256SUMS)
# kubectl: the admin's on a master (/root/.kube/config, written by seed), the kubelet's credentials on the worker.
kc() {
  if [ -x /opt/k8s/bin/kubectl ] && [ -s /root/.kube/config ]; then /opt/k8s/bin/kubectl --request-timeout=30s "$@"
  else /root/kubectl --kubeconfig /etc/kubernetes/kubelet.kubeconfig --request-timeout=30s "$@"; fi
}
export -f kc
cert=/etc/kubernetes/cert
balancer_cfg=/etc/kubernetes/api-balancer.cfg
export ETCDCTL_API=3
etcd_tls="--cacert $cert/etcd-ca.pem --cert $cert/apiserver-etcd-client.pem --key $cert/apiserver-etcd-client-key.pem"

join_extra=(); rerun_extra=()
if [ -n "$real" ]; then
  rerun_extra=(--api-timeout 900)
  # The cluster checks keep master-1 busy long after the others are ready to report: wait longer.
  tell_patience=2700
  join_extra=(--server-archive "$archive" --sha256 "$archive_sha" --api-timeout 900)
fi
source /usr/local/lib/kubeseed-vmtest/guest-ha-lib.sh

# The real kube-apiserver on this master: /readyz at its own address, verified against the cluster CA.
api_ms=
api_check() {
  if wait_for 300 sh -c "printf 'GET /readyz HTTP/1.1\r\nHost: $my_ip\r\nConnection: close\r\n\r\n' \
      | timeout 20 socat -t 5 - OPENSSL:$my_ip:6443,cafile=$cert/ca.pem 2>/dev/null | grep -qx ok"; then
    api_ms=$(ms)
    timeline "kube-apiserver ready"
    pass "kube-apiserver 1.20.2 on $me answers /readyz at $my_ip:6443 with $me's certificate, verified against the cluster CA"
  else
    fail "kube-apiserver on $my_ip:6443 is not ready"
    journal_excerpt kube-apiserver.service
  fi
}

# The node-local balancer. ask: one request (GET /readyz) through 127.0.0.1:8443, verified against the
# cluster CA; prints the master whose API server answered "ok" (the only master address among the
# SANs of the certificate it presented), or "failed". s_client's input stays open until the answer is
# in: with TLS 1.3 an input that ends before the handshake does gets no answer from a Go server. The
# body has no newline, so s_client's own "---" or "closed" follows it on the same line.
ask_real() {
  local out ip
  out=$(timeout 12 openssl s_client -connect 127.0.0.1:8443 -CAfile $cert/ca.pem -verify_return_error -ign_eof 2>/dev/null \
    < <(printf 'GET /readyz HTTP/1.1\r\nHost: kubeseed-ha\r\nConnection: close\r\n\r\n'; exec sleep 15))
  if ! printf '%s\n' "$out" | tr -d '\r' | grep -qE '^ok(---|closed)?$'; then echo failed; return; fi
  ip=$(printf '%s\n' "$out" | sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' | openssl x509 -noout -ext subjectAltName 2>/dev/null \
    | grep -o '192\.0\.2\.1[123]' | sort -u)
  [ "$(echo "$ip" | grep -c .)" = 1 ] && echo "master-${ip#192.0.2.1}" || echo failed
}
# The API server stand-in (not kube-apiserver: its binaries cannot be had): a second haproxy serving
# TLS on :6443 with this master's kube-apiserver certificate, answering every request with 200 and the
# master's name; no process forked per request (emulated guests are slow to fork). KubeSeed does not
# know the unit: seed-agent reset leaves it alone.
standin_ms=
standin_start() {
  (umask 077; cat $cert/kube-apiserver.pem $cert/kube-apiserver-key.pem > /run/kubeseed-standin.pem)
  printf 'global\n    maxconn 200\ndefaults\n    mode http\n    timeout client 15m\n    timeout connect 5s\n    timeout server 10s\nfrontend standin\n    bind :6443 ssl crt /run/kubeseed-standin.pem\n    http-request return status 200 content-type text/plain string "%s"\n' \
    "$me" > /run/kubeseed-standin.cfg
  systemctl reset-failed standin-apiserver.service 2>/dev/null
  standin_ms=$(ms)
  systemd-run --quiet --collect --unit standin-apiserver /usr/sbin/haproxy -db -f /run/kubeseed-standin.cfg
  # Straight to it at this master's address, verified against the cluster CA.
  if wait_for 30 sh -c "printf 'GET /readyz HTTP/1.1\r\nHost: $my_ip\r\nConnection: close\r\n\r\n' \
      | timeout 12 socat -t 3 - OPENSSL:$my_ip:6443,cafile=$cert/ca.pem 2>/dev/null | grep -qx '$me'"; then
    timeline "API server stand-in up"
    pass "API server stand-in (not kube-apiserver) answers as $me on $my_ip:6443 with $me's kube-apiserver certificate, verified against the cluster CA"
  else
    fail "the API server stand-in does not answer on $my_ip:6443"
    log "stand-in: $(systemctl status standin-apiserver.service --no-pager -n 10 2>&1 | tr '\n' '|')"
    log "client: $(printf 'GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | timeout 12 socat -t 3 - OPENSSL:$my_ip:6443,cafile=$cert/ca.pem 2>&1 | tr '\n' '|')"
  fi
}

# The node-local balancer. ask: one request through 127.0.0.1:8443; prints the master whose stand-in
# answered, or "failed".
ask_standin() {
  local who
  who=$(printf 'GET /whoami HTTP/1.1\r\nHost: kubeseed-ha\r\nConnection: close\r\n\r\n' \
    | timeout 12 socat -t 3 - OPENSSL:127.0.0.1:8443,verify=0 2>/dev/null | grep -o 'master-[123]' | head -n 1)
  echo "${who:-failed}"
}
ask() { if [ -n "$real" ]; then ask_real; else ask_standin; fi; }
# api_up: this master's API server answers (the real one, or its stand-in started now).
api_up() { if [ -n "$real" ]; then api_check; node_network & else standin_start; fi; }

# The power-offs of master-1 (run-ha.sh --failovers N, 1 in CI): the odd ones cut the power (nothing
# stopped, no connection closed), the even ones shut down (the API server stops first: its port refuses).
failovers=$(cat /usr/local/lib/kubeseed-vmtest/failovers 2>/dev/null || echo 1)
cut_kind() { if [ $(($1 % 2)) = 1 ]; then echo "power cut"; else echo "shutdown"; fi; }
failover_label() { echo "power-off $1 of $failovers, $(cut_kind "$1")"; }
# cycle_port C K: the ports of power-off C >= 2: K = 0/1 master-1 -> master-2/master-3 back, 2/3
# master-2/master-3 -> master-1 ready, 4/5 master-1 -> master-2/master-3 going down.
cycle_port() { echo $((7100 + 10 * $1 + $2)); }
# go_down C: master-1 tells the others (measured from the message) and the power goes.
go_down() {
  local c=$1 to2=7005 to3=7017 dead
  [ "$c" = 1 ] || { to2=$(cycle_port "$c" 4); to3=$(cycle_port "$c" 5); }
  if [ "$(cut_kind "$c")" = shutdown ]; then
    # A shutdown stops the API server before the link goes: the others measure from that moment.
    systemctl stop "$([ -n "$real" ] && echo kube-apiserver.service || echo standin-apiserver.service)"; dead=$(ms)
    timeline "power-off $c: API server stopped; shutting down next"
  else
    prepare_power_cut $((c + 1))
    dead=$(ms); timeline "power-off $c: the power is cut next"
  fi
  tell 192.0.2.12 "$to2" "going down $dead"
  tell 192.0.2.13 "$to3" "going down $dead"
  [ -z "$real" ] || [ "$c" != 1 ] || tell 192.0.2.21 7033 "going down $dead"
  if [ "$(cut_kind "$c")" = shutdown ]; then power_off_for_boot $((c + 1)); else power_cut; fi
}
# master_1_back: how each of master-1's later boots begins: the link, then etcd healthy by itself.
master_1_back() {
  local after="after power-off $((boot - 1)) ($(cut_kind $((boot - 1))))"
  timeline "boot $boot: test driver started ($(cut -d' ' -f1 /proc/uptime) s after kernel start)"
  expect "$after: the link is up with 192.0.2.11" wait_for 60 sh -c "ip -o addr show | grep -q 'inet 192.0.2.11/24'"
  if wait_for 120 etcd_at 11 endpoint health; then
    timeline "etcd healthy $after"; pass "$after: etcd on master-1 came back by itself, healthy over mutual TLS"
  else
    fail "$after: etcd on master-1 not healthy within 120 s"; journal_excerpt etcd.service
  fi
}
# watch_cycle C BACK READY DOWN (port offsets): on master-2 and master-3, power-off C >= 2: master-1 is
# back in this balancer's rotation (haproxy logs it UP), then the failover is measured again.
watch_cycle() {
  local c=$1 ups=$ups_before_cut t
  hear "$(cycle_port "$c" "$2")" 1500; case "$heard" in back*) ;; *) fail "master-1 did not come back before power-off $c ('$heard')"; return 1;; esac
  t=$(ms)
  until [ "$(changes "/$srv is UP")" -gt "$ups" ] || [ $(( $(ms) - t )) -ge 60000 ]; do sleep 1; done
  if [ "$(changes "/$srv is UP")" -gt "$ups" ]; then
    log "FAILBACK-MS $(( $(logged_ms "/$srv is UP") - t )) on $me (before power-off $c): haproxy logged $srv UP after master-1 said it was back"
  else
    fail "before power-off $c: haproxy did not log $srv UP within 60 s of master-1's return"
  fi
  downs=$(changes "/$srv is DOWN")
  hold_connections
  # master-1 may be back in this balancer's rotation before the window and its checks are over.
  ups_before_cut=$(changes "/$srv is UP")
  tell 192.0.2.11 "$(cycle_port "$c" "$3")" ready
  hear "$(cycle_port "$c" "$4")" 1500; t0=$(ms)
  watch_failover "$t0" "$srv" "$downs" "$(failover_label "$c")"
  held_report "$t0" "$failover_down_ms"
}

timing_checks() { # the cluster's timing reached this master's etcd (and, on real binaries, its controllers)
  expect "etcd on $me runs with the cluster's timing: --heartbeat-interval=$heartbeat" grep -q -- "--heartbeat-interval=$heartbeat " /etc/systemd/system/etcd.service
  if [ -n "$real" ]; then
    expect "kube-controller-manager on $me holds its lease 60 s" grep -q -- "--leader-elect-lease-duration=60s" /etc/systemd/system/kube-controller-manager.service
    expect "kube-scheduler on $me holds its lease 60 s" grep -qE 'leaseDuration: "?60s"?$' /etc/kubernetes/kube-scheduler.yaml
  fi
}

after_join() { # what every new master checks once it joined
  [ "$join_rc" = 0 ] && pass "seed join exits 0: $me is a master" || { fail "seed join exit $join_rc"; journal_excerpt etcd.service; }
  expect "etcd on $me is healthy over mutual TLS with $me's own certificates" wait_for 60 etcd_at "${my_ip##*.}" endpoint health \
    || journal_excerpt etcd.service
  log "CA-SHA256 $(sha256sum < $cert/ca.pem | cut -d' ' -f1)"
  timing_checks
  api_up
}

# The images an air-gapped node needs, where the agent imports them (before anything else, so master-3's
# snapshot of the host before KubeSeed holds them too).
if [ -n "$real" ] && [ ! -e /var/lib/kubeseed/images/SHA256SUMS ]; then
  install -d -m 0700 /var/lib/kubeseed /var/lib/kubeseed/images
  cp $k8s/pause.oci.tar $k8s/busybox.oci.tar /var/lib/kubeseed/images/
  grep 'oci.tar$' $k8s/SHA256SUMS > /var/lib/kubeseed/images/SHA256SUMS
fi


# ---- the real cluster

# node_network: once this node is registered, the stand-in for a CNI DaemonSet: a bridge conflist for
# its podCIDR; then, for as long as the script runs, a route to every other node's podCIDR via its IP
# (what flannel's host-gw does). Runs in the background.
# pod_cidr_in JSON: a Node's spec.podCIDR, from the API server's compact JSON.
pod_cidr_in() { echo "$1" | sed -n 's/.*"podCIDR":"\([0-9./]*\)".*/\1/p'; }
node_network() {
  local cidr= t0 json
  t0=$(date +%s)
  # Read by socat (api_get), not kubectl: a loop on every guest for the whole run.
  while [ -z "$cidr" ] && [ $(( $(date +%s) - t0 )) -lt 1500 ]; do
    cidr=$(pod_cidr_in "$(api_get "/api/v1/nodes/$me")"); [ -n "$cidr" ] || sleep 5
  done
  [ -n "$cidr" ] || { log "NETWORK $me never got a podCIDR"; return 1; }
  test_bridge_conflist "$cidr"
  timeline "pod network: conflist for $cidr"
  local i name other ip routed
  # Every 5 s until a route leads to each of the three other nodes, then every 60 s.
  for i in $(seq 1 400); do
    routed=0
    for name in master-1 master-2 master-3 worker-1; do
      [ "$name" != "$me" ] || continue
      json=$(api_get "/api/v1/nodes/$name")
      other=$(pod_cidr_in "$json")
      ip=$(echo "$json" | sed -n 's/.*"type":"InternalIP","address":"\([0-9.]*\)".*/\1/p')
      [ -n "$other" ] && [ -n "$ip" ] && ip route replace "$other" via "$ip" 2>/dev/null && routed=$((routed + 1))
    done
    if [ "$routed" -ge 3 ]; then sleep 60; else sleep 5; fi
  done
}

ready_nodes() { kc get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}'; }
# api_get PATH: the API server's JSON at PATH through this node's balancer, as kc's credentials (the
# admin's on master-1, the kubelet's elsewhere), by socat. For the polls: kubectl costs about a second of
# an emulated vCPU to start (Go), socat almost nothing; what a check asserts is then read with kubectl.
api_get() {
  local id="cert=$cert/kubelet-client-current.pem,key=$cert/kubelet-client-current.pem"
  [ -s $cert/admin-key.pem ] && id="cert=$cert/admin.pem,key=$cert/admin-key.pem"
  printf 'GET %s HTTP/1.0\r\nAccept: application/json\r\n\r\n' "$1" \
    | timeout 30 socat -t 25 - "OPENSSL:127.0.0.1:8443,cafile=$cert/ca.pem,$id" 2>/dev/null | tr -d ' \n'
}
# The API server writes a condition's type before its status.
node_ready() { api_get "/api/v1/nodes/$1" | grep -q '"type":"Ready","status":"True"'; }
all_ready() { [ "$(api_get /api/v1/nodes | grep -o '"type":"Ready","status":"True"' | wc -l)" = 4 ]; }
pod_running() { api_get "/api/v1/namespaces/default/pods/$1" | grep -q '"phase":"Running"'; }
export -f ready_nodes api_get node_ready all_ready pod_running

# CoreDNS (master-1, all four nodes joined): seed init's objects exist and the scheduler places its
# pods; no CoreDNS image can be had here, so they would only retry their pulls (a kubelet sync and an
# event write each time) through the failover: once scheduled, the test scales the Deployment to 0.
coredns_pods_scheduled() { api_get '/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3Dkube-dns' | grep -q '"nodeName":"'; }
coredns_scheduled_then_scaled_down() {
  local t0; t0=$(ms)
  if wait_for 900 coredns_pods_scheduled; then
    pass "CoreDNS's pods are scheduled to a node (waited $(( $(ms) - t0 )) ms; no CoreDNS image can be had here: they cannot start)"
  else fail "CoreDNS's pods were not scheduled"; fi
  expect "CoreDNS's Deployment and the kube-dns Service exist" bash -c "kc -n kube-system get deployment coredns && kc -n kube-system get service kube-dns"
  expect "the test scales CoreDNS to 0 replicas (its pods could only retry pulling an image that is not here)" \
    kc -n kube-system scale deployment coredns --replicas=0
}

# cluster_checks (master-1, all four nodes joined): what the real API and the nodes show.
cluster_checks() {
  local t0 out ip cluster_ip token_id
  t0=$(ms)
  if wait_for 900 all_ready; then pass "all four nodes Ready in the API ($(( $(ms) - t0 )) ms after the worker joined)"; timeline "four nodes Ready"
  else fail "not every node is Ready: $(ready_nodes 2>&1 | tr '\n' ' ')"; fi
  kc get nodes -o wide 2>&1 | while read -r line; do log "NODES | $line"; done
  for n in 1 2 3; do
    expect "master-$n has the control-plane role and the control-plane NoSchedule taint" bash -c \
      "kc get node master-$n --show-labels | grep -q node-role.kubernetes.io/control-plane && kc get node master-$n -o jsonpath='{.spec.taints}' | grep -q '\"key\":\"node-role.kubernetes.io/control-plane\"'"
  done
  expect "worker-1 has the worker role and no taint" bash -c \
    "kc get node worker-1 --show-labels | grep -q node-role.kubernetes.io/worker && [ -z \"\$(kc get node worker-1 -o jsonpath='{.spec.taints}')\" ]"
  kc get csr -o custom-columns=SIGNER:.spec.signerName,REQUESTOR:.spec.username,CONDITION:.status.conditions[0].type 2>&1 | while read -r line; do log "CSR | $line"; done
  expect "every node's client certificate came from TLS bootstrap with a token (4 approved kube-apiserver-client-kubelet CSRs by system:bootstrap:*)" bash -c \
    "[ \$(kc get csr -o jsonpath='{range .items[*]}{.spec.signerName} {.spec.username} {.status.conditions[0].type}{\"\\n\"}{end}' | grep -cE '^kubernetes.io/kube-apiserver-client-kubelet system:bootstrap:[a-z0-9]{6} Approved') -ge 4 ]"
  expect "every node's serving certificate was approved by seed csr-approver (4 approved kubelet-serving CSRs)" wait_for 300 bash -c \
    "[ \$(kc get csr -o jsonpath='{range .items[*]}{.spec.signerName} {.status.conditions[0].type} {.status.certificate}{\"\\n\"}{end}' | grep -cE '^kubernetes.io/kubelet-serving Approved .+') -ge 4 ]"
  # A serving request for another node's IP, sent as worker-1 would be, is denied in the real API.
  kubelet_shaped_cert /run/worker-1-client worker-1
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /run/other-ip-key.pem -subj "/O=system:nodes/CN=system:node:worker-1" \
    -addext "subjectAltName=IP:192.0.2.12" -out /run/other-ip.csr 2>/dev/null
  printf '{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"worker-1-other-ip"},"spec":{"signerName":"kubernetes.io/kubelet-serving","usages":["digital signature","key encipherment","server auth"],"request":"%s"}}' \
    "$(base64 -w0 /run/other-ip.csr)" > /run/other-ip.json
  /opt/k8s/bin/kubectl --server https://192.0.2.11:6443 --certificate-authority $cert/ca.pem --client-certificate /run/worker-1-client.pem \
    --client-key /run/worker-1-client-key.pem create -f /run/other-ip.json >> "$state/detail.log" 2>&1
  expect "a kubelet-serving CSR from worker-1 for master-2's IP is denied by seed csr-approver" wait_for 120 bash -c \
    "kc get csr worker-1-other-ip -o jsonpath='{.status.conditions[0].type}' | grep -qx Denied"

  # A workload on the worker: busybox serving HTTP, with logs and exec through the API server.
  cat > "$state/web.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeName: worker-1
  containers:
  - {name: web, image: kubeseed.local/busybox:1, imagePullPolicy: Never, command: ["sh", "-c", "echo web-started; httpd -f -p 8080 -h /www"]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
EOF
  expect "kubectl apply of a busybox pod on worker-1 and a Service" kc apply -f "$state/web.yaml"
  t0=$(ms)
  if wait_for 600 pod_running web; then
    pass "the busybox pod runs on worker-1 after $(( $(ms) - t0 )) ms (images from the agent's images directory)"
  else
    fail "the busybox pod is not Running"; kc describe pod web 2>&1 | tail -n 20 | while read -r line; do log "POD | $line"; done
  fi
  if wait_for 120 bash -c "kc logs web | grep -qx web-started"; then
    pass "kubectl logs reads the pod on worker-1 (the API server checks the kubelet's CA-signed serving certificate: --kubelet-certificate-authority)"
  else fail "kubectl logs: $(kc logs web 2>&1 | head -c 300)"; fi
  out=$(kc exec web -- hostname 2>&1)
  [ "$out" = web ] && pass "kubectl exec runs in the pod on worker-1" || fail "kubectl exec: $(echo "$out" | head -c 300)"
  cluster_ip=$(kc get svc web -o jsonpath='{.spec.clusterIP}')
  ipvsadm -Ln > "$state/ipvs.txt" 2>&1; log_file IPVS "$state/ipvs.txt"
  expect "kube-proxy on master-1 programmed IPVS for the Service ($cluster_ip:80 → the pod on worker-1)" grep -q "TCP  $cluster_ip:80" "$state/ipvs.txt"
  expect "kube-proxy left nf_conntrack_max to the agent (2310720, not kube-proxy's own 131072)" test "$(sysctl -n net.netfilter.nf_conntrack_max)" = 2310720
  if wait_for 120 sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 socat -t 5 - TCP:$cluster_ip:80 2>/dev/null | grep -q 'served by busybox httpd'"; then
    pass "the Service's ClusterIP answers on master-1 from the pod on worker-1 (IPVS, then the route to worker-1's podCIDR)"
  else
    fail "the Service's ClusterIP $cluster_ip does not answer on master-1"; ip route | while read -r line; do log "ROUTE | $line"; done
  fi
  expect "the default/kubernetes EndpointSlice lists the three masters (discovery.k8s.io/v1beta1 in 1.20)" bash -c \
    "[ \$(kc get endpointslices.v1beta1.discovery.k8s.io kubernetes -o jsonpath='{.endpoints[*].addresses[*]}' | wc -w) = 3 ]"
  coredns_scheduled_then_scaled_down
  kc get pods -A -o wide 2>&1 | while read -r line; do log "PODS | $line"; done
  # The worker's bootstrap token: authenticates until deleted, then the real API refuses it.
  token_id=$(sed -n 's/^ *token: "*\([a-z0-9]\{6\}\)\.[a-z0-9]\{16\}"*$/\1/p' /root/worker-1.yaml 2>/dev/null | head -n 1)
  local token; token=$(sed -n 's/^ *token: "*\([a-z0-9]\{6\}\.[a-z0-9]\{16\}\)"*$/\1/p' /root/worker-1.yaml 2>/dev/null | head -n 1)
  expect "worker-1's bootstrap token authenticates as a bootstrapper" bash -c \
    "/opt/k8s/bin/kubectl --server https://192.0.2.11:6443 --certificate-authority $cert/ca.pem --token '$token' auth can-i create certificatesigningrequests 2>/dev/null | grep -qx yes"
  seed token delete "$token_id" > "$state/token-delete.txt" 2>&1 && pass "seed token delete $token_id" || { fail "seed token delete"; log_file TOKEN "$state/token-delete.txt"; }
  expect "the deleted token is refused by the real API server (Unauthorized)" wait_for 30 bash -c \
    "/opt/k8s/bin/kubectl --server https://192.0.2.11:6443 --certificate-authority $cert/ca.pem --token '$token' auth can-i create certificatesigningrequests 2>&1 | grep -q Unauthorized"
}

# ---- the scenario

# load_watch: on real binaries, once a minute, where this guest's CPU went in that minute (the five
# processes with the most, from ps), the free memory and any restart of a Kubernetes unit: the console
# then shows why a guest fell behind, even when the run never reaches its checks.
load_watch() {
  local -A before=() now=()
  local pid t name top restarts
  while sleep 60; do
    now=()
    while read -r pid t name; do now[$pid]="$t $name"; done < <(ps -eo pid=,cputimes=,comm=)
    top=$(for pid in "${!now[@]}"; do
        read -r t name <<< "${now[$pid]}"
        echo "$(( t - ${before[$pid]:-0} )) $name"
      done | sort -rn | head -n 5 | awk '$1 > 0 {printf "%s %ss, ", $2, $1}')
    before=(); for pid in "${!now[@]}"; do before[$pid]=${now[$pid]%% *}; done
    restarts=$(systemctl show -p NRestarts --value etcd kube-apiserver kube-controller-manager kube-scheduler kubelet 2>/dev/null | tr '\n' ' ')
    log "LOAD load $(cut -d' ' -f1 /proc/loadavg), $(( $(sed -n 's/^MemAvailable: *\([0-9]*\).*/\1/p' /proc/meminfo) / 1024 )) MiB available, restarts (etcd apiserver kcm scheduler kubelet) $restarts| ${top%, }"
  done
}
[ -z "$real" ] || load_watch &

# only_kept N: etcd through 192.0.2.N answers, and its keys under /kubeseed-ha/restore/ are exactly the one
# written before the snapshot.
only_kept() { [ "$(etcd_at "$1" get /kubeseed-ha/restore/ --prefix --keys-only | grep .)" = /kubeseed-ha/restore/kept ]; }

# The restore on three masters, driven from master-2 (see the header): every step's exit and output is
# logged, and the restore's and each rejoin's time.
restore_on_three_masters() {
  local rc t0 answer
  expect "before the snapshot: a key written through https://192.0.2.12:2379" etcd_at 12 put /kubeseed-ha/restore/kept written-before-the-snapshot
  seed etcd snapshot save /root/ha-snapshot.db > "$state/ha-snapshot.txt" 2>&1; rc=$?
  log_file HA-SNAPSHOT "$state/ha-snapshot.txt"
  [ $rc = 0 ] && pass "seed etcd snapshot save on master-2 of three: $(stat -c %s /root/ha-snapshot.db) bytes" || fail "snapshot save exit $rc"
  expect "after the snapshot: key-1 deleted and a later key written" sh -c \
    "etcdctl --endpoints=https://192.0.2.12:2379 $etcd_tls --dial-timeout=3s --command-timeout=10s del /kubeseed-ha/key-1 | grep -qx 1 \
     && etcdctl --endpoints=https://192.0.2.12:2379 $etcd_tls --dial-timeout=3s --command-timeout=10s put /kubeseed-ha/restore/later written-after-the-snapshot"
  seed etcd restore /root/ha-snapshot.db > "$state/restore-refused.txt" 2>&1; rc=$?
  log_file RESTORE-REFUSED "$state/restore-refused.txt"
  [ $rc = 2 ] && grep -q "seed etcd leave" "$state/restore-refused.txt" && members_ok 12 master-1 master-2 master-3 \
    && pass "seed etcd restore with three members is refused (exit 2), naming seed etcd leave; etcd unchanged" \
    || fail "restore with three members: exit $rc"
  for peer in "192.0.2.13 7044 7045 master-3" "192.0.2.11 7040 7041 master-1"; do
    set -- $peer
    tell "$1" "$2" leave; hear "$3" 900; answer=$heard
    [ "${answer%% *}" = left ] && [ "${answer#left }" = 0 ] && pass "$4 says seed etcd leave exited 0" || fail "$4 leave: '$answer'"
  done
  if wait_for 60 members_ok 12 master-2; then pass "after two leaves etcd has one member, master-2"; else fail "after two leaves the members are not master-2 alone"; fi
  log_members
  t0=$(ms); seed etcd restore /root/ha-snapshot.db > "$state/ha-restore.txt" 2>&1; rc=$?
  log "HA-RESTORE-MS $(( $(ms) - t0 )) (seed etcd restore on master-2, the one member left)"
  log_file HA-RESTORE "$state/ha-restore.txt"
  [ $rc = 0 ] && pass "seed etcd restore on master-2 exits 0" || fail "restore exit $rc"
  expect "after the restore key-1 (deleted after the snapshot) reads again through https://192.0.2.12:2379" sh -c \
    "etcdctl --endpoints=https://192.0.2.12:2379 $etcd_tls --dial-timeout=3s --command-timeout=10s get --print-value-only /kubeseed-ha/key-1 | grep -qx written-through-master-1"
  expect "after the restore the keys under /kubeseed-ha/restore/ are the snapshot's: 'kept' and not 'later'" only_kept 12
  for peer in "192.0.2.11 7042 7043 master-1" "192.0.2.13 7046 7047 master-3"; do
    set -- $peer
    tell "$1" "$2" rejoin; hear "$3" 900; answer=$heard
    [ "${answer%% *}" = rejoined ] && [ "$(echo "$answer" | cut -d' ' -f2)" = 0 ] && pass "$4 says seed etcd rejoin exited 0 (${answer#rejoined 0 } ms)" || fail "$4 rejoin: '$answer'"
  done
  if wait_for 60 members_ok 12 master-1 master-2 master-3; then
    pass "after the restore and two rejoins: three members, all started, none a learner"
  else
    fail "after the rejoins the members are not master-1, master-2, master-3 all voting"
  fi
  log_members
  for n in 11 13; do
    expect "the restored key-1 reads through https://192.0.2.$n:2379 (copied to the rejoined member)" sh -c \
      "etcdctl --endpoints=https://192.0.2.$n:2379 $etcd_tls --dial-timeout=3s --command-timeout=10s get --print-value-only /kubeseed-ha/key-1 | grep -qx written-through-master-1"
    expect "the keys under /kubeseed-ha/restore/ on 192.0.2.$n are the snapshot's: 'kept' and not 'later'" only_kept $n
  done
}

# leave_and_rejoin LEAVE-PORT LEFT-PORT REJOIN-PORT REJOINED-PORT: this master's part of the restore.
leave_and_rejoin() {
  local rc t0 took
  hear "$1" 1800; case "$heard" in leave*) ;; *) fail "no word to leave etcd ('$heard')"; return 1;; esac
  seed etcd leave > "$state/etcd-leave.txt" 2>&1; rc=$?
  log_file ETCD-LEAVE "$state/etcd-leave.txt"
  [ $rc = 0 ] && grep -q "removed   etcd member $me" "$state/etcd-leave.txt" && pass "seed etcd leave removed $me's member and exited 0" || fail "seed etcd leave exit $rc"
  refuse "after the leave etcd does not run on $me" systemctl is-active --quiet etcd.service
  expect "the leave noted the cluster it left" test -s /var/lib/kubeseed/etcd-left-cluster
  # Again while master-2's etcd still answers (the restore there stops it): before telling master-2.
  seed etcd leave > "$state/etcd-leave-again.txt" 2>&1; again=$?
  log_file ETCD-LEAVE-AGAIN "$state/etcd-leave-again.txt"
  [ $again = 0 ] && grep -q "nothing changed" "$state/etcd-leave-again.txt" && pass "seed etcd leave again changes nothing (exit 0)" || fail "seed etcd leave again: exit $again"
  # Before the restore the others answer for the cluster this master left: a rejoin now is refused.
  seed etcd rejoin > "$state/etcd-rejoin-early.txt" 2>&1; again=$?
  log_file ETCD-REJOIN-EARLY "$state/etcd-rejoin-early.txt"
  [ $again = 2 ] && grep -q "the restore has not run" "$state/etcd-rejoin-early.txt" && ! systemctl is-active --quiet etcd.service \
    && pass "seed etcd rejoin before the restore is refused (exit 2), etcd left stopped" || fail "seed etcd rejoin before the restore: exit $again"
  tell 192.0.2.12 "$2" "left $rc"
  hear "$3" 1800; case "$heard" in rejoin*) ;; *) fail "no word to rejoin ('$heard')"; return 1;; esac
  t0=$(ms); seed etcd rejoin > "$state/etcd-rejoin.txt" 2>&1; rc=$?; took=$(( $(ms) - t0 ))
  log "REJOIN-MS $took on $me"
  log_file ETCD-REJOIN "$state/etcd-rejoin.txt"
  tell 192.0.2.12 "$4" "rejoined $rc $took"
  [ $rc = 0 ] && grep -q "promoted to voting member" "$state/etcd-rejoin.txt" && pass "seed etcd rejoin: $me back as a new voting member ($took ms)" || fail "seed etcd rejoin exit $rc"
  aside=$(sed -n 's/.*kept in \([^ ]*\) and \([^:]*\):.*/\1 \2/p' "$state/etcd-rejoin.txt")
  expect "the data from before the rejoin is kept aside and named ($aside)" sh -c "[ -n '$aside' ] && ls -d $aside"
  expect "etcd on $me is healthy after the rejoin" etcd_at "${my_ip##*.}" endpoint health
  seed etcd rejoin > "$state/etcd-rejoin-again.txt" 2>&1; rc=$?
  log_file ETCD-REJOIN-AGAIN "$state/etcd-rejoin-again.txt"
  [ $rc = 0 ] && grep -q "nothing changed" "$state/etcd-rejoin-again.txt" && pass "seed etcd rejoin again changes nothing (exit 0)" || fail "seed etcd rejoin again: exit $rc"
}

# master-1's boots: 1, then one per further power-off (the cycles), then the last.
boot=$(phase); run=$me-$boot
if [ "$me" = master-1 ] && [ "$boot" -ge 2 ]; then
  if [ "$boot" -le "$failovers" ]; then run=master-1-cycle; else run=master-1-last; fi
fi
case "$run" in
master-1-1)
  timeline "boot 1: test driver started ($(cut -d' ' -f1 /proc/uptime) s after kernel start)"
  expect "the link is up with 192.0.2.11" wait_for 60 sh -c "ip -o addr show | grep -q 'inet 192.0.2.11/24'"
  install_deb
  mkdir -p /etc/kubeseed
  if [ -n "$real" ]; then
    printf "apiVersion: kubeseed.io/v1alpha1\nkind: ClusterConfiguration\ncluster:\n  name: ha\n  kubernetesVersion: v1.20.2\n  sandboxImage: kubeseed.local/pause:3.4.1\n$timing" > /etc/kubeseed/cluster.yaml
  else
    printf "apiVersion: kubeseed.io/v1alpha1\nkind: ClusterConfiguration\n$timing" > /etc/kubeseed/cluster.yaml
  fi
  t0=$(ms); seed init --name master-1 "${join_extra[@]}" > "$state/init.txt" 2>&1; rc=$?
  timeline "seed init done (exit $rc, $(( $(ms) - t0 )) ms)"
  log_file INIT "$state/init.txt"
  [ $rc = 0 ] && pass "seed init exits 0" || { fail "seed init exit $rc"; journal_excerpt etcd.service; }
  expect "the master IP came from the default route over netlink" grep -q 'master master-1 192.0.2.11' "$state/init.txt"
  expect "etcd healthy over mutual TLS on the link address" etcd_at 11 endpoint health || journal_excerpt etcd.service
  timing_checks
  log "CA-SHA256 $(sha256sum < $cert/ca.pem | cut -d' ' -f1)"
  api_up

  # master-2 joins; master-3's file is minted only once it has (one learner at a time in etcd 3.4).
  mint master-2 192.0.2.12
  serve /root/master-2.yaml 7000 && serve /root/master-2.key 7001
  hear 7002 1500
  case "$heard" in joined*) pass "master-2 says it joined";; *) fail "master-2 did not join ('$heard')";; esac
  mint master-3 192.0.2.13
  serve /root/master-3.yaml 7010 && serve /root/master-3.key 7011
  hear 7012 1200
  case "$heard" in "bad inputs done"*) ;; *) fail "master-3 did not report its bad-input cases ('$heard')";; esac
  if members_ok 11 master-1 master-2; then
    pass "after master-3's refused joins etcd still has two members (master-1, master-2), both started, no learner"
  else
    fail "etcd changed by master-3's refused joins"; log_members
  fi
  tell 192.0.2.13 7013 go
  hear 7014 1500
  case "$heard" in joined*) pass "master-3 says it joined";; *) fail "master-3 did not join ('$heard')";; esac
  # run-ha.sh boots worker-1 on this line: four guests at once only when the masters are up.
  timeline "three masters joined: worker-1 may boot"
  cpu_report "once three masters run"
  [ -n "$real" ] && KUBECONFIG=/etc/kubernetes/admin.kubeconfig idle_profile 60 "three masters at rest"

  # Three members, all voting; a key written through master-1 is read through master-3.
  if wait_for 60 members_ok 11 master-1 master-2 master-3; then
    pass "etcd member list (mutual TLS): three members, all started, none a learner"
  else
    fail "etcd member list is not master-1, master-2, master-3 all started and voting"
  fi
  log_members
  # etcd trusts only its own CA, on every member: a client certificate of a kubelet's shape from the
  # cluster CA (TLS bootstrap hands those out) gets nothing; the API server's etcd client certificate works.
  kubelet_shaped_cert /run/kubelet-shaped worker-9
  for n in 11 12 13; do
    refuse "etcd on 192.0.2.$n refuses a kubelet-shaped client certificate from the cluster CA" etcdctl --endpoints=https://192.0.2.$n:2379 \
      --cacert $cert/etcd-ca.pem --cert /run/kubelet-shaped.pem --key /run/kubelet-shaped-key.pem --dial-timeout=3s --command-timeout=5s get /registry --prefix --keys-only
    expect "etcd on 192.0.2.$n answers the API server's etcd client certificate (etcd CA)" etcd_at $n endpoint health
  done
  # A master's join file for an IP that is already a voting member is refused, and nothing is written.
  seed join-file master-9 --ip 192.0.2.12 --role control-plane --output /root/master-9.yaml > "$state/joinfile-member.txt" 2>&1; rc=$?
  log_file JOIN-FILE-MEMBER "$state/joinfile-member.txt"
  [ $rc = 2 ] && grep -q 'already etcd member master-2' "$state/joinfile-member.txt" && [ ! -e /root/master-9.yaml ] \
    && pass "a control-plane join file for 192.0.2.12 (already etcd member master-2) is refused: exit 2, nothing written" \
    || fail "join-file for an existing member's IP: exit $rc"
  expect "etcdctl put through https://192.0.2.11:2379" etcd_at 11 put /kubeseed-ha/key-1 written-through-master-1
  tell 192.0.2.13 7015 "key-1 written"

  # The re-run puts master-3 (and master-2) behind master-1's balancer; the run right after changes nothing.
  t0=$(ms); seed init --name master-1 "${rerun_extra[@]}" > "$state/init-rerun.txt" 2>&1; rc=$?
  timeline "seed init re-run with three masters (exit $rc, $(( $(ms) - t0 )) ms)"
  log_file INIT-RERUN "$state/init-rerun.txt"
  [ $rc = 0 ] && pass "seed init re-run with three masters exits 0" || fail "seed init re-run exit $rc"
  # On real binaries Tests/VM/run-vm-test.sh real proves the unchanged re-run; here it would cost minutes.
  if [ -z "$real" ]; then
    seed init --name master-1 "${rerun_extra[@]}" > "$state/init-again.txt" 2>&1; rc=$?
    log_file INIT-AGAIN "$state/init-again.txt"
    [ $rc = 0 ] && grep -q '(0 changes' "$state/init-again.txt" && pass "seed init once more changes nothing (0 changes)" || fail "seed init once more: exit $rc, not 0 changes"
  fi
  tell 192.0.2.12 7003 rerun
  balancer_checks

  # The worker joins with a plain join file; then the cluster as the real API shows it.
  if [ -n "$real" ]; then
  t0=$(ms); seed join-file worker-1 --ip 192.0.2.21 --output /root/worker-1.yaml > "$state/joinfile-worker-1.txt" 2>&1; rc=$?
  log_file JOIN-FILE-WORKER "$state/joinfile-worker-1.txt"
  [ $rc = 0 ] && pass "seed join-file worker-1 --ip 192.0.2.21" || fail "seed join-file worker-1: exit $rc"
  serve /root/worker-1.yaml 7030
  hear 7031 2400; case "$heard" in joined*) pass "worker-1 says it joined";; *) fail "worker-1 did not join ('$heard')";; esac
  cluster_checks
  fi

  # The failover: the others watch their balancers while master-1 goes down.
  hear 7004 1500; case "$heard" in ready*) ;; *) fail "master-2 not ready for the failover ('$heard')";; esac
  hear 7016 1500; case "$heard" in ready*) ;; *) fail "master-3 not ready for the failover ('$heard')";; esac
  [ -z "$real" ] || { hear 7032 1500; case "$heard" in ready*) ;; *) fail "worker-1 not ready for the failover ('$heard')";; esac; }
  go_down 1
  ;;

master-1-cycle)
  # Power-off $((boot - 1)) is over: master-1 comes back, the others see it back in rotation, and the power goes again.
  master_1_back
  api_up
  tell 192.0.2.12 "$(cycle_port "$boot" 0)" "back"
  tell 192.0.2.13 "$(cycle_port "$boot" 1)" "back"
  hear "$(cycle_port "$boot" 2)" 1500; case "$heard" in ready*) ;; *) fail "master-2 not ready for power-off $boot ('$heard')";; esac
  hear "$(cycle_port "$boot" 3)" 1500; case "$heard" in ready*) ;; *) fail "master-3 not ready for power-off $boot ('$heard')";; esac
  go_down "$boot"
  ;;

master-1-last)
  master_1_back
  expect "after reboot: the key written while master-1 was away reads through https://192.0.2.11:2379" \
    wait_for 60 sh -c "etcdctl --endpoints=https://192.0.2.11:2379 $etcd_tls --dial-timeout=3s --command-timeout=10s get --print-value-only /kubeseed-ha/while-master-1-away | grep -qx written-through-master-2"
  expect "after reboot: the member list still has three members, all started, none a learner" wait_for 60 members_ok 11 master-1 master-2 master-3
  log_members
  expect "after reboot: master-1's balancer came back by itself and lists all three" sh -c \
    "systemctl is-active --quiet kubeseed-api-balancer.service && grep -q 'server api-[0-9]* 192.0.2.13:6443' $balancer_cfg"
  if [ -n "$real" ]; then api_check; else standin_start; api_ms=$standin_ms; fi
  tell 192.0.2.12 7006 "back ${api_ms:-$(ms)}"
  balancer_checks
  leave_and_rejoin 7040 7041 7042 7043
  # master-1 stays up until master-2 has checked etcd after master-3's reset (two members: both needed).
  hear 7008 1800; case "$heard" in finished*) pass "master-2 finished its checks";; *) fail "master-2 did not finish ('$heard')";; esac
  cpu_report "at the end"
  log "DONE"
  sync
  systemctl poweroff
  ;;


master-2-1)
  timeline "boot 1: test driver started ($(cut -d' ' -f1 /proc/uptime) s after kernel start)"
  expect "the link is up with 192.0.2.12" wait_for 60 sh -c "ip -o addr show | grep -q 'inet 192.0.2.12/24'"
  install_deb
  receive_join_file 7000 7001 1500
  seed_join first; first_rc=$join_rc
  after_join
  # With real binaries the run "once more" below is the same proof: one fewer join on two host cores.
  if [ -z "$real" ]; then
    seed_join again
    [ "$join_rc" = 0 ] && grep -q '(0 changes' "$state/join-again.txt" && pass "seed join a second time changes nothing (0 changes)" \
      || fail "seed join a second time: exit $join_rc, not 0 changes"
  fi
  if [ "$first_rc" = 0 ]; then tell 192.0.2.11 7002 joined; else tell 192.0.2.11 7002 "join failed (exit $first_rc)"; fi

  # Once master-3 has joined: the re-run puts it (and master-3) behind this balancer; the run right after changes nothing.
  hear 7003 1800
  seed_join rerun
  [ "$join_rc" = 0 ] && pass "seed join re-run with three masters exits 0" || fail "seed join re-run exit $join_rc"
  seed_join once-more
  [ "$join_rc" = 0 ] && grep -q '(0 changes' "$state/join-once-more.txt" && pass "seed join once more changes nothing (0 changes)" \
    || fail "seed join once more: exit $join_rc, not 0 changes"
  balancer_checks

  # The failover, as this balancer sees it.
  srv=$(server_of 192.0.2.11); downs=$(changes "/${srv:-api-?} is DOWN")
  log "BALANCER master-1 is ${srv:-missing} here; haproxy has logged $downs lines saying it is DOWN so far"
  hold_connections
  # master-1 may be back in this balancer's rotation before the window and its checks are over.
  ups_before_cut=$(changes "/$srv is UP")
  tell 192.0.2.11 7004 ready
  hear 7005 2400; t0=$(ms)
  watch_failover "$t0" "$srv" "$downs" "$(failover_label 1)"
  held_report "$t0" "$failover_down_ms"

  # etcd while master-1 is away: two of three members, a quorum.
  expect "with master-1 down: etcd on master-2 and master-3 healthy" etcd_at 12,13 endpoint health
  expect "master-1's etcd is unreachable (it is down)" wait_for 60 sh -c \
    "! etcdctl --endpoints=https://192.0.2.11:2379 $etcd_tls --dial-timeout=2s --command-timeout=4s endpoint health"
  expect "with master-1 down: etcdctl put through https://192.0.2.12:2379 succeeds" \
    etcd_at 12 put /kubeseed-ha/while-master-1-away written-through-master-2
  timeline "key written while master-1 is away"
  for c in $(seq 2 "$failovers"); do watch_cycle "$c" 0 2 4; done

  # master-1 boots again: how soon does this balancer send to it again?
  ups=$(changes "/$srv is UP")
  hear 7006 1200; heard_ms=$(ms)
  back_ms=${heard#back }
  case "$back_ms" in ''|*[!0-9]*) back_ms=$heard_ms ;; esac
  first=
  while [ $(( $(ms) - heard_ms )) -lt 60000 ]; do
    [ "$(ask)" = master-1 ] && { first=$(ms); break; }
    sleep 0.2
  done
  if [ -n "$first" ]; then
    up_note="haproxy logged $srv UP $(( $(logged_ms "/$srv is UP") - back_ms )) ms after it"
    [ "$(changes "/$srv is UP")" -gt "$ups" ] || up_note="haproxy logged no new UP line for $srv"
    log "FAILBACK-MS $(( first - back_ms )) on master-2: from master-1's API server answering at its own address (master-1's clock) to the first request through master-2's balancer it answered; $up_note; the message arrived after $(( heard_ms - back_ms )) ms"
    timeline "balancer sends to master-1 again"
    [ $(( first - back_ms )) -le 30000 ] && pass "failback: the balancer sends to master-1 again $(( first - back_ms )) ms after its API server answered" \
      || fail "failback took $(( first - back_ms )) ms (30 s allowed)"
  else
    log "FAILBACK-MS none on master-2"
    fail "failback: no request through the balancer reached master-1 within 60 s of its message"; log "balancer: $(balancer_log | tail -n 6 | tr '\n' '|')"
  fi

  # The cluster after the failover and master-1's return, as kubectl on master-2 shows it (the demo prints it).
  if [ -n "$real" ]; then
  wait_for 300 all_ready || fail "after master-1's return not every node is Ready: $(ready_nodes 2>&1 | tr '\n' ' ')"
  kc get nodes -o wide > "$state/kubectl-nodes.txt" 2>&1; log_file "KUBECTL get nodes -o wide" "$state/kubectl-nodes.txt"
  kc get pods -A -o wide > "$state/kubectl-pods.txt" 2>&1; log_file "KUBECTL get pods -A -o wide" "$state/kubectl-pods.txt"
  fi

  restore_on_three_masters

  # master-3 leaves: etcd has two members, both healthy.
  tell 192.0.2.13 7019 "reset now"
  hear 7007 1500; case "$heard" in "reset done"*) ;; *) fail "master-3 did not report its reset ('$heard')";; esac
  if wait_for 60 members_ok 12 master-1 master-2; then
    pass "after master-3's reset: two members (master-1, master-2), both started, none a learner"
  else
    fail "after master-3's reset the member list is not master-1 and master-2"
  fi
  log_members
  expect "after master-3's reset: etcd on master-1 and master-2 healthy" etcd_at 11,12 endpoint health
  # The package upgrades over itself on a running master; the cluster's units are untouched.
  DEBIAN_FRONTEND=noninteractive dpkg -i /root/kubeseed.deb > "$state/upgrade.txt" 2>&1 && pass "the package upgrades over itself (dpkg -i again)" \
    || { fail "upgrade failed"; log_file UPGRADE "$state/upgrade.txt"; }
  expect "after the upgrade seed-agent.path, etcd and the balancer are active" sh -c \
    "systemctl is-active --quiet seed-agent.path && systemctl is-active --quiet etcd.service && systemctl is-active --quiet kubeseed-api-balancer.service"
  expect "seed-agent status: master-2's node part is ready" seed-agent status
  tell 192.0.2.11 7008 finished
  cpu_report "at the end"
  log "DONE"
  sync
  systemctl poweroff
  ;;

master-3-1)
  timeline "boot 1: test driver started ($(cut -d' ' -f1 /proc/uptime) s after kernel start)"
  expect "the link is up with 192.0.2.13" wait_for 60 sh -c "ip -o addr show | grep -q 'inet 192.0.2.13/24'"
  snapshot "$state/before.txt"
  install_deb
  receive_join_file 7010 7011 2400

  # Bad input first: exit 2, and nothing changed on the host (master-1 checks etcd).
  snapshot "$state/before-bad.txt"
  wrong=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
  while [ "$wrong" = "$(cat /root/certificate.key)" ]; do wrong=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n'); done
  (umask 077; echo "$wrong" > /root/wrong.key)
  seed join /root/join.yaml --certificate-key-file /root/wrong.key > "$state/join-wrong-key.txt" 2>&1; rc1=$?
  timeline "seed join with a wrong key done (exit $rc1)"
  log_file JOIN-WRONG-KEY "$state/join-wrong-key.txt"
  [ $rc1 = 2 ] && pass "the right join file with a wrong certificate key: exit 2" || fail "a wrong certificate key: exit $rc1 (2 expected)"
  refuse "after the wrong key there is no /var/lib/kubeseed/journal.json" test -e /var/lib/kubeseed/journal.json
  snapshot "$state/after-wrong-key.txt"
  expect "after the wrong key the host's files are as before" diff "$state/before-bad.txt" "$state/after-wrong-key.txt"
  if tamper /root/join.yaml /root/tampered.yaml; then
    pass "a copy of the join file with one character of the sealed secrets changed"
  else
    fail "could not tamper with the sealed secrets (keys: $(grep -o '^ *[A-Za-z]*:' /root/join.yaml | tr -d ' ' | tr '\n' ' '))"
  fi
  seed join /root/tampered.yaml --certificate-key-file /root/certificate.key > "$state/join-tampered.txt" 2>&1; rc2=$?
  timeline "seed join with a tampered file done (exit $rc2)"
  log_file JOIN-TAMPERED "$state/join-tampered.txt"
  [ $rc2 = 2 ] && pass "the tampered join file with the right key: exit 2" || fail "a tampered join file: exit $rc2 (2 expected)"
  refuse "after the tampered file there is no /var/lib/kubeseed/journal.json" test -e /var/lib/kubeseed/journal.json
  snapshot "$state/after-tampered.txt"
  expect "after the tampered file the host's files are as before" diff "$state/before-bad.txt" "$state/after-tampered.txt"
  # The API servers edited to send the join's etcd questions elsewhere: refused before any packet leaves for
  # the edited address (an iptables rule counts them), since the sealed secrets are bound to the list.
  sed 's#https://192.0.2.11:6443#https://192.0.2.99:6443#' /root/join.yaml > /root/edited.yaml
  iptables -I OUTPUT -d 192.0.2.99
  seed join /root/edited.yaml --certificate-key-file /root/certificate.key > "$state/join-edited.txt" 2>&1; rc3=$?
  log_file JOIN-EDITED "$state/join-edited.txt"
  sent=$(iptables -L OUTPUT -v -n -x | awk '$8 == "192.0.2.99" || $9 == "192.0.2.99" { print $1; exit }')
  [ $rc3 = 2 ] && grep -q "controlPlane.secrets" "$state/join-edited.txt" && [ "$sent" = 0 ] \
    && pass "a join file whose API servers were edited (192.0.2.99): exit 2 at the seal, 0 packets sent to the edited address" \
    || fail "an edited endpoint list: exit $rc3, $sent packets to 192.0.2.99 ($(head -c 300 "$state/join-edited.txt"))"
  iptables -D OUTPUT -d 192.0.2.99
  snapshot "$state/after-edited.txt"
  expect "after the edited file the host's files are as before" diff "$state/before-bad.txt" "$state/after-edited.txt"
  tell 192.0.2.11 7012 "bad inputs done (exit $rc1 and $rc2)"
  hear 7013 1500; case "$heard" in go*) ;; *) fail "no go from master-1 ('$heard')";; esac

  seed_join first; first_rc=$join_rc
  after_join
  if [ "$first_rc" = 0 ]; then tell 192.0.2.11 7014 joined; else tell 192.0.2.11 7014 "join failed (exit $first_rc)"; fi
  hear 7015 1500
  expect "master-3 reads through https://192.0.2.13:2379 the key master-1 wrote through .11" sh -c \
    "etcdctl --endpoints=https://192.0.2.13:2379 $etcd_tls --dial-timeout=3s --command-timeout=10s get --print-value-only /kubeseed-ha/key-1 | grep -qx written-through-master-1"
  balancer_checks

  srv=$(server_of 192.0.2.11); downs=$(changes "/${srv:-api-?} is DOWN")
  log "BALANCER master-1 is ${srv:-missing} here; haproxy has logged $downs lines saying it is DOWN so far"
  hold_connections
  # master-1 may be back in this balancer's rotation before the window and its checks are over.
  ups_before_cut=$(changes "/$srv is UP")
  tell 192.0.2.11 7016 ready
  hear 7017 2400; t0=$(ms)
  watch_failover "$t0" "$srv" "$downs" "$(failover_label 1)"
  held_report "$t0" "$failover_down_ms"

  # While master-1 is down, master-3 may not leave: master-2 would be alone with a dead master-1.
  if ! etcdctl --endpoints=https://192.0.2.11:2379 $etcd_tls --dial-timeout=2s --command-timeout=4s endpoint health > /dev/null 2>&1; then
    journal_sum=$(sha256sum < /var/lib/kubeseed/journal.json)
    seed-agent reset > "$state/reset-refused.txt" 2>&1; rc=$?
    timeline "seed-agent reset with master-1 down done (exit $rc)"
    log_file RESET-REFUSED "$state/reset-refused.txt"
    [ $rc = 2 ] && grep -q 'no quorum' "$state/reset-refused.txt" \
      && pass "with master-1 down, seed-agent reset on master-3 refuses (exit 2): the voters left would have no quorum" \
      || fail "with master-1 down, reset exit $rc (2 and 'no quorum' expected)"
    expect "the refused reset changed nothing (journal, etcd member, services)" sh -c \
      "test \"\$(sha256sum < /var/lib/kubeseed/journal.json)\" = '$journal_sum' && systemctl is-active --quiet etcd.service && systemctl is-active --quiet kubeseed-api-balancer.service"
    expect "after the refused reset master-3 is still an etcd member" sh -c "etcdctl --endpoints=https://192.0.2.13:2379 $etcd_tls --dial-timeout=3s --command-timeout=10s member list | grep -q 'started, master-3,'"
  else
    log "NOTE master-1 was back before master-3 could try a reset without quorum: that check did not run"
  fi
  for c in $(seq 2 "$failovers"); do watch_cycle "$c" 1 3 5; done

  leave_and_rejoin 7044 7045 7046 7047
  # master-3 leaves the cluster once master-1 is back: reset, purge, and its files are as before.
  hear 7019 1800
  # The pod network stand-in is the test's, as a CNI DaemonSet's files are the CNI's: gone before the reset.
  kill %1 2>/dev/null; rm -f /etc/cni/net.d/10-kubeseed-test-bridge.conflist
  systemctl stop standin-apiserver.service 2>/dev/null   # not a unit KubeSeed knows: reset would leave it running
  t0=$(ms); seed-agent reset > "$state/reset.txt" 2>&1; rc=$?
  timeline "seed-agent reset done (exit $rc, $(( $(ms) - t0 )) ms)"
  log_file RESET "$state/reset.txt"
  [ $rc = 0 ] && pass "seed-agent reset exits 0 ($(tail -n 1 "$state/reset.txt"))" || fail "reset exit $rc"
  expect "reset removed master-3's etcd member through a healthy peer first" grep -q 'etcd member' "$state/reset.txt"
  tell 192.0.2.12 7007 "reset done"
  refuse "after reset nothing listens on :6443 or :8443" sh -c "ss -Hltn '( sport = :6443 or sport = :8443 )' | grep -q ."
  log "after reset etcd.service is $(systemctl is-active etcd.service)"
  rm -f /root/join.yaml /root/certificate.key /root/wrong.key /root/tampered.yaml
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -q kubeseed > "$state/purge.txt" 2>&1 && pass "apt-get purge kubeseed" || { fail "purge failed"; log_file PURGE "$state/purge.txt"; }
  timeline "package purged"
  snapshot "$state/after.txt"
  # Directories reset keeps because something else filled them (the operator's data) are reported by
  # reset as "kept … (not empty)"; only those may remain.
  kept=$(sed -n 's/.*kept \(\/[^ ]*\) (not empty).*/\1/p' "$state/reset.txt")
  log "reset kept: $(echo $kept)"
  diff "$state/before.txt" "$state/after.txt" | grep '^[<>]' > "$state/diff.txt"
  : > "$state/unexplained.txt"
  while read -r side path rest; do
    explained=
    for dir in $kept; do case "$path" in "$dir"|"$dir"/*) [ "$side" = ">" ] && explained=yes ;; esac; done
    # The parents of a kept directory stay too.
    for dir in $kept; do case "$dir" in "$path"/*) [ "$side" = ">" ] && explained=yes ;; esac; done
    [ -n "$explained" ] || echo "$side $path $rest" >> "$state/unexplained.txt"
  done < "$state/diff.txt"
  if [ ! -s "$state/unexplained.txt" ]; then
    pass "after reset and purge the host's files are as before the install (names, /etc bytes, sysctls, swap; $(wc -l < "$state/diff.txt") lines under kept data directories)"
  else
    fail "files differ after reset and purge"; sed 's/^/DIFF | /' "$state/unexplained.txt" | head -n 40 | while read -r l; do log "$l"; done
  fi
  cpu_report "at the end"
  log "DONE"
  sync
  systemctl poweroff
  ;;

worker-1-1)
  timeline "boot 1: test driver started ($(cut -d' ' -f1 /proc/uptime) s after kernel start)"
  expect "the link is up with 192.0.2.21" wait_for 60 sh -c "ip -o addr show | grep -q 'inet 192.0.2.21/24'"
  install_deb
  tar -xzf "$archive" -C /root --strip-components=3 kubernetes/server/bin/kubectl
  if fetch 192.0.2.11 7030 /root/join.yaml 3000; then pass "received worker-1's join file from master-1"; else fail "no join file from master-1"; fi
  install -m 0600 /root/join.yaml /etc/kubeseed/join.yaml
  timeline "join file in place"
  seed-agent install-binaries "$archive" --sha256 "$archive_sha" > "$state/install-binaries.txt" 2>&1; rc=$?
  log_file INSTALL-BINARIES "$state/install-binaries.txt"
  [ $rc = 0 ] && grep -q 'Kubernetes v1.20.2, as --version says' "$state/install-binaries.txt" \
    && pass "seed-agent install-binaries from the server archive (SHA-256 and --version checked against the join file)" || fail "install-binaries exit $rc"
  t0=$(ms)
  if wait_for 900 seed-agent status; then pass "the agent reports worker-1 ready after $(( $(ms) - t0 )) ms"; timeline "agent ready"
  else fail "the agent is not ready"; seed-agent status 2>&1 | while read -r line; do log "STATUS | $line"; done; journal_excerpt seed-agent.service kubelet.service; fi
  expect "the agent imported the images (status says so)" sh -c "seed-agent status | grep -q 'imported\|already in containerd'"
  node_network &
  if wait_for 900 node_ready worker-1; then
    pass "worker-1 is a Ready node (its kubelet's credentials ask through its own balancer)"
  else fail "worker-1 is not Ready"; journal_excerpt kubelet.service; fi
  tell 192.0.2.11 7031 joined
  srv=$(server_of 192.0.2.11); downs=$(changes "/${srv:-api-?} is DOWN")
  tell 192.0.2.11 7032 ready
  hear 7033 2400; t0=$(ms)
  watch_failover "$t0" "$srv" "$downs"
  expect "with master-1 down, the worker's kubelet credentials still read its Node through the balancer" bash -c "kc get node worker-1 -o name"
  expect "the kubelet's client certificate is on disk before the reboot" test -s /etc/kubernetes/cert/kubelet-client-current.pem
  power_off_for_boot 2
  ;;

worker-1-2)
  timeline "boot 2: test driver started ($(cut -d' ' -f1 /proc/uptime) s after kernel start)"
  # Its bootstrap token was deleted before the reboot: the client certificate it kept is all it has.
  t0=$(ms)
  if wait_for 900 node_ready worker-1; then
    pass "after reboot worker-1 is Ready again $(( $(ms) - t0 )) ms into the boot, its token deleted (client certificate kept)"
  else fail "after reboot worker-1 is not Ready"; journal_excerpt kubelet.service seed-agent.service; fi
  expect "after reboot seed-agent status is ready" wait_for 300 seed-agent status
  cpu_report "at the end"
  log "DONE"
  sync
  systemctl poweroff
  ;;

*)
  fail "no scenario for $me in phase $(phase)"
  cpu_report "at the end"
  log "DONE"
  sync
  systemctl poweroff
  ;;
esac
