#!/bin/bash
# Scenario "real". Runs inside the VM guest as kubeseed-vmtest.service: seed init with real Kubernetes
# 1.20.2 (built by Tests/Kubernetes/build-kubernetes.sh from Debian's source package, handed over as
# the upstream kubernetes-server-linux-amd64.tar.gz with its SHA-256: the user's path), the pause and
# busybox images as OCI archives in the agent's images directory. Then the real kubectl asserts:
# the master is a Ready node (TLS bootstrap with the token, the serving certificate approved by
# seed csr-approver), roles and taint, a busybox pod with logs and exec, a Service's ClusterIP through
# kube-proxy's IPVS rules, the bootstrap token Secret, and CoreDNS's objects (no CoreDNS image here).
# Stand-in, named: the pod network is a bridge conflist for this node's podCIDR that the test writes,
# as a CNI DaemonSet (flannel, Calico) would; no CNI image can be had here.
set -u
source /usr/local/lib/kubeseed-vmtest/guest-lib.sh
k8s=/usr/local/lib/kubeseed-vmtest/k8s
export KUBECONFIG=/etc/kubernetes/admin.kubeconfig
kc() { /opt/k8s/bin/kubectl --request-timeout=30s "$@"; }
ready_nodes() { kc get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}'; }
export -f kc ready_nodes

log "real scenario on $(uname -r); cgroup filesystem $(stat -fc %T /sys/fs/cgroup); $(nproc) CPUs, $(awk '/MemTotal/ {print $2}' /proc/meminfo) kB"
dummy_default_route 192.0.2.10
systemctl disable --now etcd.service >/dev/null 2>&1

# The images an air-gapped node needs, put where the agent imports them, with their SHA-256.
install -d -m 0700 /var/lib/kubeseed /var/lib/kubeseed/images
cp "$k8s/pause.oci.tar" "$k8s/busybox.oci.tar" /var/lib/kubeseed/images/
grep 'oci.tar$' "$k8s/SHA256SUMS" > /var/lib/kubeseed/images/SHA256SUMS

mkdir -p /etc/kubeseed
cat > /etc/kubeseed/cluster.yaml <<'EOF'
apiVersion: kubeseed.io/v1alpha1
kind: ClusterConfiguration
cluster:
  name: real
  kubernetesVersion: v1.20.2
  sandboxImage: kubeseed.local/pause:3.4.1
  kubeletCertificateDuration: 15m
master:
  name: master-1
host:
  dataDir: /srv/kubeseed-data
EOF
archive=$k8s/kubernetes-server-linux-amd64.tar.gz
sha=$(sha256sum "$archive" | cut -d' ' -f1)
timeline "seed init starts"
t0=$(ms); seed init --server-archive "$archive" --sha256 "$sha" > "$state/init.txt" 2>&1; rc=$?
log "INIT exit=$rc wall_ms=$(( $(ms) - t0 ))"
while read -r line; do log "INIT | $line"; done < "$state/init.txt"
[ $rc = 0 ] && pass "seed init with the real 1.20.2 server archive exits 0" || fail "seed init exit $rc"
timeline "seed init done"
expect "install checked the binaries' release" grep -q 'Kubernetes v1.20.2' "$state/init.txt"
expect "kube-apiserver 1.20.2 answers /readyz through the admin kubeconfig" bash -c "kc get --raw /readyz | grep -qx ok"
kc version --short 2>&1 | while read -r line; do log "VERSION | $line"; done

# The stand-in for a CNI DaemonSet: once the node is registered, a bridge for its podCIDR.
t0=$(ms)
if wait_for 600 bash -c "kc get node master-1 -o jsonpath='{.spec.podCIDR}' | grep -q /"; then
  pass "master-1 registered with a podCIDR after $(( $(ms) - t0 )) ms (TLS bootstrap with the token)"
else
  fail "master-1 did not register: $(kc get nodes 2>&1 | tr '\n' ' ')"
  journal_excerpt kubelet.service containerd.service seed-agent.service kube-controller-manager.service
