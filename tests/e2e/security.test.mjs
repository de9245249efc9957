// End-to-end attack suite (issue 14), part 1: CORS, plans and roles, SSRF and exfiltration.
// Each test makes the attack, asserts the refusal, and compares the D1 rows before and after
// (tests/support/attack.mjs): `gw` runs as in production (ALLOW_PRIVATE_UPSTREAMS off), `dev`
// with the dev var on, for tests that need fake stations on 127.0.0.1.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { call } from '../support/gateway.mjs';
import { attackSuite, ADMIN_ORIGIN } from '../support/attack.mjs';

const suite = attackSuite();
const { unchanged, api, asAdmin, register, orgWithMember, fakeStation } = suite;
let gw;
let dev;

before(async () => {
  await suite.start();
  ({ gw, dev } = suite);
});

after(() => suite.close());

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

/** A user who owns a fresh Free organization, with an invited member; returns tokens and ids. */

test('plan self-upgrade: an owner cannot set their own plan; only the instance admin can', async () => {
  const o = await orgWithMember('upgrade');
  const res = await unchanged(() => api(`/api/organizations/${o.id}`, o.owner, { method: 'PATCH', body: { plan: 'enterprise' } }));
  assert.equal(res.status, 403, JSON.stringify(res.body));
  assert.match(res.body.error.message, /change the plan/);
  const both = await unchanged(() => api(`/api/organizations/${o.id}`, o.owner, { method: 'PATCH', body: { name: 'renamed', plan: 'pro' } }));
  assert.equal(both.status, 403, 'a rename does not carry a plan change through');
  const byAdmin = await asAdmin(`/api/organizations/${o.id}`, { method: 'PATCH', body: { plan: 'pro' } });
  assert.equal(byAdmin.body.data.plan, 'pro');
});

test('organization creation is limited per user (MAX_ORGS_PER_USER, default 3)', async () => {
  const user = await register('many-orgs@example.test');
  for (let i = 0; i < 3; i++) {
    assert.equal((await api('/api/organizations', user.access_token, { method: 'POST', body: { name: `mine-${i}` } })).status, 201);
  }
  const fourth = await unchanged(() => api('/api/organizations', user.access_token, { method: 'POST', body: { name: 'one-too-many' } }));
  assert.equal(fourth.status, 403);
  assert.match(fourth.body.error.message, /org_limit_per_user: a user may own at most 3 organizations/);
});

test('stations and accounts are limited per plan, and the limits are listed in GET /api/organizations/plans', async () => {
  const o = await orgWithMember('stationcap');
  const plans = await api('/api/organizations/plans', o.owner);
  assert.deepEqual(plans.body.data.map((p) => [p.plan, p.stations, p.accounts]), [['free', 3, 10], ['pro', 25, 100], ['enterprise', 250, 2500]]);
  const station = (i) => ({ name: `s${i}`, platform: 'new-api', base_url: `https://station-${i}.example.com`, access_token: 't', user_id: 7 });
  for (let i = 0; i < 3; i++) {
    const st = await api('/api/provider/', o.owner, { method: 'POST', headers: o.hdr, body: station(i) });
    assert.equal(st.status, 201, JSON.stringify(st.body));
  }
  const over = await unchanged(() => api('/api/provider/', o.owner, { method: 'POST', headers: o.hdr, body: station(3) }));
  assert.equal(over.status, 403);
  assert.match(over.body.error.message, /plan_limit_stations: the free plan allows 3 stations/);
  const { results } = await (await gw.d1()).prepare('SELECT id FROM stations WHERE organization_id = ?').bind(o.id).all();
  for (let i = 0; i < 7; i++) {
    const acc = await api(`/api/provider/${results[0].id}/accounts`, o.owner, { method: 'POST', headers: o.hdr, body: { access_token: `t${i}`, user_id: 7 } });
    assert.equal(acc.status, 201, JSON.stringify(acc.body));
  }
  const extra = await unchanged(() => api(`/api/provider/${results[0].id}/accounts`, o.owner, { method: 'POST', headers: o.hdr, body: { access_token: 'tx', user_id: 7 } }));
  assert.equal(extra.status, 403);
  assert.match(extra.body.error.message, /plan_limit_accounts: the free plan allows 10 accounts/);
});

