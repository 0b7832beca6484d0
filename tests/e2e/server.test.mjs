// server.test.mjs: every RPC of tablecar.v1 against the real server, through @grpc/grpc-js, with values
// checked against the rules of tests/support/fixtures.h (recomputed here, never read back).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import {
  assertArrayEq, checkExampleRows, decodeBatch, EXAMPLE_COLUMNS, expected, failure, hashSplitOfCaption,
  hashSplitOfLabel, mkExample, mkExampleByRename, opts, readSplit, rowIdsOf, sleep, startServer, Status, stream,
  SLOW, tmpdir, TYPE, unary, withServer, SERVING,
} from './harness.mjs';

const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
const sorted = (v) => [...v].sort((a, b) => a - b);

// The standard data dir: `ex` (100 rows in batches of 64 and 36), the directory table `frag` (fragments of
// 30 rows, batches of 16, and 20 rows, batches of 7), and `meta`, written by apache-arrow with metadata.
async function standardDataDir() {
  const d = tmpdir();
  mkExample(path.join(d, 'ex.arrow'), { rows: 100, batchRows: 64 });
  mkExample(path.join(d, 'frag/a.arrow'), { rows: 30, batchRows: 16 });
  mkExample(path.join(d, 'frag/b.arrow'), { rows: 20, batchRows: 7, extra: ['--stream'] });
  await writeMetaTable(path.join(d, 'meta.arrow'));
  return d;
}

// The example value of global row G of `frag` (fragment a: rows 0..29, fragment b: rows 30..49).
const fragLocal = (g) => (g < 30 ? g : g - 30);

// A small table with schema and field metadata (in a deliberate, unsorted order), by apache-arrow.
async function writeMetaTable(file) {
  const { createRequire } = await import('node:module');
  const { SOURCE_DIR } = await import('./harness.mjs');
  const A = createRequire(path.join(SOURCE_DIR, 'tests/peers/package.json'))('apache-arrow');
  const fields = [
    new A.Field('x', new A.Int32(), false, new Map([['unit', 'cm'], ['desc', 'the x']])),
    new A.Field('s', new A.Utf8(), true),
  ];
  const schema = new A.Schema(fields, new Map([['zeta', '1'], ['alpha', '{"a": [1, 2]}'], ['m', '']]));
  const batch = new A.RecordBatch(schema, A.makeData({
    type: new A.Struct(fields), length: 3, nullCount: 0,
    children: [A.makeVector(Int32Array.from([7, 8, 9])).data[0], A.vectorFromArray(['a', null, 'ccc'], new A.Utf8()).data[0]],
  }));
  fs.writeFileSync(file, A.tableToIPC(new A.Table(schema, [batch]), 'file'));
}

