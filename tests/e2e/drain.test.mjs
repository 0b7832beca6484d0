// drain.test.mjs: health Watch, SIGTERM drain (calls in flight finish, new ones are refused, the process
// exits 0 within --drain-seconds), and a slow reader that does not stall other clients.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import {
  checkExampleRows, decodeBatch, failure, grpc, mkExample, NOT_SERVING, opts, protos, rowIdsOf, SERVING, sleep,
  SLOW, startServer, Status, tmpdir, unary, withServer, within,
} from './harness.mjs';

const IMAGE = 3 * 32 * 32;  // bytes per row of the `big` tables here

// A data dir with `ex` (100 rows) and `big`: ROWS rows of a 3x32x32 image (3 KB a row).
function dataDir(rows) {
  const d = tmpdir();
  mkExample(path.join(d, 'ex.arrow'), { rows: 100, batchRows: 64 });
  mkExample(path.join(d, 'big.arrow'), { rows, batchRows: 256, extra: ['--image', '3x32x32'], cmd: 'big' });
  return d;
}

// Resolves with the next value of an async condition, polling; rejects after TIMEOUT_MS.
async function until(what, fn, timeoutMs = 30000 * SLOW) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// A health Watch that records every status and how it ended.
function watch(s) {
  const h = s.health();
  const w = { statuses: [], end: null };
  const call = h.Watch({ service: '' });
  call.on('data', (m) => w.statuses.push(m.status));
  w.done = new Promise((resolve) => {
    call.on('error', (e) => { w.end = { code: e.code, details: e.details }; resolve(); });
    call.on('end', () => { if (!w.end) w.end = { code: Status.OK }; resolve(); });
  });
  w.call = call;
  return w;
}

// A stream whose reading the test drives: `paused` until resume(); every message and the end recorded.
function startStream(client, req) {
  const st = { msgs: [], end: null };
  const call = client.StreamBatches(req);
  call.pause();
  call.on('data', (m) => st.msgs.push(m));
  st.done = new Promise((resolve) => {
    call.on('error', (e) => { st.end = { code: e.code, details: e.details, at: Date.now() }; resolve(); });
    call.on('end', () => { if (!st.end) st.end = { code: Status.OK, at: Date.now() }; resolve(); });
  });
  st.call = call;
  return st;
}

async function orderOf(c, id, n) {
  const b = await unary(c, 'ReadBatch', { permutation: id, split: '0', offset: '0', batch_size: String(n), columns: ['label'] });
  return rowIdsOf(b);
}

test('health Watch: SERVING, then NOT_SERVING on SIGTERM before the stream ends', opts(), async () => {
  const s = await startServer({ dataDir: dataDir(10) });
  try {
    const w = watch(s);
    const w2 = watch(s);
    await until('the first Watch status', () => w.statuses.length > 0 && w2.statuses.length > 0);
    assert.deepEqual(w.statuses, [SERVING]);
    // An unknown service is reported, not refused, by Watch.
    const other = await new Promise((resolve, reject) => {
      const call = s.health().Watch({ service: 'no.such.Service' });
      const got = [];
      call.on('data', (m) => got.push(m.status));
      call.on('error', reject);
      call.on('end', () => resolve(got));
    });
    assert.deepEqual(other, [3 /* SERVICE_UNKNOWN */]);
    await sleep(200);
    assert.deepEqual(w.statuses, [SERVING], 'no update while nothing changes');

    s.sigterm();
    await within(Promise.all([w.done, w2.done]), 20000 * SLOW, 'the Watch streams to end');
    for (const x of [w, w2]) {
      assert.deepEqual(x.statuses, [SERVING, NOT_SERVING]);
      assert.ok(x.end, 'the Watch stream ended');
      assert.notEqual(x.end.code, Status.OK, 'the Watch ends with a status, the server going away');
    }
    const e = await s.terminate();
    assert.deepEqual(e, { code: 0, signal: null }, s.tail());
  } finally {
    s.kill();
  }
});

