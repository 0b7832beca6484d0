// harness.mjs: shared helpers of the end-to-end tests. They run the real tablecar-server (spawned on a
// temporary Unix socket over a temporary data dir) and talk to it with @grpc/grpc-js, a gRPC implementation
// nobody here wrote, loaded from tests/peers/node_modules.
//
// Environment (set by ctest, see tests/CMakeLists.txt):
//   TC_SERVER      path of the built tablecar-server
//   TC_MKFIXTURE   path of the built tc-mkfixture
//   TC_SOURCE_DIR  the source tree (for proto/ and tests/peers/)
//   TC_E2E_SLOW    optional multiplier of every timeout (e.g. 3 under a slow sanitizer build)
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = process.env.TC_SOURCE_DIR || path.resolve(here, '../..');
export const SERVER = process.env.TC_SERVER || '';
export const MKFIXTURE = process.env.TC_MKFIXTURE || '';
export const SLOW = Number(process.env.TC_E2E_SLOW || 1) || 1;

const PEERS = path.join(SOURCE_DIR, 'tests/peers');

// Why the tests cannot run here, or '' when they can: every test passes this as its `skip` option.
export const skipReason = (() => {
  if (!fs.existsSync(path.join(PEERS, 'node_modules/@grpc/grpc-js')) ||
      !fs.existsSync(path.join(PEERS, 'node_modules/@grpc/proto-loader')))
    return `npm peers missing: ${PEERS}/node_modules (run npm ci in tests/peers)`;
  if (!SERVER || !fs.existsSync(SERVER)) return `TC_SERVER (the tablecar-server binary) not set or missing: '${SERVER}'`;
  if (!MKFIXTURE || !fs.existsSync(MKFIXTURE)) return `TC_MKFIXTURE (the tc-mkfixture binary) not set or missing: '${MKFIXTURE}'`;
  return '';
})();
export const opts = (extra = {}) => (skipReason ? { skip: skipReason, ...extra } : { ...extra });

const require = createRequire(path.join(PEERS, 'package.json'));
export const grpc = skipReason ? null : require('@grpc/grpc-js');
const protoLoader = skipReason ? null : require('@grpc/proto-loader');

export const Status = grpc ? grpc.status : {};

let protoCache = null;
export function protos() {
  if (!protoCache) {
    const def = protoLoader.loadSync(['tablecar/v1/tablecar.proto', 'grpc/health/v1/health.proto'], {
      keepCase: true, longs: String, enums: Number, defaults: true,
      includeDirs: [path.join(SOURCE_DIR, 'proto')],
    });
    const pkg = grpc.loadPackageDefinition(def);
    protoCache = { def, Tablecar: pkg.tablecar.v1.Tablecar, Health: pkg.grpc.health.v1.Health };
  }
  return protoCache;
}

export const TYPE = { INT64: 5, UINT8: 6, FLOAT32: 11, UTF8: 13, FIXED_SIZE_LIST: 23 };
export const SERVING = 1, NOT_SERVING = 2;

// ---- files ------------------------------------------------------------------------------------------

