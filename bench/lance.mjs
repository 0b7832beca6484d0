// The LanceDB peer of bench/run: writes the benchmark rows into a Lance table (once), then reads the same
// batches of the same ids (DIR/raw/ids.i64) with takeOffsets. Prints one JSON object per line.
//
//   node bench/lance.mjs DIR [--batches 1,32,256,1024] [--repeats N] [--rows-per-run N] [--max-calls N]
//
// LanceDB's apache-arrow peer (15.0.0..18.1.0) is loaded with require, as LanceDB itself does. takeOffsets
// returns rows in ascending offset order, not in the order asked: the first batch's order is reported
// ("order"), and every batch is put back in the asked order (image bytes copied into a reused buffer, as
// a user must) in the "lance" figures; "lance_raw" is takeOffsets + toArrow alone.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const arrow = require('apache-arrow');
const lancedb = require('@lancedb/lancedb');

const args = process.argv.slice(2);
const dir = args[0];
const opt = { batches: '1,32,256,1024', repeats: '3', 'rows-per-run': '32768', 'max-calls': '1000' };
for (let i = 1; i + 1 < args.length; i += 2) opt[args[i].replace(/^--/, '')] = args[i + 1];
const batches = opt.batches.split(',').map(Number);
const repeats = Number(opt.repeats), rowsPerRun = Number(opt['rows-per-run']), maxCalls = Number(opt['max-calls']);

const raw = (name) => fs.readFileSync(path.join(dir, 'raw', name));
const meta = JSON.parse(raw('meta.json'));
const rows = meta.rows, rowBytes = meta.shape[0] * meta.shape[1] * meta.shape[2];

async function build(db) {
  const imgFd = fs.openSync(path.join(dir, 'raw', 'images.u8'), 'r');
  const labels = new BigInt64Array(raw('labels.i64').buffer.slice(0));
  const offBuf = raw('captions.off');
  const off = new BigInt64Array(offBuf.buffer, offBuf.byteOffset, rows + 1);
  const cap = raw('captions.bin');
  const imageType = new arrow.FixedSizeList(rowBytes, new arrow.Field('item', new arrow.Uint8(), false));
  const schema = new arrow.Schema([
    new arrow.Field('id', new arrow.Int64(), false),
    new arrow.Field('image', imageType, false),
    new arrow.Field('label', new arrow.Int64(), false),
    new arrow.Field('caption', new arrow.Utf8(), true),
  ]);
  let tbl = null;
  const chunk = 4096;
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const n = Math.min(chunk, rows - r0);
    const img = Buffer.alloc(n * rowBytes);
    fs.readSync(imgFd, img, 0, img.length, r0 * rowBytes);
    const c0 = Number(off[r0]);
    const offsets = new Int32Array(n + 1);
    for (let k = 0; k <= n; k++) offsets[k] = Number(off[r0 + k]) - c0;
    const ids = new BigInt64Array(n);
    for (let k = 0; k < n; k++) ids[k] = BigInt(r0 + k);
    const data = [
      arrow.makeData({ type: new arrow.Int64(), length: n, data: ids }),
      arrow.makeData({ type: imageType, length: n, nullCount: 0,
        child: arrow.makeData({ type: new arrow.Uint8(), length: n * rowBytes, data: new Uint8Array(img.buffer, img.byteOffset, img.length) }) }),
      arrow.makeData({ type: new arrow.Int64(), length: n, data: labels.subarray(r0, r0 + n) }),
      arrow.makeData({ type: new arrow.Utf8(), length: n, valueOffsets: offsets,
        data: new Uint8Array(cap.buffer, cap.byteOffset + c0, offsets[n]) }),
    ];
    const batch = new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, children: data }));
    const t = new arrow.Table([batch]);
    if (!tbl) tbl = await db.createTable('bench', t, { mode: 'overwrite' });
    else await tbl.add(t);
  }
  fs.closeSync(imgFd);
  fs.writeFileSync(path.join(dir, 'lance', 'DONE'), String(rows));
  return tbl;
}

function leafBytes(vec) {  // the image column's uint8 values of one record batch chunk
  return vec.data[0].children[0].values;
}

async function main() {
  const lanceDir = path.join(dir, 'lance');
  fs.mkdirSync(lanceDir, { recursive: true });
  const db = await lancedb.connect(lanceDir);
  let tbl;
  if (fs.existsSync(path.join(lanceDir, 'DONE')) && fs.readFileSync(path.join(lanceDir, 'DONE'), 'utf8') === String(rows))
    tbl = await db.openTable('bench');
  else
    tbl = await build(db);
  const idsBuf = raw('ids.i64');
  const ids = Array.from(new BigInt64Array(idsBuf.buffer, idsBuf.byteOffset, rows), Number);
  const cols = ['id', 'image', 'label', 'caption'];
  let reported = false;
  for (let run = 0; run < repeats; run++) {
    for (const batch of batches) {
      if (batch > rows) continue;
      const calls = Math.min(maxCalls, Math.max(20, Math.floor(rowsPerRun / batch)));
      const per = Math.floor(rows / batch);
      const out = new Uint8Array(batch * rowBytes);  // the reused buffer rows land in, in the asked order
      const lat = [], latRaw = [];
      let imageBytes = 0, got = 0;
      const t0 = performance.now();
      for (let k = 0; k < calls; k++) {
        const want = ids.slice((k % per) * batch, (k % per) * batch + batch);
        const c0 = performance.now();
        const t = await tbl.takeOffsets(want).select(cols).toArrow();
        const c1 = performance.now();
        const idCol = t.getChild('id').toArray();
        const where = new Map();
        for (let i = 0; i < idCol.length; i++) where.set(Number(idCol[i]), i);
        if (!reported && batch > 1) {
          const asked = want.join(',') === Array.from(idCol, Number).join(',');
          const asc = Array.from(idCol, Number).join(',') === [...want].sort((a, b) => a - b).join(',');
          console.log(JSON.stringify({ tool: 'node', method: 'lance_order', batch, order: asked ? 'asked' : asc ? 'ascending offsets' : 'other' }));
          reported = true;
        }
        // Put the rows back in the asked order (rows may span several record batches of the result).
        const chunks = t.getChild('image').data.map((d) => ({ len: d.length, v: d.children[0].values }));
        for (let i = 0; i < want.length; i++) {
          let j = where.get(want[i]), ci = 0;
          while (j >= chunks[ci].len) { j -= chunks[ci].len; ci++; }
          out.set(chunks[ci].v.subarray(j * rowBytes, (j + 1) * rowBytes), i * rowBytes);
        }
        const c2 = performance.now();
        latRaw.push((c1 - c0) / 1000);
        lat.push((c2 - c0) / 1000);
        imageBytes += want.length * rowBytes;
        got += t.numRows;
      }
      const secs = (performance.now() - t0) / 1000;
      const rawSecs = latRaw.reduce((a, b) => a + b, 0);
      const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(s.length * p))] * 1e6; };
      for (const [method, s, l] of [['lance', secs, lat], ['lance_raw', rawSecs, latRaw]])
        console.log(JSON.stringify({ tool: 'node', method, transport: 'in-process', batch, inflight: 1, run, calls,
          rows: got, image_bytes: imageBytes, seconds: s, p50_us: pct(l, 0.5), p99_us: pct(l, 0.99) }));
    }
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
