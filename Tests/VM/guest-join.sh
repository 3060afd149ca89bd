#!/bin/bash
# Scenario "join". Runs inside the VM guest (real systemd, Debian kernel, Debian's containerd) as
# kubeseed-vmtest.service. The operator's story: enable seed-agent.path, drop a join file, and the
# agent prepares the node, brings containerd up with its config, installs kubelet / kube-proxy and
# reports readiness. Every result goes to the console as a RESULT line for the host.
set -u
source /usr/local/lib/kubeseed-vmtest/guest-lib.sh
status_has() { grep -q "$1" /run/kubeseed/status.json; }
agent_active() { [ "$(systemctl show -p ActiveState --value seed-agent.service)" = active ]; }

log "join scenario on $(uname -r)"
# A default route on a dummy interface (no NIC: nothing leaves the guest): the node IP comes from it over netlink.
dummy_default_route 192.0.2.20

expect "systemd-analyze verify seed-agent.service and seed-agent.path" \
  systemd-analyze verify /lib/systemd/system/seed-agent.service /lib/systemd/system/seed-agent.path
systemctl enable --now seed-agent.path
expect "seed-agent.path is waiting" test "$(systemctl is-active seed-agent.path)" = active
expect "containerd (Debian's package) is there before the agent" systemctl cat containerd.service

# 0. validate: a good file passes, a broken copy names its field and line, exit 2, nothing written.
expect "seed-agent validate accepts the join file" seed-agent validate /usr/local/lib/kubeseed-vmtest/join.yaml
sed 's/^  token: .*/  token: not-a-token/' /usr/local/lib/kubeseed-vmtest/join.yaml > /root/bad-join.yaml && chmod 600 /root/bad-join.yaml
seed-agent validate /root/bad-join.yaml > "$state/validate-bad.txt" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "field 'bootstrap.token'" "$state/validate-bad.txt" && grep -q 'bad-join.yaml:[0-9]' "$state/validate-bad.txt" \
  && pass "seed-agent validate rejects a bad token: exit 2, field and line ($(head -c 160 "$state/validate-bad.txt"))" \
  || fail "validate on a bad file: exit $rc: $(cat "$state/validate-bad.txt")"

# 1. A join file others can read: the agent starts, refuses it, changes nothing, and waits.
mkdir -p /etc/kubeseed
# Debian's containerd ships its own /etc/containerd/config.toml (a conffile): keep its bytes to compare.
cp -a /etc/containerd/config.toml "$state/containerd-config.debian"
t0=$(ms)
install -m 0644 /usr/local/lib/kubeseed-vmtest/join.yaml /etc/kubeseed/join.yaml
if wait_for 120 status_has 'lets others read the bootstrap token'; then
  pass "path unit started the agent, which rejects a world-readable join file ($(( $(ms) - t0 )) ms)"
else
  fail "agent did not report the unsafe join file: $(cat /run/kubeseed/status.json 2>&1 | head -c 300)"
fi
expect "rejected join file wrote nothing" sh -c "cmp -s /etc/containerd/config.toml $state/containerd-config.debian && test ! -e /etc/sysctl.d/kubeseed.conf -a ! -e /var/lib/kubeseed/journal.json -a ! -e /etc/kubernetes"
expect "agent is not ready yet (activating)" test "$(systemctl show -p ActiveState --value seed-agent.service)" = activating

# 2. Fix the mode: inotify wakes the agent, which converges and sends READY=1.
t0=$(ms)
chmod 600 /etc/kubeseed/join.yaml
if wait_for 300 agent_active; then
  log "READY after $(( $(ms) - t0 )) ms from the chmod"
  pass "agent sent READY=1 after the join file was fixed"
else
  fail "agent not active: $(systemctl show -p ActiveState -p StatusText seed-agent.service | tr '\n' ' ')"
