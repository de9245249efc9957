// End-to-end: users and sessions, organizations, members, roles, invitations and plan limits,
// and the tenant isolation matrix — two organizations, each with owner/admin/member, every
// admin endpoint called against the other organization's resources.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startGateway, call } from '../support/gateway.mjs';
import { startFakeStation } from '../support/fake-station.mjs';
import { waitFor } from '../support/setup.mjs';

let gw;
let station;
const PASSWORD = 'correct horse battery';
const orgs = {}; // name -> { id, tokens: {owner, admin, member}, users: {role: id}, stationId, keyId, routeId, invId }

before(async () => {
  station = await startFakeStation({ accessToken: 'tok-teams', userId: 7 });
  gw = await startGateway();
});

after(async () => {
  await gw?.close();
  await station?.close();
});

const api = (path, token, opts = {}) => call(gw.url, path, { token, ...opts });
const asAdmin = (path, opts = {}) => api(path, gw.secrets.AUTH_TOKEN, opts);

async function register(email, name = 'x') {
  const res = await call(gw.url, '/api/users/register', { method: 'POST', body: { email, password: PASSWORD, name } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.data;
}

async function login(email, password = PASSWORD, ip = '203.0.113.1') {
  return call(gw.url, '/api/users/login', { method: 'POST', body: { email, password }, headers: { 'cf-connecting-ip': ip } });
}

/** owner registers and creates the org, then invites an admin and a member who accept. */
async function makeOrg(name) {
  const owner = await register(`owner@${name}.test`);
  const created = await api('/api/organizations', owner.access_token, { method: 'POST', body: { name } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.data.id;
  const org = { id, tokens: { owner: owner.access_token }, users: { owner: owner.user.id } };
  for (const role of ['admin', 'member']) {
    const email = `${role}@${name}.test`;
    const inv = await api(`/api/organizations/${id}/invitations`, owner.access_token, { method: 'POST', body: { email, role } });
    assert.equal(inv.status, 201, JSON.stringify(inv.body));
    const user = await register(email);
    const accepted = await api(`/api/invitations/${inv.body.data.token}/accept`, user.access_token, { method: 'POST' });
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    org.tokens[role] = user.access_token;
    org.users[role] = user.user.id;
  }
  // Resources to attack: a synced station (with routes), a key per role, an open invitation.
  const st = await asAdmin('/api/provider/', {
    method: 'POST',
    headers: { 'x-organization-id': String(id) },
    body: { name: `st-${name}`, platform: 'new-api', base_url: station.url, access_token: 'tok-teams', user_id: 7 },
  });
  assert.equal(st.status, 201, JSON.stringify(st.body));
  org.stationId = st.body.data.id;
  const synced = await asAdmin(`/api/provider/${org.stationId}/sync`, { method: 'POST', headers: { 'x-organization-id': String(id) } });
  assert.equal(synced.status, 200, JSON.stringify(synced.body));
  const routes = await api('/api/route/', org.tokens.owner);
  assert.equal(routes.status, 200, JSON.stringify(routes.body));
  org.routeId = routes.body.data[0].id;
  const hdr = { headers: { 'x-organization-id': String(id) } };
  org.accountId = (await asAdmin(`/api/provider/${org.stationId}`, hdr)).body.data.accounts[0].id;
  org.upstreamKeyId = (await asAdmin(`/api/provider/${org.stationId}/tokens`, hdr)).body.data[0].id;
  org.keys = {};
  org.keyStrings = {};
  for (const role of ['owner', 'admin', 'member']) {
    const key = await api('/api/agg-token/', org.tokens[role], { method: 'POST', body: { name: `${role}-key` } });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    org.keys[role] = key.body.data.id;
    org.keyStrings[role] = key.body.data.key;
  }
  const inv = await api(`/api/organizations/${id}/invitations`, org.tokens.owner, { method: 'POST', body: { email: `later@${name}.test`, role: 'member' } });
  org.invId = inv.body.data.id;
  org.invToken = inv.body.data.token;
  orgs[name] = org;
  return org;
}

test('register, login, refresh, me; login errors do not reveal the email', async () => {
  const reg = await register('Solo@Example.test', 'Solo');
  assert.equal(reg.user.email, 'solo@example.test');
  assert.ok(reg.access_token && reg.refresh_token);
  const dup = await call(gw.url, '/api/users/register', { method: 'POST', body: { email: 'solo@example.test', password: PASSWORD } });
  assert.equal(dup.status, 409);
  const weak = await call(gw.url, '/api/users/register', { method: 'POST', body: { email: 'w@example.test', password: 'short' } });
  assert.equal(weak.status, 400);
  const ok = await login('SOLO@example.test');
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  const wrongPassword = await login('solo@example.test', 'nope nope nope', '203.0.113.9');
  const unknownEmail = await login('ghost@example.test', 'nope nope nope', '203.0.113.9');
  assert.equal(wrongPassword.status, 401);
  assert.deepEqual(wrongPassword.body, unknownEmail.body);
  const me = await api('/api/users/me', ok.body.data.access_token);
  assert.equal(me.status, 200);
  assert.equal(me.body.data.user.email, 'solo@example.test');
  assert.deepEqual(me.body.data.organizations, []);
  assert.ok(!JSON.stringify(me.body).includes('password'));
  const refreshed = await call(gw.url, '/api/users/refresh', { method: 'POST', body: { refresh_token: ok.body.data.refresh_token } });
  assert.equal(refreshed.status, 200);
  assert.equal((await api('/api/users/me', refreshed.body.data.access_token)).status, 200);
  // A refresh token is not an access token, and an access token does not refresh.
  assert.equal((await api('/api/users/me', ok.body.data.refresh_token)).status, 401);
  const wrongKind = await call(gw.url, '/api/users/refresh', { method: 'POST', body: { refresh_token: ok.body.data.access_token } });
  assert.equal(wrongKind.status, 401);
  const renamed = await api('/api/users/me', ok.body.data.access_token, { method: 'PATCH', body: { name: 'Solo 2' } });
  assert.equal(renamed.body.data.name, 'Solo 2');
  // No organization yet: org-scoped endpoints say so.
  assert.equal((await api('/api/agg-token/', ok.body.data.access_token)).status, 403);
  const row = await (await gw.d1()).prepare('SELECT password_hash, password_salt, password_iterations FROM users WHERE email = ?').bind('solo@example.test').first();
  assert.match(row.password_hash, /^[0-9a-f]{64}$/);
  assert.equal(row.password_iterations, 100000);
});

test('failed logins are rate-limited per (email, IP) and per IP', async () => {
  await register('target@example.test');
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push((await login('target@example.test', 'wrong wrong', '198.51.100.1')).status);
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
  // Even the right password waits out the lock from that IP; from another IP it works
  // (issue 14: someone else's failures must not lock the victim out).
  assert.equal((await login('target@example.test', PASSWORD, '198.51.100.1')).status, 429);
  assert.equal((await login('target@example.test', PASSWORD, '198.51.100.50')).status, 200);
  const ipStatuses = [];
  for (let i = 0; i < 31; i++) ipStatuses.push((await login(`nobody${i}@example.test`, 'wrong wrong', '192.0.2.77')).status);
  assert.equal(ipStatuses.filter((s) => s === 401).length, 30);
  assert.equal(ipStatuses.at(-1), 429);
});

test('JWT tampering: alg none, wrong key, expired, changed claims → 401', async () => {
  const user = await register('jwt@example.test');
  const [h, p] = user.access_token.split('.');
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const sign = (header, payload, key) => {
    const data = `${b64(header)}.${b64(payload)}`;
    return `${data}.${createHmac('sha256', key).update(data).digest('base64url')}`;
  };
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  const forged = [
    `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`,
    sign({ alg: 'HS256', typ: 'JWT' }, claims, 'not-the-secret'),
    sign({ alg: 'HS256', typ: 'JWT' }, { ...claims, iat: now - 7200, exp: now - 3600 }, gw.secrets.JWT_SECRET),
    `${h}.${b64({ ...claims, sub: 1 })}.${user.access_token.split('.')[2]}`,
    sign({ alg: 'HS512', typ: 'JWT' }, claims, gw.secrets.JWT_SECRET),
  ];
  for (const token of forged) assert.equal((await api('/api/users/me', token)).status, 401, token);
  // The control: the same signing with the right key and a live expiry works.
  assert.equal((await api('/api/users/me', sign({ alg: 'HS256', typ: 'JWT' }, claims, gw.secrets.JWT_SECRET))).status, 200);
});

test('two organizations with owner/admin/member each', async () => {
  await makeOrg('alpha');
  await makeOrg('beta');
  const members = await api(`/api/organizations/${orgs.alpha.id}/members`, orgs.alpha.tokens.member);
  assert.deepEqual(members.body.data.map((m) => m.role).sort(), ['admin', 'member', 'owner']);
});

/** The tables that carry an `organization_id` (every migration's; D1 refuses pragma_table_info). */
const ORG_TABLES = ['accounts', 'alert_channels', 'balance_snapshots', 'checkin_records', 'gateway_keys', 'invitations', 'job_runs', 'memberships',
  'pinned_resources', 'route_entries', 'settings', 'station_models', 'stations', 'upstream_keys', 'usage_daily', 'usage_logs'];

/** Every row one organization owns, table by table. */
async function orgRows(orgId) {
  const d1 = await gw.d1();
  const rows = { organizations: (await d1.prepare('SELECT * FROM organizations WHERE id = ?').bind(orgId).all()).results };
  for (const name of ORG_TABLES) rows[name] = (await d1.prepare(`SELECT * FROM ${name} WHERE organization_id = ? ORDER BY rowid`).bind(orgId).all()).results;
  return rows;
}

/**
 * Every `/api/…` route of the router (shell/admin.rs → orgs.rs, admin_providers.rs, admin_routes.rs,
 * gateway_keys.rs, admin_logs.rs) aimed at organization `o`'s resources. `ownContext` entries are
 * sent in the attacker's own organization with `o`'s ids (and `mine`'s station where an id pair
 * can be mixed); every entry is also sent with `X-Organization-Id` of `o`.
 */
function attackRoutes(o, mine) {
  const st = o.stationId;
  const acc = o.accountId;
  const orgPaths = [
    ['GET', `/api/organizations/${o.id}`],
    ['PATCH', `/api/organizations/${o.id}`, { name: 'pwned' }],
    ['PATCH', `/api/organizations/${o.id}`, { plan: 'enterprise' }],
    ['DELETE', `/api/organizations/${o.id}`],
    ['POST', `/api/organizations/${o.id}/transfer`, { user_id: mine.users.owner }],
    ['GET', `/api/organizations/${o.id}/members`],
    ['POST', `/api/organizations/${o.id}/members`, { email: `owner@${mine.name}.test`, role: 'admin' }],
    ['PATCH', `/api/organizations/${o.id}/members/${o.users.member}`, { role: 'admin' }],
    ['DELETE', `/api/organizations/${o.id}/members/${o.users.member}`],
    ['GET', `/api/organizations/${o.id}/invitations`],
    ['POST', `/api/organizations/${o.id}/invitations`, { email: 'x@evil.test', role: 'admin' }],
    ['DELETE', `/api/organizations/${o.id}/invitations/${o.invId}`],
  ];
  const ownContext = [
    ['GET', `/api/provider/${st}`],
    ['PUT', `/api/provider/${st}`, { name: 'pwned' }],
    ['PUT', '/api/provider/', { id: st, name: 'pwned' }],
    ['DELETE', `/api/provider/${st}`],
    ['POST', `/api/provider/${st}/sync`],
    ['POST', `/api/provider/${st}/checkin`],
    ['GET', `/api/provider/${st}/tokens`],
    ['GET', `/api/provider/${st}/accounts`],
    ['POST', `/api/provider/${st}/accounts`, { name: 'pwned', access_token: 't', user_id: 1 }],
    ['PUT', `/api/provider/${st}/accounts/${acc}`, { name: 'pwned' }],
    ['PUT', `/api/provider/${mine.stationId}/accounts/${acc}`, { name: 'pwned' }],
    ['DELETE', `/api/provider/${st}/accounts/${acc}`],
    ['DELETE', `/api/provider/${mine.stationId}/accounts/${acc}`],
    ['POST', `/api/provider/${st}/accounts/${acc}/disable`],
    ['POST', `/api/provider/${mine.stationId}/accounts/${acc}/disable`],
    ['GET', `/api/provider/${st}/balance-history`],
    ['GET', `/api/provider/${st}/checkins`],
    ['PUT', `/api/route/${o.routeId}`, { weight: 1 }],
    ['POST', `/api/route/${o.routeId}/cooldown/clear`],
    ['POST', '/api/route/', { model: 'pwned', upstream_model: 'gpt-4o', upstream_key_id: o.upstreamKeyId }],
    ['PUT', `/api/agg-token/${o.keys.owner}`, { name: 'pwned' }],
    ['PATCH', `/api/agg-token/${o.keys.admin}`, { name: 'pwned' }],
    ['DELETE', `/api/agg-token/${o.keys.member}`],
    ['PUT', `/api/user-api-keys/${o.keys.member}`, { enabled: false }],
    ['DELETE', `/api/user-api-keys/${o.keys.admin}`],
  ];
  const collections = [
    ...['/api/provider/', '/api/route/', '/api/route/models', '/api/log/', '/api/dashboard', '/api/agg-token/', '/api/user-api-keys', '/api/jobs'].map((p) => ['GET', p]),
    ['POST', '/api/agg-token/', { name: 'pwned' }],
    ['POST', '/api/user-api-keys', { name: 'pwned' }],
    ['POST', '/api/provider/', { name: 'pwned', platform: 'new-api', base_url: station.url, access_token: 't', user_id: 1 }],
    ['POST', '/api/provider/detect', { base_url: station.url }],
    ['POST', '/api/route/rebuild'],
    ['POST', '/api/jobs/sync/run'],
    ['POST', '/api/jobs/balance/run'],
    ['POST', '/api/jobs/checkin/run'],
  ];
  const foreign = { 'x-organization-id': String(o.id) };
  return [
    ...orgPaths,
    ...ownContext,
    ...[...orgPaths, ...ownContext, ...collections].map(([method, path, body]) => [method, path, body, foreign]),
  ];
}

test('isolation matrix: every identity against the other organization → 403/404, no leak, nothing changed', async () => {
  const before = { alpha: await orgRows(orgs.alpha.id), beta: await orgRows(orgs.beta.id) };
  let calls = 0;
  for (const [mine, theirs] of [['alpha', 'beta'], ['beta', 'alpha']]) {
    const o = orgs[theirs];
    for (const role of ['owner', 'admin', 'member']) {
      const token = orgs[mine].tokens[role];
      for (const [method, path, body, headers] of attackRoutes(o, { ...orgs[mine], name: mine })) {
        const res = await api(path, token, { method, body, headers });
        calls++;
        const what = `${mine}/${role} ${method} ${path}${headers ? ' (their org header)' : ''}`;
        assert.ok([403, 404].includes(res.status), `${what} → ${res.status} ${JSON.stringify(res.body)}`);
        const text = JSON.stringify(res.body);
        for (const leak of [`st-${theirs}`, `@${theirs}.test`, 'pwned', `${theirs}-key`]) assert.ok(!text.includes(leak), `${what} leaks ${leak}`);
      }
      // An unknown organization answers exactly like a foreign one.
      const foreign = await api(`/api/organizations/${o.id}`, token);
      const unknown = await api('/api/organizations/999999', token);
      assert.deepEqual([foreign.status, foreign.body], [unknown.status, unknown.body]);
      const foreignHeader = await api('/api/agg-token/', token, { headers: { 'x-organization-id': String(o.id) } });
      const unknownHeader = await api('/api/agg-token/', token, { headers: { 'x-organization-id': '999999' } });
      assert.deepEqual([foreignHeader.status, foreignHeader.body], [unknownHeader.status, unknownHeader.body]);
    }
  }
  assert.ok(calls > 400, `${calls} attacks`);
  // Nothing of either organization changed: every row it owns is as it was.
  assert.deepEqual({ alpha: await orgRows(orgs.alpha.id), beta: await orgRows(orgs.beta.id) }, before);
});

test('list endpoints return only the caller organization rows; members see only their own keys', async () => {
  for (const name of ['alpha', 'beta']) {
    const o = orgs[name];
    const other = orgs[name === 'alpha' ? 'beta' : 'alpha'];
    for (const role of ['owner', 'admin']) {
      const stations = await api('/api/provider/', o.tokens[role]);
      assert.deepEqual(stations.body.data.map((s) => s.name), [`st-${name}`]);
      const routes = await api('/api/route/', o.tokens[role]);
      assert.ok(routes.body.data.length > 0 && routes.body.data.every((r) => r.station_id === o.stationId));
      const keys = await api('/api/agg-token/', o.tokens[role]);
      assert.deepEqual(keys.body.data.map((k) => k.id).sort(), Object.values(o.keys).sort());
      const invs = await api(`/api/organizations/${o.id}/invitations`, o.tokens[role]);
      assert.ok(invs.body.data.every((i) => i.email.endsWith(`@${name}.test`)));
      const members = await api(`/api/organizations/${o.id}/members`, o.tokens[role]);
      assert.ok(members.body.data.every((m) => m.email.endsWith(`@${name}.test`)));
    }
    const memberKeys = await api('/api/user-api-keys', o.tokens.member);
    assert.deepEqual(memberKeys.body.data.map((k) => k.id), [o.keys.member]);
    const orgList = await api('/api/organizations', o.tokens.member);
    assert.deepEqual(orgList.body.data.map((x) => x.id), [o.id]);
    // Members: no stations, routes, logs, dashboard, invitations, other members' keys.
    for (const path of ['/api/provider/', '/api/route/', '/api/log/', '/api/dashboard', `/api/organizations/${o.id}/invitations`]) {
      assert.equal((await api(path, o.tokens.member)).status, 403, path);
    }
    assert.equal((await api('/api/route/models', o.tokens.member)).status, 200);
    assert.equal((await api(`/api/agg-token/${o.keys.admin}`, o.tokens.member, { method: 'DELETE' })).status, 404);
    assert.ok(!(await api('/api/agg-token/', o.tokens.owner)).body.data.some((k) => Object.values(other.keys).includes(k.id) && k.name.includes('x')));
  }
  const all = await asAdmin('/api/organizations');
  assert.ok(all.body.data.length >= 3, 'the instance admin sees every organization');
});

/** Rows of `table` that organization `orgId` owns (optionally narrowed), as D1 holds them. */
async function ownIds(table, orgId, where = '1 = 1', column = 'id') {
  const { results } = await (await gw.d1()).prepare(`SELECT ${column} AS v FROM ${table} WHERE organization_id = ? AND ${where} ORDER BY 1`).bind(orgId).all();
  return results.map((r) => r.v);
}

const sorted = (xs) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

test('every other list endpoint (tokens, accounts, history, jobs, logs, dashboard, models) returns only the caller organization rows', async () => {
  // Both organizations get rows everywhere: two calls per role's key, a model alias, a balance job, a check-in.
  for (const name of ['alpha', 'beta']) {
    const o = orgs[name];
    for (const role of ['owner', 'admin', 'member']) {
      for (let i = 0; i < 2; i++) {
        const res = await call(gw.url, '/v1/chat/completions', { method: 'POST', token: o.keyStrings[role], body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] } });
        assert.equal(res.status, 200, `${name}/${role}: ${JSON.stringify(res.body)}`);
      }
    }
    const alias = await api('/api/route/', o.tokens.owner, { method: 'POST', body: { model: `only-${name}`, upstream_model: 'gpt-4o', upstream_key_id: o.upstreamKeyId } });
    assert.ok([200, 201].includes(alias.status), JSON.stringify(alias.body));
    assert.equal((await api('/api/jobs/balance/run', o.tokens.owner, { method: 'POST' })).status, 200);
    assert.equal((await api(`/api/provider/${o.stationId}/checkin`, o.tokens.owner, { method: 'POST' })).status, 200);
  }
  const d1 = await gw.d1();
  const logged = async (orgId) => (await d1.prepare('SELECT COUNT(*) AS n FROM usage_logs WHERE organization_id = ?').bind(orgId).first()).n;
  for (const o of [orgs.alpha, orgs.beta]) assert.equal(await waitFor(async () => ((await logged(o.id)) === 6 ? 6 : 0), { tries: 60 }), 6, 'the calls are logged');

  for (const name of ['alpha', 'beta']) {
    const o = orgs[name];
    const st = o.stationId;
    const tables = {
      tokens: await ownIds('upstream_keys', o.id, `station_id = ${st}`),
      accounts: await ownIds('accounts', o.id, `station_id = ${st}`),
      balances: await ownIds('balance_snapshots', o.id, '1 = 1', 'taken_at'),
      checkins: await ownIds('checkin_records', o.id, '1 = 1', 'created_at'),
      runs: await ownIds('job_runs', o.id),
      logs: await ownIds('usage_logs', o.id),
    };
    for (const [what, ids] of Object.entries(tables)) assert.ok(ids.length > 0, `${name} has ${what}`);
    for (const role of ['owner', 'admin']) {
      const t = o.tokens[role];
      const who = `${name}/${role}`;
      assert.deepEqual(sorted((await api(`/api/provider/${st}/tokens`, t)).body.data.map((k) => k.id)), tables.tokens, `${who} tokens`);
      assert.deepEqual(sorted((await api(`/api/provider/${st}/accounts`, t)).body.data.map((a) => a.id)), tables.accounts, `${who} accounts`);
      assert.deepEqual(sorted((await api(`/api/provider/${st}/balance-history`, t)).body.data.flatMap((a) => a.points.map((b) => b.taken_at))), tables.balances, `${who} balances`);
      assert.deepEqual(sorted((await api(`/api/provider/${st}/checkins`, t)).body.data.map((c) => c.created_at)), tables.checkins, `${who} check-ins`);
      assert.deepEqual(sorted((await api('/api/jobs', t)).body.data.map((r) => r.id)), tables.runs, `${who} job runs`);
      const logs = (await api('/api/log/?page_size=200', t)).body.data;
      assert.equal(logs.total, 6, `${who} log total`);
      assert.deepEqual(sorted(logs.items.map((r) => r.id)), tables.logs, `${who} logs`);
      const dash = (await api('/api/dashboard', t)).body.data;
      assert.equal(dash.requests, 6, `${who} dashboard counts only the organization's calls`);
      assert.deepEqual(dash.by_station.map((s) => s.station_id), [st], `${who} dashboard stations`);
    }
    // Every role reads the model list: the organization's own alias, channels counted in it only.
    for (const role of ['owner', 'admin', 'member']) {
      const models = (await api('/api/route/models', o.tokens[role])).body.data;
      const names = models.map((m) => m.model);
      assert.ok(names.includes(`only-${name}`) && !names.some((m) => m.startsWith('only-') && m !== `only-${name}`), `${name}/${role} models ${names}`);
      assert.ok(models.every((m) => m.channels === 1 && m.stations === 1), `${name}/${role} channels ${JSON.stringify(models)}`);
    }
    // /api/log/self: a session sees its own keys' calls only; a key its own calls.
    for (const role of ['owner', 'admin', 'member']) {
      for (const [how, token] of [['session', o.tokens[role]], ['key', o.keyStrings[role]]]) {
        const mine = await api('/api/log/self?page_size=200', token);
        assert.equal(mine.status, 200, `${name}/${role} ${how}: ${JSON.stringify(mine.body)}`);
        assert.equal(mine.body.data.total, 2, `${name}/${role} ${how}`);
        assert.ok(mine.body.data.items.every((r) => r.gateway_key_id === o.keys[role]), `${name}/${role} ${how} rows`);
        // Asking for another key's calls does not widen the view.
        const other = await api(`/api/log/self?key_id=${orgs[name === 'alpha' ? 'beta' : 'alpha'].keys.owner}`, token);
        assert.equal(other.status, 200);
        assert.ok(other.body.data.items.every((r) => r.gateway_key_id === o.keys[role]), `${name}/${role} ${how} key_id cannot widen`);
      }
    }
  }
});

test('roles: admin cannot touch the owner, plan or name; ownership transfer keeps one owner', async () => {
  const o = orgs.alpha;
  const base = `/api/organizations/${o.id}`;
  assert.equal((await api(base, o.tokens.admin, { method: 'PATCH', body: { plan: 'enterprise' } })).status, 403);
  assert.equal((await api(base, o.tokens.admin, { method: 'PATCH', body: { name: 'x' } })).status, 403);
  assert.equal((await api(`${base}/members/${o.users.owner}`, o.tokens.admin, { method: 'DELETE' })).status, 403);
  assert.equal((await api(`${base}/members/${o.users.owner}`, o.tokens.admin, { method: 'PATCH', body: { role: 'member' } })).status, 403);
  assert.equal((await api(`${base}/members/${o.users.member}`, o.tokens.admin, { method: 'PATCH', body: { role: 'owner' } })).status, 400);
  assert.equal((await api(`${base}/members/${o.users.member}`, o.tokens.member, { method: 'PATCH', body: { role: 'admin' } })).status, 403);
  assert.equal((await api(`${base}/transfer`, o.tokens.admin, { method: 'POST', body: { user_id: o.users.admin } })).status, 403);
  const t = await api(`${base}/transfer`, o.tokens.owner, { method: 'POST', body: { user_id: o.users.admin } });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  let roles = (await api(`${base}/members`, o.tokens.owner)).body.data;
  assert.deepEqual(roles.filter((m) => m.role === 'owner').map((m) => m.user_id), [o.users.admin]);
  const back = await api(`${base}/transfer`, o.tokens.admin, { method: 'POST', body: { user_id: o.users.owner } });
  assert.equal(back.status, 200);
  roles = (await api(`${base}/members`, o.tokens.owner)).body.data;
  assert.deepEqual(roles.filter((m) => m.role === 'owner').map((m) => m.user_id), [o.users.owner]);
  assert.equal((await api(`${base}/members/${o.users.owner}`, o.tokens.owner, { method: 'DELETE' })).status, 403, 'the owner cannot leave');
});

test('invitation edge cases: public lookup, wrong email, reused, cancelled, expired, already a member', async () => {
  const o = orgs.beta;
  const base = `/api/organizations/${o.id}/invitations`;
  const lookup = await call(gw.url, `/api/invitations/${o.invToken}`);
  assert.equal(lookup.status, 200);
  assert.deepEqual(Object.keys(lookup.body.data).sort(), ['expires_at', 'organization', 'role']);
  // beta is on Free (3 members, all taken): the Pro plan (set by the instance admin) makes room.
  assert.equal((await asAdmin(`/api/organizations/${o.id}`, { method: 'PATCH', body: { plan: 'pro' } })).status, 200);
  const stranger = await register('stranger@example.test');
  const wrong = await api(`/api/invitations/${o.invToken}/accept`, stranger.access_token, { method: 'POST' });
  assert.equal(wrong.status, 403);
  const later = await register('later@beta.test');
  assert.equal((await api(`/api/invitations/${o.invToken}/accept`, later.access_token, { method: 'POST' })).status, 200);
  const reused = await api(`/api/invitations/${o.invToken}/accept`, later.access_token, { method: 'POST' });
  assert.equal(reused.status, 404);
  assert.equal((await call(gw.url, `/api/invitations/${o.invToken}`)).status, 404);
  const again = await api(base, o.tokens.admin, { method: 'POST', body: { email: 'later@beta.test', role: 'member' } });
  assert.equal(again.status, 409, 'already a member');
  const c = await api(base, o.tokens.admin, { method: 'POST', body: { email: 'c@beta.test', role: 'member' } });
  assert.equal((await api(`${base}/${c.body.data.id}`, o.tokens.admin, { method: 'DELETE' })).status, 200);
  const cUser = await register('c@beta.test');
  assert.equal((await api(`/api/invitations/${c.body.data.token}/accept`, cUser.access_token, { method: 'POST' })).status, 404);
  const e = await api(base, o.tokens.admin, { method: 'POST', body: { email: 'c@beta.test', role: 'member' } });
  await (await gw.d1()).prepare('UPDATE invitations SET expires_at = ? WHERE id = ?').bind(Date.now() - 1, e.body.data.id).run();
  assert.equal((await api(`/api/invitations/${e.body.data.token}/accept`, cUser.access_token, { method: 'POST' })).status, 404);
  const stored = await (await gw.d1()).prepare('SELECT token_hash FROM invitations WHERE id = ?').bind(e.body.data.id).first();
  assert.notEqual(stored.token_hash, e.body.data.token);
  assert.equal((await api(base, o.tokens.member, { method: 'POST', body: { email: 'z@beta.test', role: 'member' } })).status, 403);
});

test('plan limits at the boundary: members (concurrent accepts) and gateway keys (concurrent creates)', async () => {
  const owner = await register('owner@gamma.test');
  const created = await api('/api/organizations', owner.access_token, { method: 'POST', body: { name: 'gamma' } });
  const id = created.body.data.id;
  assert.equal(created.body.data.plan, 'free');
  // Free: 3 members. Four invitees accept at once; exactly two get in.
  const invitees = [];
  for (let i = 0; i < 4; i++) {
    const email = `m${i}@gamma.test`;
    const inv = await api(`/api/organizations/${id}/invitations`, owner.access_token, { method: 'POST', body: { email, role: 'member' } });
    invitees.push({ token: inv.body.data.token, user: await register(email) });
  }
  const results = await Promise.all(invitees.map((x) => api(`/api/invitations/${x.token}/accept`, x.user.access_token, { method: 'POST' })));
  const statuses = results.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 200, 403, 403]);
  const refused = results.find((r) => r.status === 403);
  assert.match(refused.body.error.message, /plan_limit_members: the free plan allows 3 members/);
  assert.equal((await api(`/api/organizations/${id}/members`, owner.access_token)).body.data.length, 3);
  // Free: 5 gateway keys. Seven concurrent creates; exactly five succeed.
  const keys = await Promise.all(Array.from({ length: 7 }, (_, i) => api('/api/agg-token/', owner.access_token, { method: 'POST', body: { name: `k${i}` }, headers: { 'x-organization-id': String(id) } })));
  assert.deepEqual(keys.map((k) => k.status).sort(), [201, 201, 201, 201, 201, 403, 403]);
  assert.match(keys.find((k) => k.status === 403).body.error.message, /plan_limit_gateway_keys/);
  // The instance admin upgrades (an owner may not set the plan): the limit moves at once.
  const up = await asAdmin(`/api/organizations/${id}`, { method: 'PATCH', body: { plan: 'pro' } });
  assert.equal(up.body.data.plan, 'pro');
  assert.equal((await api('/api/agg-token/', owner.access_token, { method: 'POST', body: { name: 'k8' }, headers: { 'x-organization-id': String(id) } })).status, 201);
  const plans = await call(gw.url, '/api/organizations/plans', { token: owner.access_token });
  assert.deepEqual(plans.body.data.map((p) => p.members), [3, 10, 100]);
});

