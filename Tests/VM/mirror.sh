#!/usr/bin/env bash
# Prints the Debian mirror this machine's apt is configured with (never hard-coded in the repo).
set -u
candidates=$(
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$f"
  done
  [ -f /etc/apt/sources.list ] && awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' /etc/apt/sources.list
)
mirror=$(printf '%s\n' "$candidates" | grep -v -e 'security' | grep -m1 .)
if [ -z "$mirror" ]; then
  echo "mirror.sh: no Debian mirror found in /etc/apt/sources.list*" >&2
  exit 1
fi
printf '%s\n' "$mirror"
