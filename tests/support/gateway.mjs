// Starts the BUILT worker (build/worker/shim.mjs) inside workerd through Miniflare, with fresh
// local D1/KV/DO state in a temp dir whose D1 schema was applied by
// `wrangler d1 migrations apply DB --local` — the same path scripts/dev uses.

import { Miniflare } from 'miniflare';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');

const quietEnv = {
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_HIDE_BANNER: 'true',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
};

export function randomSecret() {
  return randomBytes(24).toString('base64url');
}

/**
 * @param {{ secrets?: Record<string,string>, vars?: Record<string,string> }} [options]
 * @returns {Promise<{ url: string, mf: Miniflare, secrets: Record<string,string>,
 *   d1: () => Promise<any>, scheduled: (cron: string) => Promise<any>, close: () => Promise<void> }>}
 */
/**
 * A fresh local state directory with the D1 migrations applied, and the Miniflare persistence
 * options that point at it (shared with the benchmark's workerd).
 */
export async function freshState(prefix) {
  const stateDir = await mkdtemp(join(tmpdir(), prefix));
  await run('npx', ['wrangler', 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', stateDir], {
    cwd: ROOT,
    env: { ...quietEnv, CI: 'true' },
  });
  const persist = {
    d1Persist: join(stateDir, 'v3', 'd1'),
    kvPersist: join(stateDir, 'v3', 'kv'),
    durableObjectsPersist: join(stateDir, 'v3', 'do'),
  };
  return { stateDir, persist };
}

/** The built gateway as a Miniflare worker, with wrangler.toml's bindings plus `bindings`. */
export function gatewayWorker(bindings) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, 'wrangler.toml'));
  return {
    ...workerOptions,
    name: 'ai-gateway',
    modules: true,
    scriptPath: join(ROOT, 'build', 'worker', 'shim.mjs'),
    // worker-build emits ES modules with a .js extension (build/package.json says "type": "module").
    modulesRules: [{ type: 'ESModule', include: ['**/*.js', '**/*.mjs'] }, ...workerOptions.modulesRules],
    // Fake stations listen on 127.0.0.1: lift the outbound-URL guard (the security suite turns it
    // off); suites register many users from one address: lift the registration throttle too.
    bindings: { ...workerOptions.bindings, ALLOW_PRIVATE_UPSTREAMS: 'true', REGISTRATIONS_PER_IP_PER_HOUR: '100000', ...bindings },
  };
}

export async function startGateway(options = {}) {
  const { stateDir, persist } = await freshState('ai-gateway-e2e-');
  const secrets = {
    AUTH_TOKEN: randomSecret(),
    JWT_SECRET: randomSecret(),
    ENCRYPTION_KEY: randomSecret(),
    ...options.secrets,
  };
  const mf = new Miniflare({
    ...gatewayWorker({ ...options.vars, ...secrets }),
    host: '127.0.0.1',
    port: 0,
    cf: false,
    ...persist,
  });
  let url;
  try {
    url = (await mf.ready).origin;
  } catch (err) {
    // A worker that fails to load must not leave workerd running (it would hang the test run).
    await mf.dispose().catch(() => {});
    await rm(stateDir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    mf,
    secrets,
    d1: () => mf.getD1Database('DB'),
    scheduled: async (cron) => (await mf.getWorker()).scheduled({ cron }),
    async close() {
      await mf.dispose();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** JSON helper: returns { status, headers, body } with body parsed when it is JSON. */
export async function call(base, path, { method = 'GET', token, headers = {}, body, raw } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (raw !== undefined) {
    init.body = raw;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] = 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, headers: res.headers, body: parsed };
}
