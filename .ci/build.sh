#!/usr/bin/env bash
# The one build of tablecar: what .ci/run, .ci/demo and deploy/Dockerfile run, so that an image is built
# exactly as the tested binaries are.
#   bash .ci/build.sh BUILD_DIR [CMAKE_ARGS...]
#   TC_BUILD_TARGETS  space-separated targets to build instead of all (the image builds only what it ships)
#   TC_BUILD_JOBS     parallel jobs (default: the number of cores)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: build.sh BUILD_DIR [CMAKE_ARGS...]}
shift
jobs=${TC_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}
cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
targets=()
for t in ${TC_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$dir" -j "$jobs" "${targets[@]}"
