#!/usr/bin/env bash
# Builds kubeseed_<version>_amd64.deb: the release build with the Swift runtime linked statically,
# stripped; the units; bash completions and man pages generated from the argument parser; examples;
# the list of the Swift packages it was built from.
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

# The Swift packages the binary was built from, exactly as this build resolved them. Package.resolved
# is not committed (on these machines the local package copies have their own commit ids), so the
# package records it: identity, version (or branch), revision, location, one line each. Only awk and
# sed (no jq or python3 on a fresh Debian); Package.resolved is SwiftPM's pretty-printed JSON, one key
# a line, format 2 or 3. Anything unexpected fails the build.
resolved_packages() {
  [ -s Package.resolved ] || { echo "build-deb: no Package.resolved after the build" >&2; return 1; }
  awk '
    function value(line) { sub(/^[^:]*:[[:space:]]*"/, "", line); sub(/"[[:space:]]*,?[[:space:]]*$/, "", line); return line }
    function flush() {
      if (id == "") return
      if (rev == "" && kind != "registry") { print "build-deb: Package.resolved: no revision for " id > "/dev/stderr"; bad = 1 }
      if (ver == "" && branch != "") ver = "branch:" branch
      printf "%-30s %-14s %-40s %s\n", id, (ver != "" ? ver : "-"), (rev != "" ? rev : "-"), loc
      n++; id = kind = loc = ver = rev = branch = ""
    }
    /^[[:space:]]*"identity"[[:space:]]*:/ { flush(); id = value($0); next }
    /^[[:space:]]*"kind"[[:space:]]*:/ { kind = value($0); next }
    /^[[:space:]]*"location"[[:space:]]*:/ { loc = value($0); next }
    /^[[:space:]]*"revision"[[:space:]]*:/ { rev = value($0); next }
    /^[[:space:]]*"branch"[[:space:]]*:/ { branch = value($0); next }
    /^[[:space:]]*"version"[[:space:]]*:[[:space:]]*"/ { ver = value($0); next }
    /^[[:space:]]*"version"[[:space:]]*:[[:space:]]*[0-9]/ { format = $0; gsub(/[^0-9]/, "", format); next }
    END {
      flush()
      if (format != 2 && format != 3) { print "build-deb: Package.resolved: format \"" format "\" (expected 2 or 3)" > "/dev/stderr"; exit 1 }
      if (n == 0) { print "build-deb: Package.resolved: no pins" > "/dev/stderr"; exit 1 }
      if (bad) exit 1
    }' Package.resolved
}
resolved_packages > "$work/pins" || { echo "build-deb: cannot list the Swift packages from Package.resolved" >&2; exit 1; }
# Every package in the build graph must be pinned (a local path dependency is not): the root,
# the first identity SwiftPM lists, is left out.
swift package show-dependencies --format json > "$work/graph.json" 2> "$work/graph.log" \
  || { echo "build-deb: swift package show-dependencies failed:" >&2; cat "$work/graph.log" >&2; exit 1; }
unpinned=$(sed -n 's/^[[:space:]]*"identity"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$work/graph.json" | tail -n +2 | sort -u \
  | comm -23 - <(cut -d' ' -f1 "$work/pins" | sort -u))
[ -z "$unpinned" ] || { echo "build-deb: built from packages Package.resolved does not pin: $(echo "$unpinned" | paste -sd" ")" >&2; exit 1; }
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

# Man pages from the same command definitions as --help: swift-argument-parser's generate-manual (the
# tool its generate-manual plugin runs) on the staged binary under both its names. The plugin only
# knows products, and seed-agent is not one: it is seed called by that name. The tool is built in
# debug, from the resolved swift-argument-parser: the release directory keeps its static-stdlib build.
swift build --configuration debug --product generate-manual > "$work/man.log" 2>&1 \
  || { echo "build-deb: building generate-manual failed:" >&2; cat "$work/man.log" >&2; exit 1; }
generate_manual="$(swift build --configuration debug --show-bin-path)/generate-manual"
mkdir -p "$work/man"
for binary in seed seed-agent; do
  "$generate_manual" "$stage/usr/bin/$binary" --multi-page --output-directory "$work/man" \
    --authors "the KubeSeed developers" --section 1 \
    --date "$(git -C "$repo" log -1 --format=%cs 2>/dev/null || date +%F)" > "$work/man.log" 2>&1 \
    || { echo "build-deb: generate-manual $binary failed:" >&2; cat "$work/man.log" >&2; exit 1; }
done
# seed-agent.1 only comes out if the link really is the agent (seed dispatches on its name).
[ -s "$work/man/seed.1" ] && [ -s "$work/man/seed-agent.1" ] \
  || { echo "build-deb: generate-manual made no seed.1 or seed-agent.1 (made: $(ls "$work/man" | paste -sd" "))" >&2; exit 1; }
find "$work/man" -name '*.1' | while read -r page; do gzip -9n < "$page" > "$stage/usr/share/man/man1/$(basename "$page").gz"; done
chmod 0644 "$stage"/usr/share/man/man1/*.gz

install -m 0644 packaging/debian/copyright "$stage/usr/share/doc/kubeseed/copyright"
{
  echo "# The Swift packages kubeseed $version was built from, as that build resolved them (Package.resolved)."
  echo "# revision: the commit built; where the build used local copies of the packages, the copy's own commit."
  printf '%-30s %-14s %-40s %s\n' "# identity" version revision location
  cat "$work/pins"
} > "$stage/usr/share/doc/kubeseed/swift-packages.txt"
chmod 0644 "$stage/usr/share/doc/kubeseed/swift-packages.txt"
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
