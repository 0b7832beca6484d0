// Writes a tablecar data dir of tables "as users already have them", each made by a writer nobody here
// wrote, for tests/python/test_user_tables.py:
//
//   node write_user_tables.mjs DATADIR
//
//   polars_{file,stream}_{none,lz4,zstd}.arrow   nodejs-polars' IPC file and stream writers, uncompressed, LZ4
//        and ZSTD: every type polars has that tablecar serves (strings and binaries as utf8_view/binary_view,
//        lists as large_list, list<str>, struct, categorical -> dictionary, date, datetimes, float16...),
//        all fields nullable, several record batches.
//   arrowjs_{file,stream}.arrow   apache-arrow: struct, dictionary, large_list, schema metadata (with a
//        `huggingface` key as datasets writes it) and field metadata, also on nested fields.
//   imdb/                 a DatasetDict exactly as datasets' save_to_disk lays it out (dataset_dict.json,
//        train/ and test/ with data-0000i-of-00002.arrow IPC *streams*, dataset_info.json, state.json).
//   cache/imdb_like/plain_text/0.0.0/5a2b1c3d/   the same splits in the datasets cache layout
//        (imdb_like-train-0000i-of-00002.arrow, imdb_like-test.arrow, dataset_info.json; lock files).
//   same_polars.arrow, same_arrowjs.arrow   the same logical data, written by polars (views) and apache-arrow
//        (utf8/binary): tablecar must give identical Python values for both.
//   null_polars.arrow                          an all-null column of Arrow's Null type
//   reject_polars_{duration,time,decimal}.arrow       polars columns tablecar does not serve.
//
// and DATADIR/../manifest.json: {"tables": [{"table", "files": [paths relative to DATADIR], "reader"}],
// "rejected": [{"table", "file", "field", "type"}], "hf": {...}}. Expected values are not written here:
// the test reads every file back with the writer's own reader (dump_ipc.mjs).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as A from 'apache-arrow';
import pl from 'nodejs-polars';

const dataDir = process.argv[2];
if (!dataDir) {
  console.error('usage: node write_user_tables.mjs DATADIR');
  process.exit(2);
}
fs.mkdirSync(dataDir, { recursive: true });
const manifest = { tables: [], rejected: [], hf: {} };
const DAY = 86400000;
const words = ['', 'a', 'short', 'exactly12byt', 'thirteen byte', 'héllo wörld, longer than twelve', '日本語のテキスト', 'tab\tquote"back\\'];
const bytes = (...xs) => Uint8Array.from(xs.map((x) => ((x % 256) + 256) % 256));

// ---------------------------------------------------------------------------------------------------------
// apache-arrow helpers

// A record batch of `fields` from per-column Data.
function recordBatch(schema, length, datas) {
  return new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length, nullCount: 0, children: datas }));
}

// Rows [lo, hi) of column `c` (a {type, gen} spec) as one Data; dictionary columns share `dict` (one
// dictionary for the whole file: the file format cannot replace it).
function columnData(c, lo, hi, dict) {
  if (c.type instanceof A.Dictionary) {
    const n = hi - lo;
    const idx = new c.type.indices.ArrayType(n);
    const bitmap = new Uint8Array(Math.ceil(n / 8) || 1);
    let nulls = 0;
    for (let i = lo; i < hi; i++) {
      const v = c.gen(i);
      if (v === null) nulls++;
      else { idx[i - lo] = v; bitmap[(i - lo) >> 3] |= 1 << ((i - lo) & 7); }
    }
    return A.makeData({ type: c.type, length: n, nullCount: nulls, nullBitmap: nulls ? bitmap : null, data: idx, dictionary: dict });
  }
  const vals = [];
  for (let i = lo; i < hi; i++) vals.push(c.gen(i));
  return A.vectorFromArray(vals, c.type).data[0];
}

