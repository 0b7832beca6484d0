// A stand-in tablecar sidecar for the client's tests: @grpc/grpc-js serving tablecar.v1.Tablecar and
// grpc.health.v1.Health from the .proto files, with small canned tables, plus (optionally) a raw node:http2
// server that gives the HTTP/2-level answers grpc-js never gives (HTTP errors, RST_STREAM, missing status).
//
//   node fake_server.mjs --socket PATH [--raw-socket PATH] [--bad-socket PATH]
//
// --bad-socket: a plain socket that answers the client's preface with SETTINGS and a WINDOW_UPDATE of 0 on
// stream 0 (a connection error), then keeps the connection open and reads nothing more.
//
// Prints "ready" on stdout once listening. Canned data:
//   people   3 rows: id int64, name utf8 (one null), vec fixed_size_list<float32, 2> (shape [2])
//   numbers 10 rows: x int64 = 100 + row
//   big      1 row:  blob fixed_size_binary[64 MiB], byte i = (i * 7 + 3) & 255
// Special permutations: perm-slow (ReadBatch/StreamBatches answer nothing until cancelled), perm-flaky and perm-flaky-shard
// (StreamBatches fails with UNAVAILABLE after 2 batches, on its first call only), perm-unavailable-2 (DescribePermutation fails with
// UNAVAILABLE twice, then succeeds), perm-firehose (StreamBatches sends batches of 10 rows without end, as
// fast as flow control lets it; DescribeTable "firehose-stats" tells how many it has written: num_rows
// messages, num_bytes bytes with their gRPC prefixes).
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const here = path.dirname(fileURLToPath(import.meta.url));
const protoDir = path.resolve(here, '../../proto');
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));

const def = protoLoader.loadSync(['tablecar/v1/tablecar.proto', 'grpc/health/v1/health.proto'], {
  includeDirs: [protoDir], keepCase: true, longs: Number, enums: Number, defaults: true, oneofs: true,
});
const pkg = grpc.loadPackageDefinition(def);
const T = {
  INT64: 5, FLOAT32: 11, UTF8: 13, FIXED_SIZE_BINARY: 17, FIXED_SIZE_LIST: 23,
};

// ---- canned tables ----

function i64(values) {
  const b = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => b.writeBigInt64LE(BigInt(v), 8 * i));
  return b;
}
function f32(values) {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeFloatLE(v, 4 * i));
  return b;
}
function validity(values) {
  const b = Buffer.alloc(Math.ceil(values.length / 8));
  values.forEach((v, i) => { if (v !== null) b[i >> 3] |= 1 << (i & 7); });
  return b;
}

const BIG = 64 << 20;
let bigBlob = null;
function bigValues() {
  if (!bigBlob) {
    bigBlob = Buffer.allocUnsafe(BIG);
    for (let i = 0; i < BIG; i++) bigBlob[i] = (i * 7 + 3) & 255;
  }
  return bigBlob;
}

const tables = {
  people: {
    version: 'v1', numRows: 3, files: ['people.arrow'], numBytes: 1234,
    metadata: [{ key: 'origin', value: 'test' }],
    fields: [
      { name: 'id', type: { id: T.INT64 }, nullable: false, metadata: [{ key: 'unit', value: 'count' }] },
      { name: 'name', type: { id: T.UTF8 }, nullable: true },
      { name: 'vec', type: { id: T.FIXED_SIZE_LIST, list_size: 2 }, nullable: false, shape: [2], element_type: T.FLOAT32,
        children: [{ name: 'item', type: { id: T.FLOAT32 }, nullable: false }] },
    ],
    columns: {
      id: (rows) => ({ length: rows.length, values: i64(rows.map((r) => 10 + r)) }),
      name: (rows) => {
        const vals = rows.map((r) => ['ann', 'bob', null][r]);
        const offs = Buffer.alloc(4 * (rows.length + 1));
        let o = 0;
        vals.forEach((v, i) => { o += v === null ? 0 : Buffer.byteLength(v); offs.writeInt32LE(o, 4 * (i + 1)); });
        const nulls = vals.filter((v) => v === null).length;
        return { length: rows.length, null_count: nulls, validity: nulls ? validity(vals) : Buffer.alloc(0), offsets: offs,
                 values: Buffer.from(vals.filter((v) => v !== null).join('')) };
      },
      vec: (rows) => ({ length: rows.length,
                        children: [{ length: 2 * rows.length, values: f32(rows.flatMap((r) => [2 * r + 1, 2 * r + 2])) }] }),
    },
  },
  numbers: {
    version: 'n1', numRows: 10, files: ['numbers/a.arrow', 'numbers/b.arrow'], numBytes: 80, metadata: [],
    fields: [{ name: 'x', type: { id: T.INT64 }, nullable: false }],
    columns: { x: (rows) => ({ length: rows.length, values: i64(rows.map((r) => 100 + r)) }) },
  },
  big: {
    version: 'b1', numRows: 1, files: ['big.arrow'], numBytes: BIG, metadata: [],
    fields: [{ name: 'blob', type: { id: T.FIXED_SIZE_BINARY, byte_width: BIG }, nullable: false }],
    columns: { blob: (rows) => ({ length: rows.length, values: rows.length ? bigValues() : Buffer.alloc(0) }) },
  },
};

