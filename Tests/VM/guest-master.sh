#!/bin/bash
# Scenario "master". Runs inside the VM guest (real systemd, Debian's etcd-server running plaintext
# at boot) as kubeseed-vmtest.service: seed pki, then seed etcd takes etcd over with mutual TLS.
# Real etcd, real certificates; etcdctl (Debian's etcd-client) is the independent client.
set -u
source /usr/local/lib/kubeseed-vmtest/guest-lib.sh
cert=/etc/kubernetes/cert
export ETCDCTL_API=3

log "master scenario on $(uname -r)"
dummy_default_route 192.0.2.10
expect "Debian's etcd runs plaintext before KubeSeed" sh -c "systemctl is-active --quiet etcd && etcdctl --endpoints=http://127.0.0.1:2379 endpoint health"

expect "seed-agent apply prepares the master" seed-agent apply
t0=$(ms); seed pki --master-ip 192.0.2.10 > "$state/pki.txt" 2>&1; rc=$?
log "PKI (RSA-2048) exit=$rc wall_ms=$(( $(ms) - t0 )) $(tail -n 1 "$state/pki.txt")"
[ $rc = 0 ] && pass "seed pki exits 0" || fail "seed pki exit $rc: $(cat "$state/pki.txt")"
expect "keys are 0600" sh -c "test \$(stat -c %a $cert/ca-key.pem) = 600 && test \$(stat -c %a $cert/etcd-server-key.pem) = 600 && test \$(stat -c %a $cert/sa.key) = 600"
seed certs > "$state/certs.txt" 2>&1 && pass "seed certs exits 0" || fail "seed certs: $(cat "$state/certs.txt")"

t0=$(ms); seed etcd --name master-1 --ip 192.0.2.10 > "$state/etcd.txt" 2>&1; rc=$?
log "ETCD exit=$rc wall_ms=$(( $(ms) - t0 )) $(tail -n 1 "$state/etcd.txt")"
[ $rc = 0 ] && pass "seed etcd exits 0 (the Type=notify start job ended: etcd ready)" || fail "seed etcd exit $rc: $(cat "$state/etcd.txt")"
expect "etcd.service is KubeSeed's unit now" test "$(systemctl show -p FragmentPath --value etcd.service)" = /etc/systemd/system/etcd.service
expect "systemd-analyze verify etcd.service" systemd-analyze verify /etc/systemd/system/etcd.service
expect "etcd healthy over mutual TLS (apiserver-etcd-client certificate)" etcdctl --endpoints=https://192.0.2.10:2379,https://127.0.0.1:2379 \
  --cacert $cert/ca.pem --cert $cert/apiserver-etcd-client.pem --key $cert/apiserver-etcd-client-key.pem endpoint health
expect "a client with the apiserver-etcd-client certificate writes a key" etcdctl --endpoints=https://127.0.0.1:2379 \
  --cacert $cert/ca.pem --cert $cert/apiserver-etcd-client.pem --key $cert/apiserver-etcd-client-key.pem put /kubeseed/vmtest hello
expect "a client with the admin certificate reads it back" sh -c "etcdctl --endpoints=https://127.0.0.1:2379 --cacert $cert/ca.pem \
  --cert $cert/admin.pem --key $cert/admin-key.pem get --print-value-only /kubeseed/vmtest | grep -qx hello"
refuse "a client without a certificate is refused" etcdctl --endpoints=https://127.0.0.1:2379 --cacert $cert/ca.pem --dial-timeout=3s --command-timeout=5s get /kubeseed/vmtest
refuse "plaintext is gone" etcdctl --endpoints=http://127.0.0.1:2379 --dial-timeout=3s --command-timeout=5s get /kubeseed/vmtest

pid=$(systemctl show -p MainPID --value etcd.service)
seed etcd --name master-1 --ip 192.0.2.10 > "$state/etcd2.txt" 2>&1
expect "second seed etcd changes nothing" grep -q 'unchanged' "$state/etcd2.txt"
expect "second seed etcd did not restart etcd" test "$(systemctl show -p MainPID --value etcd.service)" = "$pid"
t0=$(ms); seed pki --master-ip 192.0.2.10 > "$state/pki2.txt" 2>&1
expect "second seed pki reuses every certificate" grep -q '0 created, 12 reused' "$state/pki2.txt"
seed pki --master-ip 192.0.2.99 > "$state/pki3.txt" 2>&1; rc=$?
[ $rc = 1 ] && grep -q 'cannot be reused' "$state/pki3.txt" && pass "a new master IP is refused, not silently re-issued" || fail "pki with a new IP: exit $rc $(cat "$state/pki3.txt")"

log "DONE"
sync
systemctl poweroff