// An apache-arrow table of columns `cols` ({name, type, gen, dict?, meta?}) in batches of `sizes` rows,
// starting at global row `first`.
function arrowTable(cols, sizes, metadata = new Map(), first = 0) {
  const dicts = cols.map((c) => (c.type instanceof A.Dictionary ? A.vectorFromArray(c.dict, c.type.dictionary) : null));
  const fields = cols.map((c) => new A.Field(c.name, c.type, true, c.meta ? new Map(Object.entries(c.meta)) : undefined));
  const schema = new A.Schema(fields, metadata);
  let lo = first;
  const batches = sizes.map((n) => {
    const b = recordBatch(schema, n, cols.map((c, k) => columnData(c, lo, lo + n, dicts[k])));
    lo += n;
    return b;
  });
  return new A.Table(schema, batches);
}

function writeArrow(rel, table, format) {
  const file = path.join(dataDir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, A.tableToIPC(table, format));
}

// ---------------------------------------------------------------------------------------------------------
// polars helpers

// Chunks cut from one frame and stacked again: each chunk becomes a record batch in the file writer.
function chunked(whole, sizes) {
  let df = null;
  let start = 0;
  for (const n of sizes) {
    const chunk = whole.slice(start, n);
    df = df ? df.vstack(chunk) : chunk;
    start += n;
  }
  return df;
}

// Columns polars cannot build from JS values (binary, float16, structs with null rows, nested lists):
// apache-arrow builds them in memory and polars *reads* them (pl.readIPC), so the files are still written
// by polars' own writer, with polars' own types.
function viaArrow(cols, rows) {
  return pl.readIPC(Buffer.from(A.tableToIPC(arrowTable(cols, [rows]), 'file')));
}

// ---------------------------------------------------------------------------------------------------------
// 1. polars: every type polars has that tablecar serves, file and stream, three compressions.

