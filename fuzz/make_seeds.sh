#!/usr/bin/env bash
# Makes the seed corpora of the fuzzers from real fixtures, into OUTDIR/<target>/:
#   arrow:   our writer's all-types and example files (file and stream, none/lz4/zstd), and when
#            tests/peers/node_modules exists the apache-arrow and polars fixtures the tests use
#   request, wire: each method's request and the server's answers (tc-fuzz-mkseeds)
#   h2:      a real tablecar-server's answers to each call of fuzz/h2_calls.h (tc-fuzz-record-h2)
# Only files under 32 KiB are kept (libFuzzer mutates small inputs best).
#
#   fuzz/make_seeds.sh BUILD_DIR OUTDIR
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"/{arrow,request,wire,h2}
tmp=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

mk="$build/tests/tc-mkfixture"
mkdir -p "$tmp/all"
"$mk" all-types "$tmp/all"
for fmt in "" --stream; do
  for codec in none lz4 zstd; do
    "$mk" example "$tmp/all/example$fmt-$codec.arrow" --rows 20 --batch-rows 8 $fmt --codec "$codec"
  done
done
if [ -d "$top/tests/peers/node_modules" ]; then
  node "$top/tests/peers/write_arrow_fixtures.mjs" "$tmp/all/js" >/dev/null
  node "$top/tests/peers/write_polars_fixtures.mjs" "$tmp/all/pl" >/dev/null
fi
find "$tmp/all" -type f \( -name '*.arrow' -o -name '*.arrows' -o -name '*.ipc' -o -name '*.feather' \) \
  -size -32k | while read -r f; do
  cp "$f" "$out/arrow/$(basename "$(dirname "$f")")-$(basename "$f")"
done

"$build/fuzz/tc-fuzz-mkseeds" "$out/request" "$out/wire"

mkdir -p "$tmp/data"
"$mk" example "$tmp/data/ex.arrow" --rows 300 --batch-rows 64
"$build/server/tablecar-server" --data-dir "$tmp/data" --listen "unix:$tmp/s.sock" --log-level error &
server_pid=$!
for _ in $(seq 1 300); do [ -S "$tmp/s.sock" ] && break; sleep 0.1; done
"$build/fuzz/tc-fuzz-record-h2" "$tmp/s.sock" "$out/h2"