fi
pod_cidr=$(kc get node master-1 -o jsonpath='{.spec.podCIDR}')
log "master-1 podCIDR $pod_cidr"
test_bridge_conflist "$pod_cidr"
if wait_for 300 bash -c "ready_nodes | grep -qx master-1=True"; then
  pass "master-1 is a Ready node $(( $(ms) - t0 )) ms after seed init (real kubelet 1.20.2 on containerd)"
  timeline "master-1 Ready"
else
  fail "master-1 is not Ready: $(ready_nodes | tr '\n' ' ')"
  kc describe node master-1 2>&1 | tail -n 30 | while read -r line; do log "NODE | $line"; done
  journal_excerpt kubelet.service containerd.service seed-agent.service
fi

kc get csr -o wide > "$state/csr.txt" 2>&1
while read -r line; do log "CSR | $line"; done < "$state/csr.txt"
expect "the kubelet's client certificate came from TLS bootstrap with the token (CSR by the bootstrap token, approved, issued)" \
  bash -c "kc get csr -o jsonpath='{range .items[*]}{.spec.signerName} {.spec.username} {.status.conditions[0].type} {.status.certificate}{\"\\n\"}{end}' \
    | grep -E '^kubernetes.io/kube-apiserver-client-kubelet system:bootstrap:[a-z0-9]{6} Approved .+'"
if wait_for 180 bash -c "kc get csr -o jsonpath='{range .items[*]}{.spec.signerName} {.spec.username} {.status.conditions[0].type} {.status.certificate}{\"\\n\"}{end}' \
    | grep -E '^kubernetes.io/kubelet-serving system:node:master-1 Approved .+'"; then
  pass "the kubelet's serving certificate was approved by seed csr-approver and signed"
else
  fail "no approved kubelet-serving CSR for master-1"
  journal_excerpt kubeseed-csr-approver.service
fi
# kubeletCertificateDuration 15m: the kubelet rotates both certificates by itself at 70 to 90 % of their life,
# well within this scenario (checked before day 2).
kubelet_pki=/etc/kubernetes/cert
cert_serial() { openssl x509 -noout -serial -in "$1" 2>/dev/null | cut -d= -f2; }
export -f cert_serial
wait_for 60 test -s $kubelet_pki/kubelet-server-current.pem
client_serial0=$(cert_serial $kubelet_pki/kubelet-client-current.pem); serving_serial0=$(cert_serial $kubelet_pki/kubelet-server-current.pem)
log "KUBELET-CERTS first client serial=$client_serial0 $(openssl x509 -noout -startdate -enddate -in $kubelet_pki/kubelet-client-current.pem | tr '\n' ' ')"
log "KUBELET-CERTS first serving serial=$serving_serial0 $(openssl x509 -noout -startdate -enddate -in $kubelet_pki/kubelet-server-current.pem | tr '\n' ' ')"
expect "the kubelet's client certificate lasts at most 15 minutes (kubeletCertificateDuration)" bash -c \
  "[ \$(( \$(date -d \"\$(openssl x509 -noout -enddate -in $kubelet_pki/kubelet-client-current.pem | cut -d= -f2)\" +%s) - \$(date +%s) )) -le 900 ]"
expect "master-1 has the control-plane role label" bash -c "kc get node master-1 --show-labels | grep -q node-role.kubernetes.io/control-plane"
kc get node master-1 -o jsonpath='{.spec.taints}' | while read -r line; do log "TAINTS | $line"; done
expect "the images from the images directory are in containerd's k8s.io namespace" bash -c "ctr -n k8s.io images ls -q | grep -qx kubeseed.local/pause:3.4.1 && ctr -n k8s.io images ls -q | grep -qx kubeseed.local/busybox:1"
expect "the imported images are labelled pinned" sh -c "ctr -n k8s.io images ls | grep kubeseed.local/pause:3.4.1 | grep -q io.cri-containerd.pinned=pinned"

