// remote.test.mjs: --data-dir s3://BUCKET/PREFIX against a real S3 REST server (tests/peers/s3_store.mjs:
// SigV4 checked, ranges, paginated listings), fixtures uploaded with boto3. The same tables served from the
// store and from the local dir must be the same, row by row; changes, outages and bad credentials give the
// statuses the README promises; a second epoch fetches nothing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

import { failure, mkExample, opts, SLOW, SOURCE_DIR, startServer, Status, tmpdir, unary, withServer } from './harness.mjs';
import { awsEnv, s3SkipReason, SECRET, startStore, until, upload } from './s3.mjs';

const o = () => opts(s3SkipReason ? { skip: s3SkipReason } : {});
const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);

// The fixture data dir: the example tables (one file; a folder of a file and a stream) and every table of
// tests/peers/write_user_tables.mjs (polars and apache-arrow files, a Hugging Face DatasetDict and cache).
function fixtures() {
  const d = path.join(tmpdir(), 'data');
  mkExample(path.join(d, 'ex.arrow'), { rows: 100, batchRows: 16 });
  mkExample(path.join(d, 'frag/a.arrow'), { rows: 30, batchRows: 16 });
  mkExample(path.join(d, 'frag/b.arrow'), { rows: 20, batchRows: 7, extra: ['--stream'] });
  execFileSync(process.execPath, [path.join(SOURCE_DIR, 'tests/peers/write_user_tables.mjs'), d],
               { cwd: path.join(SOURCE_DIR, 'tests/peers'), stdio: ['ignore', 'ignore', 'inherit'] });
  return d;
}

const remoteArgs = (cache, extra = []) =>
  ['--remote-cache-dir', cache, '--remote-timeout-seconds', '3', '--rescan-seconds', '1', ...extra];

async function startRemote(store, url, cache, { extra = [], secret = SECRET, stateDir } = {}) {
  return startServer({ dataDir: url, stateDir, args: remoteArgs(cache, extra), env: awsEnv(store, { secret }) });
}

// Every row of TABLE (N rows), as the server sends them, without the version (a remote table's versions
// differ from the local one's: they come from other files).
async function rows(c, table, n) {
  const out = [];
  for (let i = 0; i < n; i += 37) {
    const b = await unary(c, 'TakeRows', { table, indices: range(i, Math.min(n, i + 37)) });
    delete b.version;
    out.push(b);
  }
  return out;
}

async function readEpoch(c, id, n, batch = 16) {
  for (let off = 0; off < n; off += batch)
    await unary(c, 'ReadBatch', { permutation: id, split: '0', offset: String(off), batch_size: String(batch) });
}