test('the instance admin creates an organization for a registered owner; no default password exists', async () => {
  const noOwner = await asAdmin('/api/organizations', { method: 'POST', body: { name: 'delta' } });
  assert.equal(noOwner.status, 400);
  await register('owner@delta.test');
  const created = await asAdmin('/api/organizations', { method: 'POST', body: { name: 'delta', plan: 'enterprise', owner_email: 'owner@delta.test' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const members = await asAdmin(`/api/organizations/${created.body.data.id}/members`);
  assert.deepEqual(members.body.data.map((m) => [m.email, m.role]), [['owner@delta.test', 'owner']]);
  const { results } = await (await gw.d1()).prepare("SELECT email FROM users WHERE email LIKE 'admin%' AND email NOT LIKE '%.test'").all();
  assert.deepEqual(results, []);
  assert.equal((await asAdmin('/api/users/me')).status, 400);
});

test('the instance admin reads /api/log/self: the calls of the keys no user owns', async () => {
  const self = await asAdmin('/api/log/self');
  assert.equal(self.status, 200, JSON.stringify(self.body));
  const { results } = await (await gw.d1()).prepare('SELECT id FROM gateway_keys WHERE user_id IS NULL AND organization_id = 1').all();
  const ownerless = new Set(results.map((r) => r.id));
  assert.ok(self.body.data.items.every((row) => ownerless.has(row.gateway_key_id)), JSON.stringify(self.body.data.items[0]));
});