function status(code, details) {
  return Object.assign(new Error(details), { code, details });
}

function findTable(name) {
  const t = tables[name];
  if (!t) throw status(grpc.status.NOT_FOUND, `no table "${name}" (ünknown, 100% sure)`);
  return t;
}

function makeBatch(name, rows, columns, extra = {}) {
  const t = findTable(name);
  const wanted = columns && columns.length ? columns : t.fields.map((f) => f.name);
  const fields = wanted.map((c) => {
    const f = t.fields.find((x) => x.name === c);
    if (!f) throw status(grpc.status.INVALID_ARGUMENT, `unknown column "${c}"`);
    return f;
  });
  return {
    table: name, version: t.version, num_rows: rows.length, row_ids: i64(rows), fields,
    columns: fields.map((f) => t.columns[f.name](rows)), ...extra,
  };
}

// ---- permutations ----

const perms = new Map();
const flakyCalls = new Map();
let unavailableCalls = 0;

function splitCounts(spec, n) {
  const s = spec.random || spec.sequential;
  if (spec.split === 'hash') return spec.hash.weights.map((w) => Math.floor((n * w) / spec.hash.weights.reduce((a, b) => a + b, 0)));
  if (!s) return [n];
  if (s.ratios.length) return s.ratios.map((r) => Math.floor(r * n));
  if (s.counts.length) return s.counts.map(Number);
  if (s.fixed) return Array.from({ length: s.fixed }, () => Math.floor(n / s.fixed));
  throw status(grpc.status.INVALID_ARGUMENT, 'empty split spec');
}

function createPermutation(spec, id) {
  const t = findTable(spec.table);
  const counts = splitCounts(spec, t.numRows);
  id = id || 'perm-' + crypto.createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 12);
  let next = 0;
  const splits = counts.map((c, i) => {
    const rows = Array.from({ length: c }, (_, k) => next + k);
    next += c;
    return { name: spec.split_names[i] ?? String(i), rows };
  });
  const p = { id, table: spec.table, table_version: t.version, num_rows: t.numRows, spec, splits };
  perms.set(id, p);
  return p;
}

function permInfo(p) {
  return { id: p.id, table: p.table, table_version: p.table_version, num_rows: p.num_rows,
           splits: p.splits.map((s) => ({ name: s.name, num_rows: s.rows.length })), spec: p.spec };
}

function findPerm(id) {
  const p = perms.get(id);
  if (!p) throw status(grpc.status.NOT_FOUND, `no permutation "${id}"`);
  return p;
}

function findSplit(p, name) {
  const s = p.splits.find((x) => x.name === name) || p.splits[Number.parseInt(name, 10)];
  if (!s) throw status(grpc.status.INVALID_ARGUMENT, `no split "${name}"`);
  return s;
}

const defaultSpec = (table) => ({ table, split_names: [], shuffle: null, split: undefined });
createPermutation(defaultSpec('numbers'), 'perm-slow');
createPermutation(defaultSpec('numbers'), 'perm-flaky');
createPermutation(defaultSpec('numbers'), 'perm-flaky-shard');
createPermutation(defaultSpec('numbers'), 'perm-unavailable-2');
createPermutation(defaultSpec('numbers'), 'perm-firehose');
const firehose = { messages: 0, bytes: 0 };

// ---- service ----

// perm-slow answers nothing until the client gives up (a fixed delay would be a race with the client's deadline).
const untilCancelled = (call) => new Promise((r) => (call.cancelled ? r() : call.once('cancelled', r)));

function unary(fn) {
  return async (call, cb) => {
    try {
      cb(null, await fn(call.request, call));
    } catch (e) {
      cb(e.code !== undefined ? e : status(grpc.status.INTERNAL, String(e)));
    }
  };
}

