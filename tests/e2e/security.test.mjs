// End-to-end attack suite (issue 14): one named test per hole. Each test makes the attack, asserts
// the refusal, and compares the D1 rows before and after so that nothing changed or leaked.
// The gateway here runs with ALLOW_PRIVATE_UPSTREAMS off, as in production; tests that need a
// fake station on 127.0.0.1 use a second gateway (`dev`) that has it on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, call } from '../support/gateway.mjs';
import { startFakeStation } from '../support/fake-station.mjs';

const ADMIN_ORIGIN = 'https://console.example.test';
const PASSWORD = 'correct horse battery';
let gw;
let dev;
const fakes = [];

before(async () => {
  gw = await startGateway({ vars: { ALLOW_PRIVATE_UPSTREAMS: 'false', ADMIN_ORIGINS: ADMIN_ORIGIN, REGISTRATIONS_PER_IP_PER_HOUR: '10' } });
  dev = await startGateway();
});

after(async () => {
  await gw?.close();
  await dev?.close();
  for (const fake of fakes) await fake.close();
});

async function fakeStation(options) {
  const fake = await startFakeStation(options);
  fakes.push(fake);
  return fake;
}

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

let nextIp = 0;
/** Registers from a fresh address each time (registrations are throttled per IP). */
async function register(email, target = gw, ip = `198.18.0.${++nextIp}`) {
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

/** A user who owns a fresh Free organization, with an invited member; returns tokens and ids. */
async function orgWithMember(name) {
  const owner = await register(`owner@${name}.test`);
  const created = await api('/api/organizations', owner.access_token, { method: 'POST', body: { name } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.data.id;
  const inv = await api(`/api/organizations/${id}/invitations`, owner.access_token, { method: 'POST', body: { email: `member@${name}.test`, role: 'member' } });
  const member = await register(`member@${name}.test`);
  assert.equal((await api(`/api/invitations/${inv.body.data.token}/accept`, member.access_token, { method: 'POST' })).status, 200);
  const hdr = { 'x-organization-id': String(id) };
  return { id, hdr, owner: owner.access_token, member: member.access_token, ownerId: owner.user.id };
}

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

const login = (email, password = PASSWORD, ip = '192.0.2.10') =>
  call(gw.url, '/api/users/login', { method: 'POST', body: { email, password }, headers: { 'cf-connecting-ip': ip } });
const refresh = (token) => call(gw.url, '/api/users/refresh', { method: 'POST', body: { refresh_token: token } });

test('replaying a refresh token revokes the whole session (rotation with family revocation)', async () => {
  await register('replay@example.test');
  const first = (await login('replay@example.test')).body.data;
  const second = await refresh(first.refresh_token);
  assert.equal(second.status, 200, JSON.stringify(second.body));
  assert.notEqual(second.body.data.refresh_token, first.refresh_token);
  // The thief replays the spent token: refused, and the whole family ends with it.
  const replay = await unchanged(() => refresh(first.refresh_token), { except: ['sessions'] });
  assert.equal(replay.status, 401);
  assert.equal((await refresh(second.body.data.refresh_token)).status, 401, 'the rotated token died with its family');
  assert.equal((await api('/api/users/me', second.body.data.access_token)).status, 401);
  const row = await (await gw.d1())
    .prepare("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at > 0 AND user_id = (SELECT id FROM users WHERE email = 'replay@example.test')")
    .first();
  assert.equal(row.n, 1, 'the signed-in session is revoked');
});

test('logout ends the session; logout with all ends every session of the user', async () => {
  await register('logout@example.test');
  const a = (await login('logout@example.test')).body.data;
  const b = (await login('logout@example.test')).body.data;
  assert.equal((await api('/api/users/logout', a.access_token, { method: 'POST' })).status, 200);
  assert.equal((await api('/api/users/me', a.access_token)).status, 401);
  assert.equal((await refresh(a.refresh_token)).status, 401);
  assert.equal((await api('/api/users/me', b.access_token)).status, 200, 'the other session lives on');
  assert.equal((await api('/api/users/logout', b.access_token, { method: 'POST', body: { all: true } })).status, 200);
  assert.equal((await api('/api/users/me', b.access_token)).status, 401);
});

test('a session after a password change is dead (every session of the user is revoked)', async () => {
  await register('pwchange@example.test');
  const stolen = (await login('pwchange@example.test')).body.data;
  const mine = (await login('pwchange@example.test')).body.data;
  const changed = await api('/api/users/me', mine.access_token, { method: 'PATCH', body: { password: 'a brand new secret', current_password: PASSWORD } });
  assert.equal(changed.status, 200, JSON.stringify(changed.body));
  for (const token of [stolen.access_token, mine.access_token]) assert.equal((await api('/api/users/me', token)).status, 401);
  assert.equal((await refresh(stolen.refresh_token)).status, 401);
  // The caller got a fresh session with the change.
  assert.equal((await api('/api/users/me', changed.body.data.session.access_token)).status, 200);
});

test('a disabled user loses every session at once and their ag- keys within the key cache TTL', async () => {
  const o = await orgWithMember('disable');
  const key = await api('/api/agg-token/', o.member, { method: 'POST', headers: o.hdr, body: { name: 'k' } });
  assert.equal((await call(gw.url, '/v1/models', { token: key.body.data.key })).status, 200);
  const memberId = (await api('/api/users/me', o.member)).body.data.user.id;
  assert.equal((await api(`/api/users/${memberId}`, o.owner, { method: 'PATCH', body: { status: 'disabled' } })).status, 403, 'only the instance admin');
  const disabled = await asAdmin(`/api/users/${memberId}`, { method: 'PATCH', body: { status: 'disabled' } });
  assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
  assert.equal((await api('/api/users/me', o.member)).status, 401);
  await new Promise((r) => setTimeout(r, 5_500)); // the key cache's TTL (5 s)
  const after = await call(gw.url, '/v1/models', { token: key.body.data.key });
  assert.equal(after.status, 401, JSON.stringify(after.body));
});

test('locking out a victim: failures from one IP lock that (email, IP) only; the victim signs in from elsewhere', async () => {
  await register('victim@example.test');
  const attacker = '198.51.100.66';
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push((await unchanged(() => login('victim@example.test', 'guess guess', attacker), { except: ['login_attempts'] })).status);
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
  const locked = await login('victim@example.test', PASSWORD, attacker);
  assert.equal(locked.status, 429, 'even the right password waits from the locked IP');
  assert.ok(Math.abs(Number(locked.headers.get('retry-after')) - 900) <= 5, locked.headers.get('retry-after'));
  assert.equal((await login('victim@example.test', PASSWORD, '203.0.113.77')).status, 200);
  // Backoff: once the lock is over, the next strike locks twice as long.
  await (await gw.d1()).prepare("UPDATE login_attempts SET locked_until = ? WHERE scope = 'email_ip' AND subject LIKE ?").bind(Date.now() - 1000, `%|${attacker}`).run();
  const again = [];
  for (let i = 0; i < 6; i++) again.push(await login('victim@example.test', 'guess guess', attacker));
  assert.equal(again.at(-1).status, 429);
  assert.ok(Math.abs(Number(again.at(-1).headers.get('retry-after')) - 1800) <= 5, again.at(-1).headers.get('retry-after'));
});

test('password changes are throttled like sign-in', async () => {
  const user = await register('pwguess@example.test');
  const statuses = [];
  for (let i = 0; i < 6; i++) {
    const res = await unchanged(
      () => api('/api/users/me', user.access_token, { method: 'PATCH', body: { password: 'attacker choice', current_password: `guess ${i}` } }),
      { except: ['login_attempts'] },
    );
    statuses.push(res.status);
  }
  assert.deepEqual(statuses, [403, 403, 403, 403, 403, 429]);
});

test('registration is throttled per IP and a taken email creates nothing', async () => {
  const ip = '198.51.100.200';
  const statuses = [];
  for (let i = 0; i < 11; i++) {
    statuses.push((await call(gw.url, '/api/users/register', { method: 'POST', body: { email: `bulk${i}@example.test`, password: PASSWORD }, headers: { 'cf-connecting-ip': ip } })).status);
  }
  assert.deepEqual(statuses, [...Array(10).fill(201), 429]);
  const taken = await unchanged(
    () => call(gw.url, '/api/users/register', { method: 'POST', body: { email: 'bulk0@example.test', password: 'another password' }, headers: { 'cf-connecting-ip': '198.51.100.201' } }),
    { except: ['login_attempts'] },
  );
  assert.equal(taken.status, 409);
});

test('passwords: PBKDF2-SHA256 at 100,000 iterations, stored per user', async () => {
  await register('pbkdf2@example.test');
  const row = await (await gw.d1()).prepare("SELECT password_iterations, password_hash FROM users WHERE email = 'pbkdf2@example.test'").first();
  assert.equal(row.password_iterations, 100000);
  assert.match(row.password_hash, /^[0-9a-f]{64}$/);
});

test('a ciphertext moved across rows or tenants fails to open; nothing reaches the other station', async () => {
  const admin = (path, opts = {}) => call(dev.url, path, { token: dev.secrets.AUTH_TOKEN, ...opts });
  const a = await fakeStation({ accessToken: 'tok-row-a', userId: 7 });
  const b = await fakeStation({ accessToken: 'tok-row-b', userId: 8 });
  const sa = await admin('/api/provider/', { method: 'POST', body: { name: 'row-a', platform: 'new-api', base_url: a.url, access_token: 'tok-row-a', user_id: 7 } });
  const sb = await admin('/api/provider/', { method: 'POST', body: { name: 'row-b', platform: 'new-api', base_url: b.url, access_token: 'tok-row-b', user_id: 8 } });
  const d1 = await dev.d1();
  const accountA = await d1.prepare('SELECT id, credential_ciphertext FROM accounts WHERE station_id = ?').bind(sa.body.data.id).first();
  // The attacker with write access to one row pastes another row's sealed credential into it.
  await d1.prepare('UPDATE accounts SET credential_ciphertext = ? WHERE station_id = ?').bind(accountA.credential_ciphertext, sb.body.data.id).run();
  const synced = await admin(`/api/provider/${sb.body.data.id}/sync`, { method: 'POST' });
  assert.notEqual(synced.body?.data?.keys?.length ?? 0, 1, JSON.stringify(synced.body));
  const keysB = await d1.prepare('SELECT COUNT(*) AS n FROM upstream_keys WHERE station_id = ?').bind(sb.body.data.id).first();
  assert.equal(keysB.n, 0, 'the moved credential opened nothing');
  assert.ok(!JSON.stringify(b.requests.map((r) => r.headers)).includes('tok-row-a'), 'A\'s token never reached B');
  // The same holds for an upstream key moved to another station.
  assert.equal((await admin(`/api/provider/${sa.body.data.id}/sync`, { method: 'POST' })).status, 200);
  const keyA = await d1.prepare('SELECT key_ciphertext FROM upstream_keys WHERE station_id = ?').bind(sa.body.data.id).first();
  assert.match(keyA.key_ciphertext, /^v2:[0-9a-f]{8}:[0-9a-f]+$/, 'the key id is in the ciphertext');
});

test('legacy ciphertexts stay readable and the re-encrypt route seals them under the current key, bound to their row', async () => {
  const { createCipheriv, createHash, randomBytes } = await import('node:crypto');
  const admin = (path, opts = {}) => call(dev.url, path, { token: dev.secrets.AUTH_TOKEN, ...opts });
  const fake = await fakeStation({ accessToken: 'tok-legacy', userId: 7 });
  const st = await admin('/api/provider/', { method: 'POST', body: { name: 'legacy', platform: 'new-api', base_url: fake.url, access_token: 'tok-legacy', user_id: 7 } });
  // What the code before key versions wrote: v1, key = SHA-256(ENCRYPTION_KEY), no associated data.
  const key = createHash('sha256').update(dev.secrets.ENCRYPTION_KEY).digest();
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify({ kind: 'access_token', token: 'tok-legacy', user_id: '7' })), cipher.final(), cipher.getAuthTag()]);
  const legacy = `v1:${iv.toString('hex')}${body.toString('hex')}`;
  const d1 = await dev.d1();
  await d1.prepare('UPDATE accounts SET credential_ciphertext = ? WHERE station_id = ?').bind(legacy, st.body.data.id).run();
  assert.equal((await admin(`/api/provider/${st.body.data.id}/sync`, { method: 'POST' })).status, 200, 'the legacy value opens');
  const member = await api('/api/maintenance/reencrypt', (await register('notadmin@example.test')).access_token, { method: 'POST' });
  assert.equal(member.status, 403);
  const re = await admin('/api/maintenance/reencrypt', { method: 'POST' });
  assert.equal(re.status, 200, JSON.stringify(re.body));
  assert.ok(re.body.data.resealed >= 1);
  assert.equal(re.body.data.remaining, 0);
  const row = await d1.prepare('SELECT credential_ciphertext FROM accounts WHERE station_id = ?').bind(st.body.data.id).first();
  assert.match(row.credential_ciphertext, /^v2:[0-9a-f]{8}:/);
  assert.equal((await admin(`/api/provider/${st.body.data.id}/sync`, { method: 'POST' })).status, 200, 'and opens after re-encryption');
});

