// End-to-end: the gateway key's policy on relay calls, in every caller dialect (OpenAI Bearer,
// Anthropic x-api-key, Gemini x-goog-api-key and ?key=): model allow-list (exact and `*`),
// expiry, disabled, revoked (immediately, on the isolate that revoked it), IP allow-list (IPv4 and
// IPv6 CIDR from CF-Connecting-IP), and the request and cost limits at their exact boundary —
// counted by the isolate at once, also under concurrent calls, without waiting for the key cache.
// Each refusal is checked status and body shape exactly; allowed calls pass.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gatewayWithStations, waitFor } from '../support/setup.mjs';
import { CALLERS, assertRefused } from '../support/dialect-calls.mjs';

const cleanups = [];
let ctx;

before(async () => {
  ctx = await gatewayWithStations({ main: {} }, { cleanups }); // organization 1, on Enterprise
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

async function mint(body) {
  const res = await ctx.admin('/api/agg-token/', { method: 'POST', body: { name: 'k', ...body } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.data;
}

/** Every caller sends with `key`; each answer must be a 200. */
async function allowedEverywhere(key, opts = {}) {
  for (const c of CALLERS) {
    const res = await c.send(ctx.gw.url, key, opts);
    assert.equal(res.status, 200, `${c.name}: ${JSON.stringify(res.body)}`);
  }
}

/** Every caller sends with `key`; each answer must be the `kind` refusal in its dialect. */
async function refusedEverywhere(key, kind, message, opts = {}) {
  for (const c of CALLERS) assertRefused(c.dialect, await c.send(ctx.gw.url, key, opts), kind, message, c.name);
}

test('model allow-list: exact names and `*` wildcards pass, anything else is a 403 in each dialect', async () => {
  const { key } = await mint({ models: ['gpt-4o', 'claude-*', 'gemini-2.5-*'] });
  await allowedEverywhere(key); // gpt-4o exactly; claude-sonnet-4-5 and gemini-2.5-flash by wildcard
  await refusedEverywhere(key, 'forbidden', /^This API key is not allowed to use the model `gpt-4o-mini`$/, { model: 'gpt-4o-mini' });
  // `gpt-4o` is exact: it does not open `gpt-4o-mini`, and `claude-*` does not open `xclaude-1`.
  assertRefused('anthropic', await CALLERS[1].send(ctx.gw.url, key, { model: 'xclaude-1' }), 'forbidden', /xclaude-1/);
});

test('an expired key is refused (401; Gemini: 400 API_KEY_INVALID) in each dialect', async () => {
  const expiresAt = Date.now() + 1500;
  const { key } = await mint({ expires_at: expiresAt });
  assert.equal((await CALLERS[0].send(ctx.gw.url, key)).status, 200, 'usable until it expires');
  await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 50));
  await refusedEverywhere(key, 'unauthorized', /^This API key has expired$/);
});

test('a disabled key is refused at once; enabling it again restores it', async () => {
  const { key, id } = await mint({});
  await allowedEverywhere(key); // its record is now in the isolate's cache
  assert.equal((await ctx.admin(`/api/agg-token/${id}`, { method: 'PUT', body: { enabled: false } })).status, 200);
  await refusedEverywhere(key, 'unauthorized', /^This API key has been disabled$/);
  assert.equal((await ctx.admin(`/api/agg-token/${id}`, { method: 'PUT', body: { enabled: true } })).status, 200);
  await allowedEverywhere(key);
});

test('a revoked (deleted) key is refused immediately on the isolate that revoked it', async () => {
  const { key, id } = await mint({});
  await allowedEverywhere(key);
  assert.equal((await ctx.admin(`/api/agg-token/${id}`, { method: 'DELETE' })).status, 200);
  await refusedEverywhere(key, 'unauthorized', /^Invalid API key$/);
  // An unknown key answers exactly like a revoked one.
  await refusedEverywhere('ag-never-issued', 'unauthorized', /^Invalid API key$/);
});

test('IP allow-list: IPv4 and IPv6 CIDRs from CF-Connecting-IP; outside or missing is a 403', async () => {
  const { key } = await mint({ allowed_ips: ['203.0.113.0/24', '2001:db8::/32'] });
  await allowedEverywhere(key, { ip: '203.0.113.7' });
  await allowedEverywhere(key, { ip: '2001:db8:0:1::5' });
  const message = /^Your IP address is not allowed to use this API key$/;
  for (const ip of ['198.51.100.7', '203.0.114.1', '2001:db9::1', '::ffff:198.51.100.7', undefined]) {
    await refusedEverywhere(key, 'forbidden', message, { ip });
  }
});

/** Waits until the batched usage log stored `requests` calls for the key in D1; returns its counters. */
async function landed(keyId, requests) {
  const d1 = await ctx.gw.d1();
  const row = await waitFor(async () => {
    const r = await d1.prepare('SELECT used_requests, used_cost_usd FROM gateway_keys WHERE id = ?').bind(keyId).first();
    return r.used_requests === requests ? r : null;
  }, { tries: 60 });
  assert.equal(row?.used_requests, requests, `key ${keyId} counters landed`);
  return row;
}

const chat = (key) => CALLERS[0].send(ctx.gw.url, key);

test('request limit N: N quick successive calls pass, the N+1st is refused at once in each dialect', async () => {
  const { key, id } = await mint({ request_limit: 3 });
  for (let i = 1; i <= 3; i++) assert.equal((await chat(key)).status, 200, `call ${i} of 3`);
  // No wait for the key cache (5 s) or the usage log batch (1 s): the isolate counted the calls.
  await refusedEverywhere(key, 'rate_limited', /^This API key has used its request limit \(3 requests\)$/);
  // Refusals are not counted, neither here nor in D1.
  await landed(id, 3);
  // An edit re-reads the key at once: one more request allowed is exactly one.
  assert.equal((await ctx.admin(`/api/agg-token/${id}`, { method: 'PUT', body: { request_limit: 4 } })).status, 200);
  assert.equal((await chat(key)).status, 200);
  assertRefused('openai', await chat(key), 'rate_limited', /request limit \(4 requests\)/);
  await landed(id, 4);
});

test('request limit 5 under 10 concurrent calls: exactly 5 pass', async () => {
  const { key, id } = await mint({ request_limit: 5 });
  const answers = await Promise.all(Array.from({ length: 10 }, () => chat(key)));
  const statuses = answers.map((a) => a.status).sort();
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
  await landed(id, 5);
  // A warm key too: its cached record counts the calls in flight.
  const warm = await mint({ request_limit: 6 });
  assert.equal((await chat(warm.key)).status, 200);
  const more = await Promise.all(Array.from({ length: 10 }, () => chat(warm.key)));
  assert.equal(more.filter((a) => a.status === 200).length, 5);
  await landed(warm.id, 6);
});

test('cost limit: the call that crosses it passes (its cost is unknown before it runs), the next is refused at once', async () => {
  // One call measures the cost: the fake's gpt-4o pricing is model_ratio 1.25, completion_ratio 4,
  // i.e. $2.50 / $10 per million input / output tokens (New API ratio 1 = $2 per million).
  const probe = await CALLERS[0].send(ctx.gw.url, ctx.key);
  assert.equal(probe.status, 200);
  const { prompt_tokens: p, completion_tokens: c } = probe.body.usage;
  const cost = (p * 2.5 + c * 10) / 1e6;
  const logged = await waitFor(async () => (await (await ctx.gw.d1()).prepare('SELECT cost_usd FROM usage_logs WHERE gateway_key_id = ?').bind(ctx.keyId).first()) ?? null);
  assert.ok(Math.abs(logged.cost_usd - cost) < 1e-12, `logged ${logged.cost_usd}, expected ${cost}`);

  const { key, id } = await mint({ cost_limit_usd: 1.5 * cost });
  assert.equal((await chat(key)).status, 200, 'spend 0 of 1.5 calls');
  assert.equal((await chat(key)).status, 200, 'spend 1 of 1.5 calls: passes and crosses the limit');
  await refusedEverywhere(key, 'rate_limited', /^This API key has used its cost limit \(\$\d+\.\d{2}\)$/);
  const spent = await landed(id, 2);
  assert.ok(Math.abs(spent.used_cost_usd - 2 * cost) < 1e-12, 'D1 holds the two calls\' cost');
});