const service = {
  ListTables: unary(() => ({
    tables: Object.keys(tables).sort().map((n) => ({ name: n, num_rows: tables[n].numRows, version: tables[n].version,
                                                      num_bytes: tables[n].numBytes })),
  })),
  DescribeTable: unary((req) => {
    if (req.table === 'firehose-stats')
      return { name: req.table, num_rows: firehose.messages, num_bytes: firehose.bytes };
    const t = findTable(req.table);
    return { name: req.table, schema: { fields: t.fields, metadata: t.metadata }, num_rows: t.numRows,
             version: t.version, files: t.files, num_bytes: t.numBytes };
  }),
  TakeRows: unary((req) => {
    const t = findTable(req.table);
    if (req.version && req.version !== t.version)
      throw status(grpc.status.FAILED_PRECONDITION, `table "${req.table}" is at version ${t.version}`);
    for (const i of req.indices)
      if (i < 0 || i >= t.numRows) throw status(grpc.status.OUT_OF_RANGE, `row ${i} out of range`);
    return makeBatch(req.table, req.indices.map(Number), req.columns);
  }),
  CreatePermutation: unary((req) => permInfo(createPermutation(req))),
  DescribePermutation: unary((req) => {
    if (req.id === 'perm-unavailable-2' && unavailableCalls++ < 2)
      throw status(grpc.status.UNAVAILABLE, 'warming up');
    return permInfo(findPerm(req.id));
  }),
  ReadBatch: unary(async (req, call) => {
    const p = findPerm(req.permutation);
    if (p.id === 'perm-slow') {
      await untilCancelled(call);
      throw status(grpc.status.CANCELLED, 'cancelled');
    }
    const s = findSplit(p, req.split);
    if (req.batch_size < 1) throw status(grpc.status.INVALID_ARGUMENT, 'batch_size must be 1 or more');
    if (req.offset < 0 || req.offset >= s.rows.length)
      throw status(grpc.status.OUT_OF_RANGE, `offset ${req.offset} past the end of split "${s.name}"`);
    const rows = s.rows.slice(req.offset, req.offset + req.batch_size);
    return makeBatch(p.table, rows, req.columns, { offset: req.offset });
  }),
  StreamBatches: async (call) => {
    try {
      const req = call.request;
      const p = findPerm(req.permutation);
      const s = findSplit(p, req.split);
      const end = req.end || s.rows.length;
      const sc = req.shard_count > 1 ? req.shard_count : 1;
      const positions = [];
      for (let q = req.start; q < end; q++) if ((q - req.start) % sc === req.shard_index) positions.push(q);
      const calls = flakyCalls.get(p.id) || 0;
      flakyCalls.set(p.id, calls + 1);
      const flaky = p.id.startsWith('perm-flaky') && calls === 0;
      if (p.id === 'perm-firehose') {
        const serialize = pkg.tablecar.v1.Tablecar.service.StreamBatches.responseSerialize;
        const rows = s.rows.slice(0, 10);
        for (let k = 0; !call.cancelled; k++) {
          const msg = makeBatch(p.table, rows, req.columns, { offset: 10 * k });
          const ok = call.write(msg);
          firehose.messages++;
          firehose.bytes += 5 + serialize(msg).length;
          if (!ok) {
            await new Promise((r) => {
              const go = () => { call.off('drain', go); call.off('cancelled', go); r(); };
              call.once('drain', go);
              call.once('cancelled', go);
            });
          }
        }
        return;
      }
      let sent = 0;
      for (let k = 0; k < positions.length; k += req.batch_size) {
        if (flaky && sent === 2) throw status(grpc.status.UNAVAILABLE, 'flaky stream');
        if (p.id === 'perm-slow') await untilCancelled(call);
        if (call.cancelled) return;
        const pos = positions.slice(k, k + req.batch_size);
        const offset = sc > 1 ? k : pos[0];
        const ok = call.write(makeBatch(p.table, pos.map((q) => s.rows[q]), req.columns, { offset }));
        sent++;
        if (!ok) await new Promise((r) => call.once('drain', r));
      }
      call.end();
    } catch (e) {
      call.emit('error', e.code !== undefined ? e : status(grpc.status.INTERNAL, String(e)));
    }
  },
};

const health = {
  Check: unary((req) => {
    if (req.service === '' || req.service === 'tablecar.v1.Tablecar') return { status: 1 };
    throw status(grpc.status.NOT_FOUND, `unknown service "${req.service}"`);
  }),
  Watch: (call) => call.emit('error', status(grpc.status.UNIMPLEMENTED, 'Watch')),
};