const tmpDirs = [];
export function tmpdir(prefix = 'tc-e2e-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}

// tc-mkfixture example OUT [--rows N] [--batch-rows N] ...
// tc-mkfixture big OUT --rows N [--image CxHxW] ... (cmd: 'big'): the example table with a bigger image.
export function mkExample(out, { rows = 100, batchRows = 64, extra = [], cmd = 'example' } = {}) {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  execFileSync(MKFIXTURE, [cmd, out, '--rows', String(rows), '--batch-rows', String(batchRows), ...extra],
               { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

// Writes the example table to a temporary name next to OUT, then renames it over OUT (atomic replace).
export function mkExampleByRename(out, options) {
  const tmp = path.join(path.dirname(out), `.tmp-${path.basename(out)}`);  // hidden: never scanned
  mkExample(tmp, options);
  fs.renameSync(tmp, out);
  return out;
}

// ---- the server -------------------------------------------------------------------------------------

const live = new Set();
process.on('exit', () => {
  for (const s of live) try { s.proc.kill('SIGKILL'); } catch {}
  for (const d of tmpDirs) try { fs.rmSync(d, { recursive: true, force: true }); } catch {}
});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// P, or a rejection naming WHAT after MS (the timer is cleared either way, so it never holds the process).
export function within(p, ms, what) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export class Server {
  constructor(proc, socket, dataDir, stateDir) {
    this.proc = proc;
    this.socket = socket;
    this.address = `unix:${socket}`;
    this.dataDir = dataDir;
    this.stateDir = stateDir;
    this.log = '';
    this.clients = [];
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => { live.delete(this); resolve({ code, signal }); });
    });
    this.exitInfo = null;
    this.exited.then((e) => { this.exitInfo = e; });
    proc.stderr.on('data', (d) => { this.log += d; });
    proc.stdout.on('data', (d) => { this.log += d; });
  }

  // A new client (its own channel: a new connection), closed by stop().
  client(options = {}) {
    const c = new (protos().Tablecar)(this.address, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1, ...options,
    });
    this.clients.push(c);
    return c;
  }

  health() {
    const c = new (protos().Health)(this.address, grpc.credentials.createInsecure());
    this.clients.push(c);
    return c;
  }

  closeClients() {
    for (const c of this.clients) try { c.close(); } catch {}
    this.clients = [];
  }

  // Sends SIGTERM once (a second one would cancel every call: see server/main.c).
  sigterm() {
    if (!this.termSent && !this.exitInfo) this.proc.kill('SIGTERM');
    this.termSent = true;
  }

  // SIGTERM (unless sent already); resolves with the exit once the process is gone, killing it after
  // TIMEOUT_MS.
  async terminate(timeoutMs = 30000 * SLOW) {
    this.sigterm();
    let timer;
    const timeout = new Promise((r) => { timer = setTimeout(() => r(null), timeoutMs); });
    const e = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (!e) {
      this.proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`the server did not exit within ${timeoutMs} ms of SIGTERM; log:\n${this.tail()}`);
    }
    return e;
  }

  // Stops the server and checks it exited 0 (under ASan/LSan a leak makes it nonzero).
  async stop() {
    this.closeClients();
    const e = await this.terminate();
    if (e.code !== 0 || e.signal)
      throw new Error(`the server exited with code ${e.code} signal ${e.signal}; log:\n${this.tail()}`);
    return e;
  }

  kill() {
    this.closeClients();
    if (!this.exitInfo) try { this.proc.kill('SIGKILL'); } catch {}
  }

  tail(n = 6000) { return this.log.length > n ? '...' + this.log.slice(-n) : this.log; }
}

// Starts tablecar-server over DATADIR on a fresh socket and waits until its health Check says SERVING.
export async function startServer({ dataDir, stateDir, socket, args = [], env = {} } = {}) {
  dataDir = dataDir || tmpdir();
  socket = socket || path.join(tmpdir('tc-sock-'), 's.sock');
  const argv = ['--data-dir', dataDir, '--listen', `unix:${socket}`, '--log-level', 'debug', ...args];
  if (stateDir) argv.push('--state-dir', stateDir);
  const childEnv = { ...process.env, ...env };
  for (const k of Object.keys(childEnv)) if (k.startsWith('TABLECAR_') && !(k in env)) delete childEnv[k];
  const proc = spawn(SERVER, argv, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const s = new Server(proc, socket, dataDir, stateDir);
  live.add(s);
  try {
    await waitServing(s);
  } catch (e) {
    s.kill();
    throw e;
  }
  return s;
}

async function waitServing(s, timeoutMs = 30000 * SLOW) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    if (s.exitInfo) throw new Error(`the server exited (${JSON.stringify(s.exitInfo)}) before serving:\n${s.tail()}`);
    // A fresh channel each time: a failed connection would otherwise wait out grpc-js's reconnect backoff.
    const h = new (protos().Health)(s.address, grpc.credentials.createInsecure());
    try {
      const r = await unary(h, 'Check', { service: '' }, 2000);
      if (r.status === SERVING) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.message;
    } finally {
      h.close();
    }
    await sleep(50);
  }
  throw new Error(`the server was not SERVING within ${timeoutMs} ms (${last}); log:\n${s.tail()}`);
}

