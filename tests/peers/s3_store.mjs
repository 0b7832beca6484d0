// s3_store.mjs: a small S3 REST server for the tests, strict where tablecar's client could be wrong.
//
//   node s3_store.mjs --root DIR [--port N] [--latency-ms N] [--page-size N]
//
// Prints "listening PORT" on stdout once it accepts connections. Objects live in DIR/BUCKET/KEY (so a store
// killed and started again on the same DIR and port still has them: that is how the tests make an outage).
//
// What it checks, as AWS S3 does: every request is signed with SigV4 (header form) by the access key
// S3_ACCESS_KEY with S3_SECRET_KEY (defaults tcaccess/tcsecret): the canonical query is the parameters sorted
// and RFC 3986-encoded, so a client that signs its query as written must send it that way; the
// x-amz-content-sha256 header is required and a hex payload hash must match the body. Wrong access key ->
// 403 InvalidAccessKeyId, wrong signature -> 403 SignatureDoesNotMatch.
// S3 operations: CreateBucket (PUT /b), PutObject, GetObject and HeadObject (Range: bytes=A-B, A-, -N;
// If-Match), DeleteObject, ListObjectsV2 (prefix, max-keys, continuation-token, start-after).
//
// Unsigned control endpoints for the tests, under /__admin/:
//   GET  /__admin/stats                 {"requests", "list", "get", "get_bytes", "head", "put", "denied",
//                                        "gets": [[KEY, START, END], ...] (each GET's byte range, END inclusive;
//                                        the first 10000), "held" (requests that arrived while a latency
//                                        was set, counted on arrival)}
//   POST /__admin/reset                 zeroes the counters
//   POST /__admin/latency?ms=N          delays every S3 answer by N ms
//   POST /__admin/fail?status=503&count=N   the next N S3 requests get STATUS (503: SlowDown)
//   POST /__admin/hide?key=BUCKET/KEY   GETs of that object get 404 while listings still show it
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROOT = arg('root');
if (!ROOT) {
  console.error('usage: node s3_store.mjs --root DIR [--port N] [--latency-ms N]');
  process.exit(2);
}
const ACCESS = process.env.S3_ACCESS_KEY || 'tcaccess';
const SECRET = process.env.S3_SECRET_KEY || 'tcsecret';
// With S3_SESSION_TOKEN set, requests must carry it, signed, as x-amz-security-token (temporary credentials).
const TOKEN = process.env.S3_SESSION_TOKEN || '';
let latencyMs = Number(arg('latency-ms', 0));
const PAGE_SIZE = Number(arg('page-size', 1000));
let failNext = { status: 0, count: 0 };
const hidden = new Set();
const zero = () => ({ requests: 0, list: 0, get: 0, get_bytes: 0, head: 0, put: 0, denied: 0, gets: [], held: 0 });
let stats = zero();

// ---- SigV4 ------------------------------------------------------------------------------------------

// RFC 3986 unreserved characters stay, everything else is %XX (uppercase), as SigV4 wants.
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();
const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');