const PCHUNKS = [4, 0, 7, 250];
// Row i's index inside its chunk.
function chunkIndex(i, sizes) {
  for (const n of sizes) {
    if (i < n) return i;
    i -= n;
  }
  return i;
}
const PROWS = PCHUNKS.reduce((a, x) => a + x, 0);
{
  const gen = (f) => Array.from({ length: PROWS }, (_, i) => f(i));
  const native = pl.DataFrame([
    pl.Series('i8', gen((i) => (i % 7 === 3 ? null : (i % 256) - 128)), pl.Int8),
    pl.Series('i16', gen((i) => (i * 13) % 32768 - 16000), pl.Int16),
    pl.Series('i32', gen((i) => (i % 11 === 5 ? null : i * 100003 - 50000000)), pl.Int32),
    // nodejs-polars turns BigInts into nulls for Int64: decimal strings cast by polars keep all 64 bits.
    pl.Series('i64', gen((i) => (i % 9 === 4 ? null : String(BigInt(i) * 36028797018963971n - 9007199254740993n)))).cast(pl.Int64),
    pl.Series('u8', gen((i) => i % 256), pl.UInt8),
    pl.Series('u16', gen((i) => (i % 10 === 0 ? null : (i * 7) % 65536)), pl.UInt16),
    pl.Series('u32', gen((i) => (i % 9 === 1 ? null : (i * 2654435) % 4294967296)), pl.UInt32),
    pl.Series('u64', gen((i) => 2n ** 64n - 1n - BigInt(i) * 3n), pl.UInt64),
    pl.Series('f32', gen((i) => (i % 5 === 4 ? null : i * 0.5 - 100.25)), pl.Float32),
    pl.Series('f64', gen((i) => (i % 6 === 1 ? null : i * 3.0000001 - 7e10)), pl.Float64),
    pl.Series('b', gen((i) => (i % 6 === 5 ? null : i % 3 === 1)), pl.Bool),
    pl.Series('s', gen((i) => (i % 8 === 7 ? null : words[i % words.length] + (i % 3 ? '' : String(i)))), pl.String),
    pl.Series('d', gen((i) => (i % 10 === 9 ? null : new Date((i * 37 - 1000) * DAY))), pl.Date),
    pl.Series('dt_ms', gen((i) => new Date(1600000000000 + i * 1234)), pl.Datetime('ms')),
    pl.Series('dt_us', gen((i) => (i % 4 === 0 ? null : new Date(1500000000000 + i))), pl.Datetime('us', 'Europe/Paris')),
    pl.Series('dt_ns', gen((i) => new Date(-1400000000000 - i * 1000)), pl.Datetime('ns', 'UTC')),
    pl.Series('lst', gen((i) => (i % 5 === 2 ? null : Array.from({ length: i % 4 }, (_, k) => (k === 2 ? null : i * 1000 + k)))), pl.List(pl.Int64)),
    pl.Series('lst_s', gen((i) => (i % 7 === 0 ? null : Array.from({ length: (i * 3) % 4 }, (_, k) => (k === 1 && i % 2 ? null : words[(i + k) % words.length])))), pl.List(pl.String)),
    pl.Series('fsl', gen((i) => [i, i + 0.5, -i]), pl.FixedSizeList(pl.Float32, 3)),
    pl.Series('st', gen((i) => ({ x: i % 3 === 1 ? null : i * 2, y: words[i % words.length] }))),
  ]);
  // Every chunk meets the categories in the same order first: polars' file writer refuses a dictionary that
  // differs from the previous batch's (no replacement in the file format).
  const cats = ['red', 'green', 'blue', 'a much longer category name'];
  const cat = pl.DataFrame([pl.Series('cat', gen((i) => { const k = chunkIndex(i, PCHUNKS); return k > 4 && k % 13 === 6 ? null : cats[k % 4]; }), pl.Categorical)]);
  const bridged = viaArrow([
    { name: 'bin', type: new A.Binary(), gen: (i) => (i % 4 === 3 ? null : bytes(...Array.from({ length: (i * 5) % 17 }, (_, k) => i * 31 + k))) },
    { name: 'f16', type: new A.Float16(), gen: (i) => (i % 8 === 2 ? null : (i % 64) * 0.25 - 8) },
    { name: 'st_null', type: new A.Struct([new A.Field('a', new A.Int32(), true), new A.Field('s', new A.Utf8(), true)]),
      gen: (i) => (i % 5 === 3 ? null : { a: i % 4 === 0 ? null : i - 50, s: i % 6 === 0 ? null : words[(i * 3) % words.length] }) },
    { name: 'll', type: new A.List(new A.Field('item', new A.List(new A.Field('item', new A.Int32(), true)), true)),
      gen: (i) => (i % 6 === 5 ? null : Array.from({ length: i % 3 }, (_, k) => (k === 1 && i % 4 === 0 ? null : Array.from({ length: k + 1 }, (_, j) => i * 10 + j)))) },
    { name: 'lst_st', type: new A.List(new A.Field('item', new A.Struct([new A.Field('q', new A.Float64(), true), new A.Field('r', new A.Utf8(), true)]), true)),
      gen: (i) => (i % 9 === 8 ? null : Array.from({ length: i % 3 }, (_, k) => ({ q: k === 1 ? null : i + k / 4, r: words[(i + k) % words.length] }))) },
  ], PROWS);
  const df = chunked(native.hstack(cat).hstack(bridged), PCHUNKS);
  for (const compression of ['none', 'lz4', 'zstd']) {
    const opts = { compression: compression === 'none' ? 'uncompressed' : compression };
    for (const format of ['file', 'stream']) {
      const table = `polars_${format}_${compression}`;
      const file = path.join(dataDir, `${table}.arrow`);
      if (format === 'file') df.writeIPC(file, opts);
      else df.writeIPCStream(file, opts);
      manifest.tables.push({ table, files: [`${table}.arrow`], reader: 'polars' });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// 2. apache-arrow: struct, dictionary, large_list, schema and field metadata.

const HF_FEATURES = {
  image: { _type: 'Image' },
  label: { names: ['neg', 'pos'], _type: 'ClassLabel' },
  text: { dtype: 'string', _type: 'Value' },
  tokens: { feature: { dtype: 'string', _type: 'Value' }, _type: 'Sequence' },
  score: { dtype: 'float32', _type: 'Value' },
};
const HF_METADATA = JSON.stringify({ info: { features: HF_FEATURES } });
{
  const meta = new Map([['huggingface', HF_METADATA], ['origin', 'apache-arrow 21.2.0 via write_user_tables.mjs'],
                        ['unicode ключ', 'värde ✓'], ['empty', '']]);
  const cols = [
    { name: 'id', type: new A.Int64(), gen: (i) => BigInt(i) * 1000000007n, meta: { role: 'key', note: '{"json": [1, 2]}' } },
    { name: 'b', type: new A.Bool(), gen: (i) => (i % 5 === 3 ? null : i % 3 === 0) },
    { name: 'i8', type: new A.Int8(), gen: (i) => (i % 4 === 1 ? null : ((i * 37) % 256) - 128) },
    { name: 'u16', type: new A.Uint16(), gen: (i) => (i % 3 === 1 ? null : (i * 4099) % 65536) },
    { name: 'u64', type: new A.Uint64(), gen: (i) => 18446744073709551615n - BigInt(i) * 3n },
    { name: 'f16', type: new A.Float16(), gen: (i) => (i % 4 === 2 ? null : i * 0.25 - 2) },
    { name: 'f32', type: new A.Float32(), gen: (i) => i * 1.5 - 10.125, meta: { unit: 'furlongs' } },
    { name: 'f64', type: new A.Float64(), gen: (i) => (i % 5 === 0 ? null : i * 1024.1 - 3.3) },
    { name: 's', type: new A.Utf8(), gen: (i) => (i % 6 === 4 ? null : words[i % words.length]) },
    { name: 'ls', type: new A.LargeUtf8(), gen: (i) => (i % 3 === 2 ? null : words[(i * 2) % words.length] + i) },
    { name: 'bin', type: new A.Binary(), gen: (i) => (i % 4 === 3 ? null : bytes(...Array.from({ length: i % 5 }, (_, k) => i + k * 50))) },
    { name: 'lbin', type: new A.LargeBinary(), gen: (i) => bytes(...Array.from({ length: i % 3 }, (_, k) => 255 - i - k)) },
    { name: 'fsb', type: new A.FixedSizeBinary(3), gen: (i) => (i % 5 === 1 ? null : bytes(i, 2 * i, 255 - i)) },
    { name: 'd32', type: new A.DateDay(), gen: (i) => (i % 4 === 0 ? null : new Date((i * 400 - 3000) * DAY)) },
    { name: 'd64', type: new A.DateMillisecond(), gen: (i) => new Date((i * 3 - 20) * DAY) },
    { name: 'ts_s', type: new A.TimestampSecond(), gen: (i) => (i % 3 === 0 ? null : (i * 86399 - 100000) * 1000) },
    { name: 'ts_ms', type: new A.TimestampMillisecond('UTC'), gen: (i) => 1700000000000 + i * 1001 },
    { name: 'ts_us', type: new A.TimestampMicrosecond('+05:30'), gen: (i) => 1600000000000 + i * 7 },
    { name: 'ts_ns', type: new A.TimestampNanosecond(), gen: (i) => (i % 2 ? null : 1500000000 + i) },
    { name: 'img', type: new A.FixedSizeList(2, new A.Field('row', new A.FixedSizeList(3, new A.Field('px', new A.Uint8(), true)), true)),
      gen: (i) => (i % 7 === 6 ? null : [[i, i + 1, i + 2], [255 - i, 128, (i * 3) % 256]]) },
    { name: 'fsl_s', type: new A.FixedSizeList(2, new A.Field('item', new A.Utf8(), true)),
      gen: (i) => (i % 5 === 0 ? null : [words[i % words.length], i % 2 ? null : 'x']) },
    { name: 'll64', type: new A.LargeList(new A.Field('item', new A.Int64(), true)),
      gen: (i) => (i % 4 === 3 ? null : Array.from({ length: i % 4 }, (_, k) => (k === 1 ? null : BigInt(i) * 10n ** 15n + BigInt(k)))) },
    { name: 'll_s', type: new A.LargeList(new A.Field('item', new A.Utf8(), true, new Map([['item_meta', 'on the list item']]))),
      gen: (i) => Array.from({ length: (i * 7) % 3 }, (_, k) => words[(i + k) % words.length]) },
    { name: 'lst_lst', type: new A.List(new A.Field('item', new A.List(new A.Field('item', new A.Float32(), true)), true)),
      gen: (i) => (i % 5 === 4 ? null : Array.from({ length: i % 3 }, (_, k) => (k === 2 ? null : Array.from({ length: k + 1 }, (_, j) => i + j / 8)))) },
    { name: 'st', type: new A.Struct([
        new A.Field('x', new A.Int32(), true, new Map([['child', 'x meta']])),
        new A.Field('name', new A.Utf8(), true),
        new A.Field('v', new A.FixedSizeList(2, new A.Field('item', new A.Float64(), true)), true),
        new A.Field('inner', new A.Struct([new A.Field('flag', new A.Bool(), true), new A.Field('when', new A.DateDay(), true)]), true),
        new A.Field('tags', new A.List(new A.Field('item', new A.Utf8(), true)), true)]),
      meta: { kind: 'record' },
      gen: (i) => (i % 4 === 2 ? null : { x: i % 3 === 0 ? null : i * 3, name: words[i % words.length], v: [i, -i / 2],
                                          inner: i % 5 === 1 ? null : { flag: i % 2 === 0, when: new Date(i * DAY) },
                                          tags: i % 6 === 3 ? null : [words[i % 3], words[(i + 4) % words.length]] }) },
    { name: 'dict_s', type: new A.Dictionary(new A.Utf8(), new A.Int32()), dict: ['red', 'green', 'blue', 'ünïcode', ''],
      gen: (i) => (i % 5 === 1 ? null : (i * 3) % 5), meta: { encoding: 'dictionary' } },
    { name: 'dict_i64', type: new A.Dictionary(new A.Int64(), new A.Uint8()), dict: [10n, -20n, 9007199254740993n],
      gen: (i) => i % 3 },
    { name: 'dict_f32', type: new A.Dictionary(new A.Float32(), new A.Int16()), dict: [0.5, -1.25, 3e38],
      gen: (i) => (i % 7 === 6 ? null : (i * 5) % 3) },
  ];
  const table = arrowTable(cols, [7, 0, 13, 1, 30], meta);
  for (const format of ['file', 'stream']) {
    const name = `arrowjs_${format}`;
    writeArrow(`${name}.arrow`, table, format);
    manifest.tables.push({ table: name, files: [`${name}.arrow`], reader: 'arrow' });
  }
}

// ---------------------------------------------------------------------------------------------------------
// 3. Hugging Face: a DatasetDict as save_to_disk writes it, and the datasets cache layout.

// The columns datasets writes for HF_FEATURES: Image -> struct<bytes: binary, path: string>,
// ClassLabel -> int64, Value("string") -> string, Sequence(Value("string")) -> list<string>,
// Value("float32") -> float. `first` makes splits hold different rows.
const png = (i) => bytes(0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, ...Array.from({ length: 8 + (i % 23) }, (_, k) => i * 7 + k * 13));
const hfColumns = (seed) => [
  { name: 'image', type: new A.Struct([new A.Field('bytes', new A.Binary(), true), new A.Field('path', new A.Utf8(), true)]),
    gen: (i) => ({ bytes: png(i + seed), path: (i + seed) % 3 === 0 ? null : `images/${seed ? 'test' : 'train'}_${i}.png` }) },
  { name: 'label', type: new A.Int64(), gen: (i) => BigInt(((i + seed) * 7) % 2) },
  { name: 'text', type: new A.Utf8(), gen: (i) => ((i + seed) % 11 === 5 ? null : `review ${i + seed}: ${words[(i + seed) % words.length]}`) },
  { name: 'tokens', type: new A.List(new A.Field('item', new A.Utf8(), true)),
    gen: (i) => Array.from({ length: (i + seed) % 5 }, (_, k) => words[(i + k + seed) % words.length]) },
  { name: 'score', type: new A.Float32(), gen: (i) => ((i + seed) % 16) * 0.0625 },
];
const SPLITS = { train: { seed: 0, files: [[50, 80], [100, 70]] }, test: { seed: 100000, files: [[20], [5, 20]] } };

function infoJson(extra = {}) {
  const splits = {};
  for (const [name, s] of Object.entries(SPLITS)) {
    const rows = s.files.flat().reduce((a, x) => a + x, 0);
    splits[name] = { name, num_bytes: 0, num_examples: rows, dataset_name: 'imdb_like' };
  }
  return JSON.stringify({ citation: '', description: 'tablecar test data', features: HF_FEATURES, homepage: '', license: '',
                          ...extra, splits, version: { version_str: '0.0.0', major: 0, minor: 0, patch: 0 } }, null, 2);
}

// Every file of a split, in row order, as apache-arrow tables (IPC stream format, as datasets writes).
function splitTables(s) {
  const cols = hfColumns(s.seed);
  let first = 0;
  return s.files.map((sizes) => {
    const t = arrowTable(cols, sizes, new Map([['huggingface', HF_METADATA]]), first);
    first += sizes.reduce((a, x) => a + x, 0);
    return t;
  });
}

{
  const dict = 'imdb';
  fs.mkdirSync(path.join(dataDir, dict), { recursive: true });
  fs.writeFileSync(path.join(dataDir, dict, 'dataset_dict.json'), JSON.stringify({ splits: Object.keys(SPLITS) }));
  for (const [split, s] of Object.entries(SPLITS)) {
    const tables = splitTables(s);
    const n = tables.length;
    const files = tables.map((_, k) => `data-${String(k).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.arrow`);
    tables.forEach((t, k) => writeArrow(`${dict}/${split}/${files[k]}`, t, 'stream'));
    fs.writeFileSync(path.join(dataDir, dict, split, 'dataset_info.json'), infoJson({ builder_name: 'imdb_like', config_name: 'plain_text' }));
    fs.writeFileSync(path.join(dataDir, dict, split, 'state.json'), JSON.stringify({
      _data_files: files.map((filename) => ({ filename })),
      _fingerprint: `f${split}0123456789ab`,
      _format_columns: null,
      _format_kwargs: {},
      _format_type: null,
      _output_all_columns: false,
      _split: split,
    }, null, 2));
    manifest.tables.push({ table: `${dict}/${split}`, files: files.map((f) => `${dict}/${split}/${f}`), reader: 'arrow' });
  }
  manifest.hf.dict = dict;
}

{
  const parent = 'cache/imdb_like/plain_text/0.0.0';
  const folder = `${parent}/5a2b1c3d`;
  fs.mkdirSync(path.join(dataDir, folder), { recursive: true });
  fs.writeFileSync(path.join(dataDir, folder, 'dataset_info.json'), infoJson({ builder_name: 'imdb_like', config_name: 'plain_text', dataset_name: 'imdb_like' }));
  // datasets leaves lock files next to the folder; they are not tables.
  fs.writeFileSync(path.join(dataDir, `${parent}/5a2b1c3d.incomplete_info.lock`), '');
  fs.writeFileSync(path.join(dataDir, 'cache', '_root_.cache_huggingface_datasets_imdb_like_plain_text_0.0.0_5a2b1c3d.lock'), '');
  for (const [split, s] of Object.entries(SPLITS)) {
    const tables = splitTables(s);
    const n = tables.length;
    const files = tables.map((_, k) => `imdb_like-${split}-${String(k).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.arrow`);
    tables.forEach((t, k) => writeArrow(`${folder}/${files[k]}`, t, 'stream'));
    manifest.tables.push({ table: `${folder}/${split}`, files: files.map((f) => `${folder}/${f}`), reader: 'arrow' });
  }
  // A third split in a single unsharded file: BUILDER-SPLIT.arrow.
  const one = arrowTable(hfColumns(7), [9, 4], new Map([['huggingface', HF_METADATA]]));
  writeArrow(`${folder}/imdb_like-unsupervised.arrow`, one, 'stream');
  manifest.tables.push({ table: `${folder}/unsupervised`, files: [`${folder}/imdb_like-unsupervised.arrow`], reader: 'arrow' });
  manifest.hf.cache = folder;
}

// ---------------------------------------------------------------------------------------------------------
// 4. The same logical data from polars (utf8_view, binary_view, large_list<utf8_view>, dictionary of views)
//    and from apache-arrow (utf8, binary, list<utf8>, dictionary of utf8).

{
  const ROWS = 90;
  const spec = [
    { name: 'n', gen: (i) => (i % 7 === 3 ? null : BigInt(i * 1000003 - 20000000)), pl: pl.Int64, a: new A.Int64() },
    { name: 'x', gen: (i) => (i % 5 === 1 ? null : i / 4 - 3), pl: pl.Float64, a: new A.Float64() },
    { name: 's', gen: (i) => (i % 6 === 2 ? null : words[i % words.length] + (i % 4 ? '' : ` #${i}`)), pl: pl.String, a: new A.Utf8() },
    { name: 'tags', gen: (i) => (i % 8 === 0 ? null : Array.from({ length: i % 4 }, (_, k) => (k === 2 ? null : words[(i * k + 1) % words.length]))),
      pl: pl.List(pl.String), a: new A.List(new A.Field('item', new A.Utf8(), true)) },
  ];
  const binSpec = { name: 'blob', type: new A.Binary(), gen: (i) => (i % 9 === 4 ? null : bytes(...Array.from({ length: (i * 3) % 20 }, (_, k) => i ^ k))) };
  const catValues = ['alpha', 'beta', 'a category name longer than twelve'];
  const catGen = (i) => { const k = chunkIndex(i, [40, 50]); return k % 10 === 7 ? null : k % 3; };

  const gen = (f) => Array.from({ length: ROWS }, (_, i) => f(i));
  const series = (s) => (s.pl === pl.Int64 ? pl.Series(s.name, gen((i) => { const v = s.gen(i); return v === null ? null : String(v); })).cast(pl.Int64)
                                            : pl.Series(s.name, gen(s.gen), s.pl));
  let df = pl.DataFrame(spec.map(series));
  df = df.hstack(viaArrow([binSpec], ROWS));
  df = df.hstack(pl.DataFrame([pl.Series('cat', gen((i) => { const k = catGen(i); return k === null ? null : catValues[k]; }), pl.Categorical)]));
  df = chunked(df, [40, 50]);
  df.writeIPC(path.join(dataDir, 'same_polars.arrow'), { compression: 'uncompressed' });
  manifest.tables.push({ table: 'same_polars', files: ['same_polars.arrow'], reader: 'polars' });

  const cols = [...spec.map((s) => ({ name: s.name, type: s.a, gen: s.gen })), binSpec,
                { name: 'cat', type: new A.Dictionary(new A.Utf8(), new A.Int32()), dict: catValues, gen: catGen }];
  writeArrow('same_arrowjs.arrow', arrowTable(cols, [40, 50]), 'file');
  manifest.tables.push({ table: 'same_arrowjs', files: ['same_arrowjs.arrow'], reader: 'arrow' });
}

// ---------------------------------------------------------------------------------------------------------
// 5. An all-null column without a type (pl.lit(null): Arrow's Null type, no buffers) is served, all None.
//    What polars writes and tablecar does not serve: each in its own file, next to a good column.

{
  const ok = pl.Series('ok', [1, 2, 3], pl.Int32);
  pl.DataFrame([ok]).withColumn(pl.lit(null).alias('nothing'))
    .writeIPC(path.join(dataDir, 'null_polars.arrow'), { compression: 'uncompressed' });
  manifest.tables.push({ table: 'null_polars', files: ['null_polars.arrow'], reader: 'polars' });
  const bad = [
    ['duration', 'Duration', pl.Series('elapsed', [1000, null, 5], pl.Duration('ms'))],
    ['time', 'Time', pl.Series('clock', [1000, null, 5], pl.Time)],
    ['decimal', 'Decimal', pl.Series('price', [150n, null, -3n], pl.Decimal(10, 2))],
  ];
  for (const [tag, type, series] of bad) {
    const table = `reject_polars_${tag}`;
    const df = pl.DataFrame([ok, series]);
    df.writeIPC(path.join(dataDir, `${table}.arrow`), { compression: 'uncompressed' });
    manifest.rejected.push({ table, file: `${table}.arrow`, field: df.columns[1], type });
  }
}

fs.writeFileSync(path.join(path.dirname(path.resolve(dataDir)), 'manifest.json'), JSON.stringify(manifest, null, 1));
