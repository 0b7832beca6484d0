// Writes Arrow IPC fixtures with apache-arrow (an implementation independent of tablecar's reader and
// writer) for tests/test_arrow_file.c.
//
//   node write_arrow_fixtures.mjs OUTDIR
//
// OUTDIR gets *.arrow files and expected.json:
//   {"files": [{"name", "rows", "batches": [rows...], "columns": [{"name", "values": [...]}]}],
//    "errors": [{"name", "contains": [substrings the error message must have]}]}
// Expected values are derived from the inputs here, not read back through apache-arrow, in this encoding:
// null for a null; integers (also dates and timestamps, in the stored unit) as decimal strings; floats as
// numbers; bools as booleans; utf8 as strings; binary and fixed_size_binary as lowercase hex; lists as
// arrays; structs as objects keyed by field name; dictionary columns as their decoded values.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as A from 'apache-arrow';

const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: node write_arrow_fixtures.mjs OUTDIR');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });

const hex = (u8) => Buffer.from(u8).toString('hex');
const bytes = (...xs) => Uint8Array.from(xs);
const BATCHES = [6, 1, 0, 9]; // rows per batch; an empty batch is legal IPC
const DAY = 86400000;

// Column specs: an Arrow type, a generator of the JS value of global row i (null for null), and the
// expected encoding of a non-null value.
const num = (v) => v;
const str = (v) => String(v);
const strings = ['', 'a', 'héllo', '日本語', 'tab\there', 'quote"\\', 'long string number ' + 'x'.repeat(40)];

function col(name, type, gen, enc) { return { name, type, gen, enc }; }

const listOf = (encItem) => (v) => v.map((x) => (x === null ? null : encItem(x)));

const columns = [
  col('b', new A.Bool(), (i) => (i % 5 === 3 ? null : i % 3 === 0), num),
  col('i8', new A.Int8(), (i) => (i % 4 === 1 ? null : ((i * 37) % 256) - 128), str),
  col('i16', new A.Int16(), (i) => (i * 1000 - 7000) % 32768, str),
  col('i32', new A.Int32(), (i) => (i % 7 === 2 ? null : i * 123456789 % 2147483647 - 1000000000), str),
  col('i64', new A.Int64(), (i) => (i % 6 === 0 ? null : BigInt(i) * 1234567890123n - 9000000000000000000n), str),
  col('u8', new A.Uint8(), (i) => (i * 29) % 256, str),
  col('u16', new A.Uint16(), (i) => (i % 3 === 1 ? null : (i * 4099) % 65536), str),
  col('u32', new A.Uint32(), (i) => (i * 305419896) % 4294967296, str),
  col('u64', new A.Uint64(), (i) => 18446744073709551615n - BigInt(i) * 3n, str),
  col('f16', new A.Float16(), (i) => (i % 4 === 2 ? null : i * 0.25 - 2), num),
  col('f32', new A.Float32(), (i) => i * 1.5 - 10, num),
  col('f64', new A.Float64(), (i) => (i % 5 === 0 ? null : i * 1024.125 - 3.5), num),
  col('s', new A.Utf8(), (i) => (i % 6 === 4 ? null : strings[i % strings.length]), num),
  col('ls', new A.LargeUtf8(), (i) => (i % 3 === 2 ? null : strings[(i * 2) % strings.length] + i), num),
  col('bin', new A.Binary(), (i) => (i % 4 === 3 ? null : bytes(...Array.from({ length: i % 5 }, (_, k) => (i + k * 50) % 256))), hex),
  col('lbin', new A.LargeBinary(), (i) => bytes(...Array.from({ length: i % 3 }, (_, k) => 255 - i - k)), hex),
  col('fsb', new A.FixedSizeBinary(3), (i) => (i % 5 === 1 ? null : bytes(i, 2 * i, 255 - i)), hex),
  col('d32', new A.DateDay(), (i) => (i % 4 === 0 ? null : new Date((i * 400 - 3000) * DAY)), (v) => String(Math.floor(v.valueOf() / DAY))),
  col('d64', new A.DateMillisecond(), (i) => new Date(i * 12345678 * 1000 - 2e12), (v) => String(v.valueOf())),
  col('ts_s', new A.TimestampSecond(), (i) => (i % 3 === 0 ? null : (i * 86399 - 100000) * 1000), (v) => String(v / 1000)),
  col('ts_ms', new A.TimestampMillisecond('UTC'), (i) => 1700000000000 + i * 1001, str),
  col('ts_us', new A.TimestampMicrosecond('Europe/Paris'), (i) => 1600000000000 + i * 7, (v) => String(BigInt(v) * 1000n)),
  col('ts_ns', new A.TimestampNanosecond(), (i) => (i % 2 ? null : 1500000000 + i), (v) => String(BigInt(v) * 1000000n)),
  col('fsl', new A.FixedSizeList(3, new A.Field('item', new A.Float32(), true)),
      (i) => (i % 5 === 2 ? null : [i, i % 3 === 0 ? null : -i, i + 0.5]), listOf(num)),
  col('img', new A.FixedSizeList(2, new A.Field('row', new A.FixedSizeList(3, new A.Field('px', new A.Uint8(), false)), false)),
      (i) => [[i, i + 1, i + 2], [255 - i, 128, i * 3 % 256]], listOf(listOf(str))),
  col('lst', new A.List(new A.Field('item', new A.Int32(), true)),
      (i) => (i % 4 === 3 ? null : Array.from({ length: i % 4 }, (_, k) => (k === 1 ? null : i * 10 + k))), listOf(str)),
  col('lst_s', new A.List(new A.Field('item', new A.Utf8(), true)),
      (i) => Array.from({ length: (i * 7) % 3 }, (_, k) => strings[(i + k) % strings.length]), listOf(num)),
  col('lst_lst', new A.List(new A.Field('item', new A.List(new A.Field('item', new A.Int64(), true)), true)),
      (i) => (i % 5 === 4 ? null : Array.from({ length: i % 3 }, (_, k) => (k === 2 ? null : Array.from({ length: k + 1 }, (_, j) => BigInt(i * 100 + j))))),
      listOf(listOf(str))),
  col('st', new A.Struct([new A.Field('x', new A.Int32(), true), new A.Field('name', new A.Utf8(), true),
                          new A.Field('v', new A.FixedSizeList(2, new A.Field('item', new A.Float64(), true)), true)]),
      (i) => (i % 4 === 2 ? null : { x: i % 3 === 0 ? null : i * 3, name: strings[i % strings.length], v: [i, -i] }),
      (v) => ({ x: v.x === null ? null : String(v.x), name: v.name, v: v.v })),
  col('nul', new A.Null(), () => null, num), // Arrow's Null type: no buffers at all
];

