// End-to-end attack suite (issue 14), part 2: sessions, lock-outs, registration, passwords.
// Each test makes the attack, asserts the refusal, and compares the D1 rows before and after
// (tests/support/attack.mjs): `gw` runs as in production (ALLOW_PRIVATE_UPSTREAMS off), `dev`
// with the dev var on, for tests that need fake stations on 127.0.0.1.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { call } from '../support/gateway.mjs';
import { attackSuite, PASSWORD } from '../support/attack.mjs';

const suite = attackSuite();
const { unchanged, api, asAdmin, register, orgWithMember } = suite;
let gw;

before(async () => {
  await suite.start();
  ({ gw } = suite);
});

after(() => suite.close());

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
