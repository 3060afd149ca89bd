# Shared by Tests/fuzz-smoke.sh and Benchmarks/fuzz.sh (sourced from the repository root): builds the
# libFuzzer targets, makes their seed corpora, runs one target and reads libFuzzer's figures.

# Target name → executable, dictionary, largest input.
FUZZ_ALL_TARGETS=(join-file cluster-config agent-config tar-header archive api-answers csr-reader)
fuzz_exe() {
  case $1 in
    join-file) echo FuzzJoinFile ;; cluster-config) echo FuzzClusterConfig ;; agent-config) echo FuzzAgentConfig ;;
    tar-header) echo FuzzTarHeader ;; archive) echo FuzzArchive ;; api-answers) echo FuzzAPIAnswers ;; csr-reader) echo FuzzCSRReader ;;
    *) echo "fuzz: unknown target '$1' (targets: ${FUZZ_ALL_TARGETS[*]})" >&2; return 1 ;;
  esac
}
fuzz_dict() { case $1 in tar-header | archive) echo "$PWD/Fuzz/dicts/tar.dict" ;; api-answers) echo "$PWD/Fuzz/dicts/json.dict" ;; csr-reader) echo "$PWD/Fuzz/dicts/pem.dict" ;; *) echo "$PWD/Fuzz/dicts/yaml.dict" ;; esac; }
fuzz_max_len() { case $1 in tar-header | archive) echo 16384 ;; *) echo 8192 ;; esac; }

# Swift code (ours and every dependency's) gets libFuzzer's coverage and AddressSanitizer; so does the C
# code (libyaml inside Yams, BoringSSL, zlib is the system's and is not instrumented).
FUZZ_BUILD_FLAGS=(-c release
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
  -Xcc -fsanitize=fuzzer-no-link,address)