test('every fixture table served from S3 equals the same files served locally, row by row', o(), async () => {
  const data = fixtures();
  const store = await startStore(['--page-size', '3']); // many pages: continuation tokens with / + =
  upload(store, 'tc-data', 'datasets/v1', data);
  await withServer({ dataDir: data }, async (local) => {
    const remote = await startRemote(store, 's3://tc-data/datasets/v1', tmpdir());
    try {
      const lc = local.client(), rc = remote.client();
      const ll = await unary(lc, 'ListTables', {}), rl = await unary(rc, 'ListTables', {});
      const names = ll.tables.map((t) => t.name);
      assert.deepEqual(rl.tables.map((t) => t.name), names);
      for (const want of ['ex', 'frag', 'imdb/train', 'imdb/test', 'polars_file_zstd', 'arrowjs_stream'])
        assert.ok(names.includes(want), `${want} in ${names}`);
      assert.ok(names.some((n) => n.startsWith('cache/imdb_like/') && n.endsWith('/train')), names.join());
      for (const t of ll.tables) {
        const ld = await unary(lc, 'DescribeTable', { table: t.name });
        const rd = await unary(rc, 'DescribeTable', { table: t.name });
        assert.equal(rd.num_rows, ld.num_rows, t.name);
        assert.deepEqual(rd.schema, ld.schema, t.name);
        assert.deepEqual(rd.files, ld.files, t.name);
        assert.equal(rd.num_bytes, ld.num_bytes, t.name);
        assert.deepEqual(await rows(rc, t.name, Number(ld.num_rows)), await rows(lc, t.name, Number(ld.num_rows)), t.name);
      }
      // Tables that fail to load fail the same way.
      for (const bad of ['reject_polars_duration', 'reject_polars_decimal']) {
        const le = await failure(unary(lc, 'DescribeTable', { table: bad }));
        const re = await failure(unary(rc, 'DescribeTable', { table: bad }));
        assert.equal(re.code, le.code, `${bad}: ${re.message}`);
      }
      // A permutation gives the same order from both.
      const spec = { table: 'imdb/train', shuffle: { seed: '5' } };
      const lp = await unary(lc, 'CreatePermutation', spec), rp = await unary(rc, 'CreatePermutation', spec);
      const n = Number(lp.num_rows);
      const lb = await unary(lc, 'ReadBatch', { permutation: lp.id, split: '0', offset: '0', batch_size: String(n) });
      const rb = await unary(rc, 'ReadBatch', { permutation: rp.id, split: '0', offset: '0', batch_size: String(n) });
      assert.deepEqual(rb.row_ids, lb.row_ids);
      assert.ok(rb.row_ids.length > 0);
      assert.ok(!remote.log.includes(SECRET), 'the secret key is never logged');
    } finally {
      await remote.stop();
    }
  });
  await store.stop();
});

test('a second epoch, and a restart over the same cache, fetch no data; retries ride out 503 SlowDown', o(), async () => {
  const data = path.join(tmpdir(), 'data');
  mkExample(path.join(data, 'ex.arrow'), { rows: 200, batchRows: 16 });
  const store = await startStore();
  upload(store, 'tc-data', 'p', data);
  const cache = tmpdir();
  await store.admin('fail', 'status=503&count=3');
  let remote = await startRemote(store, 's3://tc-data/p', cache);
  const c = remote.client();
  const p = await unary(c, 'CreatePermutation', { table: 'ex', shuffle: { seed: '1' } });
  await readEpoch(c, p.id, 200);
  const first = await store.stats();
  assert.ok(first.get >= 1, JSON.stringify(first));
  await store.reset();
  await readEpoch(c, p.id, 200);
  assert.equal((await store.stats()).get, 0, 'second epoch: no GET');
  await remote.stop();
  await store.reset();
  remote = await startRemote(store, 's3://tc-data/p', cache);
  const c2 = remote.client();
  const p2 = await unary(c2, 'CreatePermutation', { table: 'ex', shuffle: { seed: '1' } });
  assert.equal(p2.id, p.id, 'same table version after a restart: same permutation');
  await readEpoch(c2, p2.id, 200);
  const after = await store.stats();
  assert.equal(after.get, 0, `after a restart: ${JSON.stringify(after)}`);
  assert.ok(after.list >= 1);
  await remote.stop();
  await store.stop();
});

test('a changed object: the old permutation fails with FAILED_PRECONDITION', o(), async () => {
  const data = path.join(tmpdir(), 'data');
  mkExample(path.join(data, 'ex.arrow'), { rows: 100, batchRows: 16 });
  const store = await startStore();
  upload(store, 'tc-data', 'p', data);
  // With a state dir a permutation outlives its table's version, to fail with FAILED_PRECONDITION.
  const remote = await startRemote(store, 's3://tc-data/p', tmpdir(), { stateDir: tmpdir() });
  try {
    const c = remote.client();
    const p = await unary(c, 'CreatePermutation', { table: 'ex', shuffle: { seed: '3' } });
    await readEpoch(c, p.id, 100);
    mkExample(path.join(data, 'ex.arrow'), { rows: 120, batchRows: 16 });
    upload(store, 'tc-data', 'p', data);
    const e = await until(async () => {
      try {
        await unary(c, 'ReadBatch', { permutation: p.id, split: '0', offset: '0', batch_size: '4' });
        return null;
      } catch (err) {
        return err;
      }
    }, 'the change to be noticed at a rescan');
    assert.equal(e.code, Status.FAILED_PRECONDITION, e.message);
    const d = await unary(c, 'DescribeTable', { table: 'ex' });
    assert.equal(d.num_rows, '120');
  } finally {
    await remote.stop();
  }
  await store.stop();
});

