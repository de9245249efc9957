// Shared e2e setup: a gateway in workerd plus fake stations registered and synced through the
// admin API, a gateway key, and small polling helpers for effects that travel via waitUntil.

import assert from 'node:assert/strict';
import { startGateway, call } from './gateway.mjs';
import { startFakeStation } from './fake-station.mjs';

/**
 * @param {Record<string, {priority?: number, behavior?: string, closeAfterSync?: boolean, options?: object}>} stationSpecs
 * @param {{vars?: object, secrets?: object, keyBody?: object, cleanups: Function[]}} opts
 */
export async function gatewayWithStations(stationSpecs, { vars, secrets, keyBody = { name: 'k' }, cleanups }) {
  const gw = await startGateway({ vars, secrets });
  cleanups.push(() => gw.close());
  const admin = (path, opts = {}) => call(gw.url, path, { token: gw.secrets.AUTH_TOKEN, ...opts });
  const stations = {};
  for (const [name, { priority, behavior, closeAfterSync, options = {} }] of Object.entries(stationSpecs)) {
    const fake = await startFakeStation({ accessToken: `tok-${name}`, userId: 7, ...options });
    cleanups.push(() => fake.close());
    const created = await admin('/api/provider/', {
      method: 'POST',
      body: { name, platform: 'new-api', base_url: fake.url, access_token: `tok-${name}`, user_id: 7, priority },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const synced = await admin(`/api/provider/${created.body.data.id}/sync`, { method: 'POST' });
    assert.equal(synced.status, 200, JSON.stringify(synced.body));
    fake.state.behavior = behavior;
    if (closeAfterSync) await fake.close(); // nothing listens on its port any more
    stations[name] = { fake, id: created.body.data.id };
  }
  const minted = await admin('/api/agg-token/', { method: 'POST', body: keyBody });
  assert.equal(minted.status, 201, JSON.stringify(minted.body));
  const key = minted.body.data.key;
  const chat = (model = 'gpt-4o') =>
    call(gw.url, '/v1/chat/completions', { method: 'POST', token: key, body: { model, messages: [{ role: 'user', content: 'ping' }] } });
  return { gw, admin, stations, key, keyId: minted.body.data.id, chat };
}

/** Polls `check` (sync or async) until it returns a truthy value, for up to ~3 s. */
export async function waitFor(check, { tries = 30, every = 100 } = {}) {
  for (let i = 0; i < tries; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, every));
  }
  return check();
}

/** The usage-log rows (newest first) once at least `count` exist. */
export async function usageRows(gw, count = 1, where = '1 = 1') {
  return waitFor(async () => {
    const { results } = await (await gw.d1()).prepare(`SELECT * FROM usage_logs WHERE ${where} ORDER BY id DESC`).all();
    return results.length >= count ? results : null;
  });
}