test('ListTables and DescribeTable', opts(), async () => {
  const dataDir = await standardDataDir();
  await withServer({ dataDir }, async (s) => {
    const c = s.client();
    const list = await unary(c, 'ListTables', {});
    assert.deepEqual(list.tables.map((t) => t.name), ['ex', 'frag', 'meta']);
    assert.deepEqual(list.tables.map((t) => t.num_rows), ['100', '50', '3']);
    for (const t of list.tables) {
      assert.match(t.version, /^[0-9a-f]{32}$/);
      assert.equal(t.schema, null, 'ListTables does not set schema');
      assert.deepEqual(t.files, []);
    }

    const ex = await unary(c, 'DescribeTable', { table: 'ex' });
    assert.equal(ex.name, 'ex');
    assert.equal(ex.num_rows, '100');
    assert.equal(ex.version, list.tables[0].version);
    assert.deepEqual(ex.files, ['ex.arrow']);
    assert.equal(Number(ex.num_bytes), fs.statSync(path.join(dataDir, 'ex.arrow')).size);
    const f = ex.schema.fields;
    assert.deepEqual(f.map((x) => x.name), EXAMPLE_COLUMNS);
    assert.deepEqual(f.map((x) => x.type.id), [TYPE.FIXED_SIZE_LIST, TYPE.INT64, TYPE.UTF8, TYPE.FLOAT32]);
    assert.deepEqual(f.map((x) => x.nullable), [false, false, true, false]);
    // image: fixed_size_list<fixed_size_list<fixed_size_list<uint8, 8>, 8>, 3>
    const img = f[0];
    assert.deepEqual(img.shape, ['3', '8', '8']);
    assert.equal(img.element_type, TYPE.UINT8);
    assert.equal(img.dictionary_encoded, false);
    let node = img;
    for (const size of [3, 8, 8]) {
      assert.equal(node.type.id, TYPE.FIXED_SIZE_LIST);
      assert.equal(node.type.list_size, size);
      assert.equal(node.children.length, 1);
      node = node.children[0];
    }
    assert.equal(node.type.id, TYPE.UINT8);
    assert.deepEqual(node.children, []);
    for (const x of f.slice(1)) {
      assert.deepEqual(x.shape, []);
      assert.equal(x.element_type, 0);
      assert.deepEqual(x.children, []);
    }
    assert.deepEqual(ex.schema.metadata, []);

    const frag = await unary(c, 'DescribeTable', { table: 'frag' });
    assert.equal(frag.num_rows, '50');
    assert.deepEqual(frag.files, ['frag/a.arrow', 'frag/b.arrow']);
    assert.equal(Number(frag.num_bytes),
                 ['a', 'b'].reduce((n, x) => n + fs.statSync(path.join(dataDir, `frag/${x}.arrow`)).size, 0));

    const meta = await unary(c, 'DescribeTable', { table: 'meta' });
    assert.deepEqual(meta.schema.metadata.map((kv) => [kv.key, kv.value]),
                     [['zeta', '1'], ['alpha', '{"a": [1, 2]}'], ['m', '']]);
    assert.deepEqual(meta.schema.fields.map((x) => [x.name, x.type.id, x.nullable]),
                     [['x', 4, false], ['s', TYPE.UTF8, true]]);
    assert.deepEqual(meta.schema.fields[0].metadata.map((kv) => [kv.key, kv.value]),
                     [['unit', 'cm'], ['desc', 'the x']]);
    assert.deepEqual(meta.schema.fields[1].metadata, []);
    const mb = await unary(c, 'TakeRows', { table: 'meta', indices: [2, 0, 1] });
    assert.deepEqual([0, 1, 2].map((i) => mb.columns[0].values.readInt32LE(4 * i)), [9, 7, 8]);
  });
});

test('TakeRows: values, column selection, duplicates, any order, version pin, fragments', opts(), async () => {
  const dataDir = await standardDataDir();
  await withServer({ dataDir }, async (s) => {
    const c = s.client();
    const info = await unary(c, 'DescribeTable', { table: 'ex' });
    const idx = [99, 0, 3, 3, 64, 63, 10, 17, 3, 98, 1];  // both batches, nulls (3, 10, 17), duplicates
    const b = await unary(c, 'TakeRows', { table: 'ex', indices: idx });
    assert.equal(b.table, 'ex');
    assert.equal(b.version, info.version);
    assert.equal(b.num_rows, String(idx.length));
    const d = decodeBatch(b);
    checkExampleRows(d, idx);
    assert.deepEqual(d.cols.caption.slice(0, 4), ['row 99', 'row 0', null, null]);
    const cap = b.columns[2];
    assert.equal(cap.null_count, String(idx.filter((i) => i % 7 === 3).length));
    assert.equal(cap.validity.length, Math.ceil(idx.length / 8));
    assert.equal(b.columns[1].null_count, '0');
    assert.equal(b.columns[1].validity.length, 0, 'no validity bitmap without nulls');

    // Every row, in reverse.
    const all = range(0, 100).reverse();
    checkExampleRows(decodeBatch(await unary(c, 'TakeRows', { table: 'ex', indices: all })), all);

    // Column selection, in the order asked.
    const sel = await unary(c, 'TakeRows', { table: 'ex', indices: [5, 3, 5], columns: ['score', 'caption'] });
    checkExampleRows(decodeBatch(sel), [5, 3, 5], ['score', 'caption']);
    const one = await unary(c, 'TakeRows', { table: 'ex', indices: [42], columns: ['image'] });
    checkExampleRows(decodeBatch(one), [42], ['image']);

    // No rows.
    const none = await unary(c, 'TakeRows', { table: 'ex', indices: [], columns: ['label'] });
    assert.equal(none.num_rows, '0');
    assert.equal(none.columns.length, 1);

    // Pinned version: the current one works, another one fails.
    await unary(c, 'TakeRows', { table: 'ex', indices: [1], version: info.version });
    const e = await failure(unary(c, 'TakeRows', { table: 'ex', indices: [1], version: '0'.repeat(32) }));
    assert.equal(e.code, Status.FAILED_PRECONDITION, e.message);

    // The directory table: global row ids over its fragments in file-name order.
    const g = [49, 0, 29, 30, 31, 36, 44, 15, 16];
    const fb = decodeBatch(await unary(c, 'TakeRows', { table: 'frag', indices: g }));
    assert.deepEqual(fb.rowIds, g);
    checkExampleRows({ ...fb, rowIds: g.map(fragLocal) }, g.map(fragLocal));
  });
});