test('the store stopped: cached tables keep serving, unknown names get UNAVAILABLE, recovery after restart', o(), async () => {
  const data = path.join(tmpdir(), 'data');
  mkExample(path.join(data, 'ex.arrow'), { rows: 100, batchRows: 16 });
  const store = await startStore();
  upload(store, 'tc-data', 'p', data);
  const remote = await startRemote(store, 's3://tc-data/p', tmpdir());
  try {
    const c = remote.client();
    const p = await unary(c, 'CreatePermutation', { table: 'ex', shuffle: { seed: '9' } });
    await readEpoch(c, p.id, 48);
    await store.stop();  // mid-epoch
    await readEpoch(c, p.id, 100);
    const e = await failure(unary(c, 'DescribeTable', { table: 'later' }, 60000));
    assert.ok([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED].includes(e.code), `${e.code} ${e.message}`);
    assert.match(e.message, /tc-data/);
    assert.equal((await unary(c, 'ListTables', {})).tables.length, 1, 'cached tables are still listed');
    await store.start();
    mkExample(path.join(data, 'later.arrow'), { rows: 10, batchRows: 4 });
    upload(store, 'tc-data', 'p', data);
    const d = await until(() => unary(c, 'DescribeTable', { table: 'later' }), 'the store to be back');
    assert.equal(d.num_rows, '10');
    await readEpoch(c, p.id, 100);
  } finally {
    await remote.stop();
  }
  await store.stop();
});

test('wrong credentials: PERMISSION_DENIED naming the bucket, never the secret', o(), async () => {
  const data = path.join(tmpdir(), 'data');
  mkExample(path.join(data, 'ex.arrow'), { rows: 10, batchRows: 4 });
  const store = await startStore();
  upload(store, 'tc-data', 'p', data);
  const wrong = 'wrong-secret-never-shown-41';
  const remote = await startRemote(store, 's3://tc-data/p', tmpdir(), { secret: wrong });
  try {
    const c = remote.client();
    for (const call of [() => unary(c, 'ListTables', {}), () => unary(c, 'DescribeTable', { table: 'ex' })]) {
      const e = await failure(call());
      assert.equal(e.code, Status.PERMISSION_DENIED, e.message);
      assert.match(e.message, /s3:\/\/tc-data\/p/);
      assert.ok(!e.message.includes(wrong));
    }
    assert.ok((await store.stats()).denied >= 1);
    assert.ok(!remote.log.includes(wrong), 'the secret key is never logged');
  } finally {
    await remote.stop();
  }
  await store.stop();
});

test('an object listed but gone (404): NOT_FOUND naming it, the other tables serve', o(), async () => {
  const data = path.join(tmpdir(), 'data');
  mkExample(path.join(data, 'ex.arrow'), { rows: 10, batchRows: 4 });
  mkExample(path.join(data, 'gone.arrow'), { rows: 10, batchRows: 4 });
  const store = await startStore();
  upload(store, 'tc-data', 'p', data);
  await store.admin('hide', 'key=' + encodeURIComponent('tc-data/p/gone.arrow'));
  const remote = await startRemote(store, 's3://tc-data/p', tmpdir());
  try {
    const c = remote.client();
    const e = await failure(unary(c, 'DescribeTable', { table: 'gone' }));
    assert.equal(e.code, Status.NOT_FOUND, e.message);
    assert.match(e.message, /s3:\/\/tc-data\/p\/gone\.arrow/);
    assert.equal((await unary(c, 'DescribeTable', { table: 'ex' })).num_rows, '10');
  } finally {
    await remote.stop();
  }
  await store.stop();
});

