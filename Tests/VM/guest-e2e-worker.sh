#!/bin/bash
# End-to-end guest "worker" (see run-e2e.sh). Boot 1: install the .deb with apt, receive the join
# file from the master over the link, and let seed-agent.path start the agent; wait for ready, tell
# the master, power off. Boot 2: the agent came back by itself and is ready; seed-agent reset and
# apt-get purge leave the files as they were before the install.
set -u
source /usr/local/lib/kubeseed-vmtest/guest-lib.sh

# What the host looked like before KubeSeed: names everywhere it writes, and the bytes of /etc.
snapshot() {
  { find /etc /lib/systemd/system /usr/bin /usr/share/man/man1 /usr/share/bash-completion /usr/share/doc/kubeseed \
      /opt /data /var/lib/kubeseed -xdev 2>/dev/null | grep -v '^/etc/ld.so.cache$' | sort
    find /etc -xdev -type f ! -name ld.so.cache -print0 2>/dev/null | sort -z | xargs -0 sha256sum
    cat /proc/sys/net/ipv4/ip_forward /proc/sys/vm/swappiness; cat /proc/swaps | sed 1d | awk '{print $1}'
  } > "$1"
}
status_lines() { seed-agent status 2>&1 | while read -r line; do log "STATUS | $line"; done; }

if [ "$(phase)" = 1 ]; then
  timeline "boot 1: test driver started ($(cut -d' ' -f1 /proc/uptime) s after kernel start)"
  expect "the link is up with 192.0.2.11" wait_for 60 sh -c "ip -o addr show | grep -q 'inet 192.0.2.11/24'"
  snapshot "$state/before.txt"

  t0=$(ms); DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/kubeseed.deb > "$state/install.txt" 2>&1; rc=$?
  timeline "package installed (apt, $(( $(ms) - t0 )) ms)"
  [ $rc = 0 ] && pass "apt-get install ./kubeseed.deb" || { fail "apt install exit $rc"; sed 's/^/APT | /' "$state/install.txt" | while read -r l; do log "$l"; done; }
  expect "seed-agent.path is waiting for a join file" sh -c "systemctl is-active --quiet seed-agent.path && ! systemctl is-active --quiet seed-agent.service"

  # Fetch the join file from the master (an operator would scp it), then drop it in place, 0600.
  t0=$(date +%s)
  # umask 077: the file holds a bootstrap token (and seed-agent refuses one others can read).
  until (umask 077; socat -u TCP:192.0.2.10:7000,connect-timeout=2 CREATE:/root/join.yaml 2>/dev/null) && [ -s /root/join.yaml ]; do
    [ $(( $(date +%s) - t0 )) -ge 900 ] && break
    sleep 2
  done
  [ -s /root/join.yaml ] && pass "received the join file from the master" || fail "no join file from the master"
  expect "seed-agent validate accepts it" seed-agent validate /root/join.yaml
  mkdir -p /etc/kubeseed
  install -m 0600 /root/join.yaml /etc/kubeseed/join.yaml
  timeline "join file dropped in /etc/kubeseed"
  rm -f /root/join.yaml

  if wait_for 600 seed-agent status; then
    timeline "agent ready"; pass "seed-agent.path started the agent and it reports ready"
  else
    fail "the agent did not report ready"; journal_excerpt seed-agent.service containerd.service
  fi
  status_lines
  expect "the agent runs as seed-agent.service (Type=notify, active)" systemctl is-active --quiet seed-agent.service
  expect "containerd active" systemctl is-active --quiet containerd.service
  expect "kubelet's bootstrap kubeconfig points at the node-local balancer" grep -Eq 'server: "?https://127.0.0.1:8443' /etc/kubernetes/kubelet-bootstrap.kubeconfig
  expect "kube-proxy's kubeconfig points at the node-local balancer" grep -Eq 'server: "?https://127.0.0.1:8443' /etc/kubernetes/kube-proxy.kubeconfig
  expect "the balancer (active) has the master's API server behind it" sh -c \
    "systemctl is-active --quiet kubeseed-api-balancer.service && grep -q 'server api-1 192.0.2.10:6443' /etc/kubernetes/api-balancer.cfg"
  expect "kubelet and kube-proxy enabled, waiting for their binaries" sh -c "systemctl is-enabled --quiet kubelet.service && systemctl is-enabled --quiet kube-proxy.service \
    && seed-agent status | grep -q 'waiting for binaries'"
  expect "kubelet will register as worker-1 with 192.0.2.11" grep -q -- '--node-ip=192.0.2.11' /etc/systemd/system/kubelet.service
  log "CA-SHA256 $(sha256sum < /etc/kubernetes/cert/ca.pem | cut -d' ' -f1)"
  echo "worker-1 ready" | socat -u - TCP:192.0.2.10:7001,connect-timeout=5 && pass "told the master" || fail "could not reach the master on the link"
  power_off_for_boot 2
fi

timeline "boot 2: test driver started ($(cut -d' ' -f1 /proc/uptime) s after kernel start)"
if wait_for 300 seed-agent status; then
  timeline "agent ready after reboot"; pass "after reboot: the agent came back by itself and reports ready"
else
  fail "after reboot: the agent is not ready"; journal_excerpt seed-agent.service seed-agent.path containerd.service
fi
status_lines
expect "after reboot: containerd active" systemctl is-active --quiet containerd.service
expect "after reboot: swap off, ip_forward 1" sh -c "test \$(wc -l < /proc/swaps) -le 1 && test \$(cat /proc/sys/net/ipv4/ip_forward) = 1"
t0=$(ms); seed-agent reset > "$state/reset.txt" 2>&1; rc=$?
timeline "seed-agent reset done (exit $rc, $(( $(ms) - t0 )) ms)"
[ $rc = 0 ] && pass "seed-agent reset ($(tail -n 1 "$state/reset.txt"))" || fail "reset exit $rc: $(cat "$state/reset.txt")"
expect "reset stopped the agent first" grep -q 'stopped   seed-agent.service' "$state/reset.txt"
rm -f /etc/kubeseed/join.yaml && rmdir /etc/kubeseed
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q kubeseed > "$state/purge.txt" 2>&1 && pass "apt-get purge kubeseed" || fail "purge: $(cat "$state/purge.txt")"
timeline "package purged"
snapshot "$state/after.txt"
# Directories reset keeps because something else filled them (containerd's images and state: the
# operator's data) are reported by reset as "kept … (not empty)"; only those may remain.
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
log "DONE"
sync
systemctl poweroff