test('SIGTERM drains: the stream in flight completes, new calls are refused, exit 0', opts(), async () => {
  const ROWS = 1500, BATCH = 10;
  const s = await startServer({ dataDir: dataDir(ROWS), args: ['--drain-seconds', '60'] });
  try {
    const c = s.client();
    const p = await unary(c, 'CreatePermutation', { table: 'big', shuffle: { seed: '77' } });
    const order = await orderOf(c, p.id, ROWS);
    const w = watch(s);
    await until('Watch SERVING', () => w.statuses.length > 0);

    // A slow reader: 3 batches, then nothing until after the signal.
    const st = startStream(c, { permutation: p.id, split: '0', batch_size: String(BATCH) });
    st.call.resume();
    await until('the first batches', () => st.msgs.length >= 3);
    st.call.pause();
    await sleep(300);
    assert.ok(st.msgs.length < ROWS / BATCH / 2, `flow control holds the server back (${st.msgs.length} batches sent)`);

    s.sigterm();
    await until('Watch NOT_SERVING', () => w.statuses.includes(NOT_SERVING));
    // New calls fail, on a new channel and on the one the stream is on.
    const fresh = new (protos().Tablecar)(s.address, grpc.credentials.createInsecure());
    const e1 = await failure(unary(fresh, 'ListTables', {}, 10000 * SLOW));
    assert.equal(e1.code, Status.UNAVAILABLE, e1.message);
    fresh.close();
    const e2 = await failure(unary(c, 'ReadBatch', { permutation: p.id, split: '0', batch_size: '1' }, 10000 * SLOW));
    assert.equal(e2.code, Status.UNAVAILABLE, e2.message);
    await sleep(500);
    assert.equal(s.exitInfo, null, 'the server waits for the stream in flight');
    assert.equal(st.end, null);

    // The reader resumes: every row arrives, in the permutation's order, with the right values.
    st.call.resume();
    await within(st.done, 60000 * SLOW, 'the stream to complete');
    assert.deepEqual(st.end && st.end.code, Status.OK, JSON.stringify(st.end));
    const ids = st.msgs.flatMap(rowIdsOf);
    assert.equal(ids.length, ROWS);
    assert.deepEqual(ids, order);
    st.msgs.forEach((m, k) => assert.equal(Number(m.offset), k * BATCH));
    for (const m of st.msgs) checkExampleRows(decodeBatch(m), undefined, undefined, IMAGE);

    const e = await s.terminate(60000 * SLOW);
    assert.deepEqual(e, { code: 0, signal: null }, s.tail());
    // Exited once the stream was done, not at --drain-seconds: no call had to be cancelled (a condition, not
    // a measured time, which depends on the machine's load).
    assert.match(s.log, /"event":"draining"/);
    assert.doesNotMatch(s.log, /drain_deadline/, 'no call had to be cancelled');
  } finally {
    s.kill();
  }
});

// grpc-js buffers every message of a call whose reading never started (no HTTP/2 flow control until the
// first read), so "never read" is a reader that takes the first batch and then stops for good: the server
// then has sent what the transport takes and waits.
test('SIGTERM with a stream no longer read: cancelled at --drain-seconds 1, exit 0', opts(), async () => {
  const ROWS = 3000;
  const s = await startServer({ dataDir: dataDir(ROWS), args: ['--drain-seconds', '1'] });
  try {
    const c = s.client();
    const p = await unary(c, 'CreatePermutation', { table: 'big' });
    const st = startStream(c, { permutation: p.id, split: '0', batch_size: '20' });
    st.call.once('data', () => st.call.pause());
    st.call.resume();
    await until('the first batch', () => st.msgs.length >= 1);
    await sleep(500);
    assert.ok(st.msgs.length < 10, `the stream is held back (${st.msgs.length} batches taken)`);
    assert.equal(st.end, null);
    const t0 = Date.now();
    s.sigterm();
    const e = await s.terminate(30000 * SLOW);
    const took = (Date.now() - t0) / 1000;
    assert.deepEqual(e, { code: 0, signal: null }, s.tail()); // exited (terminate() waits for that, or fails)
    assert.ok(took >= 0.9, `the server gave the call its second (${took}s)`); // never early, at any speed
    assert.match(s.log, /drain_deadline/);
    // The call did not complete: it ends with an error, short of its rows.
    st.call.resume();
    await within(st.done, 20000 * SLOW, 'the cancelled stream to end');
    assert.ok(st.end, 'the call ended');
    assert.notEqual(st.end.code, Status.OK, JSON.stringify(st.end));
    assert.ok(st.msgs.flatMap(rowIdsOf).length < ROWS);
  } finally {
    s.kill();
  }
});

test('a slow reader does not stall other clients', opts(), async () => {
  const ROWS = 3000, BATCH = 10;
  await withServer({ dataDir: dataDir(ROWS) }, async (s) => {
    const a = s.client(), b = s.client();  // two channels: two connections
    const p = await unary(a, 'CreatePermutation', { table: 'big', shuffle: { seed: '5' } });
    const small = await unary(b, 'CreatePermutation', { table: 'ex', shuffle: { seed: '6' } });
    const smallOrder = await orderOf(b, small.id, 100);

    // Client A: one batch every 50 ms until B's burst is over, and none past half the stream however long the
    // burst takes (so that A is still streaming at its end at any speed).
    let burstDone = false;
    const st = startStream(a, { permutation: p.id, split: '0', batch_size: String(BATCH) });
    const later = () => { if (burstDone || st.msgs.length < ROWS / BATCH / 2) st.call.resume(); else setTimeout(later, 50); };
    st.call.on('data', () => {
      if (burstDone) return;
      st.call.pause();
      setTimeout(later, 50);
    });
    st.call.resume();
    await until('A streaming', () => st.msgs.length >= 2);

    // Client B: a burst of 200 small ReadBatch calls at once.
    const res = await Promise.all(Array.from({ length: 200 }, (_, k) => unary(b, 'ReadBatch', {
      permutation: small.id, split: '0', offset: String(k % 100), batch_size: '3',
    }, 60000 * SLOW)));
    burstDone = true;
    assert.equal(st.end, null, 'A was still streaming during the whole burst');
    res.forEach((r, k) => {
      const off = k % 100;
      checkExampleRows(decodeBatch(r), smallOrder.slice(off, off + 3));
      assert.equal(Number(r.offset), off);
    });

    st.call.resume();
    await within(st.done, 120000 * SLOW, 'the slow stream to complete');
    assert.equal(st.end && st.end.code, Status.OK, JSON.stringify(st.end));
    assert.equal(st.msgs.flatMap(rowIdsOf).length, ROWS);
    assert.deepEqual(st.msgs.flatMap(rowIdsOf), await orderOf(b, p.id, ROWS));
  });
});
