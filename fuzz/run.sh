#!/usr/bin/env bash
# Replays each fuzzer's committed corpus (fuzz/corpus/TARGET: small inputs a long campaign kept, and every
# input that once found a bug) and the seeds fuzz/make_seeds.sh makes from the real fixtures and a real
# server (too big to commit), then fuzzes each for SECONDS from both, two targets at a time. New inputs go
# to a scratch directory, never into the tree. Exits nonzero if any target finds a crash, leak, hang or OOM
# (the input is left in build/fuzz-artifacts/).
#
#   fuzz/run.sh BUILD_DIR [SECONDS]     (BUILD_DIR configured with CC=clang -DTC_FUZZ=ON)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
secs=${2:-60}
art="$build/fuzz-artifacts"
mkdir -p "$art"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
declare -A dict=([arrow]=arrow [request]=proto [wire]=proto [h2]=h2)
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
if ! bash "$top/fuzz/make_seeds.sh" "$build" "$seeds" >"$build/fuzz-seeds.log" 2>&1; then
  echo "fuzz/make_seeds.sh failed (see $build/fuzz-seeds.log)"
  exit 1
fi

one() {  # one TARGET: replay, then fuzz
  local t=$1 bin="$build/fuzz/fuzz_$1" corpus="$top/fuzz/corpus/$1" scratch
  scratch=$(mktemp -d)
  local opts=(-timeout=20 -rss_limit_mb=2048 -dict="$top/fuzz/${dict[$t]}.dict" -artifact_prefix="$art/$t-")
  if ! "$bin" "${opts[@]}" -runs=0 "$corpus" "$seeds/$t" >"$build/fuzz-$t-replay.log" 2>&1; then
    echo "fuzz_$t: replaying $corpus failed (see $build/fuzz-$t-replay.log)"; rm -rf "$scratch"; return 1
  fi
  if ! "$bin" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 "$scratch" "$corpus" "$seeds/$t" \
      >"$build/fuzz-$t.log" 2>&1; then
    echo "fuzz_$t: found a bug (see $build/fuzz-$t.log, input in $art)"; rm -rf "$scratch"; return 1
  fi
  rm -rf "$scratch"
  echo "fuzz_$t: $(find "$corpus" "$seeds/$t" -type f | wc -l) inputs replayed; $(grep -E '^stat::number_of_executed_units' "$build/fuzz-$t.log" | awk '{print $2}') runs in ${secs}s, $(grep -E '#[0-9]+[[:space:]]+DONE' "$build/fuzz-$t.log" | grep -oE 'cov: [0-9]+ ft: [0-9]+')"
}

rc=0
for pair in "arrow h2" "request wire"; do
  pids=()
  for t in $pair; do one "$t" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
done
exit $rc