test('temporary credentials: AWS_SESSION_TOKEN is sent and signed; without it, PERMISSION_DENIED', o(), async () => {
  const token = 'FwoGZXIvYXdzE/session+token==';
  const data = path.join(tmpdir(), 'data');
  mkExample(path.join(data, 'ex.arrow'), { rows: 10, batchRows: 4 });
  const store = await startStore([], { S3_SESSION_TOKEN: token });
  upload(store, 'tc-data', 'p', data, { token });
  const good = await startServer({ dataDir: 's3://tc-data/p', args: remoteArgs(tmpdir()),
                                   env: { ...awsEnv(store), AWS_SESSION_TOKEN: token } });
  try {
    assert.equal((await unary(good.client(), 'DescribeTable', { table: 'ex' })).num_rows, '10');
    assert.ok(!good.log.includes(token), 'the session token is never logged');
  } finally {
    await good.stop();
  }
  const without = await startRemote(store, 's3://tc-data/p', tmpdir());
  try {
    const e = await failure(unary(without.client(), 'ListTables', {}));
    assert.equal(e.code, Status.PERMISSION_DENIED, e.message);
  } finally {
    await without.stop();
  }
  await store.stop();
});

// A table of 40 batches of about 108 KB: its footer and the blocks' metadata are a small part of it.
const BIG = { rows: 20000, batchRows: 500 };
const batchOf = (row) => Math.floor(Number(row) / BIG.batchRows);

test('reads on demand: open fetches the footer and metadata, a row its batch only, a read prefetches what follows', o(), async () => {
  const data = path.join(tmpdir(), 'data');
  const file = mkExample(path.join(data, 'big.arrow'), BIG);
  const size = fs.statSync(file).size, nb = BIG.rows / BIG.batchRows;
  const store = await startStore();
  try {
    upload(store, 'tc-data', 'p', data);
    await withServer({ dataDir: data }, async (local) => {
      const remote = await startRemote(store, 's3://tc-data/p', tmpdir());
      try {
        const c = remote.client();
        assert.equal((await unary(c, 'DescribeTable', { table: 'big' })).num_rows, String(BIG.rows));
        const opened = await store.stats();
        const longest = Math.max(...opened.gets.map(([, a, b]) => b - a + 1));
        assert.ok(opened.get_bytes < size / 10, `open fetched ${opened.get_bytes} of ${size} bytes`);
        assert.ok(longest <= 65536, `open fetched no batch body (longest GET ${longest})`);
        assert.ok(opened.get <= nb + 3, `open: ${opened.get} GETs`);
        // One row: one GET, its batch's body (a 40th of the file, give or take).
        await store.reset();
        const one = await unary(c, 'TakeRows', { table: 'big', indices: [777] });
        let s = await store.stats();
        assert.equal(s.get, 1, JSON.stringify(s.gets));
        assert.ok(s.get_bytes > 65536 && s.get_bytes < (2 * size) / nb, `one batch: ${s.get_bytes} bytes`);
        delete one.version;
        const want = await unary(local.client(), 'TakeRows', { table: 'big', indices: [777] });
        delete want.version;
        assert.deepEqual(one, want);
        await store.reset();
        await unary(c, 'TakeRows', { table: 'big', indices: [778, 999] });
        assert.equal((await store.stats()).get, 0, 'the same batch again: no GET');
        // A read of 4 rows fetches the batches of the next 16 positions too (prefetch), each once.
        const spec = { table: 'big', shuffle: { seed: '7' } };
        const lp = await unary(local.client(), 'CreatePermutation', spec);
        const ahead = await unary(local.client(), 'ReadBatch', { permutation: lp.id, split: '0', offset: '0', batch_size: '20' });
        const ids = Array.from({ length: ahead.row_ids.length / 8 }, (_, i) => ahead.row_ids.readBigInt64LE(8 * i));
        const own = new Set(ids.slice(0, 4).map(batchOf)), all = new Set(ids.map(batchOf));
        own.delete(1), all.delete(1); // batch 1 is cached already
        assert.ok(all.size > own.size, `the next reads need other batches: ${ids}`);
        const rp = await unary(c, 'CreatePermutation', spec);
        await unary(c, 'ReadBatch', { permutation: rp.id, split: '0', offset: '0', batch_size: '4' });
        s = await until(async () => ((s = await store.stats()).get >= all.size ? s : null), 'the prefetches');
        assert.equal(s.get, all.size, `each batch fetched once: ${JSON.stringify(s.gets)}`);
      } finally {
        await remote.stop();
      }
    });
  } finally {
    await store.stop();
  }
});

