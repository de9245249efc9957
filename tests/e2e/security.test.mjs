// End-to-end attack suite (issue 14): one named test per hole. Each test makes the attack, asserts
// the refusal, and compares the D1 rows before and after so that nothing changed or leaked.
// The gateway here runs with ALLOW_PRIVATE_UPSTREAMS off, as in production; tests that need a
// fake station on 127.0.0.1 use a second gateway (`dev`) that has it on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, call } from '../support/gateway.mjs';

const ADMIN_ORIGIN = 'https://console.example.test';
const PASSWORD = 'correct horse battery';
let gw;

before(async () => {
  gw = await startGateway({ vars: { ALLOW_PRIVATE_UPSTREAMS: 'false', ADMIN_ORIGINS: ADMIN_ORIGIN } });
});

after(async () => {
  await gw?.close();
});

/** Every row of every table (but the migration bookkeeping), to compare before and after. */
async function snapshot(target = gw) {
  const d1 = await target.d1();
  const { results: tables } = await d1
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name <> 'd1_migrations' ORDER BY name")
    .all();
  const out = {};
  for (const { name } of tables) out[name] = (await d1.prepare(`SELECT * FROM "${name}"`).all()).results;
  return out;
}

/** Asserts that `attack` leaves every table as it was (`except` tables may change). */
async function unchanged(attack, { target = gw, except = [] } = {}) {
  const before = await snapshot(target);
  const result = await attack();
  const afterwards = await snapshot(target);
  for (const table of except) {
    delete before[table];
    delete afterwards[table];
  }
  assert.deepEqual(afterwards, before, 'the attack changed D1');
  return result;
}

const api = (path, token, opts = {}) => call(gw.url, path, { token, ...opts });
const asAdmin = (path, opts = {}) => api(path, gw.secrets.AUTH_TOKEN, opts);

async function register(email, target = gw, ip = '203.0.113.200') {
  const res = await call(target.url, '/api/users/register', {
    method: 'POST',
    body: { email, password: PASSWORD, name: 'x' },
    headers: { 'cf-connecting-ip': ip },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.data;
}

async function preflight(origin, method = 'PATCH', headers = 'authorization, content-type, x-organization-id', path = '/api/organizations/1') {
  return fetch(gw.url + path, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
  });
}

test('CORS preflight from an allowed origin is answered before auth with exactly the API methods and headers', async () => {
  const res = await unchanged(() => preflight(ADMIN_ORIGIN));
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), ADMIN_ORIGIN);
  assert.equal(res.headers.get('access-control-allow-methods'), 'GET, POST, PUT, PATCH, DELETE');
  assert.equal(res.headers.get('access-control-allow-headers'), 'authorization, content-type, x-organization-id');
  assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
  // An actual call from the console carries the headers, with the exact origin (never `*`).
  const me = await asAdmin('/api/organizations', { headers: { origin: ADMIN_ORIGIN } });
  assert.equal(me.status, 200);
  assert.equal(me.headers.get('access-control-allow-origin'), ADMIN_ORIGIN);
  // Errors too, so the console can read them.
  const denied = await api('/api/organizations', 'wrong', { headers: { origin: ADMIN_ORIGIN } });
  assert.equal(denied.status, 401);
  assert.equal(denied.headers.get('access-control-allow-origin'), ADMIN_ORIGIN);
});

test('CORS preflight from a foreign origin, an unknown method or header is refused without CORS headers', async () => {
  for (const [origin, method, headers] of [
    ['https://evil.example', 'PATCH', 'authorization'],
    ['null', 'GET', ''],
    [ADMIN_ORIGIN, 'TRACE', ''],
    [ADMIN_ORIGIN, 'GET', 'x-evil'],
  ]) {
    const res = await unchanged(() => preflight(origin, method, headers));
    assert.equal(res.status, 403, `${origin} ${method} ${headers}`);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  }
  const foreign = await asAdmin('/api/organizations', { headers: { origin: 'https://evil.example' } });
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  // The relay's CORS stays off unless RELAY_ORIGINS is configured, even for the console.
  const relay = await preflight(ADMIN_ORIGIN, 'POST', 'authorization, content-type', '/v1/chat/completions');
  assert.equal(relay.status, 403);
  assert.equal(relay.headers.get('access-control-allow-origin'), null);
});