fuzz_setup() {
  command -v swift > /dev/null || export PATH="/opt/swift/usr/bin:$PATH"
  command -v swift > /dev/null || { echo "fuzz: swift not found (expected on PATH or in /opt/swift)" >&2; return 1; }
  local symbolizer
  symbolizer=$(dirname "$(readlink -f "$(command -v swift)")")/llvm-symbolizer
  [ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"
  # Leaks are not findings here (Swift's runtime and Foundation keep caches); a crash report is symbolized.
  export ASAN_OPTIONS="detect_leaks=0:symbolize=1:handle_abort=1:${ASAN_OPTIONS:-}"
  FUZZ_BIN=""
}

# Builds every target into Fuzz/.build; sets FUZZ_BIN and FUZZ_BUILD_SECONDS.
fuzz_build() {
  local start log=Fuzz/.build/build.log
  start=$(date +%s)
  mkdir -p Fuzz/.build
  # The fuzz package follows the main package's pins (Fuzz/Package.resolved is not committed).
  if [ -f Package.resolved ] && ! cmp -s Package.resolved Fuzz/Package.resolved; then cp Package.resolved Fuzz/Package.resolved; fi
  if ! swift build --package-path Fuzz --scratch-path Fuzz/.build "${FUZZ_BUILD_FLAGS[@]}" > "$log" 2>&1; then
    grep -E 'error:' "$log" | head -n 20 >&2 || true
    tail -n 20 "$log" >&2
    echo "fuzz: the build failed (whole log: $log)" >&2
    return 1
  fi
  FUZZ_BIN=$(swift build --package-path Fuzz --scratch-path Fuzz/.build "${FUZZ_BUILD_FLAGS[@]}" --show-bin-path)
  FUZZ_BUILD_SECONDS=$(($(date +%s) - start))
}

# fuzz_seeds DIR: one seed directory per target under DIR, made afresh from the repository's test data.
fuzz_seeds() {
  local dir=$1 target f n
  rm -rf "$dir"
  for target in "${FUZZ_ALL_TARGETS[@]}"; do mkdir -p "$dir/$target"; done
  # YAML: every example there is, for each of the three parsers (they share the host section and the
  # YAML layer; a file of another kind is a mutation away from this kind).
  local yaml=$dir/yaml
  mkdir -p "$yaml"
  for f in Tests/Fixtures/bad-join-files/*.yaml; do [ -f "$f" ] && cp "$f" "$yaml/fixture-$(basename "$f")"; done
  for f in packaging/examples/*.yaml; do [ -f "$f" ] && cp "$f" "$yaml/example-$(basename "$f")"; done
  awk -v out="$yaml/readme-" '/^```yaml[[:space:]]*$/ { n++; on = 1; next } /^```/ { on = 0 } on { print > (out n ".yaml") }' README.md
  for target in join-file cluster-config agent-config; do
    cp "$yaml"/* "$dir/$target/"
    for f in Fuzz/seeds/*/*.yaml; do [ -f "$f" ] && cp "$f" "$dir/$target/seed-$(basename "$(dirname "$f")")-$(basename "$f")"; done
  done
  rm -rf "$yaml"
  # What etcd and the API server answer, as captured from their documented shapes.
  cp Fuzz/seeds/api-answers/* "$dir/api-answers/"
  # Kubelet-shaped certificate requests (openssl), and the same request in forms Go reads but the approver refuses.
  cp Fuzz/seeds/csr-reader/* "$dir/csr-reader/"
  { cat Fuzz/seeds/csr-reader/worker-1.pem Fuzz/seeds/csr-reader/worker-2-claims-master.pem; } > "$dir/csr-reader/two-blocks.pem"
  sed 's/$/\r/' Fuzz/seeds/csr-reader/worker-1.pem > "$dir/csr-reader/crlf.pem"
  # Tar: small archives made here with GNU tar, in the formats a Kubernetes release archive may use.
  local work=$dir/tar-work
  mkdir -p "$work/src/kubernetes/node/bin" "$work/src/kubernetes/server/bin" "$work/out"
  ( cd "$work/src"
    elf() { printf '\177ELF' > "$1"; head -c "$2" /dev/zero | tr '\0' "$3" >> "$1"; }
    elf kubernetes/node/bin/kubelet 700 k
    elf kubernetes/node/bin/kube-proxy 60 p
    elf kubernetes/node/bin/kubeadm 10 a
    for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do elf "kubernetes/server/bin/$b" 40 s; done
    long=kubernetes/node/$(printf 'l%.0s' $(seq 1 150))
    mkdir -p "$long" && echo text > "$long/LICENSES"
    deep=kubernetes/$(printf 'd%.0s' $(seq 1 70))/$(printf 'e%.0s' $(seq 1 60))
    mkdir -p "$deep" && echo text > "$deep/NOTICE"
    ln -sf kubelet kubernetes/node/bin/kubelet-link
    t() { local name=$1; shift; tar --blocking-factor=1 --owner=0 --group=0 --numeric-owner --mtime=2024-01-01 "$@" -cf "../out/$name.tar"; }
    t node-gnu --format=gnu kubernetes/node/bin
    t node-long-gnu --format=gnu kubernetes/node/bin/kubelet kubernetes/node/bin/kube-proxy "$long"
    t node-pax --format=pax kubernetes/node/bin/kubelet kubernetes/node/bin/kube-proxy "$long"
    t node-ustar-prefix --format=ustar kubernetes/node/bin/kubelet kubernetes/node/bin/kube-proxy "$deep"
    t node-v7 --format=v7 kubernetes/node/bin/kubelet kubernetes/node/bin/kube-proxy
    t node-missing-proxy --format=gnu kubernetes/node/bin/kubelet kubernetes/node/bin/kubelet-link
    t server --format=gnu kubernetes/server/bin
    head -c 1024 /dev/zero > ../out/empty.tar )
  for f in "$work"/out/*.tar; do
    n=$(basename "$f" .tar)
    local wanted=0   # bit 1 of the mode byte: the control-plane binaries
    [ "$n" = server ] && wanted=2
    # tar-header: bit 0 clear (checksums as tar wrote them) and set (the target fixes them).
    { printf '\x00'; cat "$f"; } > "$dir/tar-header/$n-0"
    { printf '\x01'; cat "$f"; } > "$dir/tar-header/$n-1"
    # archive: the .tar.gz as is (bit 0 clear), or the tar for the target to wrap (bit 0 set), and once
    # with the expected SHA-256 (bit 2).
    { printf "\\x$(printf %02x $wanted)"; gzip -9n < "$f"; } > "$dir/archive/$n-gz"
    { printf "\\x$(printf %02x $((wanted | 1)))"; cat "$f"; } > "$dir/archive/$n-tar"
    { printf "\\x$(printf %02x $((wanted | 4)))"; gzip -1n < "$f"; } > "$dir/archive/$n-gz-sha"
  done
  rm -rf "$work"
  # Inputs that once failed and were fixed: run first, every time.
  for target in "${FUZZ_ALL_TARGETS[@]}"; do
    for f in Fuzz/regressions/"$target"/*; do [ -f "$f" ] && cp "$f" "$dir/$target/regression-$(basename "$f")"; done
  done
  return 0
}

# fuzz_run TARGET LOG CORPUS SEEDS ARTIFACTS [libFuzzer options…]: runs the target over the working
# corpus CORPUS (new inputs go there) and the seeds, writing what fails into ARTIFACTS/; libFuzzer's
# output goes to LOG. Returns libFuzzer's exit status.
fuzz_run() {
  local target=$1 log=$2 corpus=$3 seeds=$4 artifacts=$5 exe status
  shift 5
  exe=$(fuzz_exe "$target") || return 2
  mkdir -p "$corpus" "$artifacts"
  status=0
  "$FUZZ_BIN/$exe" "$corpus" "$seeds" \
    -dict="$(fuzz_dict "$target")" -max_len="$(fuzz_max_len "$target")" \
    -timeout="${FUZZ_TIMEOUT:-5}" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" > "$log" 2>&1 || status=$?
  # The archive target's temporary host root, if it was killed before removing it.
  rm -rf /dev/shm/kubeseed-fuzz-archive-* /tmp/kubeseed-fuzz-archive-* 2> /dev/null || true
  return $status
}

# fuzz_stat LOG NAME: a final statistic (number_of_executed_units, average_exec_per_sec, peak_rss_mb…).
fuzz_stat() { sed -n "s/^stat::$2: *\([0-9]*\).*/\1/p" "$1" | tail -n 1; }

# fuzz_outcome LOG: ok, crash, hang, oom or leak.
fuzz_outcome() {
  local log=$1
  if grep -q 'ERROR: libFuzzer: timeout' "$log"; then echo hang
  elif grep -qE 'ERROR: libFuzzer: (out-of-memory|malloc limit)' "$log"; then echo oom
  elif grep -q 'ERROR: LeakSanitizer' "$log"; then echo leak
  elif grep -qE 'ERROR: (libFuzzer|AddressSanitizer)|FUZZ FINDING|SUMMARY: ' "$log"; then echo crash
  elif grep -q '^Done [0-9]* runs' "$log"; then echo ok
  else echo crash
  fi
}

# fuzz_artifact LOG: the path of the input libFuzzer kept, if any.
fuzz_artifact() { sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$1" | tail -n 1; }

# fuzz_report LOG: what a failure looks like: the finding, then the stack (demangled, a recursion
# shown once, libFuzzer's and the sanitizer's own frames left out).
fuzz_report() {
  local log=$1 demangle=cat
  command -v swift-demangle > /dev/null && demangle="swift-demangle --simplified"
  {
    grep -E 'FUZZ FINDING|ERROR: libFuzzer|ERROR: AddressSanitizer|^SUMMARY: |Fatal error' "$log" | head -n 5
    awk '/ERROR: (libFuzzer|AddressSanitizer)/ { on = 1 } on && /^ *#[0-9]+ / { sub(/^ *#[0-9]+ 0x[0-9a-f]+ in /, "  "); print }' "$log" |
      $demangle | grep -vE 'fuzzer::|__sanitizer|__asan|compiler-rt|libc\.so|pthread_kill|raise|abort ' | awk '!seen[$0]++' | head -n 35
  } || true
}
