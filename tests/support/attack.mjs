// Shared set-up of the attack suites (tests/e2e/security*.test.mjs): a gateway as in production
// (ALLOW_PRIVATE_UPSTREAMS off, ADMIN_ORIGINS set, registrations throttled) and a `dev` gateway
// with the dev var on for tests that need fake stations on 127.0.0.1; the D1 snapshot that every
// attack is compared against; and small helpers (users, an organization with a member).

import assert from 'node:assert/strict';
import { startGateway, call } from './gateway.mjs';
import { startFakeStation } from './fake-station.mjs';

export const ADMIN_ORIGIN = 'https://console.example.test';
export const PASSWORD = 'correct horse battery';

/** The two gateways and the helpers bound to them; `start` in `before`, `close` in `after`. */
export function attackSuite() {
  const fakes = [];
  let nextIp = 0;
  const suite = {
    gw: null,
    dev: null,
    async start() {
      suite.gw = await startGateway({ vars: { ALLOW_PRIVATE_UPSTREAMS: 'false', ADMIN_ORIGINS: ADMIN_ORIGIN, REGISTRATIONS_PER_IP_PER_HOUR: '10' } });
      suite.dev = await startGateway();
    },
    async close() {
      await suite.gw?.close();
      await suite.dev?.close();
      for (const fake of fakes) await fake.close();
    },
    async fakeStation(options) {
      const fake = await startFakeStation(options);
      fakes.push(fake);
      return fake;
    },
    /** Every row of every table (but the migration bookkeeping). */
    async snapshot(target = suite.gw) {
      const d1 = await target.d1();
      const { results: tables } = await d1
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name <> 'd1_migrations' ORDER BY name")
        .all();
      const out = {};
      for (const { name } of tables) out[name] = (await d1.prepare(`SELECT * FROM "${name}"`).all()).results;
      return out;
    },
    /** Runs `attack` and asserts that it left every table as it was (`except` tables may change). */
    async unchanged(attack, { target = suite.gw, except = [] } = {}) {
      const before = await suite.snapshot(target);
      const result = await attack();
      const afterwards = await suite.snapshot(target);
      for (const table of except) {
        delete before[table];
        delete afterwards[table];
      }
      assert.deepEqual(afterwards, before, 'the attack changed D1');
      return result;
    },
    api: (path, token, opts = {}) => call(suite.gw.url, path, { token, ...opts }),
    asAdmin: (path, opts = {}) => call(suite.gw.url, path, { token: suite.gw.secrets.AUTH_TOKEN, ...opts }),
    /** Registers from a fresh address each time (registrations are throttled per IP). */
    async register(email, target = suite.gw, ip = `198.18.0.${++nextIp}`) {
      const res = await call(target.url, '/api/users/register', {
        method: 'POST',
        body: { email, password: PASSWORD, name: 'x' },
        headers: { 'cf-connecting-ip': ip },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.data;
    },
    /** A user who owns a fresh Free organization, with an invited member. */
    async orgWithMember(name) {
      const owner = await suite.register(`owner@${name}.test`);
      const created = await suite.api('/api/organizations', owner.access_token, { method: 'POST', body: { name } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.data.id;
      const inv = await suite.api(`/api/organizations/${id}/invitations`, owner.access_token, { method: 'POST', body: { email: `member@${name}.test`, role: 'member' } });
      const member = await suite.register(`member@${name}.test`);
      assert.equal((await suite.api(`/api/invitations/${inv.body.data.token}/accept`, member.access_token, { method: 'POST' })).status, 200);
      const hdr = { 'x-organization-id': String(id) };
      return { id, hdr, owner: owner.access_token, member: member.access_token, ownerId: owner.user.id };
    },
  };
  return suite;
}