fi
journalctl -u seed-agent.service --no-pager -o cat > "$state/agent-journal.txt" 2>&1
expect "STATUS= line reports readiness" sh -c "systemctl show -p StatusText --value seed-agent.service | grep -q '^ready: node prepared, containerd and the API balancer active; kubelet, kube-proxy waiting for binaries'"
seed-agent status > "$state/status.txt" 2>&1; rc=$?
[ $rc = 0 ] && pass "seed-agent status exits 0 (ready)" || fail "seed-agent status exit $rc"
expect "status lists kubelet as binary missing" grep -q 'kubelet.service .*waiting .*binary missing: put kubelet in /opt/k8s/bin' "$state/status.txt"
expect "status --json parses" sh -c "seed-agent status --json | grep -q '\"ready\" : true'"
expect "node IP came from the default route" grep -q 'worker-1 192.0.2.20' "$state/status.txt"

# 3. containerd under the agent, with the written configuration.
expect "containerd active" systemctl is-active --quiet containerd.service
expect "ctr answers over the socket" sh -c "ctr version | grep -q 'Server:'"
expect "containerd runs the written config (SystemdCgroup, CNI dir, certs.d)" sh -c \
  "containerd config dump > $state/containerd-dump.toml && grep -q 'SystemdCgroup = true' $state/containerd-dump.toml && grep -q 'bin_dir = \"/opt/cni/bin\"' $state/containerd-dump.toml && grep -q 'root = \"/srv/kubeseed-data/containerd/root\"' $state/containerd-dump.toml"
expect "kubelet's root dir follows host.dataDir" grep -q -- '--root-dir=/srv/kubeseed-data/k8s/kubelet' /etc/systemd/system/kubelet.service
expect "containerd's root under host.dataDir holds its state" sh -c "ls -A /srv/kubeseed-data/containerd/root | grep -q ."
expect "crictl.yaml written" grep -q 'runtime-endpoint: unix:///run/containerd/containerd.sock' /etc/crictl.yaml
expect "bootstrap kubeconfig is 0600" test "$(stat -c %a /etc/kubernetes/kubelet-bootstrap.kubeconfig)" = 600
expect "join file token not in the agent's journal" sh -c "! journalctl -u seed-agent.service --no-pager | grep -q 0123456789abcdef"
expect "join file token not in the status file" sh -c "! grep -q 0123456789abcdef /run/kubeseed/status.json"

