// End-to-end: the plan's daily request limit on relay calls. A Free organization (1,000 per
// UTC day) fires exactly 1,000 calls with 50 in flight — all pass, and exactly 1,000 reach the
// station — then every further call is refused with the 403 naming the limit, in the caller's
// dialect; the instance-wide PROXY_TOKEN counts against the default organization; another
// organization is unaffected; an upgrade lifts the limit at once.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { call, randomSecret } from '../support/gateway.mjs';
import { gatewayWithStations } from '../support/setup.mjs';
import { startFakeStation } from '../support/fake-station.mjs';
import { CALLERS, assertRefused, pool } from '../support/dialect-calls.mjs';

const cleanups = [];
const PROXY_TOKEN = randomSecret();
let ctx; // organization 1 (put on Free): gateway, admin, stations.main, key
let otherKey; // a key of a second Free organization with its own station

before(async () => {
  ctx = await gatewayWithStations({ main: {} }, { secrets: { PROXY_TOKEN }, cleanups });
  // The default organization starts on Enterprise; put it on Free.
  const free = await ctx.admin('/api/organizations/1', { method: 'PATCH', body: { plan: 'free' } });
  assert.equal(free.body.data?.plan, 'free', JSON.stringify(free.body));
  const owner = await call(ctx.gw.url, '/api/users/register', {
    method: 'POST',
    body: { email: 'owner@other.test', password: 'correct horse battery', name: 'o' },
  });
  const token = owner.body.data.access_token;
  const org = await call(ctx.gw.url, '/api/organizations', { method: 'POST', token, body: { name: 'other' } });
  assert.equal(org.body.data.plan, 'free');
  const fake = await startFakeStation({ accessToken: 'tok-other', userId: 7 });
  cleanups.push(() => fake.close());
  const headers = { 'x-organization-id': String(org.body.data.id) };
  const st = await ctx.admin('/api/provider/', {
    method: 'POST',
    headers,
    body: { name: 'other', platform: 'new-api', base_url: fake.url, access_token: 'tok-other', user_id: 7 },
  });
  assert.equal((await ctx.admin(`/api/provider/${st.body.data.id}/sync`, { method: 'POST', headers })).status, 200);
  otherKey = (await call(ctx.gw.url, '/api/agg-token/', { method: 'POST', token, body: { name: 'k' } })).body.data.key;
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

// Relay calls are POSTs; sync's own model listing (GET /v1/models per key group) is not one.
const relayed = () =>
  ctx.stations.main.fake.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1')).length;
const LIMIT_MESSAGE = /^plan_limit_daily_requests: the free plan allows 1000 requests per UTC day/;

test('a Free organization gets exactly 1,000 relay calls a day under concurrency, then a 403 in each dialect', async () => {
  const started = Date.now();
  const results = await pool(1000, 50, (i) => CALLERS[i % CALLERS.length].send(ctx.gw.url, ctx.key));
  const failed = results.map((r, i) => [i, r.status, r.body]).filter(([, status]) => status !== 200);
  assert.deepEqual(failed, [], 'every call within the limit succeeds');
  assert.equal(relayed(), 1000, 'exactly 1,000 calls reached the station');

  const refused = await pool(40, 40, (i) => CALLERS[i % CALLERS.length].send(ctx.gw.url, ctx.key));
  refused.forEach((res, i) => assertRefused(CALLERS[i % CALLERS.length].dialect, res, 'forbidden', LIMIT_MESSAGE, CALLERS[i % CALLERS.length].name));
  assert.equal(relayed(), 1000, 'no refused call reached the station');
  // The instance-wide PROXY_TOKEN acts in the default organization and counts against it.
  assertRefused('openai', await CALLERS[0].send(ctx.gw.url, PROXY_TOKEN), 'forbidden', LIMIT_MESSAGE);
  assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
});

test('another organization is unaffected by the first one using up its day', async () => {
  const results = await pool(20, 20, (i) => CALLERS[i % CALLERS.length].send(ctx.gw.url, otherKey));
  assert.deepEqual(results.map((r) => r.status), Array(20).fill(200));
});

test('an upgrade lifts the limit at once; the count of the day carries over', async () => {
  const up = await ctx.admin('/api/organizations/1', { method: 'PATCH', body: { plan: 'pro' } });
  assert.equal(up.status, 200, JSON.stringify(up.body));
  const res = await CALLERS[0].send(ctx.gw.url, ctx.key);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal((await CALLERS[0].send(ctx.gw.url, PROXY_TOKEN)).status, 200);
  // Back to Free: today's 1,002 are over its 1,000 again.
  await ctx.admin('/api/organizations/1', { method: 'PATCH', body: { plan: 'free' } });
  assertRefused('anthropic', await CALLERS[1].send(ctx.gw.url, ctx.key), 'forbidden', LIMIT_MESSAGE);
});
