#!/usr/bin/env bash
# Prints the path of Debian's etcd binary for the native real-API tests, unpacked (once) from the
# etcd-server package into a cache directory: installing the package would start a plaintext etcd on
# this machine. Needs root only the first time (apt-get update when the package lists lack it).
set -euo pipefail
cache_root=${KUBESEED_K8S_CACHE:-/var/cache/kubeseed-k8s}
if command -v etcd >/dev/null 2>&1; then command -v etcd; exit 0; fi
version=$(apt-cache policy etcd-server 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  version=$(apt-cache policy etcd-server | awk '/Candidate:/ {print $2}')
fi
out="$cache_root/etcd-$version"
if [ -x "$out/etcd" ]; then echo "$out/etcd"; exit 0; fi
mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/etcd.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "etcd-server=$version" >/dev/null 2>&1)
dpkg-deb -x "$work"/etcd-server_*.deb "$work/root"
install -D -m 0755 "$work/root/usr/bin/etcd" "$work/out/etcd"
rm -rf "$out"
mv "$work/out" "$out"
echo "$out/etcd"
