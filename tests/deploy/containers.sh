#!/usr/bin/env bash
# The deployment for real (ctest deploy_containers): a local Debian base made with debootstrap, both targets
# of deploy/Dockerfile built with BASE set to it, the sidecar image checked (no compiler) and measured, then
# the before-1.29 manifest run as a pod under `podman kube play`: the sidecar becomes healthy (gRPC health
# Check on its health-only port, from inside the pod), its security settings hold, the trainer runs a fork
# DataLoader epoch over the Unix socket (its batches through the shared-memory pool: the memfd crosses from
# the trainer container to the sidecar's over that socket) and exits 0, and when the pod is stopped the
# sidecar drains on SIGTERM and exits 0 within the grace period.
#
# The engine is podman (Debian's; installed if missing): it builds Dockerfiles (buildah) and runs Kubernetes
# Pods, without a daemon. It runs on the test's own storage and run dirs, its own containers.conf (runc, and
# ulimits root may set here), builds with --network host and runs the pod with --network none (loopback
# only: nothing touches the host's firewall). Everything the test made is removed at the end.
#   TC_SOURCE_DIR   the source tree (default: this script's ../..)
#   TC_MKFIXTURE    the built tc-mkfixture (writes the pod's table)
#   TC_DEPLOY_CACHE where the debootstrap base is kept between runs (default ~/.cache/tablecar; "" = never)
#   TC_DEPLOY_STORAGE  podman storage kept between runs (for working on the images: builds reuse layers);
#                   by default a temporary one, removed with everything in it
set -euo pipefail
top=${TC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cache=${TC_DEPLOY_CACHE-$HOME/.cache/tablecar}
fail() { echo "deploy_containers: FAIL: $*" >&2; exit 1; }
# has PATTERN TEXT. Not `cmd | grep -q`: under pipefail, grep's exit at the first match can fail the pipeline
# through the writer's SIGPIPE (seen: a sidecar log that had the line, reported without it).
has() { grep -q -- "$1" <<<"$2"; }
step() { echo "== $(date -u +%T) $*"; }
t0=$(date +%s)

# ---- the engine -----------------------------------------------------------------------------------------
need=()
for tool in podman:podman runc:runc catatonit:catatonit debootstrap:debootstrap; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || fail "${need[*]} missing and not root to install them (bash .ci/install-deps.sh)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
    || fail "cannot install ${need[*]} from Debian"
fi
[ "$(id -u)" -eq 0 ] || fail "the container test runs as root (rootful podman: kube play, image import)"

tmp=$(mktemp -d /tmp/tc-deploy.XXXXXX)
id=$(basename "$tmp" | tr 'A-Z.' 'a-z-')
conf=$tmp/containers.conf
# runc: crun refuses the hybrid cgroup layout of these machines. The ulimits: podman's defaults are above
# what root may set here ("error setting rlimit").
cat > "$conf" <<CONF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=8192:8192"]
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF=$conf
storage=${TC_DEPLOY_STORAGE:-$tmp/storage}
pm() { nice podman --root "$storage" --runroot "$storage.run" --tmpdir "$storage.tmp" "$@"; }
base=localhost/tc-test-base:$id sidecar=localhost/tc-test-sidecar:$id trainer=localhost/tc-test-trainer:$id
pod=tc-test-$id volume=training-data

cleanup() {
  local rc=$?
  set +e
  pm pod rm -f -t 0 "$pod" >/dev/null 2>&1
  pm rm -a -f -t 0 >/dev/null 2>&1
  pm volume rm -f "$volume" >/dev/null 2>&1
  if [ -z "${TC_DEPLOY_STORAGE:-}" ]; then
    pm rmi -a -f >/dev/null 2>&1
    pm system reset -f >/dev/null 2>&1  # also unmounts the test's storage
  fi
  rm -rf "$tmp"
  [ -n "${TC_DEPLOY_STORAGE:-}" ] || rm -rf "$storage.run" "$storage.tmp"
  echo "== $(date -u +%T) cleaned up; the container test took $(( $(date +%s) - t0 )) s"
  exit $rc
}
trap cleanup EXIT
pm info >/dev/null 2>"$tmp/info.err" || fail "podman cannot start: $(tail -1 "$tmp/info.err")"

# ---- the base: debootstrap from the mirror apt uses (read from apt, never written down) ------------------
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null | awk '$2 == "bookworm" {print $1; exit}')
[ -n "$mirror" ] || fail "no bookworm mirror in apt's configuration (apt-get indextargets)"
tarball=${cache:+$cache/bookworm-minbase.tar}
if [ -n "$tarball" ] && [ -s "$tarball" ] && [ -z "$(find "$tarball" -mtime +7)" ]; then
  step "base: $tarball (cached, less than a week old)"
else
  step "base: debootstrap --variant=minbase bookworm"
  debootstrap --variant=minbase bookworm "$tmp/rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 \
    || fail "debootstrap failed: $(tail -3 "$tmp/debootstrap.log")"
  tarball=${tarball:-$tmp/base.tar}
  mkdir -p "$(dirname "$tarball")"
  tar -C "$tmp/rootfs" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
  rm -rf "$tmp/rootfs"
fi
# A tarball has no image config: PATH as Debian's official image sets it.
pm import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$tarball" "$base" \
  >/dev/null 2>&1 || fail "podman import of the base failed"

# ---- the images -----------------------------------------------------------------------------------------
for target in sidecar trainer; do
  img=$sidecar; [ $target = trainer ] && img=$trainer
  step "build --target $target"
  s=$(date +%s)
  # --format docker: keeps HEALTHCHECK (the OCI format has none).
  pm build --format docker --network host --build-arg "BASE=$base" --target $target -t "$img" \
    -f "$top/deploy/Dockerfile" "$top" >"$tmp/build-$target.log" 2>&1 \
    || { tail -30 "$tmp/build-$target.log"; fail "building the $target image failed"; }
  echo "   built in $(( $(date +%s) - s )) s"