# A workload: busybox on master-1 (tolerating the control-plane taint), serving HTTP.
cat > "$state/web.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  tolerations: [{operator: Exists}]
  containers:
  - name: web
    image: kubeseed.local/busybox:1
    imagePullPolicy: Never
    # The shell is the container's PID 1: without a handler SIGTERM never reaches it, and the guest's
    # power-off waited systemd's 90 s for the container's scope to be killed.
    command: ["sh", "-c", "trap 'exit 0' TERM; echo web-started; httpd -f -p 8080 -h /www & wait"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
EOF
expect "kubectl apply of a pod and a Service" kc apply -f "$state/web.yaml"
t0=$(ms)
if wait_for 300 bash -c "kc get pod web -o jsonpath='{.status.phase}' | grep -qx Running"; then
  pass "the busybox pod runs after $(( $(ms) - t0 )) ms (image from the images directory, sandbox from the pause image)"
else
  fail "the busybox pod is not Running"
  kc describe pod web 2>&1 | tail -n 25 | while read -r line; do log "POD | $line"; done
  journal_excerpt kubelet.service containerd.service
fi
# logs and exec go from the API server to the kubelet's serving certificate (approved above, signed by
# the controller manager): wait until it is issued.
wait_for 120 bash -c "kc get csr -o jsonpath='{range .items[*]}{.spec.signerName} {.status.certificate}{\"\\n\"}{end}' | grep -E '^kubernetes.io/kubelet-serving .+'" \
  || fail "the kubelet's serving CSR was not issued: $(kc get csr 2>&1 | tr '\n' ' ')"
if wait_for 90 bash -c "kc logs web | grep -qx web-started"; then
  pass "kubectl logs reads the pod's output (the API server reaches the kubelet on its approved serving certificate)"
else
  fail "kubectl logs: $(kc logs web 2>&1 | head -c 400)"
  journal_excerpt kubelet.service
fi
out=$(kc exec web -- hostname 2>&1)
[ "$out" = web ] && pass "kubectl exec runs in the pod" || fail "kubectl exec: $(echo "$out" | head -c 400)"
cluster_ip=$(kc get svc web -o jsonpath='{.spec.clusterIP}')
ipvsadm -Ln > "$state/ipvs.txt" 2>&1
while read -r line; do log "IPVS | $line"; done < "$state/ipvs.txt"
expect "kube-proxy programmed IPVS for the Service ($cluster_ip:80)" grep -q "TCP  $cluster_ip:80" "$state/ipvs.txt"
expect "kube-proxy programmed IPVS for the API server Service (10.254.0.1:443 → 192.0.2.10:6443)" bash -c "grep -A1 'TCP  10.254.0.1:443' $state/ipvs.txt | grep -q '192.0.2.10:6443'"
expect "kube-proxy left nf_conntrack_max to the agent (2310720, not kube-proxy's own 131072)" test "$(sysctl -n net.netfilter.nf_conntrack_max)" = 2310720
if wait_for 60 sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 socat -t 5 - TCP:$cluster_ip:80 2>/dev/null | grep -q 'served by busybox httpd'"; then
  pass "the Service's ClusterIP answers on the node through IPVS (to the pod on the bridge)"
else
  fail "the Service's ClusterIP $cluster_ip does not answer"
fi
expect "the default/kubernetes EndpointSlice (discovery.k8s.io/v1beta1 in 1.20) lists 192.0.2.10" bash -c "kc get endpointslices.v1beta1.discovery.k8s.io kubernetes -o jsonpath='{.endpoints[*].addresses[*]}' | grep -q 192.0.2.10"
# What the agent asks each minute, in a child of its own: the kubelet's certificate, through the balancer.
expect "seed-agent refresh-api-servers (the agent's minute ask) reads 192.0.2.10 from the EndpointSlice with the kubelet's certificate" bash -c \
  "seed-agent refresh-api-servers 2>&1 | tee -a $state/refresh.txt | grep -qx 'API servers: https://192.0.2.10:6443 (unchanged)'"
expect "the bootstrap token's Secret exists in kube-system" bash -c "kc -n kube-system get secrets --field-selector type=bootstrap.kubernetes.io/token -o name | grep -q bootstrap-token-"
expect "CoreDNS's Deployment, Service and ConfigMap exist" bash -c "kc -n kube-system get deployment coredns && kc -n kube-system get service kube-dns && kc -n kube-system get configmap coredns"
log "no CoreDNS image can be had here: its pods are scheduled but cannot start"
kc get pods -A -o wide 2>&1 | while read -r line; do log "PODS | $line"; done
kc get nodes -o wide 2>&1 | while read -r line; do log "NODES | $line"; done
# The agent as a service at rest on a node whose kubelet has its certificate: its minute's ask runs in a child.
expect "seed-agent.service starts and reports READY (nothing to change: seed init made this master a node)" systemctl start seed-agent.service
agent_pid=$(systemctl show -p MainPID --value seed-agent.service)
agent_switches() { cat /proc/$agent_pid/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'; }
switches_before=$(agent_switches)
idle_profile 60 "a master and node at rest"
log "AGENT-IDLE threads=$(ls /proc/$agent_pid/task 2>/dev/null | wc -l) wakeups_60s=$(( $(agent_switches) - switches_before )) rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$agent_pid/status 2>/dev/null) anon_kb=$(awk '/RssAnon/ {print $2}' /proc/$agent_pid/status 2>/dev/null) file_kb=$(awk '/RssFile/ {print $2}' /proc/$agent_pid/status 2>/dev/null)"
expect "seed-agent.service after 60 s at rest (one API-server ask, in a child) has one thread" \
  test "$(ls /proc/$agent_pid/task 2>/dev/null | wc -l)" = 1

# Day 2 on the real control plane (after the rest measurement, which it would disturb). What stops neither
# etcd nor the API server runs first, while the kubelet's rotation is awaited.
cert=/etc/kubernetes/cert
snapdir=/srv/kubeseed-data/etcd/snapshots
serial() { openssl x509 -noout -serial -in "$1" | cut -d= -f2; }
served_serial() {  # HOST:PORT CA [s_client options]: the serial of the certificate HOST:PORT presents
  local address=$1 ca=$2; shift 2
  timeout 10 openssl s_client -connect "$address" -CAfile "$ca" "$@" </dev/null 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2
}
# One /readyz through the node-local balancer every 200 ms until told to stop; each line: ms ok|fail.
probe_api() {
  rm -f "$state/probe.stop" "$state/probe.txt"
  while [ ! -e "$state/probe.stop" ]; do
    if printf 'GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' \
        | timeout 5 socat -t 3 - OPENSSL:127.0.0.1:8443,cafile=$cert/ca.pem 2>/dev/null | grep -qx ok; then
      echo "$(ms) ok" >> "$state/probe.txt"
    else
      echo "$(ms) fail" >> "$state/probe.txt"
    fi
    sleep 0.2
  done
}
probe_report() {  # NAME: the probe's figures
  local total failed first last
  total=$(wc -l < "$state/probe.txt"); failed=$(grep -c ' fail$' "$state/probe.txt")
  first=$(awk '$2 == "fail" {print $1; exit}' "$state/probe.txt"); last=$(awk '$2 == "fail" {t = $1} END {print t}' "$state/probe.txt")
  log "$1 probe requests=$total failed=$failed outage_ms=$([ -n "$first" ] && echo $(( last - first )) || echo 0)"
}

expect "seed certs exits 0 and lists the kubeconfigs' certificates" bash -c "seed certs > $state/certs-day2.txt 2>&1 && grep -q 'admin.kubeconfig (user admin)' $state/certs-day2.txt"
refuse "seed certs --window-days 2000 exits 1 (the leaves end within 5 years)" seed certs --window-days 2000
expect "the renewal and snapshot timers are active on the master" systemctl is-active kubeseed-certs-renew.timer kubeseed-etcd-snapshot.timer
systemctl list-timers --all 'kubeseed-*' 2>&1 | while read -r line; do log "TIMERS | $line"; done
expect "the renewal timer's service renews nothing today" bash -c \
  "systemctl start kubeseed-certs-renew.service && journalctl -u kubeseed-certs-renew.service -o cat | grep -q 'none ends within 30 days'"

# Certificates that neither etcd nor the API server reads: no request through the balancer fails.
probe_api & probe_pid=$!
sleep 2
t0=$(ms); seed certs renew kube-controller-manager kube-scheduler admin kube-proxy > "$state/renew-some.txt" 2>&1; rc=$?
log "RENEW-SOME exit=$rc wall_ms=$(( $(ms) - t0 ))"
while read -r line; do log "RENEW-SOME | $line"; done < "$state/renew-some.txt"
sleep 3; touch "$state/probe.stop"; wait $probe_pid
probe_report RENEW-SOME
[ $rc = 0 ] && pass "seed certs renew of four client certificates exits 0" || fail "seed certs renew of four exit $rc"
expect "renewing them restarted neither etcd nor kube-apiserver" bash -c "! grep -Eq 'restart(ed)? (etcd|kube-apiserver)' $state/renew-some.txt"
expect "no /readyz through the balancer failed while they were renewed" test "$(grep -c ' fail$' "$state/probe.txt")" = 0

expect "a ConfigMap made before the snapshot" kc create configmap day2-before-snapshot --from-literal=k=v
t0=$(ms); seed etcd snapshot save > "$state/snapshot.txt" 2>&1; rc=$?
log "SNAPSHOT exit=$rc wall_ms=$(( $(ms) - t0 )) $(cat "$state/snapshot.txt")"
[ $rc = 0 ] && pass "seed etcd snapshot save exits 0 (the SHA-256 etcd sent matches)" || fail "seed etcd snapshot save exit $rc"
snapshot=$(ls -t $snapdir/on-demand-etcd-snapshot-master-1-*.db 2>/dev/null | head -n 1)
log "SNAPSHOT file=$snapshot bytes=$(stat -c %s "$snapshot" 2>/dev/null)"
expect "the snapshot is 0600 in a 0700 directory" test "$(stat -c %a "$snapshot"):$(stat -c %a $snapdir)" = "600:700"
expect "etcdctl (an independent reader) reads the snapshot's status" etcdctl snapshot status "$snapshot"
expect "seed etcd snapshot list shows it and the last save's result" bash -c "seed etcd snapshot list | grep -q \"$(basename "$snapshot")\""
expect "the ConfigMap is deleted, another made, after the snapshot" bash -c "kc delete configmap day2-before-snapshot && kc create configmap day2-after-snapshot"
cp "$snapshot" "$state/damaged.db"; printf '\xff' | dd of="$state/damaged.db" bs=1 seek=5000 conv=notrunc 2>/dev/null
refuse "seed etcd restore refuses a damaged snapshot" seed etcd restore "$state/damaged.db"
expect "and kube-apiserver never stopped for it" bash -c "systemctl show -p NRestarts,ActiveState kube-apiserver.service | grep -q ActiveState=active"
seed upgrade plan --to v1.21.0 > "$state/upgrade-plan.txt" 2>&1; rc=$?
while read -r line; do log "UPGRADE-PLAN | $line"; done < "$state/upgrade-plan.txt"
expect "seed upgrade plan reads the API server's and master-1's kubelet and kube-proxy releases and allows v1.21.0 (exit $rc)" \
  bash -c "[ $rc = 0 ] && grep -q 'node master-1  kubelet v1.20.2  kube-proxy v1.20.2' $state/upgrade-plan.txt"
refuse "seed upgrade plan --to v1.22.0 is refused (one minor at a time)" seed upgrade plan --to v1.22.0

# seed upgrade apply: the same release again from a rebuilt archive (each binary differs by one byte), as
# Kubernetes 1.20.2 is the one release that can be built here. The skew check first (nothing stopped), then,
# after the rotation, the mechanics: the control plane's binaries replaced and restarted one at a time,
# kubelet left for the node step.
rebuilt=$k8s/kubernetes-server-rebuilt.tar.gz
rebuilt_sha=$(sha256sum "$rebuilt" | cut -d' ' -f1)
binaries_sum() { sha256sum /opt/k8s/bin/* | sha256sum | cut -c1-16; }
sum_before=$(binaries_sum); kubelet_sum=$(sha256sum /opt/k8s/bin/kubelet | cut -d' ' -f1)
refuse "seed upgrade apply to v1.22.0 is refused by the skew check" seed upgrade apply --server-archive "$rebuilt" --kubernetes-version v1.22.0
refuse "seed init with an archive of another release is refused (seed upgrade apply moves a master)" \
  seed init phase binaries --server-archive "$rebuilt" --kubernetes-version v1.21.0 --replace-binaries
expect "and nothing in /opt/k8s/bin changed for either" test "$(binaries_sum)" = "$sum_before"
# Every line seed prints passes one escaping writer: a path with an escape sequence reaches no terminal raw.
# (--root, an empty directory, so no kubeconfig is listed and the message names the directory.)
seed certs --root "$(mktemp -d)" --dir "$(printf '/tmp/esc\033[2J\rforged')" > "$state/escape.txt" 2>&1
log "ESCAPE | $(od -An -c "$state/escape.txt" | tr -s ' ' | tr '\n' ' ')"
expect "seed certs' message about a directory with ESC and CR holds neither byte, escaped instead" bash -c \
  "! grep -q \$'\\033' $state/escape.txt && ! grep -q \$'\\r' $state/escape.txt && grep -qF '\\u{1b}[2J\\u{d}forged' $state/escape.txt"

# The kubelet's own rotation (15-minute certificates): a new client certificate (a CSR by system:node:master-1,
# approved for the selfnodeclient binding) and a new serving one (approved by seed csr-approver). Waited for
# before the day-2 steps that stop the API server: their outages (renew --all, restore, upgrade: minutes
# without an API server here) would cover the kubelet's window (70 to 90 % of the life), and a kubelet whose
# certificate expires meanwhile bootstraps again with the token (a CSR by system:bootstrap:…), as it did once
# at 948e371.
t0=$(ms)
expect "the kubelet rotated its client certificate by itself" wait_for 600 bash -c "[ \"\$(cert_serial $kubelet_pki/kubelet-client-current.pem)\" != $client_serial0 ]"
expect "the kubelet rotated its serving certificate by itself" wait_for 300 bash -c "[ \"\$(cert_serial $kubelet_pki/kubelet-server-current.pem)\" != $serving_serial0 ]"
log "KUBELET-CERTS rotated; waited_ms=$(( $(ms) - t0 ))"
kc get csr -o wide 2>&1 | while read -r line; do log "CSR-ROTATION | $line"; done
expect "the client renewal's CSR is by system:node:master-1 and approved" bash -c \
  "kc get csr -o jsonpath='{range .items[*]}{.spec.signerName} {.spec.username} {.status.conditions[0].type}{\"\\n\"}{end}' | grep -qx 'kubernetes.io/kube-apiserver-client-kubelet system:node:master-1 Approved'"
expect "seed csr-approver approved a second serving CSR for master-1" bash -c \
  "[ \$(kc get csr -o jsonpath='{range .items[*]}{.spec.signerName} {.spec.username} {.status.conditions[0].type}{\"\\n\"}{end}' | grep -cx 'kubernetes.io/kubelet-serving system:node:master-1 Approved') -ge 2 ]"
expect "kubectl logs reaches the kubelet on its rotated serving certificate" wait_for 60 kc logs web
expect "seed certs lists the kubelet's certificate in use and exits 0 (the kubelet rotates it; old ones are not listed)" bash -c \
  "seed certs > $state/certs-rotated.txt 2>&1 && grep -q '^kubelet-client-current.pem' $state/certs-rotated.txt && ! grep -q 'kubelet-client-20' $state/certs-rotated.txt"

api_before=$(serial $cert/kube-apiserver.pem); etcd_before=$(serial $cert/etcd-server.pem); admin_before=$(serial $cert/admin.pem)
probe_api & probe_pid=$!
sleep 2
t0=$(ms); seed certs renew --all > "$state/renew.txt" 2>&1; rc=$?
log "RENEW exit=$rc wall_ms=$(( $(ms) - t0 ))"
while read -r line; do log "RENEW | $line"; done < "$state/renew.txt"
sleep 3; touch "$state/probe.stop"; wait $probe_pid
probe_report RENEW
[ $rc = 0 ] && pass "seed certs renew --all exits 0" || fail "seed certs renew --all exit $rc"
expect "kube-apiserver.pem, etcd-server.pem and admin.pem have new serials" \
  test "$(serial $cert/kube-apiserver.pem)" != "$api_before" -a "$(serial $cert/etcd-server.pem)" != "$etcd_before" -a "$(serial $cert/admin.pem)" != "$admin_before"
expect "kube-apiserver serves the renewed certificate" test "$(served_serial 192.0.2.10:6443 $cert/ca.pem)" = "$(serial $cert/kube-apiserver.pem)"
expect "etcd serves the renewed certificate" test "$(served_serial 192.0.2.10:2379 $cert/etcd-ca.pem -cert $cert/apiserver-etcd-client.pem -key $cert/apiserver-etcd-client-key.pem)" = "$(serial $cert/etcd-server.pem)"
expect "kubectl with the rewritten admin kubeconfig lists the nodes" kc get nodes
expect "root's kubeconfig is the rewritten admin one" cmp /root/.kube/config /etc/kubernetes/admin.kubeconfig
expect "the controller manager and scheduler run on their rewritten kubeconfigs" systemctl is-active kube-controller-manager.service kube-scheduler.service
expect "master-1 is Ready after the renewal" wait_for 180 bash -c "ready_nodes | grep -qx master-1=True"
expect "a second renewal with --due changes nothing" bash -c "seed certs renew --due > $state/renew-due.txt 2>&1 && grep -q 'seed certs renew: unchanged' $state/renew-due.txt"

t0=$(ms); seed etcd restore "$snapshot" > "$state/restore.txt" 2>&1; rc=$?
log "RESTORE exit=$rc wall_ms=$(( $(ms) - t0 ))"
while read -r line; do log "RESTORE | $line"; done < "$state/restore.txt"
[ $rc = 0 ] && pass "seed etcd restore exits 0" || fail "seed etcd restore exit $rc"
expect "after the restore the ConfigMap deleted after the snapshot is back" wait_for 60 kc get configmap day2-before-snapshot
refuse "after the restore the ConfigMap made after the snapshot is gone" kc get configmap day2-after-snapshot
expect "etcd answers healthy after the restore" etcdctl --endpoints=https://192.0.2.10:2379 --cacert $cert/etcd-ca.pem --cert $cert/apiserver-etcd-client.pem --key $cert/apiserver-etcd-client-key.pem endpoint health
expect "master-1 is Ready after the restore" wait_for 240 bash -c "ready_nodes | grep -qx master-1=True"
expect "the snapshot timer's service takes a scheduled one; the one taken by hand stays (never pruned)" bash -c \
  "systemctl start kubeseed-etcd-snapshot.service && test \$(ls $snapdir/etcd-snapshot-master-1-*.db | wc -l) = 1 && test -e $snapshot"
mainpid() { systemctl show -p MainPID --value "$1"; }
runs_installed() {  # UNIT BINARY: the unit's process runs the file now at /opt/k8s/bin/BINARY
  local pid; pid=$(mainpid "$1"); [ "$pid" != 0 ] && [ "$(readlink /proc/$pid/exe)" = "/opt/k8s/bin/$2" ]
}
export -f mainpid runs_installed
api_pid=$(mainpid kube-apiserver.service); kubelet_pid=$(mainpid kubelet.service)
probe_api & probe_pid=$!
sleep 2
t0=$(ms); seed upgrade apply --server-archive "$rebuilt" --sha256 "$rebuilt_sha" > "$state/upgrade.txt" 2>&1; rc=$?
log "UPGRADE exit=$rc wall_ms=$(( $(ms) - t0 ))"
while read -r line; do log "UPGRADE | $line"; done < "$state/upgrade.txt"
sleep 3; touch "$state/probe.stop"; wait $probe_pid
probe_report UPGRADE
# The node's agent while the API server restarted (a restart of it is worth a look, not a failure here).
log "AGENT-DURING-UPGRADE restarts=$(systemctl show -p NRestarts --value seed-agent.service) state=$(systemctl is-active seed-agent.service)"
[ "$(systemctl show -p NRestarts --value seed-agent.service)" = 0 ] || journal_excerpt seed-agent.service
[ $rc = 0 ] && pass "seed upgrade apply of the rebuilt v1.20.2 archive exits 0" || fail "seed upgrade apply exit $rc"
expect "kube-apiserver, kube-controller-manager and kube-scheduler run the rebuilt binaries" bash -c \
  "runs_installed kube-apiserver.service kube-apiserver && runs_installed kube-controller-manager.service kube-controller-manager && runs_installed kube-scheduler.service kube-scheduler"
expect "kube-apiserver restarted and answers v1.20.2" bash -c "[ \$(mainpid kube-apiserver.service) != $api_pid ] && kc get --raw /version | grep -q '\"gitVersion\": \"v1.20.2'"
expect "kubelet was left alone (it follows on the node step)" bash -c "[ \$(mainpid kubelet.service) = $kubelet_pid ] && sha256sum /opt/k8s/bin/kubelet | grep -q ^$kubelet_sum"
expect "the upgrade took the lease kube-system/kubeseed-upgrade and gave it back: none is left" bash -c \
  "grep -q 'took the upgrade lease' $state/upgrade.txt && grep -q 'gave the upgrade lease back' $state/upgrade.txt && kc -n kube-system get lease kubeseed-upgrade 2>&1 | grep -q NotFound"
expect "a second seed upgrade apply changes nothing" bash -c "seed upgrade apply --server-archive $rebuilt --sha256 $rebuilt_sha > $state/upgrade-again.txt 2>&1 && grep -q 'seed upgrade apply: unchanged' $state/upgrade-again.txt"
# The node step: the running agent restarts kubelet and kube-proxy on their new binaries.
t0=$(ms); seed-agent install-binaries --replace "$rebuilt" --sha256 "$rebuilt_sha" > "$state/node-upgrade.txt" 2>&1; rc=$?
while read -r line; do log "NODE-UPGRADE | $line"; done < "$state/node-upgrade.txt"
[ $rc = 0 ] && pass "seed-agent install-binaries --replace of the rebuilt archive exits 0" || fail "seed-agent install-binaries --replace exit $rc"
expect "the running agent restarts kubelet and kube-proxy on the new binaries" wait_for 120 bash -c \
  "[ \$(mainpid kubelet.service) != $kubelet_pid ] && runs_installed kubelet.service kubelet && runs_installed kube-proxy.service kube-proxy"
log "NODE-UPGRADE restarted_ms=$(( $(ms) - t0 ))"
expect "master-1 is Ready on the new kubelet" wait_for 180 bash -c "ready_nodes | grep -qx master-1=True"
expect "master-1 is Ready at the end" wait_for 120 bash -c "ready_nodes | grep -qx master-1=True"
log "END uptime $(cut -d' ' -f1 /proc/uptime) s (the host's boot time less this is the power-off)"
echo "VMTEST DONE" | tee -a "$state/results.txt" > /dev/console
systemctl poweroff