// Dictionary columns share one dictionary across batches (the file format cannot replace dictionaries).
const dictColumns = [
  { name: 'dict', values: ['red', 'green', 'blue', 'ünïcode', ''], valueType: new A.Utf8(), index: new A.Int32(),
    gen: (i) => (i % 5 === 1 ? null : (i * 3) % 5), enc: num },
  { name: 'dict8', values: [10n, -20n, 30n], valueType: new A.Int64(), index: new A.Uint8(),
    gen: (i) => i % 3, enc: str },
  { name: 'dict_fsl', values: [[1, 2], [3, 4], [5, 6], [7, 8]], valueType: new A.FixedSizeList(2, new A.Field('item', new A.Int16(), true)),
    index: new A.Int16(), gen: (i) => (i % 7 === 6 ? null : (i * 5) % 4), enc: listOf(str) },
];

function batchRange(sizes, b) {
  const start = sizes.slice(0, b).reduce((a, x) => a + x, 0);
  return [start, start + sizes[b]];
}

function dictData(dc, dictVector, dictId, lo, hi) {
  const type = new A.Dictionary(dc.valueType, dc.index, dictId);
  const n = hi - lo;
  const IndexArray = dc.index.ArrayType;
  const idx = new IndexArray(n);
  const bitmap = new Uint8Array(Math.ceil(n / 8) || 1);
  let nulls = 0;
  for (let i = lo; i < hi; i++) {
    const v = dc.gen(i);
    if (v === null) nulls++;
    else { idx[i - lo] = v; bitmap[(i - lo) >> 3] |= 1 << ((i - lo) & 7); }
  }
  return A.makeData({ type, length: n, nullCount: nulls, nullBitmap: nulls ? bitmap : null, data: idx, dictionary: dictVector });
}

