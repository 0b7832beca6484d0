// dump_ipc.mjs --reader arrow|polars FILE...
//
// Reads Arrow IPC files (file or stream format) with the writer's own reader and prints one JSON line per
// file, for tests/python/test_user_tables.py to compare with what tablecar serves:
//
//   {"file", "rows", "batches": [rows per record batch], "metadata": {schema metadata},
//    "fields": [{"name", "type", "nullable", "metadata", "children": [...]}], "columns": {name: [values]}}
//
// --reader arrow: apache-arrow's tableFromIPC. --reader polars: nodejs-polars decodes the file
// (pl.readIPC / readIPCStream: LZ4_FRAME and ZSTD buffers, views, dictionaries) and its frame is printed
// through apache-arrow from polars' own uncompressed re-encoding (df.writeIPC()), because nodejs-polars
// cannot hand binary or float16 values to JS; polars keeps no schema metadata, so "metadata" is {} and
// "batches" is null there.
//
// Values: null for a null; integers (also date32 days, date64 milliseconds and timestamps in their own unit,
// all raw) as decimal strings, so 64-bit values stay exact; floats as JSON numbers, except NaN, Infinity,
// -Infinity and -0 as those strings; bools; strings; binary and fixed_size_binary as lowercase hex; lists
// and fixed-size lists as arrays; structs as objects in field order; dictionary values decoded.
import { readFileSync } from 'node:fs';
import * as A from 'apache-arrow';
import { typeName } from './arrow_type_name.mjs';

const { Type } = A;

const mapObject = (m) => Object.fromEntries(m ? [...m.entries()] : []);

function field(f) {
  const out = { name: f.name, type: typeName(f.type), nullable: f.nullable, metadata: mapObject(f.metadata) };
  const kids = f.type.typeId === Type.Dictionary ? [] : f.type.children || [];
  if (kids.length) out.children = kids.map(field);
  return out;
}

const hex = (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function float(v) {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (Object.is(v, -0)) return '-0';
  return v;
}

// Row j of Data d (j counts from d's own logical start); `vec` gives a cached Vector over a Data.
function cell(d, j, vec) {
  if (!d.getValid(j)) return null;
  const t = d.type;
  const k = d.offset + j;
  switch (t.typeId) {
    case Type.Null: return null; // no buffers: every value is null
    case Type.Int: return String(vec(d).get(j));
    case Type.Date: case Type.Timestamp: return String(d.values[k]); // raw, in the stored unit
    case Type.Float: return float(vec(d).get(j));
    case Type.Bool: case Type.Utf8: case Type.LargeUtf8: case Type.Utf8View: return vec(d).get(j);
    case Type.Binary: case Type.LargeBinary: case Type.BinaryView: case Type.FixedSizeBinary: return hex(vec(d).get(j));
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
    case Type.Dictionary: {
      let idx = Number(d.values[k]);
      for (const dd of d.dictionary.data) { // the dictionary's chunks (one, unless deltas were read)
        if (idx < dd.length) return cell(dd, idx, vec);
        idx -= dd.length;
      }
      throw new Error(`dictionary index ${d.values[k]} out of range`);
    }
    default: throw new Error(`unsupported type ${String(t)}`);
  }
}

function dump(file, table, batches, metadata) {
  const cache = new Map();
  const vec = (d) => { if (!cache.has(d)) cache.set(d, A.makeVector(d)); return cache.get(d); };
  const columns = {};
  table.schema.fields.forEach((f, i) => {
    const out = [];
    for (const b of table.batches) {
      const d = b.data.children[i];
      for (let j = 0; j < d.length; j++) out.push(cell(d, j, vec));
    }
    columns[f.name] = out;
  });
  return JSON.stringify({ file, rows: table.numRows, batches, metadata, fields: table.schema.fields.map(field), columns });
}

const args = process.argv.slice(2);
let reader = 'arrow';
if (args[0] === '--reader') { reader = args[1]; args.splice(0, 2); }
if (!args.length || !['arrow', 'polars'].includes(reader)) {
  process.stderr.write('usage: node dump_ipc.mjs [--reader arrow|polars] FILE...\n');
  process.exit(2);
}
const pl = reader === 'polars' ? (await import('nodejs-polars')).default : null;
const lines = [];
for (const file of args) {
  const bytes = readFileSync(file);
  if (pl) {
    const isFile = bytes.subarray(0, 6).toString('latin1') === 'ARROW1';
    const df = isFile ? pl.readIPC(bytes) : pl.readIPCStream(bytes);
    lines.push(dump(file, A.tableFromIPC(df.writeIPC()), null, {}));
  } else {
    const table = A.tableFromIPC(bytes);
    lines.push(dump(file, table, table.batches.map((b) => b.numRows), mapObject(table.schema.metadata)));
  }
}
process.stdout.write(lines.join('\n') + '\n');