test('the store stopped mid-epoch: a read of a batch not cached fails UNAVAILABLE/DEADLINE_EXCEEDED, then resumes', o(), async () => {
  const data = path.join(tmpdir(), 'data');
  mkExample(path.join(data, 'big.arrow'), BIG);
  const store = await startStore();
  try {
    upload(store, 'tc-data', 'p', data);
    await withServer({ dataDir: data }, async (local) => {
      const remote = await startRemote(store, 's3://tc-data/p', tmpdir());
      try {
        const c = remote.client(), spec = { table: 'big', shuffle: { seed: '11' } };
        const p = await unary(c, 'CreatePermutation', spec);
        const read = (off, n, ms) =>
          unary(c, 'ReadBatch', { permutation: p.id, split: '0', offset: String(off), batch_size: String(n) }, ms);
        await read(0, 1);
        await read(1, 1);
        await store.stop();
        let failed = null, pos = 2;
        for (; pos < BIG.rows && !failed; pos++) {
          try {
            await read(pos, 1, 60000 * SLOW);
          } catch (e) {
            failed = e;
          }
        }
        assert.ok(failed, 'some read needed a batch that was not fetched');
        assert.ok([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED].includes(failed.code), `${failed.code} ${failed.message}`);
        assert.match(failed.message, /tc-data/);
        await store.start();
        await until(() => read(pos - 1, 1), 'reads to resume');
        const lp = await unary(local.client(), 'CreatePermutation', spec);
        for (let off = 0; off < BIG.rows; off += 2500) {
          const q = { split: '0', offset: String(off), batch_size: '2500' };
          const got = await unary(c, 'ReadBatch', { permutation: p.id, ...q });
          const want = await unary(local.client(), 'ReadBatch', { permutation: lp.id, ...q });
          delete got.version, delete want.version;
          assert.deepEqual(got, want, `rows ${off}..`);
        }
      } finally {
        await remote.stop();
      }
    });
  } finally {
    await store.stop();
  }
});

test("a fetch gives up with its call's deadline, not the remote timeout, and the next read fetches it", o(), async () => {
  const data = path.join(tmpdir(), 'data');
  mkExample(path.join(data, 'big.arrow'), BIG);
  const store = await startStore();
  try {
    upload(store, 'tc-data', 'p', data);
    // An hour for the remote timeout and the rescans: only the call's own deadline can end the fetch.
    const remote = await startRemote(store, 's3://tc-data/p', tmpdir(),
                                     { extra: ['--remote-timeout-seconds', '3600', '--rescan-seconds', '3600'] });
    try {
      const c = remote.client(), last = BIG.rows - 1;
      assert.equal((await unary(c, 'TakeRows', { table: 'big', indices: [0] })).row_ids.length, 8);
      await store.admin('latency', 'ms=3600000');
      await store.reset();
      const e = await failure(unary(c, 'TakeRows', { table: 'big', indices: [last] }, 1000 * SLOW));
      assert.equal(e.code, Status.DEADLINE_EXCEEDED, e.message);
      assert.equal((await store.stats()).held, 1, 'one GET of the batch, held by the store');
      // The server ends the call itself at its deadline: had it waited for the fetch, the handler would hold
      // its thread (and the GET) for the hour.
      await until(() => /"call_failed".*TakeRows.*"status":4.*within the call's deadline/.test(remote.log),
                  "the server to end the call at its deadline");
      await store.stop(); // the held GET is gone; the store answers again
      await store.start();
      const b = await unary(c, 'TakeRows', { table: 'big', indices: [last] });
      assert.equal(b.row_ids.length, 8);
      assert.equal(b.row_ids.readBigInt64LE(0), BigInt(last));
    } finally {
      await remote.stop();
    }
  } finally {
    await store.stop();
  }
});

