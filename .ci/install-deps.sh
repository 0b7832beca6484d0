#!/usr/bin/env bash
# Installs everything tablecar needs to build and test, from Debian's packages and the npm registry.
# Idempotent: safe to run on a machine that already has it all. Run as root (or with sudo).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

# --build: only what compiling the server, the CLI and libtablecar needs (deploy/Dockerfile's build stage).
build_debs=(
  build-essential cmake pkg-config
  libgrpc-dev
  libprotobuf-c-dev protobuf-c-compiler
  libuv1-dev libnghttp2-dev liblz4-dev libzstd-dev libmicrohttpd-dev libcurl4-openssl-dev
)
if [ "${1:-}" = "--build" ]; then
  debs=("${build_debs[@]}")
else
  debs=(
    "${build_debs[@]}" libcmocka-dev
    python3-numpy python3-torch python3-grpcio python3-boto3
    python3-venv python3-pip python3-setuptools python3-wheel python3-prometheus-client
    clang-format               # .ci/run checks the formatting
    clang libclang-rt-14-dev   # the libFuzzer targets (fuzz/): clang's -fsanitize=fuzzer runtime
    podman runc catatonit debootstrap  # tests/deploy/containers.sh: images built and a pod run for real
  )
  # Node.js may come from elsewhere (it does on our dev machines); Debian's only if there is none.
  command -v node >/dev/null && command -v npm >/dev/null || debs+=(nodejs npm)
fi
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ "${1:-}" = "--build" ] && exit 0
# Independent peers for the tests (pinned in tests/peers/package.json).
peers=$top/tests/peers
if [ -f "$peers/package.json" ] && ! [ "$peers/node_modules/.package-lock.json" -nt "$peers/package-lock.json" ]; then
  (cd "$top/tests/peers" && npm ci --no-audit --no-fund --loglevel=error)
fi
