#!/usr/bin/env bash
# The long fuzz run (not a test; the CI smoke is Tests/fuzz-smoke.sh): EXECUTIONS inputs per libFuzzer
# target (Fuzz/, AddressSanitizer), then one table: executions, seconds, exec/s, crashes, hangs (inputs
# slower than FUZZ_TIMEOUT=5 s), out-of-memory (over FUZZ_RSS_MB=2048). The goal is 10 million per
# parser with none of the three.
# After a finding the target starts again from its corpus (new inputs kept in Fuzz/.corpus/TARGET) until
# it has run EXECUTIONS inputs or had FUZZ_MAX_FINDINGS=5 findings. Every failing input and its log go to
# $FUZZ_ARTIFACTS (default Fuzz/artifacts/<date>/TARGET/).
# Usage: Benchmarks/fuzz.sh [EXECUTIONS] [TARGET…]   (default: 10000000, every target)
set -euo pipefail
cd "$(dirname "$0")/.."
source Fuzz/fuzz-lib.sh
fuzz_setup
total=${1:-10000000}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${FUZZ_ALL_TARGETS[@]}")
for target in "${targets[@]}"; do fuzz_exe "$target" > /dev/null; done
artifacts=${FUZZ_ARTIFACTS:-$PWD/Fuzz/artifacts/$(date +%Y%m%d-%H%M%S)}
max_findings=${FUZZ_MAX_FINDINGS:-5}
work=$(mktemp -d /tmp/kubeseed-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

fuzz_build
echo "fuzz: built in ${FUZZ_BUILD_SECONDS} s; $total executions per target; findings go to $artifacts"
fuzz_seeds "$work/seeds"
rows=()
for target in "${targets[@]}"; do
  done_runs=0 crashes=0 hangs=0 ooms=0 part=0
  start=$(date +%s%N)
  while [ $done_runs -lt "$total" ] && [ $((crashes + hangs + ooms)) -lt "$max_findings" ]; do
    part=$((part + 1))
    log=$work/$target-$part.log
    status=0
    fuzz_run "$target" "$log" "Fuzz/.corpus/$target" "$work/seeds/$target" "$artifacts/$target" \
      -runs=$((total - done_runs)) || status=$?
    runs=$(fuzz_stat "$log" number_of_executed_units)
    outcome=$(fuzz_outcome "$log")
    [ $status -eq 0 ] || [ "$outcome" != ok ] || outcome=crash
    done_runs=$((done_runs + ${runs:-0}))
    case $outcome in
      ok) break ;;
      hang) hangs=$((hangs + 1)) ;;
      oom) ooms=$((ooms + 1)) ;;
      *) crashes=$((crashes + 1)) ;;
    esac
    mkdir -p "$artifacts/$target"
    cp "$log" "$artifacts/$target/$outcome-$part.log"
    echo "fuzz: $target: $outcome after $done_runs executions; input: $(fuzz_artifact "$log")" >&2
    { fuzz_report "$log" | head -n 12 | sed "s/^/fuzz:   /" >&2; } || true
    # No figures means libFuzzer did not get going (the same input fails at start-up): stop here.
    [ -n "$runs" ] && [ "$runs" -gt 0 ] || break
  done
  ms=$((($(date +%s%N) - start) / 1000000))
  rows+=("$(awk -v t="$target" -v n="$done_runs" -v ms="$ms" -v c="$crashes" -v h="$hangs" -v o="$ooms" \
    'BEGIN { s = ms / 1000; printf "%-15s %12d %9.1f %9.0f %8d %6d %5d", t, n, s, (s > 0 ? n / s : 0), c, h, o }')")
  echo "fuzz: $target done: ${rows[-1]}" >&2
done
echo
printf '%-15s %12s %9s %9s %8s %6s %5s\n' TARGET EXECUTIONS SECONDS EXEC/S CRASHES HANGS OOMS
printf '%s\n' "${rows[@]}"
if compgen -G "$artifacts/*/*" > /dev/null; then echo "findings: $artifacts"; else echo "findings: none"; rm -rf "$artifacts"; fi
