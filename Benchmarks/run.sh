#!/usr/bin/env bash
# KubeSeed benchmarks (not tests): one table of figures, each against a baseline measured in the same
# run, to compare later changes against. Run as root on a Debian machine (installs what it needs).
#   host  : PKI (seed pki vs the openssl command line), join file validation
#   guest : node preparation (seed-agent vs the guide's shell, same guest), re-run, daemon at rest; seed init
#           on the master scenario against its physical limit
#   failover (not in all: about 21 minutes): Tests/VM/run-ha.sh --failovers FAILOVERS (default 5) on the
#           three-guest stand-in cluster; each window against its limit at the probes' rate
# Usage: Benchmarks/run.sh [host|guest|all|failover]   (default: all; RUNS=5 repetitions for host figures,
#        BOOTS=3 guest boots, each running both sides; INIT_BOOTS=BOOTS master boots for seed init, 0 to leave it out)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
# The guests' CPU model the table was measured on (the tests' default is qemu64).
export KUBESEED_VM_CPU=${KUBESEED_VM_CPU:-max}
case "$what" in host|guest|all|failover) ;; *) echo "bench: host, guest, all or failover, not '$what'" >&2; exit 2 ;; esac
runs=${RUNS:-5}
source Tests/VM/host-deps.sh
command -v openssl > /dev/null || apt-get install -y -qq openssl > /dev/null
swift build -c release --static-swift-stdlib 2>&1 | tail -n 1
bin=$PWD/.build/release
work=$(mktemp -d /tmp/kubeseed-bench.XXXXXX)
keep=${BENCH_KEEP:-/tmp/kubeseed-bench-last}   # the guests' raw output stays here for a closer look
# On exit: a run that booted guests replaces the kept output; a host-only run has none and leaves the
# last one alone. Nothing in here may fail: set -e holds in the trap too, and a failing command would
# turn the run's exit status into 1 after the table (as `cp` of no vm-*.txt files did for `host`).
finish() {
  if compgen -G "$work/vm-*.txt" > /dev/null; then
    rm -rf "$keep"; mkdir -p "$keep"
    cp "$work"/vm-*.txt "$keep"/ || echo "bench: could not keep the guests' output in $keep" >&2
  fi
  rm -rf "$work"
}
trap finish EXIT
# seed-agent as the .deb installs it: a symlink to seed, which is the agent when called by that name.
mkdir "$work/bin"
ln -s "$bin/seed" "$work/bin/seed-agent"
agent=$work/bin/seed-agent
rows=()
row() { rows+=("$1|$2|$3|$4|$5"); }  # what | kubeseed | baseline | ratio | target
now_ns() { date +%s%N; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
ms_of() { local t0; t0=$(now_ns); "$@" > /dev/null 2>&1; echo $(( ($(now_ns) - t0) / 1000000 )); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }

if [ "$what" = host ] || [ "$what" = all ]; then
  # 4. PKI: the full set (CA, 10 leaves, service-account pair) into an empty directory.
  for alg in rsa ecdsa; do
    seed_runs=() openssl_runs=()
    for i in $(seq "$runs"); do
      root="$work/pki-$alg-$i"; mkdir -p "$root/etc/kubernetes/cert" "$root/run" "$root/var/lib"
      seed_runs+=("$(ms_of "$bin/seed" pki --root "$root" --master-ip 192.0.2.10 --key-algorithm "$alg")")
      [ "$(ls "$root/etc/kubernetes/cert" | wc -l)" = 26 ] || { echo "bench: seed pki did not make 26 files" >&2; exit 1; }
      openssl_runs+=("$(ms_of Benchmarks/pki-openssl.sh "$work/openssl-$alg-$i" "$alg" 192.0.2.10)")
      [ "$(ls "$work/openssl-$alg-$i" | grep -vc srl)" = 26 ] || { echo "bench: openssl baseline did not make 26 files" >&2; exit 1; }
    done
    s=$(printf '%s\n' "${seed_runs[@]}" | median); o=$(printf '%s\n' "${openssl_runs[@]}" | median)
    target=$([ $alg = rsa ] && echo "≥ 1.5× faster" || echo "≤ 50 ms")
    row "PKI full set, $alg (median of $runs, ms)" "$s" "$o (openssl CLI)" "$(ratio "$o" "$s")× faster" "$target"
  done
  # 5. Join file validation: a typical file and the largest accepted (just under 256 KiB), through
  #    `seed-agent validate`; the baseline is the same process doing nothing (--help).
  make_join() { # FILE EXTRA_MIRRORS
    local ca; ca=$(openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 30 -nodes -subj /CN=kubernetes-ca \
      -addext basicConstraints=critical,CA:TRUE -keyout /dev/null 2>/dev/null | sed 's/^/    /')
    {
      printf 'apiVersion: kubeseed.io/v1alpha1\nkind: JoinConfiguration\ncluster:\n  kubernetesVersion: v1.31.2\n'
      printf '  apiServerEndpoints: ["https://192.0.2.10:6443"]\n  caCertificate: |\n%s\n' "$ca"
      printf 'bootstrap:\n  token: abcdef.0123456789abcdef\n  expires: "%s"\n' "$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)"
      printf 'node:\n  name: worker-1\n  labels: {topology.kubernetes.io/zone: rack-1}\ncontainerd:\n  registryMirrors:\n'
      printf '    docker.io: ["https://mirror.example.internal"]\n'
      for i in $(seq "$2"); do printf '    registry-%05d.example.internal: ["https://mirror-a.example.internal/%05d", "https://mirror-b.example.internal/%05d"]\n' "$i" "$i" "$i"; done
      printf 'host:\n  timezone: Asia/Shanghai\n'
    } > "$1"
    chmod 600 "$1"
  }
  make_join "$work/typical.yaml" 0
  make_join "$work/largest.yaml" 1900
  [ "$(stat -c %s "$work/largest.yaml")" -lt 262144 ] || { echo "bench: largest join file over the limit" >&2; exit 1; }
  "$agent" validate "$work/largest.yaml" > /dev/null || { echo "bench: the largest file is not accepted" >&2; exit 1; }
  for f in typical largest; do
    v=() b=()
    for i in $(seq 21); do v+=("$(ms_of "$agent" validate "$work/$f.yaml")"); b+=("$(ms_of "$agent" --help)"); done
    vm=$(printf '%s\n' "${v[@]}" | median); bm=$(printf '%s\n' "${b[@]}" | median)
    row "join file validation, $f ($(( $(stat -c %s "$work/$f.yaml") / 1024 )) KiB; median of 21, ms)" "$vm" "$bm (process start, --help)" \
      "+$((vm - bm)) ms" "-"
  done
fi

if [ "$what" = guest ] || [ "$what" = all ]; then
  # Each boot runs both sides once, in the same guest; TCG timings vary by up to 2x between boots, so
  # the figures are medians over BOOTS boots and the ratio is the median of the per-boot ratios.
  boots=${BOOTS:-3}
  for b in $(seq "$boots"); do
    KUBESEED_VM_TIMEOUT=900 Tests/VM/run-vm-test.sh bench > "$work/vm-$b.txt" 2>&1 || { tail -n 40 "$work/vm-$b.txt" >&2; exit 1; }
    grep -q "BENCH guide_rerun_ms=" "$work/vm-$b.txt" || { tail -n 40 "$work/vm-$b.txt" >&2; echo "bench: boot $b gave no figures" >&2; exit 1; }
  done
  out="$work/vm-1.txt"
  vals() { for b in $(seq "$boots"); do grep -o "\b$1=[^ ]*" "$work/vm-$b.txt" | head -n 1 | cut -d= -f2; done; }
  val() { vals "$1" | median; }
  ratios() { paste <(vals "$1") <(vals "$2") | awk '{ if ($2 > 0) printf "%.2f\n", $1 / $2 }'; }
  ratio_cell() { echo "$(ratios "$1" "$2" | median)× faster (per boot: $(ratios "$1" "$2" | paste -sd' ' | sed 's/ /, /g'))"; }
  for side in agent_first guide_first; do   # the same runs without service start-up
    for b in $(seq "$boots"); do
      f="$work/vm-$b.txt"; get() { grep -o "\b$1=[^ ]*" "$f" | head -n 1 | cut -d= -f2; }
      echo "BENCH ${side}_nostart_ms=$(( $(get ${side}_ms) - $(get ${side}_start_ms) ))" >> "$f"
    done
  done
  row "node prep + config + units, first run (ms, TCG guest, median of $boots boots)" "$(val agent_first_ms)" "$(val guide_first_ms) (guide's shell)" \
    "$(ratio_cell guide_first_ms agent_first_ms)" "-"
  row "  the same without service start-up (containerd restart, chrony)" "$(val agent_first_nostart_ms)" "$(val guide_first_nostart_ms)" \
    "$(ratio_cell guide_first_nostart_ms agent_first_nostart_ms)" "≥ 10× faster"
  # derive NAME KEY...: in each boot's figures, NAME = the sum of the KEYs there
  derive() {
    local name=$1 b f k sum; shift
    for b in $(seq "$boots"); do
      f="$work/vm-$b.txt"; sum=0
      for k in "$@"; do sum=$(( sum + $(grep -o "\b$k=[^ ]*" "$f" | head -n 1 | cut -d= -f2) )); done
      echo "BENCH $name=$sum" >> "$f"
    done
  }
  against_cell() { echo "$(ratios "$1" "$2" | median)× (per boot: $(ratios "$1" "$2" | paste -sd' ' | sed 's/ /, /g'))"; }
  derive agent_first_limit_ms limit_module_loads_ms limit_reload_ms agent_first_start_ms
  row "  against its physical limit: module loads + one reload + service start-up" "$(val agent_first_ms)" "$(val agent_first_limit_ms) (limit)" \
    "$(against_cell agent_first_ms agent_first_limit_ms)" "≤ 1.2×"
  row "  its module loads: beside its reload / alone, after a reset (ms)" "$(val agent_first_module_loads_ms)" "$(val limit_module_loads_ms) (alone)" "-" "-"
  derive agent_first_floor_ms limit_reload_ms agent_first_start_ms
  row "  against one reload + service start-up (the module loads hidden beside the reload)" "$(val agent_first_ms)" "$(val agent_first_floor_ms)" \
    "$(against_cell agent_first_ms agent_first_floor_ms)" "-"
  row "  systemd daemon-reloads in it (the agent's: its 'reload systemd' step below)" "$(val agent_first_reloads)" "$(val guide_first_reloads)" "-" "-"
  row "  processes forked during it (system-wide)" "$(val agent_first_forks)" "$(val guide_first_forks)" "-" "-"
  row "re-run, seed-agent run --once (ms)" "$(val agent_rerun_ms)" "$(val guide_rerun_ms) (guide's shell again)" \
    "$(ratio_cell guide_rerun_ms agent_rerun_ms)" "-"
  row "re-run, seed-agent apply: agent time / wall (ms)" "$(val apply_rerun_agent_ms) / $(val apply_rerun_ms)" "-" "-" "≤ 30 ms agent time"
  row "re-run writes: /proc/sys, /etc, unit restarts (worst boot)" "$(vals rerun_proc_sys_writes | sort -n | tail -n 1), $(vals rerun_etc_writes | sort -n | tail -n 1), $(vals rerun_unit_restarts | sort -n | tail -n 1)" "-" "-" "0, 0, 0"
  row "daemon at rest: RSS = anonymous + file-backed + shared (KiB); threads" "$(val idle_rss_kb) = $(val idle_rss_anon_kb) + $(val idle_rss_file_kb) + $(val idle_rss_shmem_kb); $(val idle_threads)" "-" "-" "≤ 15 MB"
  row "daemon at rest: CPU ticks, wake-ups in 60 s (worst boot)" "$(vals idle_cpu_ticks | sort -n | tail -n 1), $(vals idle_wakeups | sort -n | tail -n 1)" "-" "-" "0 periodic"
  row "daemon: start to READY (ms)" "$(val daemon_ready_ms)" "-" "-" "-"
  # seed init on the master scenario's guest (its test assertions run too), and its physical limit measured
  # in the same guest after it: the keys (seed pki on both cores) + one daemon-reload + the slower of etcd's
  # start and the node's service start-up.
  init_boots=${INIT_BOOTS:-$boots}
  for b in $(seq "$init_boots"); do
    KUBESEED_VM_TIMEOUT=900 Tests/VM/run-vm-test.sh master > "$work/vm-init-$b.txt" 2>&1 || { tail -n 40 "$work/vm-init-$b.txt" >&2; exit 1; }
    f="$work/vm-init-$b.txt"; get() { grep -o "\b$1=[^ ]*" "$f" | head -n 1 | cut -d= -f2; }
    [ -n "$(get seed_init_ms)" ] || { echo "bench: master boot $b gave no seed init figures" >&2; exit 1; }
    etcd=$(get seed_init_etcd_start_ms) node=$(get seed_init_node_starts_ms)
    echo "BENCH seed_init_limit_ms=$(( $(get seed_init_keys_ms) + $(get seed_init_reload_ms) + (etcd > node ? etcd : node) ))" >> "$f"
  done
  ivals() { for b in $(seq "$init_boots"); do grep -o "\b$1=[^ ]*" "$work/vm-init-$b.txt" | head -n 1 | cut -d= -f2; done; }
  ival() { ivals "$1" | median; }
  iratios() { paste <(ivals "$1") <(ivals "$2") | awk '{ if ($2 > 0) printf "%.2f\n", $1 / $2 }'; }
  [ "$init_boots" = 0 ] || row "seed init, master scenario, RSA-2048 (ms, median of $init_boots boots)" "$(ival seed_init_ms)" "$(ival seed_init_limit_ms) (limit)" \
    "$(iratios seed_init_ms seed_init_limit_ms | median)× (per boot: $(iratios seed_init_ms seed_init_limit_ms | paste -sd' ' | sed 's/ /, /g'))" "≤ 1.3×; 10 s"
  [ "$init_boots" = 0 ] || row "  its limit: keys (seed pki) + one reload + max(etcd start, containerd and balancer start)" \
    "$(ival seed_init_keys_ms) + $(ival seed_init_reload_ms) + max($(ival seed_init_etcd_start_ms), $(ival seed_init_node_starts_ms))" "-" "-" "-"
  native_help=$(for i in 1 2 3 4 5; do ms_of "$agent" --help; done | median)
  row "emulation's toll: seed-agent --help in the guest vs on this host (ms)" "$(val help_ms)" "$native_help (native)" \
    "$(ratio "$(val help_ms)" "$native_help")× slower" "-"
fi

if [ "$what" = failover ]; then
  # The three-guest run (stand-in API servers: the real three-master cluster does not fit this machine):
  # master-1 goes down FAILOVERS times, by a power cut (odd) or a shutdown (even); master-2's and master-3's
  # balancers each print a window. Out of rotation is the later of haproxy's DOWN line and the first request
  # after which none went to master-1. Its limit at the probes' rate (a request every 500 ms, round robin
  # over three servers): the request that finds master-1 starts within 1.5 s, and is refused at once after
  # a shutdown, or waits out `timeout connect` (1 s) after a power cut.
  failovers=${FAILOVERS:-5}
  Tests/VM/run-ha.sh --failovers "$failovers" > "$work/vm-failover.txt" 2>&1 || echo "bench: run-ha.sh failed (its table still counts; output in $keep/vm-failover.txt)" >&2
  table=$(sed -n '/^---- failover windows/,/^run-ha: wall time/p' "$work/vm-failover.txt" | grep '^power-off ' || true)
  [ -n "$table" ] || { tail -n 40 "$work/vm-failover.txt" >&2; exit 1; }
  for kind in "power cut:2500" "shutdown:1500"; do
    name=${kind%%:*} limit=${kind##*:}
    outs=$(echo "$table" | grep ", $name " | awk '{ print $(NF - 4) }')
    [ -n "$outs" ] || continue
    n=$(echo "$outs" | grep -c .)
    failed=$(echo "$table" | grep ", $name " | awk '{ gsub(/[()]/, "", $(NF - 1)); s += $(NF - 1) } END { print s + 0 }')
    requests=$(echo "$table" | grep ", $name " | awk '{ s += $(NF - 2) } END { print s + 0 }')
    row "failover, $name: out of rotation (ms; median, max of $n windows)" "$(echo "$outs" | median), $(echo "$outs" | sort -n | tail -n 1)" \
      "$limit (limit)" "$(ratio "$(echo "$outs" | median)" "$limit")× (max $(ratio "$(echo "$outs" | sort -n | tail -n 1)" "$limit")×)" "≤ 2000 ms"
    row "failover, $name: requests failed in the windows" "$failed of $requests" "-" "-" "0"
  done
  echo "---- every window (run-ha.sh --failovers $failovers)"
  sed -n '/^---- failover windows/,/^run-ha: wall time/p' "$work/vm-failover.txt"
fi

echo
printf '%-72s | %-16s | %-30s | %-14s | %s\n' "what" "kubeseed" "baseline (same run)" "ratio" "target"
printf '%s\n' "$(printf '%.0s-' $(seq 150))"
for r in "${rows[@]}"; do IFS='|' read -r a b c d e <<< "$r"; printf '%-72s | %-16s | %-30s | %-14s | %s\n' "$a" "$b" "$c" "$d" "$e"; done
if [ -s "${out:-}" ]; then
  echo "---- the agent's own step times in the guest (first run)"
  sed -n '/---- bench: apply1.txt ----/,/^---- /p' "$out" | sed '1d;$d' | grep -E '^  changed|seed-agent' || true
fi
if [ -s "${out:-}" ]; then
  echo "---- where a re-run's time goes: seed-agent apply under strace -w -c (wall time per syscall; sockets: $(val apply_rerun_sockets))"
  sed -n '/---- bench: apply2.txt ----/,/^---- /p' "$out" | sed '1d;$d' | head -n 14 || true
fi
echo "machine: $(nproc) CPUs, $(uname -r); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); $(date -u +%FT%TZ)"
