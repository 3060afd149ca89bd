#!/usr/bin/env bash
# Installs what building and the VM tests need on a Debian machine (idempotent; apt only when
# something is missing). Swift itself is expected on PATH (/opt/swift on these machines).
set -euo pipefail
packages=(qemu-system-x86 debootstrap e2fsprogs iproute2 libsystemd-dev libkmod-dev libmnl-dev zlib1g-dev pkg-config dpkg-dev binutils lintian openssl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "host-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi
command -v swift > /dev/null || export PATH="/opt/swift/usr/bin:$PATH"
command -v swift > /dev/null || { echo "host-deps: swift not found (expected on PATH or in /opt/swift)" >&2; exit 1; }