test('CreatePermutation, DescribePermutation and ReadBatch', opts(), async () => {
  const dataDir = await standardDataDir();
  await withServer({ dataDir }, async (s) => {
    const c = s.client();
    const tinfo = await unary(c, 'DescribeTable', { table: 'ex' });

    // No spec: one split "0", table order.
    const plain = await unary(c, 'CreatePermutation', { table: 'ex' });
    assert.match(plain.id, /^[0-9a-f]{32}$/);
    assert.equal(plain.table, 'ex');
    assert.equal(plain.table_version, tinfo.version);
    assert.equal(plain.num_rows, '100');
    assert.deepEqual(plain.splits.map((x) => [x.name, x.num_rows]), [['0', '100']]);
    assert.deepEqual(await readSplit(c, plain.id, '0', 100, 9), range(0, 100));

    // Shuffle: a permutation of every row; same spec -> same id and order; another seed -> another order.
    const spec42 = { table: 'ex', shuffle: { seed: '42' } };
    const p42 = await unary(c, 'CreatePermutation', spec42);
    const o42 = await readSplit(c, p42.id, '0', 100, 7);
    assert.deepEqual(sorted(o42), range(0, 100));
    assert.notDeepEqual(o42, range(0, 100));
    const again = await unary(c, 'CreatePermutation', spec42);
    assert.equal(again.id, p42.id);
    assert.deepEqual(await readSplit(c, again.id, '0', 100, 100), o42);
    const p43 = await unary(c, 'CreatePermutation', { table: 'ex', shuffle: { seed: '43' } });
    assert.notEqual(p43.id, p42.id);
    const o43 = await readSplit(c, p43.id, '0', 100, 11);
    assert.deepEqual(sorted(o43), range(0, 100));
    assert.notDeepEqual(o43, o42);
    // A seed beyond 2^53 goes through as a uint64.
    const big = await unary(c, 'CreatePermutation', { table: 'ex', shuffle: { seed: '18446744073709551615' } });
    assert.equal(big.spec.shuffle.seed, '18446744073709551615');

    // DescribePermutation gives the same info, with the spec echoed.
    const d42 = await unary(c, 'DescribePermutation', { id: p42.id });
    assert.deepEqual(d42, p42);
    assert.equal(d42.spec.table, 'ex');
    assert.equal(d42.spec.shuffle.seed, '42');

    // Clumps of 10: the order is made of whole runs [10k, 10k + 10), shuffled.
    const pc = await unary(c, 'CreatePermutation', { table: 'ex', shuffle: { seed: '7', clump_size: '10' } });
    const oc = await readSplit(c, pc.id, '0', 100, 13);
    assert.deepEqual(sorted(oc), range(0, 100));
    const starts = [];
    for (let k = 0; k < 10; k++) {
      const run = oc.slice(10 * k, 10 * k + 10);
      assert.equal(run[0] % 10, 0, `clump ${k} starts at ${run[0]}`);
      assert.deepEqual(run, range(run[0], run[0] + 10));
      starts.push(run[0]);
    }
    assert.notDeepEqual(starts, range(0, 10).map((x) => 10 * x), 'the clumps are shuffled');

    // ReadBatch: offsets, the last partial batch, columns; row ids follow the permutation's order.
    const b0 = await unary(c, 'ReadBatch', { permutation: p42.id, split: '0', offset: '0', batch_size: '30' });
    assert.equal(b0.offset, '0');
    assert.equal(b0.num_rows, '30');
    assert.equal(b0.version, tinfo.version);
    checkExampleRows(decodeBatch(b0), o42.slice(0, 30));
    const b3 = await unary(c, 'ReadBatch', { permutation: p42.id, split: '0', offset: '90', batch_size: '30' });
    assert.equal(b3.offset, '90');
    assert.equal(b3.num_rows, '10');
    checkExampleRows(decodeBatch(b3), o42.slice(90));
    const bc = await unary(c, 'ReadBatch', {
      permutation: p42.id, split: '0', offset: '37', batch_size: '5', columns: ['caption', 'label'],
    });
    checkExampleRows(decodeBatch(bc), o42.slice(37, 42), ['caption', 'label']);
    const last = await unary(c, 'ReadBatch', { permutation: p42.id, split: '0', offset: '99', batch_size: '1000' });
    checkExampleRows(decodeBatch(last), o42.slice(99));
  });
});