# 3b. CNI: every Debian plugin linked into /opt/cni/bin (containerd's one bin_dir, where DaemonSet CNIs
# install theirs), and a container really on a CNI network. The conflist is the test's own (a pod network
# is the CNI's to write); everything else is what the agent wrote. The image is built here from the
# guest's own bash and cat (guests have no registry) and imported with ctr. ctr's --cni reads
# /opt/cni/bin and /etc/cni/net.d, the directories the CRI plugin is configured with.
linked=0; unlinked=""
for plugin in /usr/lib/cni/*; do
  name=$(basename "$plugin")
  if [ "$(readlink "/opt/cni/bin/$name")" = "$plugin" ]; then linked=$((linked + 1)); else unlinked="$unlinked $name"; fi
done
log "CNI $linked of $(ls /usr/lib/cni | wc -l) Debian plugins linked into /opt/cni/bin${unlinked:+; not linked:$unlinked}"
expect "every Debian CNI plugin is linked into /opt/cni/bin" test -z "$unlinked" -a "$linked" -gt 5
cat > /etc/cni/net.d/10-kubeseed-test.conflist <<'CONF'
{"cniVersion": "1.0.0", "name": "kubeseed-test", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "isDefaultGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.85.0.0/24"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
CONF
image_dir=$(mktemp -d)
make_probe_image() {
  local root=$image_dir/rootfs blobs=$image_dir/oci/blobs/sha256 file lib
  mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/etc" "$root/tmp" "$blobs"
  for file in /bin/bash /bin/cat; do
    cp "$file" "$root/bin/"
    for lib in $(ldd "$file" | grep -o '/[^ ]*'); do mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; done
  done
  tar -C "$root" -cf "$image_dir/layer.tar" .
  local layer; layer=$(sha256sum "$image_dir/layer.tar" | cut -d' ' -f1)
  mv "$image_dir/layer.tar" "$blobs/$layer"
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/bash"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" > "$image_dir/config.json"
  local config; config=$(sha256sum "$image_dir/config.json" | cut -d' ' -f1)
  mv "$image_dir/config.json" "$blobs/$config"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config" "$(stat -c %s "$blobs/$config")" "$layer" "$(stat -c %s "$blobs/$layer")" > "$image_dir/manifest.json"
  local manifest; manifest=$(sha256sum "$image_dir/manifest.json" | cut -d' ' -f1)
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"kubeseed.test/cni-probe:1","org.opencontainers.image.ref.name":"1"}}]}' \
    "$manifest" "$(stat -c %s "$image_dir/manifest.json")" > "$image_dir/oci/index.json"
  mv "$image_dir/manifest.json" "$blobs/$manifest"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$image_dir/oci/oci-layout"
  tar -C "$image_dir/oci" -cf "$image_dir/probe.tar" oci-layout index.json blobs
}
make_probe_image
expect "a probe image built from the guest's bash and cat imports with ctr" sh -c \
  "ctr -n kubeseed-test image import '$image_dir/probe.tar' > '$state/ctr-import.txt' 2>&1 && ctr -n kubeseed-test image ls -q | grep -q kubeseed.test/cni-probe:1"
# The container says hello over the CNI network to a listener on the host (the bridge's gateway).
rm -f /run/cni-peer /run/cni-probe.out
systemd-run --quiet --collect --unit cni-listener socat TCP-LISTEN:7777,reuseaddr SYSTEM:'echo "$SOCAT_PEERADDR" > /run/cni-peer; cat > /run/cni-probe.out'
wait_for 10 sh -c "ss -Hltn 'sport = :7777' | grep -q ." || true
timeout 120 ctr -n kubeseed-test run --rm --cni --runc-systemd-cgroup --cgroup system.slice:kubeseed:cniprobe kubeseed.test/cni-probe:1 cniprobe \
  /bin/bash -c 'cat /proc/self/cgroup; cat /proc/net/route; echo "hello from the container" > /dev/tcp/10.85.0.1/7777' > "$state/cni-container.txt" 2>&1; rc=$?
wait_for 10 test -s /run/cni-probe.out || true
peer=$(cat /run/cni-peer 2>/dev/null)
log "CNI container exit $rc, cgroup $(grep -o '0::.*' "$state/cni-container.txt"), address $peer"
expect "the container ran (ctr run --cni, runc with the systemd cgroup driver)" test "$rc" = 0
expect "its cgroup is a systemd scope in system.slice" grep -q '^0::/system.slice/kubeseed-cniprobe.scope$' "$state/cni-container.txt"
expect "it had eth0 from the bridge plugin, routed through 10.85.0.1" grep -Eq '^eth0[[:space:]]+00000000[[:space:]]+0100550A' "$state/cni-container.txt"
expect "it reached the host over the CNI bridge from an address host-local gave it" sh -c \
  "grep -q 'hello from the container' /run/cni-probe.out && echo '$peer' | grep -Eq '^10\.85\.0\.([2-9]|[1-9][0-9]+)$'"
systemctl stop cni-listener.service 2>/dev/null
ctr -n kubeseed-test image rm kubeseed.test/cni-probe:1 > /dev/null 2>&1
rm -rf "$image_dir" /etc/cni/net.d/10-kubeseed-test.conflist /var/lib/cni
ip link del cni0 2>/dev/null

# 4. kubelet and kube-proxy: installed, enabled, verified, clearly waiting for their binaries.
for unit in kubelet kube-proxy; do
  expect "$unit.service enabled" test "$(systemctl is-enabled $unit.service)" = enabled
  systemd-analyze verify /etc/systemd/system/$unit.service > "$state/verify-$unit.txt" 2>&1
  # The only complaint allowed is the binary the operator still has to provide.
  if grep -v "Command /opt/k8s/bin/$unit is not executable" "$state/verify-$unit.txt" | grep -q .; then
    fail "systemd-analyze verify $unit.service: $(tr '\n' '|' < "$state/verify-$unit.txt")"
  else
    pass "systemd-analyze verify $unit.service (only the missing binary reported)"
  fi
done
expect "kubelet hostname-override equals kube-proxy hostnameOverride" sh -c \
  "grep -q -- '--hostname-override=worker-1' /etc/systemd/system/kubelet.service && grep -q 'hostnameOverride: worker-1' /etc/kubernetes/kube-proxy-config.yaml"
expect "node prepared: br_netfilter loaded, ip_forward=1, zone set" sh -c \
  "test -d /sys/module/br_netfilter && test \$(sysctl -n net.ipv4.ip_forward) = 1 && test \$(readlink -f /etc/localtime) = /usr/share/zoneinfo/Asia/Shanghai"

# 4b. The node-local API balancer: Debian's haproxy on 127.0.0.1:8443 in front of the join file's two
# endpoints. The Kubernetes binaries cannot be had here: two stand-ins play the API servers, each a
# second haproxy serving TLS with a certificate from the join file's CA and answering every request
# with which stand-in it is (no process forked per request: emulated guests are slow to fork).
lib=/usr/local/lib/kubeseed-vmtest
expect "API balancer active" systemctl is-active --quiet kubeseed-api-balancer.service
expect "balancer listens on 127.0.0.1:8443 and nowhere else" sh -c "test \"\$(ss -Hltn 'sport = :8443' | awk '{print \$4}')\" = 127.0.0.1:8443"
expect "kubelet's bootstrap kubeconfig and kube-proxy's point at the balancer" sh -c \
  "grep -Eq 'server: \"?https://127.0.0.1:8443' /etc/kubernetes/kubelet-bootstrap.kubeconfig && grep -Eq 'server: \"?https://127.0.0.1:8443' /etc/kubernetes/kube-proxy.kubeconfig"
expect "balancer has both endpoints behind it" sh -c "grep -q 'server api-1 127.0.0.2:6443' /etc/kubernetes/api-balancer.cfg && grep -q 'server api-2 127.0.0.3:6443' /etc/kubernetes/api-balancer.cfg"
cat $lib/standin.pem $lib/standin.key > /run/kubeseed-standin.pem
standin() {
  printf 'global\n    maxconn 100\ndefaults\n    mode http\n    timeout client 10s\n    timeout connect 5s\n    timeout server 10s\nfrontend standin\n    bind %s:6443 ssl crt /run/kubeseed-standin.pem\n    http-request return status 200 content-type text/plain string "stand-in %s"\n' \
    "$1" "$1" > "/run/kubeseed-standin-$1.cfg"
  systemd-run --quiet --collect --unit "standin-$1" /usr/sbin/haproxy -db -f "/run/kubeseed-standin-$1.cfg"
}
# Through the balancer, TLS verified end to end against the cluster CA (the stand-ins' certificate has 127.0.0.1).
ask() { printf 'GET /readyz HTTP/1.0\r\n\r\n' | timeout 10 socat -t 5 - OPENSSL:127.0.0.1:8443,cafile=/etc/kubernetes/cert/ca.pem 2>/dev/null | grep -o 'stand-in 127.0.0.[0-9]'; }
asks() { for i in $(seq 1 "$1"); do ask || echo failed; done | sort | uniq -c | tr -s ' \n' ' '; }
balancer_log() { journalctl -u kubeseed-api-balancer.service --no-pager -o cat; }
# haproxy logs each server's state changes (it starts with the servers up, so both go down first here).
changes() { balancer_log | grep -c "$1"; }
# When haproxy logged the last line matching $1, in ms since the epoch (the journal's own timestamp).
logged_ms() { journalctl -u kubeseed-api-balancer.service --no-pager -o short-unix | grep "$1" | tail -n 1 | awk '{ printf "%.0f", $1 * 1000 }'; }
standin 127.0.0.2; standin 127.0.0.3
wait_for 20 sh -c "journalctl -u kubeseed-api-balancer.service --no-pager -o cat | grep -q 'api-1 is UP' && journalctl -u kubeseed-api-balancer.service --no-pager -o cat | grep -q 'api-2 is UP'" || true
spread=$(asks 10)
log "BALANCER 10 requests with both stand-ins up: $spread"
case "$spread" in *failed*)
  log "stand-in: $(systemctl status standin-127.0.0.2.service --no-pager -n 10 2>&1 | tr '\n' '|')"
  log "client: $(printf 'GET /readyz HTTP/1.0\r\n\r\n' | timeout 10 socat -t 5 - OPENSSL:127.0.0.1:8443,cafile=/etc/kubernetes/cert/ca.pem 2>&1 | tr '\n' '|')"
  log "balancer: $(balancer_log | tail -n 4 | tr '\n' '|')";;
esac
expect "balancer spreads requests over both stand-ins, TLS verified against the cluster CA" sh -c "echo '$spread' | grep -q 'stand-in 127.0.0.2' && echo '$spread' | grep -q 'stand-in 127.0.0.3' && ! echo '$spread' | grep -q failed"
downs=$(changes 'api-1 is DOWN')
t0=$(ms)
systemctl stop standin-127.0.0.2.service
during=$(asks 10)
if wait_for 30 sh -c "test \$(journalctl -u kubeseed-api-balancer.service --no-pager -o cat | grep -c 'api-1 is DOWN') -gt $downs"; then
  down_ms=$(( $(logged_ms 'api-1 is DOWN') - t0 ))
  log "BALANCER a stopped API server left rotation after $down_ms ms (stop to haproxy's log line: a refused connection takes it out at once; checks every 10 s); 10 requests meanwhile: $during"
  pass "a stopped API server leaves rotation ($down_ms ms)"
else
  fail "haproxy never marked api-1 down: $(balancer_log | tail -n 5 | tr '\n' '|')"
fi
expect "no request failed while it left (a refused connection is retried on the other server)" sh -c "! echo '$during' | grep -q failed"
after=$(asks 10)
expect "with one stand-in down every request reaches the other" sh -c "test '$after' = ' 10 stand-in 127.0.0.3 '"
ups=$(changes 'api-1 is UP')
t0=$(ms)
standin 127.0.0.2
if wait_for 30 sh -c "test \$(journalctl -u kubeseed-api-balancer.service --no-pager -o cat | grep -c 'api-1 is UP') -gt $ups"; then
  log "BALANCER the restarted API server was back in rotation after $(( $(logged_ms 'api-1 is UP') - t0 )) ms"
  pass "a restarted API server comes back into rotation"
else
  fail "api-1 did not come back: $(balancer_log | tail -n 5 | tr '\n' '|')"
fi
balancer_log > "$state/balancer-journal.txt"
systemctl stop standin-127.0.0.2.service standin-127.0.0.3.service

# 5. A second start writes nothing and restarts nothing.
containerd_pid=$(systemctl show -p MainPID --value containerd.service)
balancer_pid=$(systemctl show -p MainPID --value kubeseed-api-balancer.service)
fp() { find /etc/containerd /etc/kubernetes /etc/systemd/system /etc/sysctl.d /etc/modules-load.d /etc/crictl.yaml /var/lib/kubeseed -type f -printf '%p %T@ %s\n' | sort; }
fp > "$state/fp-before"
t0=$(ms)
systemctl restart seed-agent.service
log "SECOND START took $(( $(ms) - t0 )) ms to READY"
fp > "$state/fp-after"
expect "second start: no file written" diff "$state/fp-before" "$state/fp-after"
expect "second start: containerd not restarted" test "$(systemctl show -p MainPID --value containerd.service)" = "$containerd_pid"
expect "second start: balancer not restarted" test "$(systemctl show -p MainPID --value kubeseed-api-balancer.service)" = "$balancer_pid"
journalctl -u seed-agent.service --no-pager -o cat > "$state/agent-journal.txt" 2>&1
expect "second start reports 0 changes" sh -c "tail -n 3 $state/agent-journal.txt | grep -q '(0 changes)'"

# 5b. An edited join file: inotify wakes the agent; only the kubelet config is rewritten, containerd stays.
t0=$(ms)
sed -i 's/^  name: worker-1$/  name: worker-1\nkubelet:\n  maxPods: 99/' /etc/kubeseed/join.yaml
if wait_for 120 grep -q '^maxPods: 99$' /etc/kubernetes/kubelet-config.yaml; then
  pass "edited join file applied ($(( $(ms) - t0 )) ms)"
else
  fail "maxPods change not applied: $(grep maxPods /etc/kubernetes/kubelet-config.yaml)"
fi
wait_for 60 sh -c "journalctl -u seed-agent.service --no-pager -o cat | tail -n 1 | grep -q '(1 changes)'"
expect "edit rewrote exactly one file" sh -c "journalctl -u seed-agent.service --no-pager -o cat | tail -n 1 | grep -q '(1 changes)'"
expect "edit did not restart containerd" test "$(systemctl show -p MainPID --value containerd.service)" = "$containerd_pid"

# 6. At rest: the agent sleeps in the kernel (inotify read), no polling.
pid=$(systemctl show -p MainPID --value seed-agent.service)
c0=$(awk '{print $14 + $15}' /proc/$pid/stat); v0=$(awk '/^voluntary_ctxt_switches/ {print $2}' /proc/$pid/status)
sleep 10
c1=$(awk '{print $14 + $15}' /proc/$pid/stat); v1=$(awk '/^voluntary_ctxt_switches/ {print $2}' /proc/$pid/status)
rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
log "IDLE 10 s: cpu ticks $((c1 - c0)), context switches $((v1 - v0)), RSS ${rss} kB"
expect "agent idle: no wake-ups in 10 s" test $((v1 - v0)) -eq 0

# 7. reset puts Debian's containerd config back byte for byte and removes what the join file wrote.
systemctl stop seed-agent.service seed-agent.path
expect "reset after join exits 0" seed-agent reset
expect "reset restored Debian's containerd config.toml" cmp /etc/containerd/config.toml "$state/containerd-config.debian"
expect "reset removed the kubelet and kube-proxy units and configs" test ! -e /etc/systemd/system/kubelet.service -a ! -e /etc/kubernetes/kubelet-config.yaml -a ! -e /etc/crictl.yaml
expect "reset stopped the balancer and removed its unit and config" sh -c \
  "test ! -e /etc/systemd/system/kubeseed-api-balancer.service -a ! -e /etc/kubernetes/api-balancer.cfg && ! ss -Hltn 'sport = :8443' | grep -q ."
expect "reset removed the CNI links and /opt/cni, and left Debian's plugins" sh -c "test ! -e /opt/cni -a -x /usr/lib/cni/bridge"

# The one unit writer, read back by systemd itself: every word a value could hold (spaces that would
# inject flags, CR and LF that would start a directive, specifiers, variables, quotes, a lone ';')
# reaches the process as exactly one argument.
words=("--root-dir=/data/k 8s" "--anonymous-auth=true --authorization-mode=AlwaysAllow" "%H" "100%" '$HOME' '${PATH}' \
  'say "hi"' 'back\slash' "it's" "" $'tab\there' $'line\rExecStartPre=/bin/false' $'new\nExecStartPre=/bin/false' "ünïcødé" ";" ";x" "#x")
seed-agent unit-probe --unit /run/systemd/system/kubeseed-probe.service --output /run/kubeseed-probe.out -- "${words[@]}"
systemctl daemon-reload
expect "systemd-analyze verify accepts a unit whose words hold spaces, CR, LF, %, \$ and quotes" systemd-analyze verify /run/systemd/system/kubeseed-probe.service
expect "systemd reads no ExecStartPre= out of a value" sh -c "test -z \"\$(systemctl show -p ExecStartPre --value kubeseed-probe.service)\""
systemctl start kubeseed-probe.service
printf '%s\0' "${words[@]}" > /run/kubeseed-probe.expected
expect "systemd ran the unit with exactly the words written, each one argument" cmp /run/kubeseed-probe.out /run/kubeseed-probe.expected
log "DONE"
sync
systemctl poweroff
