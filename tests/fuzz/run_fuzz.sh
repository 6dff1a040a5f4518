#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time (ctest label "fuzz", build with -DCHANSUM_FUZZ=ON).
# Usage: run_fuzz.sh <fuzzer binary> <work dir> <seed dir>...
#   CHANSUM_FUZZ_SECONDS  time per target (default 20; set e.g. 600 for a longer run)
# New inputs that reach new code go to <work dir>/corpus (kept between runs, so coverage builds
# up); a crash, leak, timeout or violated property leaves <work dir>/crash-* (or leak-*, timeout-*)
# and fails the test. Turn such a file into a regression unit test before fixing the bug.
set -euo pipefail
bin=$1
work=$2
shift 2
seconds=${CHANSUM_FUZZ_SECONDS:-20}
mkdir -p "$work/corpus"
seeds=()
for d in "$@"; do [ -d "$d" ] && seeds+=("$d"); done
echo "fuzzing $(basename "$bin") for ${seconds}s (corpus $work/corpus, seeds: ${seeds[*]:-none})"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1536 -max_len=8192 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "${seeds[@]}"
