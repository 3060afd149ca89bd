#!/usr/bin/env bash
# Builds kubeseed_<version>_amd64.deb: the release build with the Swift runtime linked statically,
# stripped; the units; bash completions and man pages generated from the argument parser; examples.
# Usage: packaging/build-deb.sh [OUTDIR]   (default: .build/deb). The last line printed is the .deb path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${1:-$repo/.build/deb}
version="$(cat "$here/VERSION")-1"
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (apt-get install dpkg-dev binutils)" >&2; exit 1; }
done

cd "$repo"
swift build -c release --static-swift-stdlib 2>&1 | tail -n 1 >&2
work=$(mktemp -d /tmp/kubeseed-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
stage="$work/kubeseed"
install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/usr/share/man/man1" \
  "$stage/usr/share/bash-completion/completions" "$stage/usr/share/doc/kubeseed/examples"
# One binary: seed is also seed-agent when called by that name (see Sources/seed/SeedMain.swift).
install -m 0755 .build/release/seed "$stage/usr/bin/seed"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/seed"
ln -s seed "$stage/usr/bin/seed-agent"
for binary in seed seed-agent; do
  # Completion scripts are sourced, not run: no #! line.
  "$stage/usr/bin/$binary" --generate-completion-script bash | sed '1{/^#!/d}' > "$stage/usr/share/bash-completion/completions/$binary"
done
install -m 0644 units/seed-agent.service units/seed-agent.path "$stage/lib/systemd/system/"

# Man pages from the same command definitions as --help (swift-argument-parser's generate-manual).
# It builds the tools in debug: the release directory keeps its static-stdlib build.
mkdir -p "$work/man"
manual() {
  swift package --allow-writing-to-directory "$work/man" generate-manual --configuration debug --multi-page \
    --output-directory "$work/man" --authors "the KubeSeed developers" --section 1 \
    --date "$(git -C "$repo" log -1 --format=%cs 2>/dev/null || date +%F)" "$@"
}
manual > "$work/man.log" 2>&1 || { echo "build-deb: generate-manual failed:" >&2; cat "$work/man.log" >&2; exit 1; }
find "$work/man" -name '*.1' | while read -r page; do gzip -9n < "$page" > "$stage/usr/share/man/man1/$(basename "$page").gz"; done
chmod 0644 "$stage"/usr/share/man/man1/*.gz

install -m 0644 packaging/debian/copyright "$stage/usr/share/doc/kubeseed/copyright"
install -D -m 0644 packaging/debian/lintian-overrides "$stage/usr/share/lintian/overrides/kubeseed"
install -m 0644 packaging/examples/join.yaml packaging/examples/cluster.yaml "$stage/usr/share/doc/kubeseed/examples/"
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
printf 'kubeseed (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- KubeSeed developers <kubeseed@example.org>  %s\n' \
  "$version" "$commit" "$(date -R -u -d "@$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)")" | gzip -9n > "$stage/usr/share/doc/kubeseed/changelog.Debian.gz"
chmod 0644 "$stage/usr/share/doc/kubeseed/changelog.Debian.gz"

# Depends on exactly the shared libraries the binaries load (dpkg-shlibdeps), plus what the node needs.
mkdir -p "$work/src/debian"
printf 'Source: kubeseed\n\nPackage: kubeseed\nArchitecture: amd64\n' > "$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$stage/usr/bin/seed" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" packaging/debian/control.in > "$stage/DEBIAN/control"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$stage/DEBIAN/"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print | sed 's#^\./##' | sort | xargs md5sum > DEBIAN/md5sums)
chmod 0644 "$stage/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/kubeseed_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
