#!/usr/bin/env bash
# Builds (once) what a user brings to KubeSeed, from Debian's `kubernetes` source package:
#   kubernetes-server-linux-amd64.tar.gz  upstream layout (kubernetes/server/bin/...), the six
#                                         binaries built with Debian's Go from the 1.20.2 tree
#   pause.oci.tar                         the pause image, from the tree's build/pause/linux/pause.c
#   busybox.oci.tar                       a workload image from Debian's busybox-static
#   SHA256SUMS                            their SHA-256
# cached outside the work tree and keyed by the source version and a hash of this recipe, so a fresh
# clone on the same machine reuses it and a new machine rebuilds it. Prints the cache directory.
# The apt source list it needs (deb-src) is private to the build: the host's apt sources are read
# for the mirror, never changed. Needs root (apt-get install of the build tools).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${KUBESEED_K8S_CACHE:-/var/cache/kubeseed-k8s}
source_version=1.20.5+really1.20.2-1.1+deb12u1
git_version=v1.20.2
pause_version=3.4.1
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
recipe_hash=$( { cat "$0"; echo "$source_version ${binaries[*]}"; } | sha256sum | cut -c1-16)
out="$cache_root/k8s-$recipe_hash"
if [ -f "$out/ready" ]; then
  echo "$out"
  exit 0
fi

tools=(golang-1.19-go rsync busybox-static gcc libc6-dev dpkg-dev)
missing=()
for p in "${tools[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-kubernetes: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mirror=$("$here/../VM/mirror.sh")
mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
log="$work/build.log"
start=$(date +%s)

# A private apt state with one deb-src line for the mirror the machine already uses.
mkdir -p "$work/apt/lists/partial" "$work/apt/archives/partial"
printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s bookworm main\n' "$mirror" >"$work/apt/sources.list"
apt_private=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache::Archives=$work/apt/archives" -o "APT::Sandbox::User=root")
echo "build-kubernetes: apt-get source kubernetes=$source_version (log: $log)" >&2
apt-get "${apt_private[@]}" update -qq >>"$log" 2>&1
# A point release may replace the pinned revision on the mirror: take the newest 1.20.2 it has then.
available=$(apt-cache "${apt_private[@]}" showsrc kubernetes 2>>"$log" | awk '/^Version:/ {print $2}')
if ! printf '%s\n' "$available" | grep -qxF "$source_version"; then
  fallback=$(printf '%s\n' "$available" | grep -F 'really1.20.2' | sort -V | tail -n 1)
  [ -n "$fallback" ] || { echo "build-kubernetes: the mirror has no kubernetes 1.20.2 source package (it has: $(echo $available))" >&2; exit 1; }
  echo "build-kubernetes: $source_version is not on the mirror; building $fallback" >&2
  source_version=$fallback
fi
(cd "$work" && apt-get "${apt_private[@]}" source "kubernetes=$source_version" >>"$log" 2>&1) || {
  tail -n 20 "$log" >&2; exit 1; }
src=$(find "$work" -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)
echo "build-kubernetes: source fetched in $(( $(date +%s) - start )) s" >&2

build_start=$(date +%s)
whats=$(printf 'cmd/%s ' "${binaries[@]}")
echo "build-kubernetes: make WHAT=\"$whats\" (about 8 minutes on 2 cores)" >&2
if ! (cd "$src" && PATH=/usr/lib/go-1.19/bin:$PATH CGO_ENABLED=0 \
    make WHAT="$whats" KUBE_GIT_VERSION="$git_version" KUBE_GIT_TREE_STATE=clean \
    KUBE_BUILD_PLATFORMS=linux/amd64 GOLDFLAGS="-s -w" >>"$log" 2>&1); then
  tail -n 40 "$log" >&2
  exit 1
fi
build_seconds=$(( $(date +%s) - build_start ))
echo "build-kubernetes: binaries built in $build_seconds s" >&2

# The server archive, in the upstream layout.
mkdir -p "$work/pack/kubernetes/server/bin"
for b in "${binaries[@]}"; do
  install -m 0755 "$src/_output/bin/$b" "$work/pack/kubernetes/server/bin/$b"