test('split specs: random, sequential, hash, names', opts(), async () => {
  const dataDir = await standardDataDir();
  await withServer({ dataDir }, async (s) => {
    const c = s.client();
    const splitsOf = async (p) => {
      const out = [];
      for (const sp of p.splits) out.push(await readSplit(c, p.id, sp.name, Number(sp.num_rows), 8));
      return out;
    };
    const disjoint = (parts) => {
      const all = parts.flat();
      assert.equal(new Set(all).size, all.length, 'splits are disjoint');
      for (const x of all) assert.ok(x >= 0 && x < 100);
    };

    // Random ratios, named.
    const r = await unary(c, 'CreatePermutation', {
      table: 'ex', shuffle: { seed: '1' }, random: { ratios: [0.5, 0.3], seed: '5' }, split_names: ['train', 'val'],
    });
    assert.deepEqual(r.splits.map((x) => [x.name, x.num_rows]), [['train', '50'], ['val', '30']]);
    const [train, val] = await splitsOf(r);
    disjoint([train, val]);
    // By name or by index: the same rows.
    assert.deepEqual(await readSplit(c, r.id, '1', 30, 30), val);
    assert.deepEqual(await readSplit(c, r.id, '0', 50, 50), train);
    // Another split seed: other members.
    const r2 = await unary(c, 'CreatePermutation', {
      table: 'ex', shuffle: { seed: '1' }, random: { ratios: [0.5, 0.3], seed: '6' }, split_names: ['train', 'val'],
    });
    assert.notEqual(r2.id, r.id);
    const [train2] = await splitsOf(r2);
    assert.notDeepEqual(sorted(train2), sorted(train));
    // Ratios summing to 1 cover every row.
    const r3 = await unary(c, 'CreatePermutation', { table: 'ex', random: { ratios: [0.33, 0.33, 0.34], seed: '2' } });
    assert.deepEqual(r3.splits.map((x) => [x.name, x.num_rows]), [['0', '33'], ['1', '33'], ['2', '34']]);
    const p3 = await splitsOf(r3);
    disjoint(p3);
    assert.deepEqual(sorted(p3.flat()), range(0, 100));
    // Without a shuffle each split keeps table order.
    for (const part of p3) assert.deepEqual(part, sorted(part));

    // Random counts and fixed.
    const rc = await unary(c, 'CreatePermutation', { table: 'ex', random: { counts: ['10', '20'], seed: '3' } });
    assert.deepEqual(rc.splits.map((x) => x.num_rows), ['10', '20']);
    disjoint(await splitsOf(rc));
    const rf = await unary(c, 'CreatePermutation', { table: 'ex', shuffle: { seed: '4' }, random: { fixed: 4, seed: '4' } });
    assert.deepEqual(rf.splits.map((x) => [x.name, x.num_rows]), [['0', '25'], ['1', '25'], ['2', '25'], ['3', '25']]);
    const pf = await splitsOf(rf);
    disjoint(pf);
    assert.deepEqual(sorted(pf.flat()), range(0, 100));

    // Sequential: consecutive runs of the table; a shuffle reorders within them.
    const sq = await unary(c, 'CreatePermutation', { table: 'ex', sequential: { ratios: [0.6, 0.4] } });
    assert.deepEqual(await splitsOf(sq), [range(0, 60), range(60, 100)]);
    const sqc = await unary(c, 'CreatePermutation', {
      table: 'ex', shuffle: { seed: '9' }, sequential: { counts: ['30', '30'] }, split_names: ['a', 'b'],
    });
    const [sa, sb] = await splitsOf(sqc);
    assert.deepEqual(sorted(sa), range(0, 30));
    assert.deepEqual(sorted(sb), range(30, 60));
    assert.notDeepEqual(sa, range(0, 30));
    const sf = await unary(c, 'CreatePermutation', { table: 'ex', sequential: { fixed: 3 } });
    assert.deepEqual(await splitsOf(sf), [range(0, 34), range(34, 67), range(67, 100)]);

    // Hash: each row's split is the protocol's hash rule, recomputed here.
    for (const [cols, weights, rule] of [[['label'], [3, 1], hashSplitOfLabel], [['caption'], [2, 1, 1], hashSplitOfCaption]]) {
      const h = await unary(c, 'CreatePermutation', { table: 'ex', hash: { columns: cols, weights: weights.map(String) } });
      const parts = await splitsOf(h);
      assert.equal(parts.length, weights.length);
      const want = weights.map((_, k) => range(0, 100).filter((i) => rule(i, weights) === k));
      assert.deepEqual(parts, want, `hash split over ${cols}`);
      assert.ok(want.every((p) => p.length > 0), 'every split gets rows (test sanity)');
    }
  });
});