test('ListTables does not wait for a store that hangs: the last listing is served', o(), async () => {
  const data = path.join(tmpdir(), 'data');
  mkExample(path.join(data, 'ex.arrow'), { rows: 10, batchRows: 4 });
  const store = await startStore();
  try {
    upload(store, 'tc-data', 'p', data);
    // A listing may take 10 minutes: a ListTables that waited for the rescan's would hit its deadline.
    const remote = await startServer({ dataDir: 's3://tc-data/p', env: awsEnv(store),
                                       args: ['--remote-cache-dir', tmpdir(), '--remote-timeout-seconds', '600',
                                              '--rescan-seconds', '1'] });
    try {
      const c = remote.client();
      assert.deepEqual((await unary(c, 'ListTables', {})).tables.map((t) => t.name), ['ex']);
      await store.admin('latency', 'ms=600000');
      await store.reset();
      await until(async () => (await store.stats()).held >= 1, 'a rescan to be waiting for the store');
      assert.deepEqual((await unary(c, 'ListTables', {})).tables.map((t) => t.name), ['ex']);
      assert.equal((await unary(c, 'TakeRows', { table: 'ex', indices: [9] })).row_ids.length, 8);
    } finally {
      await store.stop(); // the held listing fails at once, and its retry gets an answer:
      await store.start(); // the rescan ends, so the server stops promptly
      await remote.stop();
    }
  } finally {
    await store.stop();
  }
});

test('large stream-format and compressed files read on demand equal the same files local', o(), async () => {
  const data = path.join(tmpdir(), 'data');
  mkExample(path.join(data, 'stream.arrow'), { ...BIG, extra: ['--stream'] });
  mkExample(path.join(data, 'zstd.arrow'), { ...BIG, extra: ['--codec', 'zstd'] });
  const store = await startStore();
  try {
    upload(store, 'tc-data', 'p', data);
    await withServer({ dataDir: data }, async (local) => {
      const remote = await startRemote(store, 's3://tc-data/p', tmpdir());
      try {
        const c = remote.client(), lc = local.client();
        for (const table of ['stream', 'zstd']) {
          const spec = { table, shuffle: { seed: '4' } };
          const p = await unary(c, 'CreatePermutation', spec), lp = await unary(lc, 'CreatePermutation', spec);
          for (let off = 0; off < BIG.rows; off += 4000) {
            const q = { split: '0', offset: String(off), batch_size: '4000' };
            const got = await unary(c, 'ReadBatch', { permutation: p.id, ...q });
            const want = await unary(lc, 'ReadBatch', { permutation: lp.id, ...q });
            delete got.version, delete want.version;
            assert.deepEqual(got, want, `${table} rows ${off}..`);
          }
        }
        const s = await store.stats();
        const sizes = ['stream.arrow', 'zstd.arrow'].map((f) => fs.statSync(path.join(data, f)).size);
        assert.ok(s.get_bytes <= sizes[0] + sizes[1], `no byte fetched twice: ${s.get_bytes} of ${sizes}`);
      } finally {
        await remote.stop();
      }
    });
  } finally {
    await store.stop();
  }
});

// The blobs' bytes on disk (what du counts: they are sparse) in the cache dir CACHE.
function blobsOnDisk(cache) {
  const dir = path.join(cache, 'blobs');
  let n = 0;
  for (const f of fs.readdirSync(dir))
    if (/^[0-9a-f]{32}$/.test(f)) n += fs.statSync(path.join(dir, f)).blocks * 512;
  return n;
}

