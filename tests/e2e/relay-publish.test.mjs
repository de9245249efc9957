// End-to-end: route-table publishing under a burst of admin edits (issue 12). Every edit
// answers 200 (no 500 after D1 committed), the isolate serves the newest table at once, and the
// KV copy other isolates read ends with the last edit and a matching `built_at`, written at most
// once per second per organization.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gatewayWithStations, waitFor } from '../support/setup.mjs';

const cleanups = [];
let ctx;

before(async () => {
  ctx = await gatewayWithStations({ main: {} }, { cleanups });
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

test('a burst of route edits all succeed and KV ends with the newest table', async () => {
  const routes = await ctx.admin('/api/route/');
  const route = routes.body.data.find((r) => r.model === 'gpt-4o');
  assert.ok(route, JSON.stringify(routes.body));
  const kv = await ctx.gw.mf.getKVNamespace('CACHE');
  const started = Date.now();
  const burst = await Promise.all(
    Array.from({ length: 12 }, (_, i) => ctx.admin(`/api/route/${route.id}`, { method: 'PUT', body: { weight: 100 + i } })),
  );
  assert.deepEqual(burst.map((r) => r.status), Array(12).fill(200), JSON.stringify(burst.map((r) => r.body)));
  for (let i = 0; i < 4; i++) {
    const res = await ctx.admin(`/api/route/${route.id}`, { method: 'PUT', body: { weight: 200 + i } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }
  const elapsed = Date.now() - started;
  // 16 edits coalesce into a few KV writes a second apart, not one write (or wait) each.
  assert.ok(elapsed < 8000, `${elapsed} ms`);
  const table = await waitFor(async () => {
    const t = JSON.parse((await kv.get('routes:1')) ?? '{}');
    return t.models?.['gpt-4o']?.find((c) => c.id === route.id)?.weight === 203 ? t : null;
  }, { tries: 40, every: 100 });
  assert.ok(table, 'the KV copy carries the last edit');
  assert.equal(Number(await kv.get('routes-built-at:1')), table.built_at);
  assert.equal((await ctx.chat()).status, 200);
});