test('StreamBatches: shards, start/end, batch_size, same order as ReadBatch', opts(), async () => {
  const dataDir = await standardDataDir();
  await withServer({ dataDir }, async (s) => {
    const c = s.client();
    const p = await unary(c, 'CreatePermutation', {
      table: 'ex', shuffle: { seed: '11' }, random: { ratios: [0.8, 0.2], seed: '12' }, split_names: ['train', 'test'],
    });
    const order = await readSplit(c, p.id, 'train', 80, 6);
    assert.equal(order.length, 80);

    // The whole split in one stream: same order as ReadBatch, offsets of consecutive batches.
    const msgs = await stream(c, { permutation: p.id, split: 'train', batch_size: '16' });
    assert.deepEqual(msgs.map((m) => m.num_rows), ['16', '16', '16', '16', '16']);
    assert.deepEqual(msgs.map((m) => m.offset), ['0', '16', '32', '48', '64']);
    const streamed = msgs.flatMap(rowIdsOf);
    assert.deepEqual(streamed, order);
    for (const m of msgs) checkExampleRows(decodeBatch(m), undefined);

    // Last partial batch, columns.
    const m7 = await stream(c, { permutation: p.id, split: 'train', batch_size: '7', columns: ['label', 'image'] });
    assert.deepEqual(m7.map((m) => Number(m.num_rows)), [7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3]);
    assert.deepEqual(m7.flatMap(rowIdsOf), order);
    for (const m of m7) checkExampleRows(decodeBatch(m), undefined, ['label', 'image']);

    // Shards of [start, end): disjoint, covering, each in split order (DistributedSampler's rule).
    for (const [start, end] of [[0, 0], [5, 77], [3, 4]]) {
      const stop = end || 80;
      for (const count of [2, 3]) {
        const got = [];
        for (let k = 0; k < count; k++) {
          const ms = await stream(c, {
            permutation: p.id, split: 'train', start: String(start), end: String(end), batch_size: '5',
            shard_index: k, shard_count: count,
          });
          const ids = ms.flatMap(rowIdsOf);
          const want = order.filter((_, pos) => pos >= start && pos < stop && (pos - start) % count === k);
          assert.deepEqual(ids, want, `shard ${k}/${count} of [${start}, ${end})`);
          let off = 0;
          for (const m of ms) {
            assert.equal(Number(m.offset), off, 'offsets count in the shard\'s own sequence');
            assert.ok(Number(m.num_rows) <= 5 && Number(m.num_rows) > 0);
            off += Number(m.num_rows);
          }
          got.push(...ids);
        }
        assert.equal(new Set(got).size, got.length, 'shards are disjoint');
        assert.deepEqual(sorted(got), sorted(order.slice(start, stop)), 'shards cover the range');
      }
    }

    // The test split and an empty range.
    const t = await stream(c, { permutation: p.id, split: 'test', batch_size: '100' });
    assert.deepEqual(t.flatMap(rowIdsOf), await readSplit(c, p.id, 'test', 20, 20));
    const empty = await stream(c, { permutation: p.id, split: 'train', start: '10', end: '10', batch_size: '4' });
    assert.equal(empty.length, 0);
  });
});

