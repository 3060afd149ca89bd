#!/usr/bin/env bash
# Fuzz smoke test: builds the libFuzzer targets (Fuzz/, AddressSanitizer) and runs each one briefly from
# its seeds (the bad join files, the packaging examples, the README's YAML, small tar archives made
# here). Fails on any crash, undocumented error, hang (-timeout), or out-of-memory (-rss_limit_mb).
# The long run is Benchmarks/fuzz.sh.
# Usage: Tests/fuzz-smoke.sh [TARGET…]   (default: all; FUZZ_RUNS=20000 and FUZZ_SECONDS=20 per target,
#        whichever comes first, FUZZ_SEED=1; a failing input is kept in $FUZZ_KEEP, default /tmp/kubeseed-fuzz-smoke)
set -euo pipefail
cd "$(dirname "$0")/.."
source Fuzz/fuzz-lib.sh
fuzz_setup
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${FUZZ_ALL_TARGETS[@]}")
for target in "${targets[@]}"; do fuzz_exe "$target" > /dev/null; done
runs=${FUZZ_RUNS:-20000}
seconds=${FUZZ_SECONDS:-20}
# A fixed seed: the same inputs on every run, so CI fails only on a regression (Benchmarks/fuzz.sh explores).
seed=${FUZZ_SEED:-1}
keep=${FUZZ_KEEP:-/tmp/kubeseed-fuzz-smoke}
work=$(mktemp -d /tmp/kubeseed-fuzz-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT

fuzz_build
echo "fuzz-smoke: built in ${FUZZ_BUILD_SECONDS} s"
fuzz_seeds "$work/seeds"
failed=0
for target in "${targets[@]}"; do
  log=$work/$target.log
  start=$(date +%s%N)
  status=0
  fuzz_run "$target" "$log" "$work/corpus/$target" "$work/seeds/$target" "$work/artifacts/$target" \
    -runs="$runs" -max_total_time="$seconds" -seed="$seed" || status=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  outcome=$(fuzz_outcome "$log")
  [ $status -eq 0 ] || [ "$outcome" != ok ] || outcome=crash
  execs=$(fuzz_stat "$log" number_of_executed_units)
  rate=$(fuzz_stat "$log" average_exec_per_sec)
  printf 'fuzz-smoke: %-15s %8s executions in %5.1f s (%s exec/s), %s\n' "$target" "${execs:-?}" "$(echo "$ms" | awk '{ printf "%.1f", $1 / 1000 }')" "${rate:-?}" "$outcome"
  if [ "$outcome" != ok ]; then
    failed=1
    mkdir -p "$keep/$target"
    cp "$log" "$keep/$target/"
    artifact=$(fuzz_artifact "$log")
    if [ -n "$artifact" ] && [ -f "$artifact" ]; then
      cp "$artifact" "$keep/$target/"
      echo "fuzz-smoke: $target: input kept in $keep/$target/$(basename "$artifact") (base64 below); replay: $FUZZ_BIN/$(fuzz_exe "$target") FILE"
      { base64 -w 0 "$artifact" | head -c 4096; } || true; echo
    fi
    grep -m 1 '^INFO: Seed:' "$log" || true
    fuzz_report "$log" | sed "s/^/fuzz-smoke: $target: /" || true
  fi
done
exit $failed