done
cp "$src/LICENSE" "$work/pack/kubernetes/LICENSES"
tar -C "$work/pack" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -czf \
  "$work/kubernetes-server-linux-amd64.tar.gz" kubernetes

# oci_archive NAME REF ROOTFS CONFIG_JSON_FRAGMENT: a one-layer OCI image archive that containerd's
# `ctr images import` names REF.
oci_archive() {
  local name=$1 ref=$2 rootfs=$3 config_fragment=$4
  local dir="$work/oci-$name"
  mkdir -p "$dir/blobs/sha256"
  tar -C "$rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$dir/layer.tar" .
  local diff_id size_layer layer_digest
  diff_id=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
  gzip -n -9 <"$dir/layer.tar" >"$dir/layer.tar.gz"
  layer_digest=$(sha256sum "$dir/layer.tar.gz" | cut -d' ' -f1)
  size_layer=$(stat -c %s "$dir/layer.tar.gz")
  mv "$dir/layer.tar.gz" "$dir/blobs/sha256/$layer_digest"
  rm "$dir/layer.tar"
  printf '{"architecture":"amd64","os":"linux","config":{%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"KubeSeed tests: Tests/Kubernetes/build-kubernetes.sh"}]}' \
    "$config_fragment" "$diff_id" >"$dir/config.json"
  local config_digest config_size
  config_digest=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
  config_size=$(stat -c %s "$dir/config.json")
  mv "$dir/config.json" "$dir/blobs/sha256/$config_digest"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$config_digest" "$config_size" "$layer_digest" "$size_layer" >"$dir/manifest.json"
  local manifest_digest manifest_size
  manifest_digest=$(sha256sum "$dir/manifest.json" | cut -d' ' -f1)
  manifest_size=$(stat -c %s "$dir/manifest.json")
  mv "$dir/manifest.json" "$dir/blobs/sha256/$manifest_digest"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"},"platform":{"architecture":"amd64","os":"linux"}}]}' \
    "$manifest_digest" "$manifest_size" "$ref" "${ref##*:}" >"$dir/index.json"
  tar -C "$dir" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/$name.oci.tar" oci-layout index.json blobs
}

# pause, static, as the tree's build/pause/Makefile builds it.
mkdir -p "$work/pause-root"
gcc -Os -Wall -Werror -static -DVERSION="v$pause_version-kubeseed" -o "$work/pause-root/pause" "$src/build/pause/linux/pause.c"
strip "$work/pause-root/pause"
oci_archive pause "kubeseed.local/pause:$pause_version" "$work/pause-root" '"Entrypoint":["/pause"],"User":"65535:65535"'

# busybox, with the applets the tests use linked to it.
mkdir -p "$work/busybox-root/bin" "$work/busybox-root/tmp" "$work/busybox-root/www"
install -m 0755 /bin/busybox "$work/busybox-root/bin/busybox"
for applet in sh ls cat echo sleep hostname httpd wget nc ip ping nslookup env id ps; do
  ln -s busybox "$work/busybox-root/bin/$applet"
done
echo "served by busybox httpd" >"$work/busybox-root/www/index.html"
oci_archive busybox "kubeseed.local/busybox:1" "$work/busybox-root" '"Cmd":["sh"],"Env":["PATH=/bin"]'

rm -rf "$work/oci-"* "$work/pause-root" "$work/busybox-root" "$work/pack"
(cd "$work" && sha256sum kubernetes-server-linux-amd64.tar.gz pause.oci.tar busybox.oci.tar >SHA256SUMS)
printf 'source %s\nbuild_seconds %s\ntotal_seconds %s\n' "$source_version" "$build_seconds" "$(( $(date +%s) - start ))" >"$work/build-info"
rm -rf "$src" "$work/apt" "$work"/kubernetes_*.tar.* "$work"/kubernetes_*.dsc
touch "$work/ready"
rm -rf "$out"
mv "$work" "$out"
trap - EXIT
echo "build-kubernetes: done in $(( $(date +%s) - start )) s" >&2
echo "$out"