done
for img in "$sidecar" "$trainer"; do
  echo "   image $img: $(( $(pm image inspect --format '{{.Size}}' "$img") / 1000000 )) MB"
done
step "the sidecar image holds no compiler and no -dev package, and has a HEALTHCHECK"
pm run --rm --network none --no-healthcheck --entrypoint sh "$sidecar" -c '
  for c in cc gcc g++ c++ clang tcc ld as make cmake; do command -v $c && exit 1; done
  dpkg-query -W -f "\${Package}\n" | grep -- "-dev\$" && exit 1
  exit 0' || fail "the sidecar image holds a compiler or -dev packages (listed above)"
has "tablecar" "$(pm image inspect --format '{{.Config.Healthcheck.Test}}' "$sidecar")" \
  || fail "the sidecar image has no HEALTHCHECK through the CLI"
has "^tablecar-server " "$(pm run --rm --network none --no-healthcheck --entrypoint tablecar-server "$sidecar" --version)" \
  || fail "tablecar-server does not run in its image"

# ---- the pod --------------------------------------------------------------------------------------------
step "pod: the before-1.29 manifest under podman kube play"
mkdir -p "$tmp/data"
[ -x "${TC_MKFIXTURE:-}" ] || fail "TC_MKFIXTURE (the built tc-mkfixture) is not set: it writes the test table"
"$TC_MKFIXTURE" example "$tmp/data/example.arrow" --rows 5000 --batch-rows 512 >/dev/null
chmod -R a+rX "$tmp/data"
kubectl=$(bash "$top/tests/deploy/kubectl.sh") || fail "no kubectl to compose deploy/k8s (see above)"
"$kubectl" kustomize "$top/deploy/k8s/before-1.29" > "$tmp/composed.yaml"
node "$top/tests/deploy/pod.mjs" "$tmp/composed.yaml" "$sidecar" "$trainer" "$top/tests/deploy/epoch.py" "$pod" \
  > "$tmp/pod.yaml"
# The manifest's PersistentVolumeClaim, as podman resolves it: a volume of that name, here the temp data dir.
# Read-only comes from the manifest (readOnly mount); podman chowns the volume to the pod's fsGroup first.
pm volume create --opt type=none --opt o=bind --opt device="$tmp/data" "$volume" >/dev/null
pm kube play --network none --start=true "$tmp/pod.yaml" >"$tmp/play.log" 2>&1 \
  || { cat "$tmp/play.log"; fail "podman kube play failed"; }
side=$pod-tablecar train=$pod-trainer

healthy=""
for _ in $(seq 1 240); do  # polls a condition; 240 x 0.5 s only ends a real hang
  if out=$(pm exec "$side" tablecar --target 127.0.0.1:8081 --timeout 2 health 2>&1) && [ "$out" = SERVING ]; then
    healthy=1; break
  fi
  [ "$(pm inspect --format '{{.State.Running}}' "$side" 2>/dev/null)" = true ] || break
  sleep 0.5
done
[ -n "$healthy" ] || { pm logs "$side" 2>&1 | tail -20; fail "the sidecar did not become SERVING on its health port"; }
echo "   sidecar SERVING (gRPC health Check on 127.0.0.1:8081 inside the pod)"

step "the sidecar's security settings"
uid=$(pm exec "$side" sh -c 'awk "/^Uid:/ {print \$2}" /proc/1/status')
capeff=$(pm exec "$side" sh -c 'awk "/^CapEff:/ {print \$2}" /proc/1/status')
[ "$uid" != 0 ] && [ -n "$uid" ] || fail "tablecar-server runs as uid '$uid'"
[ "$capeff" = 0000000000000000 ] || fail "tablecar-server has capabilities: CapEff $capeff"
if pm exec "$side" sh -c 'echo x > /tc-write-test' 2>/dev/null; then fail "the sidecar could write to /"; fi
# /tmp is world-writable in the image: only a read-only root filesystem refuses this one.
if pm exec "$side" sh -c 'echo x > /tmp/tc-write-test' 2>/dev/null; then fail "the sidecar's root filesystem is writable"; fi
echo "   uid $uid, CapEff $capeff, / and /tmp not writable (read-only root filesystem)"

step "trainer: a fork DataLoader epoch over the socket, batches through shared memory"
code=$(pm wait "$train")
pm logs "$train" 2>&1 | tail -5
[ "$code" = 0 ] || fail "the trainer exited $code"
has "epoch rows=4500 unique=4500 expected=4500" "$(pm logs "$train" 2>&1)" || fail "the trainer did not see every row once"
has "batches through shared memory: [1-9]" "$(pm logs "$train" 2>&1)" ||
  fail "no batch came through the shared-memory pool across the pod's containers"

step "stop the pod: the sidecar drains on SIGTERM and exits 0"
grace=$(awk '/terminationGracePeriodSeconds:/ {print $2; exit}' "$tmp/composed.yaml")
pm pod stop -t "$grace" "$pod" >/dev/null
code=$(pm inspect --format '{{.State.ExitCode}}' "$side")
has '"draining".*SIGTERM' "$(pm logs "$side" 2>&1)" || { pm logs "$side" 2>&1 | tail; fail "no SIGTERM drain in the sidecar's log"; }
[ "$code" = 0 ] || fail "the sidecar exited $code after SIGTERM (137: killed at the end of the grace period)"
echo "   sidecar exit code 0"
echo "deploy_containers: OK"
