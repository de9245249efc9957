// End-to-end: the console's read-only views — a station's models with their published prices
// (GET /api/provider/:id/models) and usage per gateway key (GET /api/dashboard/keys) — scoped
// to the caller's organization; and the dashboard of an organization without traffic.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { call } from '../support/gateway.mjs';
import { gatewayWithStations, usageRows } from '../support/setup.mjs';

const cleanups = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

test('station models with prices and usage per key, only in their own organization', async () => {
  const { gw, admin, stations, keyId, chat } = await gatewayWithStations({ relay: {} }, { keyBody: { name: 'laptop' }, cleanups });
  const id = stations.relay.id;

  const models = await admin(`/api/provider/${id}/models`);
  assert.equal(models.status, 200, JSON.stringify(models.body));
  const mini = models.body.data.find((m) => m.model === 'gpt-4o-mini');
  // New API pricing: model_ratio 0.075 → $0.15 per 1M input tokens, completion_ratio 4 → $0.60 out.
  assert.equal(mini.billing, 'tokens');
  assert.equal(mini.input_usd_per_mtok, 0.15);
  assert.equal(mini.output_usd_per_mtok, 0.6);
  assert.equal(mini.channels, 1);
  assert.deepEqual(
    models.body.data.map((m) => m.model),
    [...models.body.data.map((m) => m.model)].sort(),
  );
  assert.equal((await admin('/api/provider/999/models')).status, 404);

  for (let i = 0; i < 3; i++) assert.equal((await chat('gpt-4o-mini')).status, 200);
  assert.equal((await chat('fake-500')).status >= 400, true);
  await usageRows(gw, 4);
  const byKey = await admin('/api/dashboard/keys?days=1');
  assert.equal(byKey.status, 200, JSON.stringify(byKey.body));
  assert.deepEqual(
    byKey.body.data.map(({ gateway_key_id, name, requests, errors }) => ({ gateway_key_id, name, requests, errors })),
    [{ gateway_key_id: keyId, name: 'laptop', requests: 4, errors: 1 }],
  );
  assert.ok(byKey.body.data[0].prompt_tokens > 0);
  assert.match(byKey.body.data[0].key_hint, /^ag-/);
  assert.equal((await admin('/api/dashboard/keys?days=x')).status, 400);

  // A user in another organization sees neither.
  const reg = await call(gw.url, '/api/users/register', { method: 'POST', body: { email: 'other@example.com', password: 'other-password-1' } });
  const token = reg.body.data.access_token;
  const org = await call(gw.url, '/api/organizations', { method: 'POST', token, body: { name: 'Other' } });
  const headers = { 'x-organization-id': String(org.body.data.id) };
  assert.equal((await call(gw.url, `/api/provider/${id}/models`, { token, headers })).status, 404);
  const theirs = await call(gw.url, '/api/dashboard/keys', { token, headers });
  assert.equal(theirs.status, 200);
  assert.deepEqual(theirs.body.data, []);
  // An organization without traffic gets a dashboard of zeros (SUM over no rows is NULL).
  const empty = await call(gw.url, '/api/dashboard?days=7', { token, headers });
  assert.equal(empty.status, 200, JSON.stringify(empty.body));
  assert.equal(empty.body.data.requests, 0);
  assert.equal(empty.body.data.success_rate, null);
  assert.deepEqual(empty.body.data.by_day, []);
  // Their session cannot name organization 1 at all.
  assert.equal((await call(gw.url, '/api/dashboard/keys', { token, headers: { 'x-organization-id': '1' } })).status, 404);
});