test('a tarpit station during a cron run: bounded by the panel timeout, claimed first, and another organization\'s station still syncs', async () => {
  const { createServer } = await import('node:net');
  const sockets = [];
  const tarpit = createServer((socket) => sockets.push(socket)); // accepts, never answers
  await new Promise((resolve) => tarpit.listen(0, '127.0.0.1', resolve));
  const cron = await startGateway({ vars: { PANEL_TIMEOUT_SECONDS: '2' } });
  try {
    const admin = (path, opts = {}) => call(cron.url, path, { token: cron.secrets.AUTH_TOKEN, ...opts });
    const tarpitUrl = `http://127.0.0.1:${tarpit.address().port}`;
    const tarpits = [];
    for (let i = 0; i < 3; i++) {
      const st = await admin('/api/provider/', { method: 'POST', body: { name: `tarpit-${i}`, platform: 'new-api', base_url: tarpitUrl, access_token: 't', user_id: 7 } });
      assert.equal(st.status, 201, JSON.stringify(st.body));
      tarpits.push(st.body.data.id);
    }
    const fake = await fakeStation({ accessToken: 'tok-fair', userId: 7 });
    const owner = await register('fair@example.test', cron);
    const other = await admin('/api/organizations', { method: 'POST', body: { name: 'fair', owner_email: 'fair@example.test' } });
    const hdr = { 'x-organization-id': String(other.body.data.id) };
    const mine = await call(cron.url, '/api/provider/', { method: 'POST', token: owner.access_token, headers: hdr, body: { name: 'honest', platform: 'new-api', base_url: fake.url, access_token: 'tok-fair', user_id: 7 } });
    assert.equal(mine.status, 201, JSON.stringify(mine.body));
    const started = Date.now();
    await cron.scheduled('*/5 * * * *');
    assert.ok(Date.now() - started < 20_000, 'the tarpit cost one bounded slot');
    const d1 = await cron.d1();
    const station = (id) => d1.prepare('SELECT last_synced_at, last_sync_error FROM stations WHERE id = ?').bind(id).first();
    const honest = await station(mine.body.data.id);
    assert.ok(honest.last_synced_at > 0 && !honest.last_sync_error, JSON.stringify(honest));
    const keys = await d1.prepare('SELECT COUNT(*) AS n FROM upstream_keys WHERE station_id = ?').bind(mine.body.data.id).first();
    assert.ok(keys.n > 0, 'the other organization\'s station synced');
    const first = await station(tarpits[0]);
    assert.ok(first.last_synced_at > 0, 'the tarpit was claimed before its panel call');
    assert.match(first.last_sync_error ?? '', /no complete answer within 2000 ms|timed out|abort/i);
    // The claimed tarpit went to the back: the next run takes the next station in line.
    await cron.scheduled('*/5 * * * *');
    assert.ok((await station(tarpits[1])).last_synced_at > 0);
  } finally {
    await cron.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => tarpit.close(resolve));
  }
});