test('a member re-enabling or loosening their own key is refused; renaming, revoking and tightening work', async () => {
  const o = await orgWithMember('keysplit');
  const created = await api('/api/agg-token/', o.member, { method: 'POST', headers: o.hdr, body: { name: 'mine', request_limit: 100, models: ['gpt-4o*'], allowed_ips: ['10.0.0.0/8'] } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.data.id;
  const edit = (body, token = o.member) => api(`/api/agg-token/${id}`, token, { method: 'PATCH', headers: o.hdr, body });
  assert.equal((await edit({ name: 'renamed', request_limit: 50, models: ['gpt-4o-mini'] })).status, 200);
  assert.equal((await edit({ enabled: false })).status, 200, 'a member may revoke');
  for (const body of [{ enabled: true }, { request_limit: 51 }, { models: [] }, { models: ['claude-*'] }, { allowed_ips: [] }, { allowed_ips: ['0.0.0.0/0'] }]) {
    const res = await unchanged(() => edit(body));
    assert.equal(res.status, 403, JSON.stringify(body));
    assert.match(res.body.error.message, /a member may only tighten a key/);
  }
  // The admin side (the owner) may loosen and re-enable.
  assert.equal((await edit({ enabled: true, request_limit: 1000 }, o.owner)).status, 200);
});

test('a member\'s new key gets the organization\'s default bounds, set by an admin; a member cannot set them', async () => {
  const o = await orgWithMember('keydefaults');
  const denied = await unchanged(() => api('/api/agg-token/defaults', o.member, { method: 'PUT', headers: o.hdr, body: { request_limit: 1e9 } }));
  assert.equal(denied.status, 403);
  const set = await api('/api/agg-token/defaults', o.owner, { method: 'PUT', headers: o.hdr, body: { request_limit: 10, cost_limit_usd: 1, models: ['gpt-4o*'] } });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const looser = await unchanged(() => api('/api/agg-token/', o.member, { method: 'POST', headers: o.hdr, body: { name: 'greedy', request_limit: 1000 } }));
  assert.equal(looser.status, 403);
  const plain = await api('/api/agg-token/', o.member, { method: 'POST', headers: o.hdr, body: { name: 'plain' } });
  assert.equal(plain.status, 201, JSON.stringify(plain.body));
  const row = await (await gw.d1()).prepare('SELECT request_limit, cost_limit_usd, allowed_models FROM gateway_keys WHERE id = ?').bind(plain.body.data.id).first();
  assert.deepEqual({ ...row }, { request_limit: 10, cost_limit_usd: 1, allowed_models: '["gpt-4o*"]' });
  // The owner's own keys are not bound by the members' defaults.
  const mine = await api('/api/agg-token/', o.owner, { method: 'POST', headers: o.hdr, body: { name: 'owner' } });
  const ownerRow = await (await gw.d1()).prepare('SELECT request_limit FROM gateway_keys WHERE id = ?').bind(mine.body.data.id).first();
  assert.equal(ownerRow.request_limit, null);
});

test('SSRF: private, loopback, metadata and local base_urls are refused on create, update and detect (dev var off)', async () => {
  const bad = [
    'https://127.0.0.1',
    'https://[::1]',
    'https://169.254.169.254/latest/meta-data',
    'https://10.0.0.1',
    'https://2130706433',
    'https://0x7f000001',
    'https://[::ffff:127.0.0.1]',
    'https://[::ffff:7f00:1]',
    'https://127.0.0.1.nip.io',
    'https://localtest.me',
    'https://localhost:8443',
    'https://printer.local',
    'https://metadata.google.internal',
    'http://api.example.com',
    `https://${new URL(gw.url).host}`,
  ];
  const ok = await asAdmin('/api/provider/', { method: 'POST', body: { name: 'public', platform: 'new-api', base_url: 'https://relay.example.com', access_token: 't', user_id: 7 } });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  for (const base_url of bad) {
    const created = await unchanged(() => asAdmin('/api/provider/', { method: 'POST', body: { name: 'evil', platform: 'new-api', base_url, access_token: 't', user_id: 7 } }));
    assert.equal(created.status, 400, `create ${base_url}: ${JSON.stringify(created.body)}`);
    assert.match(created.body.error.message, /not allowed/);
    const updated = await unchanged(() => asAdmin(`/api/provider/${ok.body.data.id}`, { method: 'PUT', body: { base_url, access_token: 't2', user_id: 7 } }));
    assert.equal(updated.status, 400, `update ${base_url}`);
    const detected = await unchanged(() => asAdmin('/api/provider/detect', { method: 'POST', body: { base_url } }));
    assert.equal(detected.status, 400, `detect ${base_url}`);
  }
});

test('SSRF: a stored private base_url (older row) is refused again before every fetch', async () => {
  const fake = await fakeStation({ accessToken: 'tok-old', userId: 7 });
  const created = await asAdmin('/api/provider/', { method: 'POST', body: { name: 'old-row', platform: 'new-api', base_url: 'https://old.example.com', access_token: 'tok-old', user_id: 7 } });
  assert.equal(created.status, 201);
  // As if written before the guard existed.
  await (await gw.d1()).prepare('UPDATE stations SET base_url = ? WHERE id = ?').bind(fake.url, created.body.data.id).run();
  const synced = await asAdmin(`/api/provider/${created.body.data.id}/sync`, { method: 'POST' });
  assert.ok(JSON.stringify(synced.body).includes('not allowed'), JSON.stringify(synced.body));
  assert.equal(fake.requests.length, 0, 'nothing reached the private address');
});

test('exfiltration by edit: a new base_url without the credential is a 409 and nothing is sent to the new host', async () => {
  const home = await fakeStation({ accessToken: 'tok-home', userId: 7 });
  const thief = await fakeStation({ accessToken: 'tok-thief', userId: 9 });
  const admin = (path, opts = {}) => call(dev.url, path, { token: dev.secrets.AUTH_TOKEN, ...opts });
  const created = await admin('/api/provider/', { method: 'POST', body: { name: 'home', platform: 'new-api', base_url: home.url, access_token: 'tok-home', user_id: 7 } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.data.id;
  assert.equal((await admin(`/api/provider/${id}/sync`, { method: 'POST' })).status, 200);
  const refused = await unchanged(() => admin(`/api/provider/${id}`, { method: 'PUT', body: { base_url: thief.url } }), { target: dev });
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  assert.match(refused.body.error.message, /credential again/);
  await admin(`/api/provider/${id}/sync`, { method: 'POST' });
  assert.equal(thief.requests.length, 0, 'the new host saw nothing');
  // With the new host's credential the station moves, and its old accounts and keys are gone.
  const moved = await admin(`/api/provider/${id}`, { method: 'PUT', body: { base_url: thief.url, access_token: 'tok-thief', user_id: 9 } });
  assert.equal(moved.status, 200, JSON.stringify(moved.body));
  const d1 = await dev.d1();
  const { results: keys } = await d1.prepare('SELECT id FROM upstream_keys WHERE station_id = ?').bind(id).all();
  assert.equal(keys.length, 0);
  await admin(`/api/provider/${id}/sync`, { method: 'POST' });
  const sent = JSON.stringify(thief.requests.map((r) => [r.headers, r.body.toString()]));
  assert.ok(thief.requests.length > 0);
  assert.ok(!sent.includes('tok-home'), 'the old credential never reached the new host');
  for (const key of home.state.tokens ?? []) assert.ok(!sent.includes(key.key), 'no old upstream key reached the new host');
});