function canonicalQuery(rawQuery) {
  if (!rawQuery) return '';
  const pairs = rawQuery.split('&').filter((p) => p).map((p) => {
    const eq = p.indexOf('=');
    const k = decodeURIComponent((eq < 0 ? p : p.slice(0, eq)).replace(/\+/g, '%20'));
    const v = eq < 0 ? '' : decodeURIComponent(p.slice(eq + 1).replace(/\+/g, '%20'));
    return [enc(k), enc(v)];
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

// Null when REQ is correctly signed, else [status, code, message].
function verify(req, rawPath, rawQuery, body) {
  const auth = req.headers.authorization || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return [403, 'AccessDenied', 'missing or malformed SigV4 Authorization header'];
  const [, access, day, region, signedHeaders, signature] = m;
  if (access !== ACCESS) return [403, 'InvalidAccessKeyId', 'unknown access key'];
  const payloadHash = req.headers['x-amz-content-sha256'];
  if (!payloadHash) return [400, 'InvalidRequest', 'missing x-amz-content-sha256'];
  if (/^[0-9a-f]{64}$/.test(payloadHash) && sha256(body) !== payloadHash)
    return [400, 'XAmzContentSHA256Mismatch', 'payload hash mismatch'];
  const amzDate = req.headers['x-amz-date'] || '';
  if (!amzDate.startsWith(day)) return [403, 'AccessDenied', 'x-amz-date does not match the credential scope'];
  const names = signedHeaders.split(';');
  if (!names.includes('host') || !names.includes('x-amz-content-sha256') || !names.includes('x-amz-date'))
    return [403, 'AccessDenied', 'host, x-amz-date and x-amz-content-sha256 must be signed'];
  if (TOKEN && (req.headers['x-amz-security-token'] !== TOKEN || !names.includes('x-amz-security-token')))
    return [403, 'InvalidToken', 'missing, unsigned or wrong x-amz-security-token'];
  const headers = names.map((h) => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const creq = [req.method, rawPath, canonicalQuery(rawQuery), headers, signedHeaders, payloadHash].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(creq)].join('\n');
  let key = hmac('AWS4' + SECRET, day);
  for (const part of [region, 's3', 'aws4_request']) key = hmac(key, part);
  const expected = hmac(key, toSign).toString('hex');
  if (expected !== signature) return [403, 'SignatureDoesNotMatch', 'the signature does not match'];
  return null;
}

// ---- objects ----------------------------------------------------------------------------------------

const xmlEsc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const etags = new Map(); // file path -> {mtimeMs, size, etag}

function etagOf(file, st) {
  const c = etags.get(file);
  if (c && c.mtimeMs === st.mtimeMs && c.size === st.size) return c.etag;
  const etag = `"${crypto.createHash('md5').update(fs.readFileSync(file)).digest('hex')}"`;
  etags.set(file, { mtimeMs: st.mtimeMs, size: st.size, etag });
  return etag;
}

function safeJoin(bucket, key) {
  if (!/^[a-z0-9][a-z0-9.-]{1,62}$/.test(bucket)) return null;
  if (key.split('/').some((c) => c === '..' || c === '.')) return null;
  return path.join(ROOT, bucket, key);
}

function walk(dir, rel, out) {
  let ents;
  try { ents = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
  for (const e of ents) {
    if (e.name.startsWith('.tmp-upload-')) continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) walk(path.join(dir, e.name), r, out);
    else out.push(r);
  }
}

function listV2(res, bucket, q) {
  const prefix = q.get('prefix') || '';
  const maxKeys = Math.min(Number(q.get('max-keys') || 1000), 1000, PAGE_SIZE); // small pages: tokens get used
  const token = q.get('continuation-token');
  let after = q.get('start-after') || '';
  if (token !== null) {
    const t = /^tok:(.*)$/s.exec(Buffer.from(token, 'base64').toString('utf8'));
    if (!t) return error(res, 400, 'InvalidArgument', 'The continuation token provided is incorrect');
    after = t[1];
  }
  const all = [];
  walk(path.join(ROOT, bucket), '', all);
  const keys = all.filter((k) => k.startsWith(prefix) && k > after).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const page = keys.slice(0, maxKeys);
  const truncated = keys.length > page.length;
  let xml = '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">';
  xml += `<Name>${xmlEsc(bucket)}</Name><Prefix>${xmlEsc(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>`;
  xml += `<IsTruncated>${truncated}</IsTruncated>`;
  if (token !== null) xml += `<ContinuationToken>${xmlEsc(token)}</ContinuationToken>`;
  if (truncated) {
    // Base64 of a key: '/', '+' and '=' in tokens, which a client must percent-encode in its signed query.
    xml += `<NextContinuationToken>${Buffer.from('tok:' + page[page.length - 1]).toString('base64')}</NextContinuationToken>`;
  }
  for (const k of page) {
    const f = path.join(ROOT, bucket, k);
    const st = fs.statSync(f);
    xml += `<Contents><Key>${xmlEsc(k)}</Key><LastModified>${st.mtime.toISOString()}</LastModified>` +
      `<ETag>${xmlEsc(etagOf(f, st))}</ETag><Size>${st.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
  }
  xml += '</ListBucketResult>';
  stats.list++;
  res.writeHead(200, { 'Content-Type': 'application/xml' });
  res.end(xml);
}

// [start, end] inclusive of a Range header for SIZE bytes; null: no range; 'bad': unsatisfiable.
function parseRange(h, size) {
  if (!h) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null; // malformed ranges are ignored, as HTTP says
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'bad';
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'bad';
  return [start, end];
}

function getObject(req, res, file, head) {
  let st;
  try { st = fs.statSync(file); } catch { st = null; }
  if (!st || !st.isFile()) return error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  const etag = etagOf(file, st);
  const ifMatch = req.headers['if-match'];
  if (ifMatch && ifMatch !== etag && ifMatch !== '*') return error(res, 412, 'PreconditionFailed', 'If-Match failed');
  const r = parseRange(req.headers.range, st.size);
  const common = { ETag: etag, 'Last-Modified': st.mtime.toUTCString(), 'Accept-Ranges': 'bytes' };
  if (r === 'bad') {
    res.writeHead(416, { ...common, 'Content-Range': `bytes */${st.size}`, 'Content-Type': 'application/xml' });
    return res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidRange</Code></Error>');
  }
  const [start, end] = r || [0, st.size - 1];
  const len = st.size === 0 ? 0 : end - start + 1;
  const hdrs = { ...common, 'Content-Length': len, 'Content-Type': 'application/octet-stream' };
  if (r) hdrs['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
  if (head) {
    stats.head++;
    res.writeHead(200, hdrs);
    return res.end();
  }
  stats.get++;
  stats.get_bytes += len;
  if (stats.gets.length < 10000) stats.gets.push([path.basename(file), start, end]);
  res.writeHead(r ? 206 : 200, hdrs);
  if (len === 0) return res.end();
  fs.createReadStream(file, { start, end }).pipe(res);
}

function putObject(res, file, body) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.tmp-upload-${process.pid}-${Date.now()}-${Math.random()}`);
  fs.writeFileSync(tmp, body);
  fs.renameSync(tmp, file); // an object is replaced at once, never seen half-written
  stats.put++;
  const etag = etagOf(file, fs.statSync(file));
  res.writeHead(200, { ETag: etag });
  res.end();
}

function error(res, status, code, message) {
  const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${xmlEsc(message)}</Message></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

// ---- the server -------------------------------------------------------------------------------------

function admin(res, op, q) {
  if (op === 'stats') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    return res.end(JSON.stringify(stats));
  }
  if (op === 'reset') stats = zero();
  else if (op === 'latency') latencyMs = Number(q.get('ms') || 0);
  else if (op === 'hide') hidden.add(q.get('key'));
  else if (op === 'fail') failNext = { status: Number(q.get('status') || 503), count: Number(q.get('count') || 1) };
  else return error(res, 404, 'NoSuchAdmin', op);
  res.writeHead(204);
  res.end();
}

function handle(req, res, body) {
  const url = req.url;
  const qi = url.indexOf('?');
  const rawPath = qi < 0 ? url : url.slice(0, qi);
  const rawQuery = qi < 0 ? '' : url.slice(qi + 1);
  const q = new URLSearchParams(rawQuery);
  if (rawPath.startsWith('/__admin/')) return admin(res, rawPath.slice(9), q);
  stats.requests++;
  const bad = verify(req, rawPath, rawQuery, body);
  if (bad) {
    stats.denied++;
    return error(res, ...bad);
  }
  if (failNext.count > 0) {
    failNext.count--;
    return error(res, failNext.status, failNext.status === 503 ? 'SlowDown' : 'InternalError', 'injected by the test');
  }
  const parts = rawPath.split('/').slice(1);
  const bucket = decodeURIComponent(parts[0] || '');
  const key = parts.slice(1).map(decodeURIComponent).join('/');
  const bucketDir = safeJoin(bucket, '');
  if (!bucketDir) return error(res, 400, 'InvalidBucketName', 'bad bucket name');
  if (!key) {
    if (req.method === 'PUT') {
      fs.mkdirSync(bucketDir, { recursive: true });
      res.writeHead(200);
      return res.end();
    }
    if (!fs.existsSync(bucketDir)) return error(res, 404, 'NoSuchBucket', 'The specified bucket does not exist');
    if (req.method === 'GET' && q.get('list-type') === '2') return listV2(res, bucket, q);
    return error(res, 501, 'NotImplemented', `${req.method} on a bucket`);
  }
  const file = safeJoin(bucket, key);
  if (!file) return error(res, 400, 'InvalidArgument', 'bad key');
  if (!fs.existsSync(bucketDir)) return error(res, 404, 'NoSuchBucket', 'The specified bucket does not exist');
  if ((req.method === 'GET' || req.method === 'HEAD') && hidden.has(`${bucket}/${key}`))
    return error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  if (req.method === 'GET' || req.method === 'HEAD') return getObject(req, res, file, req.method === 'HEAD');
  if (req.method === 'PUT') return putObject(res, file, body);
  if (req.method === 'DELETE') {
    try { fs.unlinkSync(file); } catch {}
    res.writeHead(204);
    return res.end();
  }
  return error(res, 405, 'MethodNotAllowed', req.method);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const run = () => {
      try {
        handle(req, res, Buffer.concat(chunks));
      } catch (e) {
        error(res, 500, 'InternalError', String(e));
      }
    };
    if (latencyMs > 0 && !req.url.startsWith('/__admin/')) {
      stats.held++;
      setTimeout(run, latencyMs);
    } else {
      run();
    }
  });
});
server.keepAliveTimeout = 30000;
server.listen(Number(arg('port', 0)), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