function buildTable(cols, dicts, sizes = BATCHES) {
  const dictVectors = dicts.map((dc) => A.vectorFromArray(dc.values, dc.valueType));
  const fields = [
    ...cols.map((c) => new A.Field(c.name, c.type, true)),
    ...dicts.map((dc, k) => new A.Field(dc.name, new A.Dictionary(dc.valueType, dc.index, 100 + k), true)),
  ];
  const schema = new A.Schema(fields, new Map([['origin', 'apache-arrow fixture'], ['nul\u0000key', 'v\u0000w']]));
  const batches = sizes.map((_, b) => {
    const [lo, hi] = batchRange(sizes, b);
    const data = cols.map((c) => {
      const vals = [];
      for (let i = lo; i < hi; i++) vals.push(c.gen(i));
      return A.vectorFromArray(vals, c.type).data[0];
    });
    dicts.forEach((dc, k) => data.push(dictData(dc, dictVectors[k], 100 + k, lo, hi)));
    const structData = A.makeData({ type: new A.Struct(fields), length: hi - lo, nullCount: 0, children: data });
    return new A.RecordBatch(schema, structData);
  });
  return new A.Table(schema, batches);
}

function expectedColumns(cols, dicts, sizes = BATCHES) {
  const rows = sizes.reduce((a, x) => a + x, 0);
  const out = [];
  for (const c of cols) {
    const values = [];
    for (let i = 0; i < rows; i++) {
      const v = c.gen(i);
      values.push(v === null ? null : c.enc(v));
    }
    out.push({ name: c.name, values });
  }
  for (const dc of dicts) {
    const values = [];
    for (let i = 0; i < rows; i++) {
      const v = dc.gen(i);
      values.push(v === null ? null : dc.enc(dc.values[v]));
    }
    out.push({ name: dc.name, values });
  }
  return out;
}

const expected = { files: [], errors: [] };

function write(name, table, format) {
  fs.writeFileSync(path.join(outDir, name), A.tableToIPC(table, format));
}

// 1. Every type, both formats.
const all = buildTable(columns, dictColumns);
const allCols = expectedColumns(columns, dictColumns);
for (const format of ['file', 'stream']) {
  const name = `all.${format}.arrow`;
  write(name, all, format);
  expected.files.push({ name, rows: all.numRows, batches: BATCHES, columns: allCols });
}

// 1b. The same without dictionaries (served zero-copy), and a small table for the corruption tests, whose
// layout test_arrow_file.c knows: i32, s, lst<i32>, fsl<i16, 2>, st{x, name, v}, dict.
{
  const plain = buildTable(columns, []);
  const pick = (names) => columns.filter((c) => names.includes(c.name));
  const smallCols = pick(['i32', 's', 'lst', 'fsl', 'st']);
  const small = buildTable(smallCols, dictColumns.slice(0, 1), [3, 3]);
  for (const format of ['file', 'stream']) {
    write(`plain.${format}.arrow`, plain, format);
    expected.files.push({ name: `plain.${format}.arrow`, rows: plain.numRows, batches: BATCHES, columns: expectedColumns(columns, []) });
    write(`small.${format}.arrow`, small, format);
    expected.files.push({ name: `small.${format}.arrow`, rows: 6, batches: [3, 3],
                          columns: expectedColumns(smallCols, dictColumns.slice(0, 1), [3, 3]) });
  }
}

// 2. A stream whose dictionary is replaced between batches (each batch built with its own dictionary).
{
  const type = new A.Dictionary(new A.Utf8(), new A.Int32());
  const words = [['one', 'two'], ['three'], ['four', 'five', 'six']];
  const schema = new A.Schema([new A.Field('word', type, true)]);
  const values = [];
  const batches = words.map((ws, b) => {
    const rows = Array.from({ length: 4 }, (_, r) => (r === 3 && b === 1 ? null : ws[r % ws.length]));
    values.push(...rows);
    const vec = A.vectorFromArray(rows, type);
    return new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: 4, nullCount: 0, children: [vec.data[0]] }));
  });
  const name = 'dict_replace.stream.arrow';
  write(name, new A.Table(schema, batches), 'stream');
  expected.files.push({ name, rows: 12, batches: [4, 4, 4], columns: [{ name: 'word', values }] });
}

