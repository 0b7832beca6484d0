// Writes Arrow IPC fixtures with nodejs-polars (Rust arrow underneath: an implementation independent of
// tablecar and of apache-arrow) for tests/test_arrow_file.c: LZ4_FRAME and ZSTD compressed buffers, and
// utf8_view strings (polars' IPC file writer emits them), categoricals as dictionaries.
//
//   node write_polars_fixtures.mjs OUTDIR
//
// OUTDIR gets polars.*.arrow and polars_expected.json, in the value encoding of write_arrow_fixtures.mjs
// (integers, dates and datetimes as decimal strings in the stored unit, floats as numbers, lists as arrays,
// structs as objects), the columns given once at the top level for every file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import pl from 'nodejs-polars';

const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: node write_polars_fixtures.mjs OUTDIR');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });

const DAY = 86400000;
// Chunks become record batches in the file writer; the big one makes compression pay.
const CHUNKS = [5, 4, 3000];
const words = ['', 'a', 'short', 'exactly12byt', 'thirteen byte', 'héllo wörld, longer than twelve', '日本語のテキスト'];
const str = (v) => String(v);
const num = (v) => v;

function chunkIndex(i) {
  for (const n of CHUNKS) {
    if (i < n) return i;
    i -= n;
  }
  return i;
}

function col(name, dtype, gen, enc) { return { name, dtype, gen, enc }; }

const columns = [
  col('i8', pl.Int8, (i) => (i % 7 === 3 ? null : (i % 256) - 128), str),
  col('i16', pl.Int16, (i) => (i * 13) % 32768 - 16000, str),
  col('i32', pl.Int32, (i) => (i % 11 === 5 ? null : i * 100003 - 50000000), str),
  col('i64', pl.Int64, (i) => i * 1099511627 - 2 ** 52, str),
  col('u8', pl.UInt8, (i) => i % 256, str),
  col('u16', pl.UInt16, (i) => (i * 7) % 65536, str),
  col('u32', pl.UInt32, (i) => (i % 9 === 1 ? null : (i * 2654435) % 4294967296), str),
  col('u64', pl.UInt64, (i) => 2n ** 64n - 1n - BigInt(i) * 3n, str), // polars turns plain numbers into nulls here
  col('f32', pl.Float32, (i) => (i % 5 === 4 ? null : i * 0.5 - 100), num),
  col('f64', pl.Float64, (i) => i * 3.25 - 7, num),
  col('b', pl.Bool, (i) => (i % 6 === 5 ? null : i % 3 === 1), num),
  col('s', pl.String, (i) => (i % 8 === 7 ? null : words[i % words.length] + (i % 3 ? '' : String(i))), num),
  col('d', pl.Date, (i) => (i % 10 === 9 ? null : new Date((i - 1000) * DAY)), (v) => String(Math.round(v.valueOf() / DAY))),
  col('dt_ms', pl.Datetime('ms'), (i) => new Date(1600000000000 + i * 1234), (v) => String(v.valueOf())),
  col('dt_us', pl.Datetime('us', 'Europe/Paris'), (i) => (i % 4 === 0 ? null : new Date(1500000000000 + i)), (v) => String(BigInt(v.valueOf()) * 1000n)),
  col('dt_ns', pl.Datetime('ns'), (i) => new Date(1400000000000 - i * 1000), (v) => String(BigInt(v.valueOf()) * 1000000n)),
  col('lst', pl.List(pl.Int32), (i) => (i % 5 === 2 ? null : Array.from({ length: i % 4 }, (_, k) => (k === 2 ? null : i + k))),
      (v) => v.map((x) => (x === null ? null : String(x)))),
  col('lst_s', pl.List(pl.String), (i) => Array.from({ length: (i * 3) % 4 }, (_, k) => words[(i + k) % words.length]), num),
  col('fsl', pl.FixedSizeList(pl.Float32, 3), (i) => [i, i + 0.5, -i], num),
  // Every chunk starts with the same categories, in the same order: polars' file writer refuses to
  // write a different dictionary for a later batch.
  col('cat', pl.Categorical, (i) => { const k = chunkIndex(i); return k === 4 ? null : ['red', 'green', 'blue', 'a much longer category name'][k % 4]; }, num),
];

const total = CHUNKS.reduce((a, x) => a + x, 0);
const series = columns.map((c) => pl.Series(c.name, Array.from({ length: total }, (_, i) => c.gen(i)), c.dtype));
// A struct column, built from objects (polars infers struct{x: f64, y: str} from the first one).
series.push(pl.Series('st', Array.from({ length: total }, (_, i) => ({ x: i % 3 === 1 ? null : i * 2, y: words[i % words.length] }))));
const whole = pl.DataFrame(series);
// Chunks cut from one frame share its categorical dictionary (the file format cannot replace one).
let df = null;
let start = 0;
for (const n of CHUNKS) {
  const chunk = whole.slice(start, n);
  df = df ? df.vstack(chunk) : chunk;
  start += n;
}

const expectedCols = columns.map((c) => ({
  name: c.name,
  values: Array.from({ length: total }, (_, i) => { const v = c.gen(i); return v === null ? null : c.enc(v); }),
}));
expectedCols.push({ name: 'st', values: Array.from({ length: total }, (_, i) => ({ x: i % 3 === 1 ? null : i * 2, y: words[i % words.length] })) });

// Every file holds the same table: its columns are given once, for all of them.
const expected = { columns: expectedCols, files: [] };
for (const compression of ['lz4', 'zstd', 'uncompressed']) {
  const file = `polars.${compression}.file.arrow`;
  const stream = `polars.${compression}.stream.arrow`;
  const opts = { compression };
  df.writeIPC(path.join(outDir, file), opts);
  df.writeIPCStream(path.join(outDir, stream), opts);
  // The stream writer may rechunk: its batch sizes are whatever it wrote ("batches": null).
  expected.files.push({ name: file, rows: total, batches: CHUNKS, compression });
  expected.files.push({ name: stream, rows: total, batches: null, compression });
}
fs.writeFileSync(path.join(outDir, 'polars_expected.json'), JSON.stringify(expected));
