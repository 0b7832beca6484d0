// errors.test.mjs: every error status of the protocol's contract, from one server that keeps serving
// correct data through all of them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import {
  checkExampleRows, decodeBatch, failure, grpc, mkExample, opts, Status, stream, tmpdir, unary, withServer,
  SERVING,
} from './harness.mjs';

// A client whose requests are raw bytes (ours), for what protobufjs would never encode.
function rawClient(address, method) {
  const Ctor = grpc.makeGenericClientConstructor({
    call: {
      path: method, requestStream: false, responseStream: false,
      requestSerialize: (b) => b, requestDeserialize: (b) => b,
      responseSerialize: (b) => b, responseDeserialize: (b) => b,
    },
  }, 'Raw');
  return new Ctor(address, grpc.credentials.createInsecure());
}

// A length-delimited field FIELD of BYTES (short enough for a one-byte length).
const lenField = (field, bytes) => Buffer.concat([Buffer.from([(field << 3) | 2, bytes.length]), Buffer.from(bytes)]);

test('every error status, and the server keeps serving', opts(), async () => {
  const dataDir = tmpdir();
  mkExample(path.join(dataDir, 'ex.arrow'), { rows: 100, batchRows: 64 });
  // 40 rows of a 3x32x32 image (3072 bytes a row): 120K, more than the server's 64K per message.
  mkExample(path.join(dataDir, 'big.arrow'), { rows: 40, batchRows: 16, extra: ['--image', '3x32x32'], cmd: 'big' });
  // A truncated Arrow file (its footer gone), and one of garbage.
  const whole = fs.readFileSync(mkExample(path.join(tmpdir(), 'whole.arrow'), { rows: 100, batchRows: 64 }));
  fs.writeFileSync(path.join(dataDir, 'trunc.arrow'), whole.subarray(0, Math.floor(whole.length * 0.6)));
  const garbage = Buffer.alloc(4096);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) % 251;
  fs.writeFileSync(path.join(dataDir, 'garbage.arrow'), garbage);

  await withServer({ dataDir, args: ['--max-message-bytes', '64K'] }, async (s) => {
    const c = s.client();
    const expectCode = async (p, code, re) => {
      const e = await failure(p);
      assert.equal(e.code, code, `${Status[e.code] ?? e.code} (${e.details}), wanted ${code}`);
      if (re) assert.match(e.details, re);
      return e;
    };
    const perm = await unary(c, 'CreatePermutation', {
      table: 'ex', shuffle: { seed: '3' }, random: { ratios: [0.5, 0.5], seed: '4' }, split_names: ['a', 'b'],
    });

    // NOT_FOUND
    await expectCode(unary(c, 'DescribeTable', { table: 'nope' }), Status.NOT_FOUND, /nope/);
    await expectCode(unary(c, 'TakeRows', { table: 'nope/deeper', indices: [0] }), Status.NOT_FOUND);
    await expectCode(unary(c, 'CreatePermutation', { table: 'nope' }), Status.NOT_FOUND);
    await expectCode(unary(c, 'DescribePermutation', { id: '0123456789abcdef0123456789abcdef' }), Status.NOT_FOUND);
    await expectCode(unary(c, 'ReadBatch', { permutation: 'f'.repeat(32), split: 'a', batch_size: '1' }), Status.NOT_FOUND);
    await expectCode(unary(c, 'ReadBatch', { permutation: perm.id, split: 'c', batch_size: '1' }), Status.NOT_FOUND, /'c'/);
    await expectCode(unary(c, 'ReadBatch', { permutation: perm.id, split: '2', batch_size: '1' }), Status.NOT_FOUND);
    await expectCode(unary(c, 'ReadBatch', { permutation: perm.id, split: '', batch_size: '1' }), Status.NOT_FOUND);
    await expectCode(stream(c, { permutation: perm.id, split: 'train', batch_size: '1' }), Status.NOT_FOUND);

    // INVALID_ARGUMENT: table names
    for (const name of ['../x', '/etc/passwd', '', 'a//b', 'a/../ex', './ex', '.hidden', 'ex/', 'a\\b', 'tab\there']) {
      await expectCode(unary(c, 'DescribeTable', { table: name }), Status.INVALID_ARGUMENT);
      await expectCode(unary(c, 'TakeRows', { table: name, indices: [0] }), Status.INVALID_ARGUMENT);
      await expectCode(unary(c, 'CreatePermutation', { table: name }), Status.INVALID_ARGUMENT);
    }
    // ... a name that is not UTF-8 (bytes ff fe), which protobufjs cannot send: a hand-built request.
    const raw = rawClient(s.address, '/tablecar.v1.Tablecar/DescribeTable');
    await expectCode(unary(raw, 'call', lenField(1, [0xff, 0xfe])), Status.INVALID_ARGUMENT, /UTF-8/);
    await expectCode(unary(raw, 'call', lenField(1, [0x65, 0x78, 0xc3])), Status.INVALID_ARGUMENT, /UTF-8/);
    // The same bytes framed as valid UTF-8 reach the catalog: the raw client itself works.
    const okRaw = await unary(raw, 'call', lenField(1, Buffer.from('ex')));
    assert.ok(okRaw.includes(Buffer.from('ex.arrow')), 'the raw DescribeTable answer names ex.arrow');
    // ... a body that is not a protobuf at all (a length past the end; a field of wire type 7).
    await expectCode(unary(raw, 'call', Buffer.from([0x0a, 0x05, 0x61])), Status.INVALID_ARGUMENT, /protobuf/);
    await expectCode(unary(raw, 'call', Buffer.from([0x0f, 0x00])), Status.INVALID_ARGUMENT, /protobuf/);
    const rawRead = rawClient(s.address, '/tablecar.v1.Tablecar/ReadBatch');
    await expectCode(unary(rawRead, 'call', Buffer.from([0x18, 0xff, 0xff])), Status.INVALID_ARGUMENT, /protobuf/);
    raw.close();
    rawRead.close();

    // INVALID_ARGUMENT: columns
    await expectCode(unary(c, 'TakeRows', { table: 'ex', indices: [0], columns: ['nope'] }), Status.INVALID_ARGUMENT, /nope/);
    await expectCode(unary(c, 'TakeRows', { table: 'ex', indices: [0], columns: ['label', 'label'] }), Status.INVALID_ARGUMENT);
    await expectCode(unary(c, 'ReadBatch', { permutation: perm.id, split: 'a', batch_size: '2', columns: ['Label'] }),
                     Status.INVALID_ARGUMENT);
    await expectCode(stream(c, { permutation: perm.id, split: 'a', batch_size: '2', columns: ['score', 'nope'] }),
                     Status.INVALID_ARGUMENT);
    await expectCode(unary(c, 'CreatePermutation', { table: 'ex', hash: { columns: ['nope'], weights: ['1'] } }),
                     Status.INVALID_ARGUMENT);

    // INVALID_ARGUMENT: split specs
    const badSpecs = [
      { random: { ratios: [0.7, 0.5] } },                          // ratios sum > 1
      { sequential: { ratios: [0.5, 0.6] } },
      { random: { ratios: [0.5, -0.1] } },
      { random: { counts: ['-1', '5'] } },                         // negative count
      { sequential: { counts: ['60', '50'] } },                    // counts sum > rows
      { random: { ratios: [0.5], counts: ['10'] } },               // two kinds at once
      { sequential: { counts: ['10'], fixed: 2 } },
      { random: {} },                                              // none
      { random: { fixed: -2 } },
      { random: { fixed: 3 }, split_names: ['a', 'b'] },           // names count mismatch
      { split_names: ['a', 'b'] },
      { random: { fixed: 2 }, split_names: ['a', 'a'] },           // a name twice
      { random: { fixed: 2 }, split_names: ['a', ''] },            // an empty name
      { hash: { columns: ['label'], weights: [] } },
      { hash: { columns: ['label'], weights: ['1', '0'] } },
      { hash: { columns: [], weights: ['1'] } },
      { hash: { columns: ['image'], weights: ['1'] } },            // not hashable
      { shuffle: { seed: '1', clump_size: '-3' } },
    ];
    for (const spec of badSpecs)
      await expectCode(unary(c, 'CreatePermutation', { table: 'ex', ...spec }), Status.INVALID_ARGUMENT);

    // INVALID_ARGUMENT: reads
    await expectCode(unary(c, 'ReadBatch', { permutation: perm.id, split: 'a', batch_size: '0' }), Status.INVALID_ARGUMENT);
    await expectCode(unary(c, 'ReadBatch', { permutation: perm.id, split: 'a', offset: '-1', batch_size: '3' }), Status.INVALID_ARGUMENT);
    await expectCode(stream(c, { permutation: perm.id, split: 'a', batch_size: '0' }), Status.INVALID_ARGUMENT);
    await expectCode(stream(c, { permutation: perm.id, split: 'a', batch_size: '2', shard_index: 2, shard_count: 2 }),
                     Status.INVALID_ARGUMENT);
    await expectCode(stream(c, { permutation: perm.id, split: 'a', batch_size: '2', shard_count: -1 }), Status.INVALID_ARGUMENT);
    await expectCode(stream(c, { permutation: perm.id, split: 'a', batch_size: '2', start: '10', end: '5' }),
                     Status.INVALID_ARGUMENT);
    for (const id of ['../../etc', '', 'x', perm.id.toUpperCase(), perm.id + '0', '../../etc/passwd'.padEnd(32, 'a')]) {
      await expectCode(unary(c, 'DescribePermutation', { id }), Status.INVALID_ARGUMENT);
      await expectCode(unary(c, 'ReadBatch', { permutation: id, split: 'a', batch_size: '1' }), Status.INVALID_ARGUMENT);
    }

    // OUT_OF_RANGE
    await expectCode(unary(c, 'TakeRows', { table: 'ex', indices: [0, 100] }), Status.OUT_OF_RANGE, /100/);
    await expectCode(unary(c, 'TakeRows', { table: 'ex', indices: [-1] }), Status.OUT_OF_RANGE);
    await expectCode(unary(c, 'TakeRows', { table: 'ex', indices: ['9223372036854775807'] }), Status.OUT_OF_RANGE);
    await expectCode(unary(c, 'ReadBatch', { permutation: perm.id, split: 'a', offset: '50', batch_size: '1' }), Status.OUT_OF_RANGE);
    await expectCode(unary(c, 'ReadBatch', { permutation: perm.id, split: 'b', offset: '1000', batch_size: '1' }), Status.OUT_OF_RANGE);
    await expectCode(stream(c, { permutation: perm.id, split: 'a', batch_size: '2', end: '51' }), Status.OUT_OF_RANGE);
    // ... the last valid positions still work.
    const lastA = await unary(c, 'ReadBatch', { permutation: perm.id, split: 'a', offset: '49', batch_size: '5' });
    assert.equal(lastA.num_rows, '1');
    assert.equal((await stream(c, { permutation: perm.id, split: 'a', batch_size: '50', end: '50' })).length, 1);

    // RESOURCE_EXHAUSTED: 1000 rows of a 192-byte image are more than 64K; the same rows in small parts pass.
    const many = Array.from({ length: 1000 }, (_, i) => (i * 37) % 100);
    await expectCode(unary(c, 'TakeRows', { table: 'ex', indices: many }), Status.RESOURCE_EXHAUSTED, /max-message-bytes/);
    const bigPerm = await unary(c, 'CreatePermutation', { table: 'big', shuffle: { seed: '1' } });
    await expectCode(stream(c, { permutation: bigPerm.id, split: '0', batch_size: '40' }), Status.RESOURCE_EXHAUSTED);
    await expectCode(unary(c, 'ReadBatch', { permutation: bigPerm.id, split: '0', batch_size: '30' }), Status.RESOURCE_EXHAUSTED);
    // ... in smaller batches it passes.
    const bigRows = await stream(c, { permutation: bigPerm.id, split: '0', batch_size: '8' });
    assert.equal(bigRows.length, 5);
    for (const m of bigRows) checkExampleRows(decodeBatch(m), undefined, undefined, 3 * 32 * 32);
    const labels = await unary(c, 'TakeRows', { table: 'ex', indices: many, columns: ['label'] });
    checkExampleRows(decodeBatch(labels), many, ['label']);
    const part = await unary(c, 'TakeRows', { table: 'ex', indices: many.slice(0, 200) });
    checkExampleRows(decodeBatch(part), many.slice(0, 200));

    // DATA_LOSS, naming the file; the broken tables are not listed.
    for (const [name, file] of [['trunc', 'trunc.arrow'], ['garbage', 'garbage.arrow']]) {
      await expectCode(unary(c, 'DescribeTable', { table: name }), Status.DATA_LOSS, new RegExp(file.replace('.', '\\.')));
      await expectCode(unary(c, 'TakeRows', { table: name, indices: [0] }), Status.DATA_LOSS, new RegExp(file.replace('.', '\\.')));
      await expectCode(unary(c, 'CreatePermutation', { table: name }), Status.DATA_LOSS);
    }
    assert.deepEqual((await unary(c, 'ListTables', {})).tables.map((t) => t.name), ['big', 'ex']);

    // UNIMPLEMENTED: an unknown method of a known service, and an unknown service.
    for (const m of ['/tablecar.v1.Tablecar/DropTable', '/no.such.Service/Call', '/grpc.health.v1.Health/List']) {
      const r = rawClient(s.address, m);
      await expectCode(unary(r, 'call', Buffer.alloc(0)), Status.UNIMPLEMENTED);
      r.close();
    }

    // Still healthy, still correct.
    assert.equal((await unary(s.health(), 'Check', { service: '' })).status, SERVING);
    const idx = [0, 99, 3, 64, 63];
    checkExampleRows(decodeBatch(await unary(c, 'TakeRows', { table: 'ex', indices: idx })), idx);
    const a = await stream(c, { permutation: perm.id, split: 'a', batch_size: '50', columns: ['caption'] });
    const rb = await unary(c, 'ReadBatch', { permutation: perm.id, split: 'a', offset: '0', batch_size: '50', columns: ['caption'] });
    assert.deepEqual(a[0], rb);
    checkExampleRows(decodeBatch(rb), undefined, ['caption']);
    // Many failures in parallel, then a good call: nothing is stuck.
    const errs = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      failure(unary(c, 'TakeRows', { table: i % 2 ? 'trunc' : '../x', indices: [0] }))));
    assert.deepEqual(new Set(errs.map((e) => e.code)), new Set([Status.DATA_LOSS, Status.INVALID_ARGUMENT]));
    checkExampleRows(decodeBatch(await unary(c, 'TakeRows', { table: 'ex', indices: [7] })), [7]);
  });
});
