// Starts ONE workerd through Miniflare's API holding two workers: the built gateway (with fresh
// local D1/KV/DO state whose schema `wrangler d1 migrations apply` created, as the e2e harness
// does) and the bare JS pass-through worker. Each worker gets its own direct socket, so requests
// reach it without Miniflare's routing entry worker in between.

import { Miniflare } from 'miniflare';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { call, freshState, gatewayWorker, randomSecret } from '../../tests/support/gateway.mjs';
import { descendantsNamed } from './proc.mjs';
import { LONG_ALIAS, LONG_UPSTREAM_MODEL } from './payloads.mjs';

const DIRECT_SOCKET = [{ host: '127.0.0.1', port: 0 }];
const RUST_FLOOR = join(import.meta.dirname, 'rust-floor');

/** The New API login the benchmark's fake station is started with and the gateway syncs with. */
export const PANEL_LOGIN = Object.freeze({ accessToken: 'bench-panel-access-token', userId: 1 });

/**
 * @param {{ upstreamUrl: string }} options
 * @returns {Promise<{ gatewayUrl: string, passthroughUrl: string, rustFloorUrl: string, adminToken: string, pid: number,
 *   close: () => Promise<void> }>}
 */
export async function startWorkerd({ upstreamUrl }) {
  const { stateDir, persist } = await freshState('ai-gateway-bench-');
  const secrets = { AUTH_TOKEN: randomSecret(), JWT_SECRET: randomSecret(), ENCRYPTION_KEY: randomSecret() };
  const gateway = gatewayWorker(secrets);
  const earlierWorkerds = descendantsNamed(process.pid, 'workerd');
  const mf = new Miniflare({
    host: '127.0.0.1',
    port: 0,
    cf: false,
    ...persist,
    workers: [
      { ...gateway, unsafeDirectSockets: DIRECT_SOCKET },
      {
        // The same pass-through in Rust through workers-rs (scripts/bench-lib/rust-floor).
        name: 'rust-floor',
        modules: true,
        scriptPath: join(RUST_FLOOR, 'build', 'worker', 'shim.mjs'),
        modulesRules: [{ type: 'ESModule', include: ['**/*.js', '**/*.mjs'] }, { type: 'CompiledWasm', include: ['**/*.wasm'] }],
        compatibilityDate: gateway.compatibilityDate,
        bindings: { UPSTREAM_URL: upstreamUrl },
        unsafeDirectSockets: DIRECT_SOCKET,
      },
      {
        name: 'passthrough',
        modules: true,
        scriptPath: join(import.meta.dirname, 'passthrough-worker.mjs'),
        compatibilityDate: gateway.compatibilityDate,
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
      rustFloorUrl: (await mf.unsafeGetDirectURL('rust-floor')).origin,
      adminToken: secrets.AUTH_TOKEN,
      pid: newWorkerdPid(earlierWorkerds),
      close,
    };
  } catch (err) {
    // A worker that fails to load must not leave workerd running.
    await close();
    throw err;
  }
}

// Miniflare keeps its process private: ours is the one workerd child that was not there before.
function newWorkerdPid(earlier) {
  const started = descendantsNamed(process.pid, 'workerd').filter((pid) => !earlier.includes(pid));
  if (started.length !== 1) throw new Error(`expected one new workerd process, found ${started.length}`);
  return started[0];
}

// An admin API call that must succeed; answers its `data`.
async function admin(workerd, path, body, method = 'POST') {
  const res = await call(workerd.gatewayUrl, path, { method, token: workerd.adminToken, body });
  if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data;
}

/**
 * Registers the upstream as a New API station of the gateway, syncs it (the management calls reach
 * the fake station through the upstream's proxy), and mints a gateway key.
 * @returns {Promise<string>} the gateway key
 */
export async function registerStation(workerd, upstreamUrl) {
  const created = await admin(workerd, '/api/provider/', {
    name: 'bench-upstream', platform: 'new-api', base_url: upstreamUrl, access_token: PANEL_LOGIN.accessToken, user_id: PANEL_LOGIN.userId,
  });
  await syncStation(workerd, created.id);
  return (await admin(workerd, '/api/agg-token/', { name: 'bench' })).key;
}

async function syncStation(workerd, id) {
  const synced = await admin(workerd, `/api/provider/${id}/sync`);
  if (synced.errors.length > 0 || synced.route_entries === 0) throw new Error(`sync failed: ${JSON.stringify(synced)}`);
}

/**
 * Registers the same upstream a second time as an OpenAI-only station (`openai-compatible`, with the
 * fake station's relay key `relayKey`), at a priority below the New API station so the existing
 * cases never route to it, and points the alias LONG_ALIAS at its key: the alias has that one
 * channel, which serves chat natively and Anthropic Messages only converted.
 */
export async function registerOpenAiOnlyAlias(workerd, upstreamUrl, relayKey) {
  const created = await admin(workerd, '/api/provider/', {
    name: 'bench-openai-only', platform: 'openai-compatible', base_url: upstreamUrl, api_key: relayKey, priority: -100,
  });
  await syncStation(workerd, created.id);
  const [key] = await admin(workerd, `/api/provider/${created.id}/tokens`, undefined, 'GET');
  await admin(workerd, '/api/route/', { model: LONG_ALIAS, upstream_model: LONG_UPSTREAM_MODEL, upstream_key_id: key.id });
}
