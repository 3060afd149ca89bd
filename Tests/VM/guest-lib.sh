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
  if "$@" >> "$state/detail.log" 2>&1; then pass "$name"; else fail "$name (command: $*)"; fi
}
# refuse NAME COMMAND...: pass when the command fails
refuse() {
  local name=$1; shift
  if "$@" >> "$state/detail.log" 2>&1; then fail "$name (it succeeded: $*)"; else pass "$name"; fi
}
ms() { date +%s%3N; }
# A default route on a dummy interface (no NIC: nothing leaves the guest), for netlink to find.
dummy_default_route() {
  ip link add kubeseed0 type dummy && ip addr add "$1/24" dev kubeseed0 && ip link set kubeseed0 up \
    && ip route add default via 192.0.2.1 dev kubeseed0
}
