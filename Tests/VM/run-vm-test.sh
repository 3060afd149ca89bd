#!/usr/bin/env bash
# End-to-end test of seed-agent on a real Debian bookworm guest (systemd, Debian kernel) under qemu.
# Boots the guest twice on one disk (boot 1: check + apply; boot 2: verify after reboot, apply
# again, reset) and fails loudly on any RESULT FAIL or missing marker. No network: -nic none.
# Usage: Tests/VM/run-vm-test.sh [--keep]   (KUBESEED_VM_TIMEOUT per boot, default 600 s)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
timeout_s=${KUBESEED_VM_TIMEOUT:-600}
keep=${1:-}
start=$(date +%s)

if [ "$(id -u)" != 0 ]; then echo "run-vm-test: needs root (debootstrap, mkfs -d)" >&2; exit 1; fi
for tool in qemu-system-x86_64 debootstrap mkfs.ext4 debugfs; do
  command -v "$tool" >/dev/null || { echo "run-vm-test: $tool is missing (apt-get install qemu-system-x86 debootstrap e2fsprogs)" >&2; exit 1; }
done

image=$("$here/build-image.sh")
echo "run-vm-test: image $image"

echo "run-vm-test: release build (static Swift runtime)"
(cd "$repo" && swift build -c release --static-swift-stdlib --product seed-agent 2>&1 | tail -n 3)
binary="$repo/.build/release/seed-agent"

work=$(mktemp -d /tmp/kubeseed-vmtest.XXXXXX)
cleanup() { if [ "$keep" = --keep ]; then echo "run-vm-test: kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
stage="$work/rootfs"
cp -a "$image/rootfs" "$stage"
install -m 0755 "$binary" "$stage/usr/bin/seed-agent"
install -D -m 0755 "$here/guest-test.sh" "$stage/usr/local/lib/kubeseed-vmtest/guest-test.sh"
install -D -m 0644 "$here/agent.yaml" "$stage/etc/kubeseed/agent.yaml"
install -m 0644 "$here/kubeseed-vmtest.service" "$stage/etc/systemd/system/kubeseed-vmtest.service"
ln -s ../kubeseed-vmtest.service "$stage/etc/systemd/system/multi-user.target.wants/kubeseed-vmtest.service"
disk="$work/disk.img"
mkfs.ext4 -q -d "$stage" "$disk" 3G
rm -rf "$stage"
echo "run-vm-test: disk ready after $(( $(date +%s) - start )) s"

boot() {
  local n=$1 t0
  t0=$(date +%s)
  timeout "$timeout_s" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 2048 -smp 2 \
    -nographic -no-reboot -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 quiet edd=off" \
    -drive "file=$disk,format=raw,if=virtio" -nic none > "$work/console$n.log" 2>&1 || {
      echo "run-vm-test: boot $n: qemu exited $? (timeout ${timeout_s}s?); console tail:" >&2
      tail -n 40 "$work/console$n.log" >&2
    }
  echo "run-vm-test: boot $n took $(( $(date +%s) - t0 )) s"
}
boot 1
boot 2

# The guest's own record of results, read back from the disk (the console is the live copy).
debugfs -R "dump /var/lib/kubeseed-vmtest/results.txt $work/results.txt" "$disk" >/dev/null 2>&1 || true
for f in check.txt apply1.txt apply2.txt reset.txt; do
  debugfs -R "dump /var/lib/kubeseed-vmtest/$f $work/$f" "$disk" >/dev/null 2>&1 || true
done
results="$work/results.txt"
[ -s "$results" ] || { cat "$work"/console*.log | tr -d '\r' | grep '^VMTEST ' | sed 's/^VMTEST //' > "$results" || true; }
grep '^VMTEST ' "$results" > /dev/null 2>&1 && sed -i 's/^VMTEST //' "$results"

passed=$(grep -c '^RESULT PASS' "$results" || true)
failed=$(grep -c '^RESULT FAIL' "$results" || true)
echo "---- guest results ----"
grep -E '^(RESULT|APPLY|RESET|STARTUP|KILLED|RESUMED|check|phase|DONE)' "$results" || true
echo "-----------------------"
status=0
if [ "$failed" != 0 ]; then echo "run-vm-test: $failed checks FAILED in the guest" >&2; status=1; fi
if ! grep -q '^DONE' "$results"; then
  echo "run-vm-test: the guest did not finish (no DONE marker); console tail:" >&2
  tail -n 60 "$work/console2.log" >&2 || true
  status=1
fi
if [ -s "$work/check.txt" ]; then echo "---- seed-agent check (boot 1) ----"; cat "$work/check.txt"; fi
if [ -s "$work/apply1.txt" ]; then echo "---- seed-agent apply (boot 1) ----"; cat "$work/apply1.txt"; fi
if [ -s "$work/apply2.txt" ]; then echo "---- seed-agent apply (boot 2) ----"; cat "$work/apply2.txt"; fi
if [ -s "$work/reset.txt" ]; then echo "---- seed-agent reset (boot 2) ----"; cat "$work/reset.txt"; fi
echo "run-vm-test: wall time $(( $(date +%s) - start )) s"
echo "vm: $passed passed, $failed failed"
[ "$status" = 0 ] && [ "$passed" -gt 0 ] || exit 1