// Runs FN with a started server, and always stops it: exit code 0 is asserted when FN succeeded; on any
// failure the process is killed.
export async function withServer(options, fn) {
  const s = await startServer(options);
  try {
    await fn(s);
  } catch (e) {
    s.kill();
    await s.exited;
    e.message += `\n--- server log (tail) ---\n${s.tail()}`;
    throw e;
  }
  await s.stop();
}

// ---- calls ------------------------------------------------------------------------------------------

export function unary(client, method, req, timeoutMs = 30000 * SLOW) {
  return new Promise((resolve, reject) => {
    client[method](req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

// The status code of a call that must fail (throws when it succeeds).
export async function failure(p) {
  try {
    await p;
  } catch (e) {
    if (typeof e.code !== 'number') throw e;
    return e;
  }
  throw new Error('the call succeeded but was expected to fail');
}

export function collect(call) {
  return new Promise((resolve, reject) => {
    const out = [];
    call.on('data', (m) => out.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  });
}

export function stream(client, req, timeoutMs = 60000 * SLOW) {
  return collect(client.StreamBatches(req, { deadline: Date.now() + timeoutMs }));
}

// ---- batches ----------------------------------------------------------------------------------------

export const rowIdsOf = (b) => {
  const buf = b.row_ids;
  assertEq(buf.length, 8 * Number(b.num_rows), 'row_ids length');
  const ids = [];
  for (let i = 0; i < buf.length; i += 8) ids.push(Number(buf.readBigInt64LE(i)));
  return ids;
};

function assertEq(a, b, what) {
  if (a !== b) throw new Error(`${what}: ${a} !== ${b}`);
}

const isValid = (arr, i) => Number(arr.null_count) === 0 || ((arr.validity[i >> 3] >> (i & 7)) & 1) === 1;

// One column of a Batch as JS values (null for nulls); lists as arrays, fixed-size lists of uint8 as flat
// Uint8Arrays per row (the whole chain flattened).
export function decodeColumn(field, arr) {
  const n = Number(arr.length);
  const t = field.type.id;
  const out = new Array(n);
  if (t === TYPE.INT64) {
    for (let i = 0; i < n; i++) out[i] = isValid(arr, i) ? Number(arr.values.readBigInt64LE(8 * i)) : null;
  } else if (t === TYPE.FLOAT32) {
    for (let i = 0; i < n; i++) out[i] = isValid(arr, i) ? arr.values.readFloatLE(4 * i) : null;
  } else if (t === TYPE.UINT8) {
    for (let i = 0; i < n; i++) out[i] = isValid(arr, i) ? arr.values[i] : null;
  } else if (t === TYPE.UTF8) {
    assertEq(arr.offsets.length, 4 * (n + 1), `${field.name}: offsets length`);
    for (let i = 0; i < n; i++) {
      const a = arr.offsets.readInt32LE(4 * i), b = arr.offsets.readInt32LE(4 * i + 4);
      out[i] = isValid(arr, i) ? arr.values.subarray(a, b).toString('utf8') : null;
    }
  } else if (t === TYPE.FIXED_SIZE_LIST) {
    // Flatten the chain down to its fixed-width leaf.
    let f = field, a = arr, per = 1;
    while (f.type.id === TYPE.FIXED_SIZE_LIST) {
      per *= f.type.list_size;
      assertEq(a.children.length, 1, `${field.name}: children`);
      f = f.children[0];
      a = a.children[0];
    }
    assertEq(f.type.id, TYPE.UINT8, `${field.name}: leaf type`);
    assertEq(Number(a.length), n * per, `${field.name}: leaf length`);
    assertEq(a.values.length, n * per, `${field.name}: leaf bytes`);
    for (let i = 0; i < n; i++) out[i] = isValid(arr, i) ? a.values.subarray(i * per, (i + 1) * per) : null;
  } else {
    throw new Error(`decodeColumn: type ${t} not handled`);
  }
  return out;
}

// {rowIds, cols: {name: values}, names: [...]} of a Batch.
export function decodeBatch(b) {
  const cols = {};
  if (b.fields.length !== b.columns.length) throw new Error('fields and columns differ in count');
  b.fields.forEach((f, c) => {
    if (Number(b.columns[c].length) !== Number(b.num_rows)) throw new Error(`column ${f.name}: length`);
    cols[f.name] = decodeColumn(f, b.columns[c]);
  });
  return { rowIds: rowIdsOf(b), cols, names: b.fields.map((f) => f.name) };
}

// ---- the example table's rules (tests/support/fixtures.h), recomputed -------------------------------

export const SHAPE = [3, 8, 8];
export const expected = {
  image: (i, per = SHAPE[0] * SHAPE[1] * SHAPE[2]) => {
    const v = new Uint8Array(per);
    for (let k = 0; k < per; k++) v[k] = (i * 31 + k) % 256;
    return v;
  },
  label: (i) => i % 10,
  caption: (i) => (i % 7 === 3 ? null : `row ${i}`),
  score: (i) => (i % 100) * 0.25,
};
export const EXAMPLE_COLUMNS = ['image', 'label', 'caption', 'score'];

// Throws unless every cell of the decoded batch D equals the rules for its row id, and the row ids are
// ROWIDS (when given) and the columns NAMES.
export function checkExampleRows(d, rowIds, names = EXAMPLE_COLUMNS, per = undefined) {
  if (rowIds) assertArrayEq(d.rowIds, rowIds, 'row ids');
  assertArrayEq(d.names, names, 'columns');
  d.rowIds.forEach((i, r) => {
    for (const name of names) {
      const got = d.cols[name][r], want = expected[name](i, per);
      if (want instanceof Uint8Array) {
        if (!(got instanceof Uint8Array) || Buffer.compare(Buffer.from(got), Buffer.from(want)) !== 0)
          throw new Error(`row ${i} ${name}: got ${got && Array.from(got.slice(0, 8))}..., want ${Array.from(want.slice(0, 8))}...`);
      } else if (got !== want) {
        throw new Error(`row ${i} ${name}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      }
    }
  });
}

export function assertArrayEq(a, b, what) {
  if (a.length !== b.length || a.some((x, i) => x !== b[i]))
    throw new Error(`${what}: got [${a.slice(0, 20)}${a.length > 20 ? ',...' : ''}] (${a.length}), ` +
                    `want [${b.slice(0, 20)}${b.length > 20 ? ',...' : ''}] (${b.length})`);
}

// Every row id of a split, read with ReadBatch in steps of BATCH.
export async function readSplit(client, permutation, split, size, batch = 7, columns = ['label']) {
  const ids = [];
  for (let off = 0; off < size; off += batch) {
    const b = await unary(client, 'ReadBatch', { permutation, split, offset: off, batch_size: batch, columns });
    if (Number(b.offset) !== off) throw new Error(`ReadBatch offset ${b.offset} != ${off}`);
    ids.push(...rowIdsOf(b));
  }
  return ids;
}

// ---- the hash split's rule (tablecar.proto, HashSplit), recomputed with BigInt ----------------------

const M64 = (1n << 64n) - 1n;
export function fnv1a64(bytes, h = 0xcbf29ce484222325n) {
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & M64;
  return h;
}
export function mix64(x) {
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & M64;
  return x ^ (x >> 31n);
}
// The split that hash H falls in, with WEIGHTS (HashSplit in the proto).
function splitOfHash(h, weights) {
  let r = h % BigInt(weights.reduce((a, w) => a + w, 0));
  for (let s = 0; s < weights.length; s++) {
    if (r < BigInt(weights[s])) return s;
    r -= BigInt(weights[s]);
  }
  throw new Error('unreachable');
}
// The split of example row I for a hash split over the int64 column `label` (never null) with WEIGHTS.
export function hashSplitOfLabel(i, weights) {
  const b = Buffer.alloc(9);
  b[0] = 1;
  b.writeBigInt64LE(BigInt(expected.label(i)), 1);
  return splitOfHash(mix64(fnv1a64(b)), weights);
}
// The same over the utf8 column `caption` (null at i % 7 == 3): presence byte, then the string's bytes.
export function hashSplitOfCaption(i, weights) {
  const c = expected.caption(i);
  const b = c === null ? Buffer.from([0]) : Buffer.concat([Buffer.from([1]), Buffer.from(c, 'utf8')]);
  return splitOfHash(mix64(fnv1a64(b)), weights);
}
