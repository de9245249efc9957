// End-to-end: stations synced as the real panels answer (issue 18). New API's key reveals sit
// behind its CriticalRateLimit (20 calls per 20 minutes), so 150 masked keys must come through the
// batch route, and a 429 part-way must keep every key already revealed; prices must follow the
// panel's own arithmetic (the user's private group ratio, the station's quota_per_unit).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, call } from '../support/gateway.mjs';
import { startPanel } from '../support/fake-panels.mjs';
import { usageRows } from '../support/setup.mjs';

let gw;
const fakes = [];

before(async () => {
  gw = await startGateway();
});

after(async () => {
  await gw?.close();
  for (const fake of fakes) await fake.close();
});

const admin = (path, opts = {}) => call(gw.url, path, { token: gw.secrets.AUTH_TOKEN, ...opts });
const rows = async (sql, ...args) => (await (await gw.d1()).prepare(sql).bind(...args).all()).results;
const activeKeys = async (stationId) =>
  (await rows("SELECT COUNT(*) AS n FROM upstream_keys WHERE station_id = ? AND status = 'active'", stationId))[0].n;

/** A fake of `kind` registered with its access token, and its station id. */
async function station(kind, name, options) {
  const fake = await startPanel(kind, { accessToken: `tok-${name}`, userId: 7, ...options });
  fakes.push(fake);
  const created = await admin('/api/provider/', {
    method: 'POST',
    body: { name, platform: kind, base_url: fake.url, access_token: `tok-${name}`, user_id: 7 },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { fake, id: created.body.data.id };
}

const sync = async (id) => {
  const res = await admin(`/api/provider/${id}/sync`, { method: 'POST' });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.data;
};
const reveals = (fake, pattern) => fake.requests.filter((r) => r.method === 'POST' && pattern.test(r.path));

test('150 masked New API keys sync within the reveal limit, through the batch route', async () => {
  const { fake, id } = await station('new-api', 'many-keys', { tokens: 150, models: ['gpt-4o'] });
  const report = await sync(id);
  assert.deepEqual(report.errors, []);
  assert.deepEqual(report.warnings, []);
  assert.equal(await activeKeys(id), 150);
  // Two batch calls (100 + 50 ids), no single reveal: far inside 20 critical calls.
  const batches = reveals(fake, /^\/api\/token\/batch\/keys$/);
  assert.deepEqual(batches.map((r) => r.json.ids.length).sort((a, b) => b - a), [100, 50]);
  assert.equal(reveals(fake, /^\/api\/token\/\d+\/key$/).length, 0);
  assert.ok(fake.state.criticalCalls.length <= fake.state.criticalLimit);
  // Every stored key is the panel's full key (sk- added), sealed.
  const hints = await rows("SELECT key_hint FROM upstream_keys WHERE station_id = ? ORDER BY CAST(remote_id AS INTEGER)", id);
  assert.equal(hints.length, 150);
  for (const [i, { key_hint }] of hints.entries()) assert.ok(key_hint.endsWith(`sk-${fake.state.tokens[i].key}`.slice(-4)), key_hint);
});

test('a 429 part-way through single reveals keeps every key revealed; the next sync does the rest', async () => {
  // A build without the batch route: one reveal per key, 20 allowed per 20 minutes.
  const { fake, id } = await station('new-api', 'rate-limited', { tokens: 30, models: ['gpt-4o'], batchKeys: false });
  const first = await sync(id);
  assert.deepEqual(first.errors, [], 'the account is not failed by the limit');
  assert.equal(first.warnings.length, 1, JSON.stringify(first.warnings));
  assert.match(first.warnings[0], /rate-limited.*HTTP status 429.*20 of 30 masked keys revealed/);
  assert.equal(reveals(fake, /^\/api\/token\/batch\/keys$/).length, 1, 'the batch route was tried once');
  assert.equal(reveals(fake, /^\/api\/token\/\d+\/key$/).length, 21, '20 answered, the 21st refused');
  assert.equal(await activeKeys(id), 20);
  const [account] = await rows('SELECT health FROM accounts WHERE station_id = ?', id);
  assert.equal(account.health, 'healthy');
  // The 20 revealed keys already route.
  const table = await gw.mf.getKVNamespace('CACHE').then((kv) => kv.get('routes:1', 'json'));
  assert.equal(table.models['gpt-4o'].filter((c) => c.station_id === id).length, 20);

  // Twenty minutes later: only the 10 missing keys are revealed.
  fake.state.criticalCalls = [];
  const before = reveals(fake, /^\/api\/token\/\d+\/key$/).length;
  const second = await sync(id);
  assert.deepEqual(second.warnings, []);
  assert.equal(reveals(fake, /^\/api\/token\/\d+\/key$/).length - before, 10);
  assert.equal(await activeKeys(id), 30);
});

test("prices in the route table and the usage log follow New API's arithmetic: a private group, 1,000,000 units per USD", async () => {
  const { fake, id } = await station('new-api', 'private-group', {
    models: ['gpt-4o-svip'],
    quotaPerUnit: 1_000_000,
    group: 'svip',
    groups: { default: { ratio: 1, desc: '默认分组' }, svip: { ratio: 0.5, desc: 'SVIP', public: false } },
    pricing: { 'gpt-4o-svip': { model_ratio: 1.25, completion_ratio: 4 } },
  });
  const report = await sync(id);
  assert.deepEqual(report.errors, []);
  // The anonymous /api/pricing the access token gets has no svip ratio (the old fallback was 1).
  const pricingCall = fake.requests.find((r) => r.path === '/api/pricing');
  assert.ok(pricingCall, 'pricing was read');
  // 1.25 units a token × 0.5 / 1,000,000 units per USD = $0.625 per M input tokens, ×4 output.
  const table = await gw.mf.getKVNamespace('CACHE').then((kv) => kv.get('routes:1', 'json'));
  const [channel] = table.models['gpt-4o-svip'].filter((c) => c.station_id === id);
  assert.deepEqual([channel.pricing.input_per_mtok, channel.pricing.output_per_mtok], [0.625, 2.5]);

  // One call: the gateway's logged cost is what the panel took from the balance.
  const minted = await admin('/api/agg-token/', { method: 'POST', body: { name: 'prices' } });
  assert.equal(minted.status, 201, JSON.stringify(minted.body));
  const quotaBefore = fake.state.quota;
  const res = await call(gw.url, '/v1/chat/completions', {
    method: 'POST',
    token: minted.body.data.key,
    body: { model: 'gpt-4o-svip', messages: [{ role: 'user', content: 'a question long enough to count some prompt tokens here' }] },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const [log] = await usageRows(gw, 1, `station_id = ${id}`);
  const charged = (quotaBefore - fake.state.quota) / fake.state.quotaPerUnit;
  const expected = (log.prompt_tokens * 0.625 + log.completion_tokens * 2.5) / 1e6;
  assert.ok(Math.abs(log.cost_usd - expected) < 1e-12, `${log.cost_usd} vs ${expected}`);
  // The panel rounds to whole quota units.
  assert.ok(Math.abs(log.cost_usd - charged) <= 1 / fake.state.quotaPerUnit, `${log.cost_usd} vs panel ${charged}`);
  assert.ok(charged > 0);
});

const channelsOf = async (id) => {
  const table = await gw.mf.getKVNamespace('CACHE').then((kv) => kv.get('routes:1', 'json'));
  const byKey = {};
  for (const [model, chans] of Object.entries(table.models)) {
    for (const c of chans.filter((c) => c.station_id === id)) (byKey[c.upstream_key_id] ??= []).push(model);
  }
  return Object.values(byKey).map((models) => models.sort());
};

test("a New API key is routed only to its own group's models, not the user's union", async () => {
  const { fake, id } = await station('new-api', 'groups', {
    tokens: 2,
    models: ['g-default-only', 'g-vip-a', 'g-vip-b'],
    groups: { default: { ratio: 1, desc: '默认分组' }, vip: { ratio: 0.8, desc: 'VIP' } },
    groupModels: { default: ['g-default-only'], vip: ['g-vip-a', 'g-vip-b'] },
  });
  fake.state.tokens[1].group = 'vip'; // the first token has no group: the user's (default)
  const report = await sync(id);
  assert.deepEqual(report.errors, []);
  // /api/user/models lists the union; each key got its group's list from /v1/models.
  assert.deepEqual((await channelsOf(id)).sort(), [['g-default-only'], ['g-vip-a', 'g-vip-b']]);
  assert.equal(fake.requests.filter((r) => r.path === '/v1/models').length, 2, 'one list per key group');
  // The key's group changes on the panel: its channels follow.
  fake.state.tokens[1].group = '';
  await sync(id);
  assert.deepEqual(await channelsOf(id), [['g-default-only'], ['g-default-only']]);
});

test('DoneHub: AddToken answers the key (no second listing); a password session sees the private group ratio', async () => {
  const fake = await startPanel('done-hub', {
    username: 'dh-private',
    password: 'pw-dh-private',
    tokens: 0,
    models: ['dh-model'],
    quotaPerUnit: 1_000_000,
    group: 'svip',
    groups: { default: { ratio: 1, desc: '默认分组', public: true }, svip: { ratio: 0.5, desc: 'SVIP', public: false } },
  });
  fakes.push(fake);
  const created = await admin('/api/provider/', {
    method: 'POST',
    body: { name: 'done-hub-private', platform: 'done-hub', base_url: fake.url, username: 'dh-private', password: 'pw-dh-private' },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.data.id;
  const report = await sync(id);
  assert.deepEqual(report.errors, []);
  assert.deepEqual(report.warnings, []);
  assert.equal(report.keys_created, 1);
  assert.equal(fake.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/api/token/')).length, 1, 'listed once, not again after creating');
  const [key] = await rows('SELECT name, key_hint FROM upstream_keys WHERE station_id = ?', id);
  assert.equal(key.name, 'ai-gateway');
  assert.ok(key.key_hint.endsWith(fake.state.tokens[0].key.slice(-4)));
  // input 1.25 units a token × svip 0.5 / 1,000,000 units per USD.
  const [price] = await rows("SELECT input_usd_per_mtok, output_usd_per_mtok FROM station_models WHERE station_id = ? AND model = 'dh-model'", id);
  assert.deepEqual([price.input_usd_per_mtok, price.output_usd_per_mtok], [0.625, 2.5]);

  // The same panel through an access token: /api/user_group_map hides the private group.
  const viaToken = await station('done-hub', 'done-hub-token', {
    models: ['dh-token-model'],
    group: 'svip',
    groups: { default: { ratio: 1, desc: '默认分组', public: true }, svip: { ratio: 0.5, desc: 'SVIP', public: false } },
  });
  const warned = await sync(viaToken.id);
  assert.match(warned.warnings.join('\n'), /ratio of its group `svip` is not visible/);
});

test('Veloera serves /v1/responses natively', async () => {
  const { fake, id } = await station('veloera', 'veloera-responses', { models: ['velo-model'] });
  await sync(id);
  const minted = await admin('/api/agg-token/', { method: 'POST', body: { name: 'velo' } });
  const res = await call(gw.url, '/v1/responses', { method: 'POST', token: minted.body.data.key, body: { model: 'velo-model', input: 'hello' } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.ok(fake.requests.some((r) => r.method === 'POST' && r.path === '/v1/responses'), 'not converted to chat');
});

/** A Sub2API fake registered with an email login. */
async function sub2api(name, options) {
  const fake = await startPanel('sub2api', { username: `${name}@b.c`, password: `pw-${name}-1`, ...options });
  fakes.push(fake);
  const created = await admin('/api/provider/', {
    method: 'POST',
    body: { name, platform: 'sub2api', base_url: fake.url, username: `${name}@b.c`, password: `pw-${name}-1` },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { fake, id: created.body.data.id };
}

const accountView = async (id) => (await admin(`/api/provider/${id}/accounts`)).body.data[0];

test('Sub2API: each key serves its group platform; models per platform; keys used exactly as listed', async () => {
  const { fake, id } = await sub2api('s2-platforms', {
    tokens: 2,
    keyPrefix: 'custom_', // the panel's configurable prefix: not `sk-`
    keyGroups: [
      { id: 3, name: 'claude', platform: 'anthropic', rate_multiplier: 1, status: 'active', subscription_type: 'standard' },
      { id: 5, name: 'gem', platform: 'gemini', rate_multiplier: 1, status: 'active', subscription_type: 'standard' },
    ],
    models: ['claude-s2', 'gemini-s2'],
    platformModels: { anthropic: ['claude-s2'], gemini: ['gemini-s2'], openai: ['gpt-s2'] },
  });
  fake.state.tokens[1].group_id = 5;
  const report = await sync(id);
  assert.deepEqual(report.errors, []);
  const keys = await rows('SELECT id, remote_id, key_hint, dialects FROM upstream_keys WHERE station_id = ? ORDER BY remote_id', id);
  assert.ok(keys.every((k) => k.key_hint.startsWith('cus')), JSON.stringify(keys));
  assert.deepEqual(JSON.parse(keys[0].dialects).map((d) => d.dialect), ['anthropic-messages']);
  assert.deepEqual(JSON.parse(keys[1].dialects).map((d) => d.dialect), ['gemini', 'anthropic-messages']);
  // The Claude list came from /v1/models, the Gemini list from /v1beta/models.
  assert.deepEqual((await channelsOf(id)).sort(), [['claude-s2'], ['gemini-s2']]);

  const minted = await admin('/api/agg-token/', { method: 'POST', body: { name: 's2' } });
  const token = minted.body.data.key;
  const seen = () => fake.requests.filter((r) => r.method === 'POST').map((r) => [r.path, r.headers['x-api-key'] ?? r.headers['x-goog-api-key'] ?? r.headers.authorization]);
  const expectCall = async (path, body, upstreamPath, keyIndex) => {
    const before = seen().length;
    const res = await call(gw.url, path, { method: 'POST', token, body, headers: path.startsWith('/v1/messages') ? { 'anthropic-version': '2023-06-01' } : {} });
    assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
    const [upstream, key] = seen().slice(before).at(-1);
    assert.equal(upstream, upstreamPath);
    assert.ok(key.endsWith(fake.state.tokens[keyIndex].key) && !key.includes('sk-'), `${path}: the key as listed`);
  };
  // Native: Gemini to the Gemini-group key, Anthropic to the Claude-group key.
  await expectCall('/v1beta/models/gemini-s2:generateContent', { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }, '/v1beta/models/gemini-s2:generateContent', 1);
  await expectCall('/v1/messages', { model: 'claude-s2', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }, '/v1/messages', 0);
  // Chat completions exist on neither: converted to what each key serves.
  await expectCall('/v1/chat/completions', { model: 'gemini-s2', messages: [{ role: 'user', content: 'hi' }] }, '/v1beta/models/gemini-s2:generateContent', 1);
  await expectCall('/v1/chat/completions', { model: 'claude-s2', messages: [{ role: 'user', content: 'hi' }] }, '/v1/messages', 0);
});

test('Sub2API: a 2FA account is reported as needing a token; the station stays usable', async () => {
  const { id } = await sub2api('s2-totp', { requires2fa: true });
  const res = await admin(`/api/provider/${id}/sync`, { method: 'POST' });
  assert.equal(res.status, 200, 'the station answered: its sync completes');
  assert.match(res.body.data.errors.join('\n'), /needs 2FA/);
  const account = await accountView(id);
  assert.equal(account.health, 'unhealthy');
  assert.match(account.health_reason, /needs 2FA.*with a token.*instead of the password/);
  const [station] = await rows('SELECT last_sync_error FROM stations WHERE id = ?', id);
  assert.doesNotMatch(station.last_sync_error, /unreachable|unreadable|malformed/i);
});

test('Sub2API: subscriptions show their limits and resets, unlimited ones no balance (not $-1)', async () => {
  const group = { id: 7, name: 'Claude Max', platform: 'anthropic', rate_multiplier: 1, status: 'active', subscription_type: 'subscription' };
  const limited = await sub2api('s2-sub', {
    keyGroups: [group],
    subscriptions: [{ id: 4, group_id: 7, daily_limit_usd: 20, daily_used_usd: 18.5, daily_resets_at: '2025-12-28T00:00:00Z', monthly_limit_usd: 200, monthly_used_usd: 30, monthly_resets_at: '2026-01-01T00:00:00Z', expires_at: '2026-01-01T00:00:00Z' }],
  });
  await sync(limited.id);
  let account = await accountView(limited.id);
  assert.equal(account.balance_usd, 1.5, 'the smallest remaining limit, not the $12.5 wallet alone');
  assert.equal(account.subscription.kind, 'subscription');
  assert.equal(account.subscription.wallet_usd, 12.5);
  const [plan] = account.subscription.subscriptions;
  assert.equal(plan.group, 'Claude Max');
  assert.deepEqual(plan.windows.map((w) => [w.period, w.limit_usd, w.remaining_usd, w.resets_at]), [['daily', 20, 1.5, '2025-12-28T00:00:00Z'], ['monthly', 200, 170, '2026-01-01T00:00:00Z']]);
  // The balance job reads the same (its runs take the least recently checked accounts first).
  let snapshot;
  for (let run = 0; run < 6 && !snapshot; run += 1) {
    const job = await admin('/api/jobs/balance/run', { method: 'POST' });
    assert.equal(job.status, 200, JSON.stringify(job.body));
    [snapshot] = await rows('SELECT balance_usd, estimated FROM balance_snapshots WHERE account_id = ? ORDER BY id DESC LIMIT 1', account.id);
  }
  assert.deepEqual({ ...snapshot }, { balance_usd: 1.5, estimated: 0 });
  assert.equal((await accountView(limited.id)).subscription.kind, 'subscription');

  const unlimited = await sub2api('s2-unlimited', { keyGroups: [group], subscriptions: [{ id: 5, group_id: 7, expires_at: '2026-01-01T00:00:00Z' }] });
  await sync(unlimited.id);
  account = await accountView(unlimited.id);
  assert.equal(account.balance_usd, null);
  assert.equal(account.subscription.kind, 'unlimited');

  // Through a bare relay key, /v1/usage answers -1 for "no limit": never stored as $-1.
  const keyed = await startPanel('sub2api', { keyGroups: [group], subscriptions: [{ id: 6, group_id: 7 }] });
  fakes.push(keyed);
  const created = await admin('/api/provider/', { method: 'POST', body: { name: 's2-key', platform: 'sub2api', base_url: keyed.url, api_key: keyed.state.tokens[0].key } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await sync(created.body.data.id);
  account = await accountView(created.body.data.id);
  assert.equal(account.balance_usd, null);
  assert.equal(account.subscription.kind, 'unlimited');
});

test("DoneHub: a Gemini relay its admin switched off is not served; Gemini calls are converted instead", async () => {
  const { fake, id } = await station('done-hub', 'done-hub-no-gemini', { models: ['dh-gem'], switchedOff: ['gemini'] });
  const report = await sync(id);
  assert.deepEqual(report.errors, []);
  const [key] = await rows('SELECT dialects FROM upstream_keys WHERE station_id = ?', id);
  const served = JSON.parse(key.dialects).map((d) => d.dialect);
  assert.ok(!served.includes('gemini') && served.includes('anthropic-messages'), key.dialects);
  const minted = await admin('/api/agg-token/', { method: 'POST', body: { name: 'dh-gem' } });
  const res = await call(gw.url, '/v1beta/models/dh-gem:generateContent', {
    method: 'POST',
    token: minted.body.data.key,
    body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const posts = fake.requests.filter((r) => r.method === 'POST').map((r) => r.path);
  assert.ok(!posts.some((p) => p.startsWith('/gemini/')), posts.join(' '));
  assert.ok(posts.includes('/v1/chat/completions'), posts.join(' '));
});
