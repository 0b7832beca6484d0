// pod.mjs: turns the composed before-1.29 Job (kubectl kustomize deploy/k8s/before-1.29) into the Pod that
// `podman kube play` runs (podman runs Pods, not Jobs): the Job's pod template as it is, with the test's
// image tags and the trainer's command replaced by the test's epoch (still behind `python3 -m
// tablecar.wait`, as in the manifest), and no `ports` (see below). Probes, security, volumes, resources stay.
//   node pod.mjs COMPOSED.yaml SIDECAR_IMAGE TRAINER_IMAGE EPOCH.py POD_NAME > pod.yaml
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const PEERS = path.join(process.env.TC_SOURCE_DIR || path.resolve(here, '../..'), 'tests/peers/node_modules');
const YAML = await import(pathToFileURL(path.join(PEERS, 'yaml/dist/index.js')).href);

const [composed, sidecarImage, trainerImage, epochFile, podName] = process.argv.slice(2);
const docs = YAML.parseAllDocuments(fs.readFileSync(composed, 'utf8')).map((d) => d.toJS());
const job = docs.find((d) => d.kind === 'Job');
if (!job) throw new Error(`no Job in ${composed}`);
const spec = structuredClone(job.spec.template.spec);
if (spec.initContainers?.length) throw new Error('expected the before-1.29 variant: no init containers');
const sidecar = spec.containers.find((c) => c.name === 'tablecar');
const trainer = spec.containers.find((c) => c.name === 'trainer');
if (!sidecar || !trainer) throw new Error('the Job has no tablecar or trainer container');
// podman kube play turns containerPort into host port mappings, which a pod without a network (--network
// none: the test leaves the host's firewall alone) refuses; in Kubernetes they only document the ports.
for (const c of spec.containers) delete c.ports;
sidecar.image = sidecarImage;
trainer.image = trainerImage;
const waitArgs = trainer.command.slice(0, trainer.command.indexOf('--') + 1);
if (waitArgs.join(' ') !== 'python3 -m tablecar.wait --') throw new Error(`trainer command: ${trainer.command}`);
trainer.command = [...waitArgs, 'python3', '-c', fs.readFileSync(epochFile, 'utf8')];
const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: podName, labels: job.spec.template.metadata?.labels, annotations: job.spec.template.metadata?.annotations },
  spec,
};
process.stdout.write(YAML.stringify(pod));
