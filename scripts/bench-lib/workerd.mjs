// Starts ONE workerd through Miniflare's API holding two workers: the built gateway (with fresh
// local D1/KV/DO state whose schema `wrangler d1 migrations apply` created, as the e2e harness
// does) and the bare JS pass-through worker. Each worker gets its own direct socket, so requests
// reach it without Miniflare's routing entry worker in between.

import { Miniflare } from 'miniflare';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { randomSecret } from '../../tests/support/gateway.mjs';
import { findDescendant } from './proc.mjs';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');
const DIRECT_SOCKET = [{ host: '127.0.0.1', port: 0 }];

/**
 * @param {{ upstreamUrl: string }} options
 * @returns {Promise<{ gatewayUrl: string, passthroughUrl: string, adminToken: string, pid: number,
 *   close: () => Promise<void> }>}
 */
export async function startWorkerd({ upstreamUrl }) {
  const stateDir = await mkdtemp(join(tmpdir(), 'ai-gateway-bench-'));
  await run('npx', ['wrangler', 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', stateDir], {
    cwd: ROOT,
    env: { ...process.env, CI: 'true' },
  });
  const secrets = { AUTH_TOKEN: randomSecret(), JWT_SECRET: randomSecret(), ENCRYPTION_KEY: randomSecret() };
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, 'wrangler.toml'));
  const mf = new Miniflare({
    host: '127.0.0.1',
    port: 0,
    cf: false,
    d1Persist: join(stateDir, 'v3', 'd1'),
    kvPersist: join(stateDir, 'v3', 'kv'),
    durableObjectsPersist: join(stateDir, 'v3', 'do'),
    workers: [
      {
        ...workerOptions,
        name: 'ai-gateway',
        modules: true,
        scriptPath: join(ROOT, 'build', 'worker', 'shim.mjs'),
        // worker-build emits ES modules with a .js extension (build/package.json says "type": "module").
        modulesRules: [{ type: 'ESModule', include: ['**/*.js', '**/*.mjs'] }, ...workerOptions.modulesRules],
        bindings: { ...workerOptions.bindings, ...secrets },
        unsafeDirectSockets: DIRECT_SOCKET,
      },
      {
        name: 'passthrough',
        modules: true,
        scriptPath: join(import.meta.dirname, 'passthrough-worker.mjs'),
        compatibilityDate: workerOptions.compatibilityDate,
        bindings: { UPSTREAM_URL: upstreamUrl },
        unsafeDirectSockets: DIRECT_SOCKET,
      },
    ],
  });
  const close = async () => {
    await mf.dispose().catch(() => {});
    await rm(stateDir, { recursive: true, force: true });
  };
  try {
    await mf.ready;
    return {
      gatewayUrl: (await mf.unsafeGetDirectURL('ai-gateway')).origin,
      passthroughUrl: (await mf.unsafeGetDirectURL('passthrough')).origin,
      adminToken: secrets.AUTH_TOKEN,
      pid: findDescendant(process.pid, 'workerd'),
      close,
    };
  } catch (err) {
    // A worker that fails to load must not leave workerd running.
    await close();
    throw err;
  }
}
