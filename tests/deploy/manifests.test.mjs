// manifests.test.mjs: deploy/k8s, composed by kustomize (`kubectl kustomize`, kubectl pinned in tests/peers)
// as `kubectl apply -k` would,
// then validated against the Kubernetes object schemas of kubernetes-models (npm): its runtime validators
// (types, enums, required fields) and its TypeScript types, which, unlike the runtime validators, refuse a
// field that does not exist (a misspelt field must fail: a test shows it does). Then what the deployment
// promises: the security settings, probes on the health-only port, the data on the Unix socket only, the
// cache tied to the memory, and the two Job variants differing only in where the sidecar sits.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = process.env.TC_SOURCE_DIR || path.resolve(here, '../..');
const PEERS = path.join(SOURCE_DIR, 'tests/peers/node_modules');
const K8S = path.join(SOURCE_DIR, 'deploy/k8s');
export const VARIANTS = { native: K8S, before129: path.join(K8S, 'before-1.29'), daemonset: path.join(K8S, 'daemonset') };

for (const p of ['kubernetes-models', 'yaml', 'typescript'])
  if (!fs.existsSync(path.join(PEERS, p))) throw new Error(`npm peer ${p} missing in ${PEERS}: run bash .ci/install-deps.sh`);
// kubectl from tests/peers (pinned), for its built-in kustomize.
const KUBECTL = execFileSync('bash', [path.join(here, 'kubectl.sh')], { encoding: 'utf8' }).trim();

const YAML = await import(pathToFileURL(path.join(PEERS, 'yaml/dist/index.js')).href);

// The objects `kubectl apply -k DIR` would send.
export function compose(dir) {
  const out = execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8' });
  return YAML.parseAllDocuments(out).map((d) => d.toJS()).filter(Boolean);
}

const MODELS = { 'batch/v1': 'batch/v1', 'apps/v1': 'apps/v1', v1: 'v1' };
function modelPath(obj) {
  const group = MODELS[obj.apiVersion];
  assert.ok(group, `${obj.kind}: apiVersion ${obj.apiVersion} has no model here`);
  return path.join(PEERS, 'kubernetes-models', group, `${obj.kind}.js`);
}

// kubernetes-models' runtime validation: throws on a wrong type, value or missing field.
async function validateRuntime(obj) {
  const mod = await import(pathToFileURL(modelPath(obj)).href);
  new mod[obj.kind](obj).validate();
}

