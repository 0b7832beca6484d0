#!/usr/bin/env bash
# ctest bench_smoke: bench/run end to end with tiny sizes and the binaries of this build (no LanceDB: its
# npm peer is bench's own, installed by bench/run itself). Checks that every method produced figures and the
# target table was written; no timing is asserted.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tc-bench-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
BENCH_BUILD=$build BENCH_NO_BUILD=1 BENCH_DATA=$tmp \
  "$src/bench/run" --rows 600 --image 3x16x16 --repeats 1 --rows-per-run 256 --max-calls 20 --forks 2 \
  --workers 0,2 --fresh-servers 4 --no-lance >"$tmp/stdout" 2>"$tmp/stderr" || { cat "$tmp/stderr"; exit 1; }
report=$tmp/out/report.md
fail=0
for want in "| health | unix | 1 |" "| inproc | - | 1 |" "| take | unix | 1 |" "| read | tcp | 4 |" "| stream | unix | 4 |" \
  "| read_fresh | unix | 1 |" "| read_warm | unix | 1 |" "(median of 4 fresh servers)" "| grpcio | unix | 1 |" "| 2 | tablecar |" "| 2 | memmap |" "| 2 | grpcio |" \
  "| tablecar |" "| C client, no Python (tablecar-bench) |" "lz4 (cache) | 64M | 1024 |" "## Targets (issues 10 and 11)" \
  "| read_shm | unix | 1 |" "| 2 | tablecar_socket |" "## Minor page faults per batch" "| tablecar_socket | " "steady-state minor page faults"; do
  grep -qF -- "$want" "$report" || { echo "bench_smoke: no line with '$want' in the report"; fail=1; }
done
# Every measurement of data read rows (Health/Check, the empty call, reads none by design).
if grep -v '"method": "health"' "$tmp/out/results.jsonl" | grep -E '"rows": 0[,}]'; then
  echo "bench_smoke: a measurement read no rows"; fail=1
fi
[ $fail = 0 ] || { cat "$report"; exit 1; }
echo "bench_smoke: $(wc -l <"$tmp/out/results.jsonl") measurements, report complete"
