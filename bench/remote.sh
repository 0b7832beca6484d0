#!/usr/bin/env bash
# Remote tables benchmark (bench/remote.py): DataLoader epochs over a table in the S3 test store, with 0 and
# 20 ms of latency per request, against the same table local. Usage: bench/remote.sh [BUILD_DIR] [args...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
[ $# -gt 0 ] && shift
export TC_SERVER=$build/server/tablecar-server TC_MKFIXTURE=$build/tests/tc-mkfixture
export TABLECAR_LIBRARY=$build/client/libtablecar.so TC_SOURCE_DIR=$top
exec /usr/bin/python3 "$top/bench/remote.py" "$@"