// kubernetes-models' TypeScript types, through tsc: each object as a literal of its interface, so that a
// field the schema does not have is an error. Returns tsc's output ('' when valid).
function validateStrict(objs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-k8s-'));
  try {
    const lines = objs.map((o, i) =>
      `import type { I${o.kind} as T${i} } from ${JSON.stringify(modelPath(o))};\n` +
      `export const m${i}: T${i} = ${JSON.stringify(o, null, 1)};`);
    fs.writeFileSync(path.join(dir, 'manifests.ts'), lines.join('\n') + '\n');
    const r = spawnSync(process.execPath, [path.join(PEERS, 'typescript/bin/tsc'), '--noEmit', '--strict',
      '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
      path.join(dir, 'manifests.ts')], { encoding: 'utf8' });
    if (r.status === 0) return '';
    return (r.stdout + r.stderr).trim() || `tsc exited ${r.status}`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function validate(objs) {
  for (const o of objs) await validateRuntime(o);
  const err = validateStrict(objs);
  if (err) throw new Error(`not valid against the Kubernetes schemas:\n${err}`);
}

const podSpec = (o) => o.spec.template.spec;
const sidecarOf = (o) => [...(podSpec(o).initContainers || []), ...podSpec(o).containers].find((c) => c.name === 'tablecar');
const flag = (c, name) => (c.args.find((a) => a.startsWith(`--${name}=`)) || '').slice(name.length + 3);

test('every variant is valid against the Kubernetes object schemas', async () => {
  for (const [name, dir] of Object.entries(VARIANTS)) {
    const objs = compose(dir);
    assert.ok(objs.length >= 1, `${name}: no objects`);
    await validate(objs).catch((e) => { e.message = `${name}: ${e.message}`; throw e; });
  }
});

test('a misspelt field fails the validation', async () => {
  const [job] = compose(VARIANTS.native);
  for (const [what, mutate] of [
    ['container field', (j) => { sidecarOf(j).imagePullPolicyy = 'Always'; }],
    ['securityContext field', (j) => { sidecarOf(j).securityContext.readOnlyRootFilesytem = true; }],
    ['probe field', (j) => { sidecarOf(j).readinessProbe.grpc.prot = 8081; }],
  ]) {
    const bad = structuredClone(job);
    mutate(bad);
    await assert.rejects(validate([bad]), /does not exist|known properties/, what);
  }
  const wrongType = structuredClone(job);
  podSpec(wrongType).terminationGracePeriodSeconds = 'long';
  await assert.rejects(validate([wrongType]));
});

test('the two Job variants differ only in where the sidecar sits', () => {
  const [native] = compose(VARIANTS.native);
  const [old] = compose(VARIANTS.before129);
  const s = podSpec(native).initContainers.findIndex((c) => c.name === 'tablecar');
  assert.ok(s >= 0, 'the native variant runs tablecar as an init container');
  assert.equal(podSpec(native).initContainers[s].restartPolicy, 'Always');
  const moved = structuredClone(native);
  const [sidecar] = podSpec(moved).initContainers.splice(s, 1);
  delete sidecar.restartPolicy;
  podSpec(moved).containers.push(sidecar);
  if (podSpec(moved).initContainers.length === 0) delete podSpec(moved).initContainers;
  assert.deepEqual(old, moved);
});

test('the sidecar: locked down, probed on the health-only port, data on the Unix socket only', () => {
  for (const name of ['native', 'daemonset']) {
    const objs = compose(VARIANTS[name]);
    const owner = objs.find((o) => sidecarOf(o));
    const spec = podSpec(owner), c = sidecarOf(owner);
    const sc = c.securityContext;
    assert.equal(sc.runAsNonRoot, true, name);
    assert.equal(sc.readOnlyRootFilesystem, true, name);
    assert.equal(sc.allowPrivilegeEscalation, false, name);
    assert.deepEqual(sc.capabilities.drop, ['ALL'], name);
    assert.equal(sc.seccompProfile.type, 'RuntimeDefault', name);
    assert.ok(Number.isInteger(spec.securityContext.runAsUser) && spec.securityContext.runAsUser > 0, name);
    // Data only on a Unix socket; probes (gRPC, since a probe cannot reach a Unix socket) on the health port.
    assert.match(flag(c, 'listen'), /^unix:\//, name);
    assert.ok(!c.args.includes('--expose-data-on-network'), name);
    const healthPort = Number(flag(c, 'health-listen').split(':').pop());
    for (const p of ['startupProbe', 'readinessProbe', 'livenessProbe'])
      assert.equal(c[p].grpc.port, healthPort, `${name} ${p}`);
    // Metrics: the port, and the annotations that point a scraper at it.
    const metricsPort = Number(flag(c, 'metrics-listen').split(':').pop());
    assert.ok(c.ports.some((p) => p.containerPort === metricsPort), name);
    const ann = owner.spec.template.metadata.annotations;
    assert.equal(ann['prometheus.io/scrape'], 'true');
    assert.equal(Number(ann['prometheus.io/port']), metricsPort);
    // Termination grace longer than the drain.
    assert.ok(spec.terminationGracePeriodSeconds > Number(flag(c, 'drain-seconds')), name);
    // The cache is the memory request, below the limit.
    const cache = c.env.find((e) => e.name === 'TABLECAR_CACHE_BYTES');
    assert.deepEqual(cache.valueFrom.resourceFieldRef, { containerName: 'tablecar', resource: 'requests.memory' });
    const gi = (q) => Number(String(q).replace(/Gi$/, ''));
    assert.ok(gi(c.resources.limits.memory) > gi(c.resources.requests.memory), name);
    // The data volume is read-only.
    const data = spec.volumes.find((v) => v.name === 'data');
    assert.equal(data.persistentVolumeClaim.readOnly, true, name);
    assert.ok(c.volumeMounts.find((m) => m.name === 'data').readOnly, name);
  }
});