// A well-formed TableInfo {name} with OK status, in headers, one message and trailers.
function okTableInfo(stream, name) {
  const n = Buffer.from(name);
  const msg = Buffer.concat([Buffer.from([0x0a, n.length]), n]);
  const prefix = Buffer.from([0, 0, 0, 0, msg.length]);
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(Buffer.concat([prefix, msg]));
}

// ---- raw HTTP/2 answers (node:http2), chosen by the DescribeTable request's table name ----

function rawServer(sock) {
  const srv = http2.createServer();
  let sessions = 0;
  srv.on('session', (session) => {
    session.serial = ++sessions;
    session.on('error', () => { /* a client that went away */ });
  });
  srv.on('stream', (stream, headers) => {
    stream.on('error', () => { /* a reset stream (the 'refused' case, or a client cancelling) */ });
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks).subarray(5);
      // DescribeTableRequest: field 1, a short string
      const name = body.length > 2 && body[0] === 0x0a ? body.subarray(2, 2 + body[1]).toString() : '';
      const grpcHead = { ':status': 200, 'content-type': 'application/grpc' };
      switch (name) {
        case 'trailers-only':
          stream.respond({ ...grpcHead, 'grpc-status': '5', 'grpc-message': 'gone%20fishing%3A%20%E2%9C%93%zz' },
                         { endStream: true });
          break;
        case 'http-503': stream.respond({ ':status': 503 }, { endStream: true }); break;
        case 'http-404': stream.respond({ ':status': 404, 'content-type': 'text/html' }); stream.end('<p>no</p>'); break;
        case 'not-grpc': stream.respond({ ':status': 200, 'content-type': 'text/plain' }); stream.end('hello'); break;
        case 'no-status': {
          stream.respond(grpcHead);
          stream.end(Buffer.from([0, 0, 0, 0, 0]));
          break;
        }
        case 'refused': stream.close(http2.constants.NGHTTP2_REFUSED_STREAM); break;
        case 'goaway-refuse': // the server is going away and will not process this stream
          stream.session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id - 2);
          setTimeout(() => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM), 10);
          break;
        case 'goaway': // going away, but this stream is processed: falls through to a normal answer
          stream.session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id);
          okTableInfo(stream, 'raw');
          break;
        case 'conn-id': okTableInfo(stream, `conn-${stream.session.serial}`); break;
        case 'two-messages': { // a unary response with a second message, and no end: fails at the second
          stream.respond(grpcHead);
          const m = Buffer.from([0, 0, 0, 0, 5, 0x0a, 3, 0x6f, 0x6e, 0x65]);
          stream.write(Buffer.concat([m, m]));
          break;
        }
        case 'compressed': {
          stream.respond(grpcHead, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(Buffer.from([1, 0, 0, 0, 1, 0]));
          break;
        }
        default: okTableInfo(stream, 'raw');
      }
    });
  });
  try { fs.unlinkSync(sock); } catch { /* not there */ }
  return new Promise((resolve) => srv.listen(sock, resolve));
}

// A peer that breaks HTTP/2 at the connection level once the client has said hello.
function badServer(sock) {
  const frame = (type, sid, payload) => {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h.writeUInt32BE(sid, 5);
    return Buffer.concat([h, payload]);
  };
  const srv = net.createServer((c) => {
    c.on('error', () => {});
    c.once('data', () => c.write(Buffer.concat([frame(4, 0, Buffer.alloc(0)), frame(8, 0, Buffer.alloc(4))])));
  });
  try { fs.unlinkSync(sock); } catch { /* not there */ }
  return new Promise((resolve) => srv.listen(sock, resolve));
}

// ---- main ----

async function main() {
  const sock = args.socket;
  if (!sock) throw new Error('usage: fake_server.mjs --socket PATH [--raw-socket PATH]');
  try { fs.unlinkSync(sock); } catch { /* a stale socket of a killed server */ }
  const server = new grpc.Server({ 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 });
  server.addService(pkg.tablecar.v1.Tablecar.service, service);
  server.addService(pkg.grpc.health.v1.Health.service, health);
  await new Promise((resolve, reject) =>
    server.bindAsync(`unix:${sock}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  if (args['raw-socket']) await rawServer(args['raw-socket']);
  if (args['bad-socket']) await badServer(args['bad-socket']);
  process.stdout.write('ready\n');
  const stop = () => server.tryShutdown(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