test('permutations survive a restart with --state-dir; a changed table fails them', opts(), async () => {
  const dataDir = tmpdir();
  const stateDir = tmpdir();
  const file = path.join(dataDir, 'ex.arrow');
  mkExample(file, { rows: 100, batchRows: 64 });
  const spec = {
    table: 'ex', shuffle: { seed: '21', clump_size: '3' }, random: { ratios: [0.7, 0.3], seed: '22' },
    split_names: ['train', 'val'],
  };
  let info, train, trainBatch;
  await withServer({ dataDir, stateDir }, async (s) => {
    const c = s.client();
    info = await unary(c, 'CreatePermutation', spec);
    train = await readSplit(c, info.id, 'train', 70, 10);
    trainBatch = await unary(c, 'ReadBatch', { permutation: info.id, split: 'train', offset: '5', batch_size: '20' });
  });
  assert.ok(fs.readdirSync(path.join(stateDir, 'permutations')).includes(info.id), 'the permutation was saved');

  await withServer({ dataDir, stateDir, args: ['--rescan-seconds', '0.2'] }, async (s) => {
    const c = s.client();
    // By the old id, before anything else: the same permutation and the same rows.
    assert.deepEqual(await unary(c, 'DescribePermutation', { id: info.id }), info);
    const b = await unary(c, 'ReadBatch', { permutation: info.id, split: 'train', offset: '5', batch_size: '20' });
    assert.deepEqual(b, trainBatch);
    checkExampleRows(decodeBatch(b), train.slice(5, 25));
    assert.deepEqual(await readSplit(c, info.id, 'train', 70, 9), train);
    // The same spec in another process gives the same id.
    assert.equal((await unary(c, 'CreatePermutation', spec)).id, info.id);

    // Replace the table's file (by rename) with other rows: the old id no longer reads.
    mkExampleByRename(file, { rows: 90, batchRows: 10 });
    const deadline = Date.now() + 60000 * SLOW; // a hang guard: the rescan is polled for
    let now;
    while ((now = await unary(c, 'DescribeTable', { table: 'ex' })).version === info.table_version) {
      assert.ok(Date.now() < deadline, 'the server did not notice the new file');
      await sleep(100);
    }
    assert.equal(now.num_rows, '90');
    for (const call of [
      () => unary(c, 'DescribePermutation', { id: info.id }),
      () => unary(c, 'ReadBatch', { permutation: info.id, split: 'train', offset: '0', batch_size: '4' }),
      () => stream(c, { permutation: info.id, split: 'val', batch_size: '4' }),
    ]) {
      const e = await failure(call());
      assert.equal(e.code, Status.FAILED_PRECONDITION, e.message);
    }
    // The new version works, under a new id.
    const fresh = await unary(c, 'CreatePermutation', spec);
    assert.notEqual(fresh.id, info.id);
    assert.equal(fresh.table_version, now.version);
    assert.deepEqual(fresh.splits.map((x) => x.num_rows), ['63', '27']);
    const fb = await unary(c, 'ReadBatch', { permutation: fresh.id, split: 'val', offset: '0', batch_size: '27' });
    const ids = rowIdsOf(fb);
    assert.ok(ids.every((i) => i < 90));
    checkExampleRows(decodeBatch(fb), ids);
  });

  // And after another restart, the old id is still refused.
  await withServer({ dataDir, stateDir }, async (s) => {
    const e = await failure(unary(s.client(), 'DescribePermutation', { id: info.id }));
    assert.equal(e.code, Status.FAILED_PRECONDITION, e.message);
  });
});

