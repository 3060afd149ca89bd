#!/usr/bin/env bash
# Builds (once) a Debian bookworm root filesystem with real systemd and the Debian kernel for the
# VM tests, cached outside the work tree and keyed by a hash of this recipe, so a fresh clone on the
# same machine reuses it and a new machine rebuilds it. Prints the cache directory on stdout.
# Needs root (debootstrap, chroot). The guest gets every package it needs here: it has no network.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${KUBESEED_VM_CACHE:-/var/cache/kubeseed-vm}
suite=bookworm
packages=systemd,systemd-sysv,dbus,kmod,iproute2,udev,chrony,procps,tzdata,iptables,mount,util-linux,libkmod2,libmnl0,libstdc++6,e2fsprogs,containerd,runc,containernetworking-plugins,conntrack,ipset,ipvsadm,socat,haproxy,etcd-server,etcd-client,strace,openssl
recipe_hash=$( { cat "$0"; echo "$packages"; } | sha256sum | cut -c1-16)
image="$cache_root/image-$recipe_hash"
if [ -f "$image/ready" ]; then
  echo "$image"
  exit 0
fi
mirror=$("$here/mirror.sh")
mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
log="$work/build.log"
echo "build-image: debootstrap $suite into $work/rootfs (log: $log)" >&2
start=$(date +%s)
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$work/rootfs" "$mirror" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  exit 1
fi
echo "build-image: kernel and initramfs" >&2
if ! DEBIAN_FRONTEND=noninteractive chroot "$work/rootfs" apt-get install -y -q --no-install-recommends \
    linux-image-amd64 initramfs-tools >>"$log" 2>&1; then
  tail -n 30 "$log" >&2
  exit 1
fi
chroot "$work/rootfs" apt-get clean
rm -rf "$work/rootfs/var/lib/apt/lists/"*
cp -L "$work/rootfs/vmlinuz" "$work/vmlinuz"
cp -L "$work/rootfs/initrd.img" "$work/initrd.img"
# A quiet, no-login guest: root on the virtio disk, no getty on the serial console.
echo "/dev/vda / ext4 defaults 0 1" > "$work/rootfs/etc/fstab"
echo kubeseed-vm > "$work/rootfs/etc/hostname"
ln -sf /dev/null "$work/rootfs/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$work/rootfs/etc/systemd/system/getty@tty1.service"
touch "$work/ready"
rm -rf "$image"
mv "$work" "$image"
trap - EXIT
echo "build-image: done in $(( $(date +%s) - start )) s" >&2
echo "$image"
