// End-to-end attack suite (issue 14), part 3: sealed secrets and the fair, bounded cron.
// Each test makes the attack, asserts the refusal, and compares the D1 rows before and after
// (tests/support/attack.mjs): `gw` runs as in production (ALLOW_PRIVATE_UPSTREAMS off), `dev`
// with the dev var on, for tests that need fake stations on 127.0.0.1.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { call, startGateway } from '../support/gateway.mjs';
import { attackSuite } from '../support/attack.mjs';

const suite = attackSuite();
const { api, register, fakeStation } = suite;
let dev;

before(async () => {
  await suite.start();
  ({ dev } = suite);
});

after(() => suite.close());

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

test('deleting an organization also removes its KV route table and job runs; the daily cron prunes growing tables', async () => {
  const admin = (path, opts = {}) => call(dev.url, path, { token: dev.secrets.AUTH_TOKEN, ...opts });
  const fake = await fakeStation({ accessToken: 'tok-gone', userId: 7 });
  const owner = await register('gone@example.test', dev);
  const org = await admin('/api/organizations', { method: 'POST', body: { name: 'gone', owner_email: 'gone@example.test' } });
  const hdr = { 'x-organization-id': String(org.body.data.id) };
  const st = await admin('/api/provider/', { method: 'POST', headers: hdr, body: { name: 'gone', platform: 'new-api', base_url: fake.url, access_token: 'tok-gone', user_id: 7 } });
  assert.equal((await admin(`/api/provider/${st.body.data.id}/sync`, { method: 'POST', headers: hdr })).status, 200);
  assert.equal((await admin('/api/jobs/balance/run', { method: 'POST', headers: hdr })).status, 200);
  const kv = await dev.mf.getKVNamespace('CACHE');
  const key = `routes:${org.body.data.id}`;
  assert.ok(await kv.get(key), 'the route table was published');
  const deleted = await call(dev.url, `/api/organizations/${org.body.data.id}`, { method: 'DELETE', token: owner.access_token });
  assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
  assert.equal(await kv.get(key), null, 'the route table left KV');
  const d1 = await dev.d1();
  const runs = await d1.prepare('SELECT COUNT(*) AS n FROM job_runs WHERE organization_id = ?').bind(org.body.data.id).first();
  assert.equal(runs.n, 0);
  // Pruning: an old unlocked throttle row, an expired session and an old job run go; fresh ones stay.
  const now = Date.now();
  await d1.prepare("INSERT INTO login_attempts (scope, subject, window_start, attempts) VALUES ('ip', 'old', ?, 3), ('ip', 'fresh', ?, 3)").bind(now - 2 * 86_400_000, now).run();
  await d1.prepare("INSERT INTO sessions (id, user_id, refresh_jti, created_at, last_used_at, expires_at) VALUES ('expired', ?, 'j', 0, 0, 1)").bind(owner.user.id).run();
  await d1.prepare("INSERT INTO job_runs (organization_id, job, trigger, started_at) VALUES (NULL, 'sync', 'cron', 1)").run();
  await dev.scheduled('30 0 * * *');
  const left = await d1.prepare("SELECT (SELECT COUNT(*) FROM login_attempts WHERE subject IN ('old', 'fresh')) AS attempts, (SELECT COUNT(*) FROM sessions WHERE id = 'expired') AS sessions, (SELECT COUNT(*) FROM job_runs WHERE started_at = 1) AS runs").first();
  assert.deepEqual({ ...left }, { attempts: 1, sessions: 0, runs: 0 });
});
