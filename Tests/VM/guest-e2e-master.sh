#!/bin/bash
# End-to-end guest "master" (see run-e2e.sh). Boot 1: install the .deb with apt, seed init, mint the
# worker's join file and hand it over the link, wait for the worker to report ready, power off.
# Boot 2: everything came back by itself; seed init changes nothing; the package upgrades over
# itself, is removed and purged (the cluster's data and PKI stay).
set -u
source /usr/local/lib/kubeseed-vmtest/guest-lib.sh
cert=/etc/kubernetes/cert
export ETCDCTL_API=3
etcd_tls="--cacert $cert/ca.pem --cert $cert/apiserver-etcd-client.pem --key $cert/apiserver-etcd-client-key.pem"
join=/var/lib/kubeseed/join-files/worker-1.yaml

if [ "$(phase)" = 1 ]; then
  timeline "boot 1: test driver started ($(cut -d' ' -f1 /proc/uptime) s after kernel start)"
  expect "the link is up with 192.0.2.10" wait_for 60 sh -c "ip -o addr show | grep -q 'inet 192.0.2.10/24'"

  t0=$(ms); DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/kubeseed.deb > "$state/install.txt" 2>&1; rc=$?
  timeline "package installed (apt, $(( $(ms) - t0 )) ms)"
  [ $rc = 0 ] && pass "apt-get install ./kubeseed.deb (dependencies from Debian, already in the image)" || { fail "apt install exit $rc"; sed 's/^/APT | /' "$state/install.txt" | while read -r l; do log "$l"; done; }
  expect "seed-agent.path enabled and active after install" sh -c "systemctl is-enabled --quiet seed-agent.path && systemctl is-active --quiet seed-agent.path"
  expect "seed-agent is the same binary as seed" test "$(readlink /usr/bin/seed-agent)" = seed
  expect "man page and completion installed" sh -c "test -s /usr/share/man/man1/seed.init.1.gz && test -s /usr/share/bash-completion/completions/seed-agent"

  t0=$(ms); seed init --name master-1 > "$state/init.txt" 2>&1; rc=$?
  timeline "seed init done (exit $rc, $(( $(ms) - t0 )) ms)"
  while read -r line; do log "INIT | $line"; done < "$state/init.txt"
  [ $rc = 0 ] && pass "seed init exits 0" || { fail "seed init exit $rc"; journal_excerpt etcd.service; }
  expect "the master IP came from the default route over netlink" grep -q 'master master-1 192.0.2.10' "$state/init.txt"
  expect "etcd healthy over mutual TLS on the link address" etcdctl --endpoints=https://192.0.2.10:2379 $etcd_tls endpoint health \
    || journal_excerpt etcd.service
  for unit in kube-apiserver kube-controller-manager kube-scheduler; do
    expect "$unit.service installed and enabled" sh -c "test \"\$(systemctl is-enabled $unit.service)\" = enabled"
  done
  log "CA-SHA256 $(sha256sum < $cert/ca.pem | cut -d' ' -f1)"

  seed join-file worker-1 --ip 192.0.2.11 > "$state/joinfile.txt" 2>&1 && pass "seed join-file worker-1" || fail "seed join-file: $(cat "$state/joinfile.txt")"
  timeline "join file minted"
  # Hand it over the link, once (an operator would scp it).
  if timeout 600 socat -u "OPEN:$join" TCP-LISTEN:7000,reuseaddr > "$state/serve.txt" 2>&1; then
    timeline "join file sent to the worker"; pass "join file handed to the worker over the link"
  else
    fail "the worker never fetched the join file: $(cat "$state/serve.txt")"
  fi
  if timeout 900 socat -u TCP-LISTEN:7001,reuseaddr "CREATE:$state/worker-says.txt" > /dev/null 2>&1 && grep -q ready "$state/worker-says.txt"; then
    timeline "worker reported ready"; pass "the worker reported its agent ready"
  else
    fail "no ready message from the worker ($(cat "$state/worker-says.txt" 2>/dev/null))"
  fi
  power_off_for_boot 2
fi

timeline "boot 2: test driver started ($(cut -d' ' -f1 /proc/uptime) s after kernel start)"
expect "after reboot: etcd came back by itself, healthy over mutual TLS" wait_for 120 etcdctl --endpoints=https://192.0.2.10:2379 $etcd_tls endpoint health \
  || journal_excerpt etcd.service
expect "after reboot: seed-agent.path active" systemctl is-active --quiet seed-agent.path
expect "after reboot: swap is still off" sh -c "test \$(wc -l < /proc/swaps) -le 1"
expect "after reboot: ip_vs and br_netfilter loaded from modules-load.d" sh -c "test -d /sys/module/ip_vs && test -d /sys/module/br_netfilter"
seed init --name master-1 > "$state/init2.txt" 2>&1
expect "after reboot: seed init changes nothing" grep -q '(0 changes' "$state/init2.txt"
timeline "seed init re-run: unchanged"

DEBIAN_FRONTEND=noninteractive dpkg -i /root/kubeseed.deb > "$state/upgrade.txt" 2>&1 && pass "the package upgrades over itself (dpkg -i again)" || fail "upgrade: $(cat "$state/upgrade.txt")"
expect "after the upgrade seed-agent.path is still enabled and active" sh -c "systemctl is-enabled --quiet seed-agent.path && systemctl is-active --quiet seed-agent.path"
DEBIAN_FRONTEND=noninteractive apt-get remove -y -q kubeseed > "$state/remove.txt" 2>&1 && pass "apt-get remove kubeseed" || fail "remove: $(cat "$state/remove.txt")"
refuse "after remove seed-agent.path is stopped" systemctl is-active --quiet seed-agent.path
refuse "after remove /usr/bin/seed is gone" test -e /usr/bin/seed
expect "after remove the cluster keeps running (etcd)" etcdctl --endpoints=https://192.0.2.10:2379 $etcd_tls endpoint health
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q kubeseed > "$state/purge.txt" 2>&1 && pass "apt-get purge kubeseed" || fail "purge: $(cat "$state/purge.txt")"
refuse "after purge dpkg knows nothing of kubeseed" sh -c "dpkg -s kubeseed 2>/dev/null | grep -q '^Status: install'"
refuse "after purge /run/kubeseed is gone" test -e /run/kubeseed
expect "after purge the PKI and the journal are kept (the operator's, unless asked)" sh -c "test -s $cert/ca-key.pem && test -s /var/lib/kubeseed/journal.json"
expect "purge said what it kept" grep -q 'kept /var/lib/kubeseed' "$state/purge.txt"
refuse "no seed-agent unit file or mask is left" sh -c "ls /etc/systemd/system/seed-agent.* /etc/systemd/system/*/seed-agent.* 2>/dev/null | grep ."
timeline "package removed and purged"
log "DONE"
sync
systemctl poweroff
