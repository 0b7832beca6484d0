#!/usr/bin/env bash
# Installs everything tablecar needs to build and test, from Debian's packages and the npm registry.
# Idempotent: safe to run on a machine that already has it all. Run as root (or with sudo).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

debs=(
  build-essential cmake pkg-config
  libgrpc-dev
  libprotobuf-c-dev protobuf-c-compiler
  libuv1-dev libcmocka-dev libnghttp2-dev liblz4-dev libzstd-dev libcurl4-openssl-dev
  python3-numpy python3-torch python3-grpcio python3-boto3
  clang libclang-rt-14-dev   # the libFuzzer targets (fuzz/): clang's -fsanitize=fuzzer runtime
  python3-venv python3-pip python3-setuptools python3-wheel
)
# Node.js may come from elsewhere (it does on our dev machines); Debian's only if there is none.
command -v node >/dev/null && command -v npm >/dev/null || debs+=(nodejs npm)
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

# Independent peers for the tests (pinned in tests/peers/package.json).
if [ -f "$top/tests/peers/package.json" ] && [ ! -d "$top/tests/peers/node_modules" ]; then
  (cd "$top/tests/peers" && npm ci --no-audit --no-fund --loglevel=error)
fi
