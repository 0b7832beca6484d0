// s3.mjs: the test S3 store (tests/peers/s3_store.mjs, a SigV4-checking S3 REST server) for the remote
// data dir tests, and uploads through boto3 (a real S3 client). Tests skip when python3-boto3 is missing.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { SLOW, SOURCE_DIR, sleep, tmpdir } from './harness.mjs';

export const PYTHON = '/usr/bin/python3';
export const ACCESS = 'tcaccess', SECRET = 'tcsecret-do-not-log-7f3a';

export const s3SkipReason = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import boto3'], { stdio: 'ignore' });
    return '';
  } catch {
    return 'python3-boto3 is missing (bash .ci/install-deps.sh)';
  }
})();

const live = new Set();
process.on('exit', () => { for (const p of live) try { p.kill('SIGKILL'); } catch {} });

export class Store {
  constructor(root, args, env = {}) {
    this.root = root;
    this.args = args;
    this.env = env;
    this.port = 0;
  }

  get endpoint() { return `http://127.0.0.1:${this.port}`; }

  // Starts the store (again on the same port and root, after stop()).
  async start() {
    const argv = [path.join(SOURCE_DIR, 'tests/peers/s3_store.mjs'), '--root', this.root, '--port', String(this.port), ...this.args];
    const proc = spawn(process.execPath, argv, {
      env: { ...process.env, S3_ACCESS_KEY: ACCESS, S3_SECRET_KEY: SECRET, ...this.env }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    live.add(proc);
    this.proc = proc;
    this.exited = new Promise((r) => proc.on('exit', () => { live.delete(proc); r(); }));
    this.port = await new Promise((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (d) => {
        out += d;
        const m = /listening (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      proc.on('exit', (code) => reject(new Error(`the S3 store exited (${code}) before listening`)));
    });
    return this;
  }

  async stop() {
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  async admin(op, query = '', method = 'POST') {
    const r = await fetch(`${this.endpoint}/__admin/${op}${query ? '?' + query : ''}`, { method });
    return op === 'stats' ? r.json() : null;
  }

  stats() { return this.admin('stats', '', 'GET'); }
  reset() { return this.admin('reset'); }
}

export async function startStore(args = [], env = {}) {
  return new Store(tmpdir('tc-s3-'), args, env).start();
}

// Uploads DIR's files to s3://BUCKET/PREFIX with boto3 (creating the bucket).
export function upload(store, bucket, prefix, dir, { secret = SECRET, token = '' } = {}) {
  execFileSync(PYTHON, [path.join(SOURCE_DIR, 'tests/s3/upload.py'), store.endpoint, bucket, prefix, dir], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: ACCESS, AWS_SECRET_ACCESS_KEY: secret, AWS_REGION: 'us-east-1',
           ...(token ? { AWS_SESSION_TOKEN: token } : {}) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

// The environment of a tablecar-server reading STORE.
export function awsEnv(store, { secret = SECRET } = {}) {
  return { AWS_ACCESS_KEY_ID: ACCESS, AWS_SECRET_ACCESS_KEY: secret, AWS_ENDPOINT_URL: store.endpoint, AWS_REGION: 'us-east-1' };
}

// Polls FN until it returns a truthy value; throws after a generous overall timeout (a real hang only).
export async function until(fn, what, timeoutMs = 60000 * SLOW) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? ': ' + last.message : ''}`);
}

export function copyTree(from, to) {
  fs.cpSync(from, to, { recursive: true });
}
