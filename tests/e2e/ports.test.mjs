// ports.test.mjs: the deployment's listeners. --health-listen serves grpc.health.v1 and nothing else (the
// kubelet's grpc: probes reach it over the pod network, tables must not be), and a data --listen on a
// non-loopback TCP address is refused unless --expose-data-on-network says so.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';

import {
  failure, grpc, mkExample, opts, protos, SERVER, SERVING, Status, tmpdir, unary, withServer,
} from './harness.mjs';

// A TCP port free a moment ago (gRPC core does not tell which port ":0" got).
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

test('the health-only port answers grpc.health.v1 and refuses every table method', opts(), async () => {
  const d = tmpdir();
  mkExample(path.join(d, 'ex.arrow'), { rows: 10 });
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  await withServer({ dataDir: d, args: ['--health-listen', addr] }, async (s) => {
    const { Health, Tablecar } = protos();
    const h = new Health(addr, grpc.credentials.createInsecure());
    const t = new Tablecar(addr, grpc.credentials.createInsecure());
    try {
      assert.equal((await unary(h, 'Check', { service: '' })).status, SERVING);
      assert.equal((await unary(h, 'Check', { service: 'tablecar.v1.Tablecar' })).status, SERVING);
      for (const [m, req] of [['ListTables', {}], ['DescribeTable', { name: 'ex' }],
        ['TakeRows', { table: 'ex', row_ids: [0] }], ['ReadBatch', {}], ['CreatePermutation', {}]]) {
        const e = await failure(unary(t, m, req));
        assert.equal(e.code, Status.UNIMPLEMENTED, `${m} on the health port: ${e.code} ${e.details}`);
      }
      const e = await new Promise((resolve) => {
        const call = t.StreamBatches({});
        call.on('data', () => resolve({ code: 'data' }));
        call.on('error', resolve);
        call.on('end', () => resolve({ code: 'end' }));
      });
      assert.equal(e.code, Status.UNIMPLEMENTED);
      // The data socket still serves the tables.
      const r = await unary(s.client(), 'ListTables', {});
      assert.deepEqual(r.tables.map((x) => x.name), ['ex']);
    } finally {
      h.close();
      t.close();
    }
  });
});

test('a data listener on the network is refused unless --expose-data-on-network', opts(), async () => {
  const d = tmpdir();
  const port = await freePort();
  const r = spawnSync(SERVER, ['--data-dir', d, '--listen', `0.0.0.0:${port}`], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--expose-data-on-network/);
  // Loopback is fine without it, and so is the network with it.
  const port2 = await freePort();
  await withServer({ dataDir: d, args: ['--listen', `127.0.0.1:${port2}`] }, async () => {});
  const port3 = await freePort();
  await withServer({ dataDir: d, args: ['--listen', `0.0.0.0:${port3}`, '--expose-data-on-network'] },
    async () => {
      const t = new (protos().Tablecar)(`127.0.0.1:${port3}`, grpc.credentials.createInsecure());
      try { assert.deepEqual((await unary(t, 'ListTables', {})).tables, []); } finally { t.close(); }
    });
});
