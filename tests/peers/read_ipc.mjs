// read_ipc.mjs [--reader arrow|polars] FILE
//
// Reads an Arrow IPC file (file or stream format) with a reader nobody here wrote and prints it as JSON
// lines in a canonical form that tests/test_arrow_writer.c renders too, so the two compare as text:
//
//   {"rows":N,"metadata":{...}}                                  first line (polars: {"rows":N})
//   {"name":..,"type":..,"nullable":..,"metadata":{..},"values":[..]}   one line per column
//                                                               (polars: {"name":..,"values":[..]})
//
// Types: int8..int64, uint8..uint64, float16/32/64, bool, utf8, large_utf8, binary, large_binary,
// fixed_size_binary[W], date32, date64, timestamp[s|ms|us|ns(,TZ)], list<T>, large_list<T>,
// fixed_size_list[N]<T>, struct<a:T,b:T>. Values: null; integers, dates (milliseconds since the epoch) and
// timestamps (in their unit) as decimal strings, so 64-bit values stay exact; floats as JSON numbers; bool;
// strings; binary as lowercase hex strings; lists as arrays; structs as objects in field order.
//
// --reader polars: nodejs-polars decodes the file (it supports LZ4_FRAME and ZSTD buffers, apache-arrow
// does not); its frame is then written back as an uncompressed IPC buffer and printed through apache-arrow,
// since nodejs-polars cannot hand Binary or Float16 columns to JS. Polars changes types (date64 and
// timestamp[s] become timestamp[ms], strings become views, ...), so only names and values are printed.
import { readFileSync } from 'node:fs';
import { tableFromIPC, Type } from 'apache-arrow';
import { typeName } from './arrow_type_name.mjs';

const hex = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

// One cell: row J of Data D (J counts from D's own logical start).
function cell(d, j, vec) {
  if (!d.getValid(j)) return null;
  const t = d.type;
  const k = d.offset + j;
  switch (t.typeId) {
    case Type.Int: return String(vec(d).get(j));
    case Type.Date: return t.unit === 0 ? String(BigInt(d.values[k]) * 86400000n) : String(d.values[k]);
    case Type.Timestamp: return String(d.values[k]); // raw, exact: get() would give float milliseconds
    case Type.Float: case Type.Bool: case Type.Utf8: case Type.LargeUtf8: case Type.Utf8View:
      return vec(d).get(j);
    case Type.Binary: case Type.LargeBinary: case Type.BinaryView: case Type.FixedSizeBinary:
      return hex(vec(d).get(j));
    case Type.List: case Type.LargeList: {
      const [a, b] = [Number(d.valueOffsets[k]), Number(d.valueOffsets[k + 1])];
      const out = [];
      for (let i = a; i < b; i++) out.push(cell(d.children[0], i, vec));
      return out;
    }
    case Type.FixedSizeList: {
      const out = [];
      for (let i = 0; i < t.listSize; i++) out.push(cell(d.children[0], k * t.listSize + i, vec));
      return out;
    }
    case Type.Struct:
      return Object.fromEntries(t.children.map((f, i) => [f.name, cell(d.children[i], k, vec)]));
    default: throw new Error(`unsupported type ${String(t)}`);
  }
}

function columnValues(table, index) {
  const cache = new Map(); // one Vector per leaf Data, for get()
  const { makeVector } = arrowMod;
  const vec = (d) => { if (!cache.has(d)) cache.set(d, makeVector(d)); return cache.get(d); };
  const out = [];
  for (const batch of table.batches) {
    const d = batch.data.children[index];
    for (let j = 0; j < d.length; j++) out.push(cell(d, j, vec));
  }
  return out;
}

const mapObject = (m) => Object.fromEntries(m ? [...m.entries()] : []);

function print(table, schemaToo) {
  const lines = [];
  lines.push(JSON.stringify(schemaToo ? { rows: table.numRows, metadata: mapObject(table.schema.metadata) }
                                      : { rows: table.numRows }));
  table.schema.fields.forEach((f, i) => {
    const values = columnValues(table, i);
    lines.push(JSON.stringify(schemaToo
      ? { name: f.name, type: typeName(f.type), nullable: f.nullable, metadata: mapObject(f.metadata), values }
      : { name: f.name, values }));
  });
  process.stdout.write(lines.join('\n') + '\n');
}

async function polarsTable(bytes) {
  const pl = (await import('nodejs-polars')).default;
  const isFile = bytes.subarray(0, 6).toString('latin1') === 'ARROW1';
  const df = isFile ? pl.readIPC(bytes) : pl.readIPCStream(bytes);
  return tableFromIPC(df.writeIPC());
}

const arrowMod = await import('apache-arrow');
const args = process.argv.slice(2);
let reader = 'arrow';
if (args[0] === '--reader') { reader = args[1]; args.splice(0, 2); }
if (args.length !== 1 || !['arrow', 'polars'].includes(reader)) {
  process.stderr.write('usage: node read_ipc.mjs [--reader arrow|polars] FILE\n');
  process.exit(2);
}
const bytes = readFileSync(args[0]);
if (reader === 'polars') print(await polarsTable(bytes), false);
else print(tableFromIPC(bytes), true);