// 2b. Dictionaries below the top level: list<dictionary<utf8>> and struct{dictionary<int16>}.
{
  const words = A.vectorFromArray(['alpha', 'beta', 'gamma'], new A.Utf8());
  const nums = A.vectorFromArray([7, -7, 700], new A.Int16());
  const dictType = new A.Dictionary(new A.Utf8(), new A.Int8(), 7);
  const numType = new A.Dictionary(new A.Int16(), new A.Uint32(), 8);
  const listType = new A.List(new A.Field('item', dictType, true));
  const structType = new A.Struct([new A.Field('n', numType, true)]);
  const schema = new A.Schema([new A.Field('tags', listType, true), new A.Field('rec', structType, true)]);
  const itemIdx = [0, 2, 1, 1, 0];
  const items = A.makeData({ type: dictType, length: 5, nullCount: 1, nullBitmap: Uint8Array.from([0b11011]),
                             data: Int8Array.from(itemIdx), dictionary: words });
  // rows: [alpha, gamma], null, [], [null, beta, alpha]
  const tags = A.makeData({ type: listType, length: 4, nullCount: 1, nullBitmap: Uint8Array.from([0b1101]),
                            valueOffsets: Int32Array.from([0, 2, 2, 2, 5]), child: items });
  const n = A.makeData({ type: numType, length: 4, nullCount: 1, nullBitmap: Uint8Array.from([0b1011]),
                         data: Uint32Array.from([2, 0, 0, 1]), dictionary: nums });
  const rec = A.makeData({ type: structType, length: 4, nullCount: 0, children: [n] });
  const batch = new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: 4, nullCount: 0, children: [tags, rec] }));
  const tagValues = [['alpha', 'gamma'], null, [], [null, 'beta', 'alpha']];
  for (const format of ['file', 'stream']) {
    const name = `nested_dict.${format}.arrow`;
    write(name, new A.Table(schema, [batch]), format);
    expected.files.push({ name, rows: 4, batches: [4], columns: [
      { name: 'tags', values: tagValues },
      { name: 'rec', values: [{ n: '700' }, { n: '7' }, { n: null }, { n: '-7' }] }] });
  }
}

// 2c. A delta dictionary batch (the dictionary vector has two chunks): refused, naming the field.
{
  const type = new A.Dictionary(new A.Utf8(), new A.Int32(), 3);
  const dict = A.vectorFromArray(['a', 'b'], new A.Utf8()).concat(A.vectorFromArray(['c'], new A.Utf8()));
  const schema = new A.Schema([new A.Field('word', type, true)]);
  const idx = A.makeData({ type, length: 3, nullCount: 0, data: Int32Array.from([0, 1, 2]), dictionary: dict });
  const batch = new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: 3, nullCount: 0, children: [idx] }));
  const name = 'dict_delta.stream.arrow';
  write(name, new A.Table(schema, [batch]), 'stream');
  expected.errors.push({ name, contains: [name, "'word'", 'delta'] });
}

// 3. A table with no batches at all, and one with no columns.
{
  const schema = new A.Schema([new A.Field('x', new A.Int32(), true), new A.Field('y', new A.Utf8(), false)]);
  for (const format of ['file', 'stream']) {
    const name = `empty.${format}.arrow`;
    write(name, new A.Table(schema), format);
    expected.files.push({ name, rows: 0, batches: [], columns: [{ name: 'x', values: [] }, { name: 'y', values: [] }] });
  }
}

// 4. Types tablecar does not serve: opening must fail naming the field and the type.
const unsupported = [
  ['dec', new A.Decimal(2, 10, 128), 'Decimal'],
  ['dur', new A.DurationMillisecond(), 'Duration'],
  ['tm', new A.TimeMillisecond(), 'Time'],
  ['uni', new A.DenseUnion([0, 1], [new A.Field('a', new A.Int32()), new A.Field('b', new A.Utf8())]), 'Union'],
  ['map', new A.Map_(new A.Field('entries', new A.Struct([new A.Field('key', new A.Utf8(), false), new A.Field('value', new A.Int32(), true)]), false)), 'Map'],
];
for (const [field, type, typeName] of unsupported) {
  const schema = new A.Schema([new A.Field('ok', new A.Int32(), true), new A.Field(field, type, true)]);
  const name = `unsupported_${field}.arrow`;
  write(name, new A.Table(schema), 'file');
  expected.errors.push({ name, contains: [name, `'${field}'`, typeName] });
}

fs.writeFileSync(path.join(outDir, 'expected.json'), JSON.stringify(expected, null, 1));