test('a directory table is one table; a hash split keeps old rows in their split on append', opts(), async () => {
  const dataDir = tmpdir();
  mkExample(path.join(dataDir, 'd/part-000.arrow'), { rows: 40, batchRows: 16 });
  mkExample(path.join(dataDir, 'd/part-001.arrow'), { rows: 25, batchRows: 10 });
  const fragOf = (sizes) => (g) => { let base = 0; for (const n of sizes) { if (g < base + n) return g - base; base += n; } throw new Error(`row ${g}`); };
  const weights = [5, 3, 2];
  await withServer({ dataDir }, async (s) => {
    const c = s.client();
    const t = await unary(c, 'DescribeTable', { table: 'd' });
    assert.equal(t.num_rows, '65');
    assert.deepEqual(t.files, ['d/part-000.arrow', 'd/part-001.arrow']);
    const local = fragOf([40, 25]);
    const all = range(0, 65);
    const d = decodeBatch(await unary(c, 'TakeRows', { table: 'd', indices: all }));
    assert.deepEqual(d.rowIds, all);
    checkExampleRows({ ...d, rowIds: all.map(local) }, all.map(local));

    const spec = { table: 'd', hash: { columns: ['caption', 'label'], weights: weights.map(String) }, split_names: ['a', 'b', 'c'] };
    const p1 = await unary(c, 'CreatePermutation', spec);
    const before = [];
    for (const sp of p1.splits) before.push(await readSplit(c, p1.id, sp.name, Number(sp.num_rows), 16));
    assert.deepEqual(sorted(before.flat()), all, 'a hash split with no leftover covers every row');

    // Append a third fragment; the catalog picks it up (ListTables rescans).
    mkExampleByRename(path.join(dataDir, 'd/part-002.arrow'), { rows: 30, batchRows: 30 });
    const list = await unary(c, 'ListTables', {});
    assert.deepEqual(list.tables.map((x) => [x.name, x.num_rows]), [['d', '95']]);
    assert.notEqual(list.tables[0].version, t.version);
    const p2 = await unary(c, 'CreatePermutation', spec);
    assert.notEqual(p2.id, p1.id);
    assert.equal(p2.num_rows, '95');
    const after = [];
    for (const sp of p2.splits) after.push(await readSplit(c, p2.id, sp.name, Number(sp.num_rows), 16));
    for (let k = 0; k < 3; k++)
      assert.deepEqual(after[k].filter((g) => g < 65), before[k], `old rows of split ${k} stay in it`);
    assert.deepEqual(sorted(after.flat()), range(0, 95));
    // The appended rows are where they belong: their (caption, label) values are those of local rows 0..29,
    // which already sit in the same splits as rows 0..29 of the first fragment.
    for (let g = 65; g < 95; g++) {
      const k = after.findIndex((part) => part.includes(g));
      assert.ok(before[k].includes(g - 65), `row ${g} (same values as row ${g - 65}) is in split ${k}`);
    }
    const nd = decodeBatch(await unary(c, 'TakeRows', { table: 'd', indices: [94, 65, 64, 40, 39] }));
    const l2 = fragOf([40, 25, 30]);
    checkExampleRows({ ...nd, rowIds: nd.rowIds.map(l2) }, [94, 65, 64, 40, 39].map(l2));
  });
});

test('health: Check', opts(), async () => {
  await withServer({ dataDir: await standardDataDir() }, async (s) => {
    const h = s.health();
    assert.equal((await unary(h, 'Check', { service: '' })).status, SERVING);
    assert.equal((await unary(h, 'Check', { service: 'tablecar.v1.Tablecar' })).status, SERVING);
    const e = await failure(unary(h, 'Check', { service: 'no.such.Service' }));
    assert.equal(e.code, Status.NOT_FOUND, e.message);
  });
});