// A TCP port free now, for --metrics-listen.
const freePort = () => new Promise((resolve, reject) => {
  const srv = net.createServer().listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  srv.on('error', reject);
});

// The value of the sample NAME (no labels) in the Prometheus text at PORT.
async function metric(port, name) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

// 10 batches of about 430 KB.
const FEW = { rows: 20000, batchRows: 2000 };

test('a table 4 times larger than --remote-cache-bytes: every epoch equals local, the cache stays within budget', o(), async () => {
  const data = path.join(tmpdir(), 'data');
  const file = mkExample(path.join(data, 'big.arrow'), FEW);
  const size = fs.statSync(file).size, nb = FEW.rows / FEW.batchRows, budget = 1 << 20;
  assert.ok(size > 4 * budget, `${size} bytes`);
  // The budget counts fetched bytes; on disk a fetched piece (a batch body, a block's metadata, the footer)
  // can take a filesystem block more at each edge (st_blksize: 4 KiB here).
  const cache = tmpdir();
  const blk = fs.statSync(cache).blksize || 4096, slack = (2 * nb + 2) * 2 * blk;
  const store = await startStore();
  try {
    upload(store, 'tc-data', 'p', data);
    await withServer({ dataDir: data }, async (local) => {
      const lc = local.client(), spec = { table: 'big', shuffle: { seed: '21' } };
      const lp = await unary(lc, 'CreatePermutation', spec);
      const epoch = async (c, what) => {
        const p = await unary(c, 'CreatePermutation', spec);
        for (let off = 0; off < FEW.rows; off += 5000) {
          const q = { split: '0', offset: String(off), batch_size: '5000' };
          const got = await unary(c, 'ReadBatch', { permutation: p.id, ...q });
          const want = await unary(lc, 'ReadBatch', { permutation: lp.id, ...q });
          delete got.version, delete want.version;
          assert.deepEqual(got, want, `${what}: rows ${off}..`);
        }
      };
      // After a read the cache is trimmed at the next fetch or sync (--rescan-seconds 1), not at once:
      // a read leases every batch it touches, here all of them.
      const withinBudget = (what) =>
        until(() => blobsOnDisk(cache) <= budget + slack, `${what}: blobs on disk ${blobsOnDisk(cache)} <= ${budget} + ${slack}`);
      const port = await freePort();
      let remote = await startRemote(store, 's3://tc-data/p', cache,
                                     { extra: ['--remote-cache-bytes', String(budget), '--metrics-listen', `127.0.0.1:${port}`] });
      try {
        const c = remote.client();
        await epoch(c, 'epoch 1');
        await withinBudget('epoch 1');
        await store.reset();
        await epoch(c, 'epoch 2');
        const s = await store.stats();
        assert.ok(s.get > 0, 'epoch 2 fetched again what was dropped');
        await withinBudget('epoch 2');
        assert.ok(await metric(port, 'tablecar_remote_evicted_bytes_total') >= size - budget);
        await until(async () => (await metric(port, 'tablecar_remote_cache_bytes')) <= budget, 'the metric within budget');
        const tl = await rows(lc, 'big', FEW.rows), tr = await rows(c, 'big', FEW.rows);
        assert.equal(tr.length, tl.length);
        for (let i = 0; i < tl.length; i++) assert.deepEqual(tr[i], tl[i], `TakeRows, call ${i}`);
        await withinBudget('TakeRows');
      } finally {
        await remote.stop();
      }
      // A restart over the same cache: what the log lists is trusted, what was dropped is fetched again.
      await store.reset();
      remote = await startRemote(store, 's3://tc-data/p', cache, { extra: ['--remote-cache-bytes', String(budget)] });
      try {
        await epoch(remote.client(), 'after a restart');
        assert.ok((await store.stats()).get > 0);
        await withinBudget('after a restart');
      } finally {
        await remote.stop();
      }
    });
  } finally {
    await store.stop();
  }
});
