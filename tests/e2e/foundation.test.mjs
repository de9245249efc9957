// End-to-end: the first thin slice through the built worker in workerd, against a fake New API
// station — health, station registration and sync, gateway keys, relay (stream and not), errors,
// the cron-triggered sync, and no secret at rest in D1.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, call } from '../support/gateway.mjs';
import { startFakeStation } from '../support/fake-station.mjs';

let gw;
let station;
let stationId;
let gatewayKey;
const ACCESS_TOKEN = 'panel-access-token-7f3a9c1e5b';

before(async () => {
  // tokens: 0 → the sync must create a key on the panel, then fetch it unmasked.
  station = await startFakeStation({ accessToken: ACCESS_TOKEN, userId: 42, tokens: 0 });
  gw = await startGateway();
});

after(async () => {
  await gw?.close();
  await station?.close();
});

const admin = (path, opts = {}) => call(gw.url, path, { token: gw.secrets.AUTH_TOKEN, ...opts });

test('GET /health reports version and a D1/KV/DO round trip', async () => {
  // The details need the admin token (issue 14); without it /health says only ok/degraded.
  const res = await call(gw.url, '/health', { token: gw.secrets.AUTH_TOKEN });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.status, 'ok');
  assert.match(res.body.version, /^\d+\.\d+\.\d+$/);
  for (const check of ['d1', 'kv', 'durable_object']) assert.equal(res.body.checks[check].ok, true, check);
});

test('admin API refuses a missing or wrong admin token', async () => {
  for (const token of [undefined, 'wrong-token']) {
    const res = await call(gw.url, '/api/provider/', { token });
    assert.equal(res.status, 401);
    assert.equal(res.body.success, false);
    assert.equal(res.body.error.code, 'invalid_api_key');
  }
});

test('POST /api/provider/ validates input with clear 400s', async () => {
  const good = { name: 'x', platform: 'new-api', base_url: station.url, access_token: 't', user_id: 42 };
  const cases = [
    [{ ...good, platform: 'nope' }, /unknown platform `nope`/],
    [{ ...good, base_url: 'ftp://a' }, /base_url/],
    [{ ...good, access_token: '' }, /access_token/],
    [{ ...good, user_id: 'abc' }, /user_id/],
    [{ ...good, weight: 5000 }, /weight/],
  ];
  for (const [body, message] of cases) {
    const res = await admin('/api/provider/', { method: 'POST', body });
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.body.error.message, message);
  }
  const malformed = await admin('/api/provider/', { method: 'POST', raw: '{"name":', headers: { 'content-type': 'application/json' } });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.body.error.code, 'invalid_json');
});

test('a New API station registers with its credential sealed, never echoed', async () => {
  const res = await admin('/api/provider/', {
    method: 'POST',
    body: { name: 'relay-a', platform: 'new-api', base_url: `${station.url}/`, access_token: ACCESS_TOKEN, user_id: 42, weight: 20, priority: 1, checkin_enabled: true },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  stationId = res.body.data.id;
  assert.equal(res.body.data.base_url, station.url);
  assert.ok(!JSON.stringify(res.body).includes(ACCESS_TOKEN));
  const list = await admin('/api/provider/');
  assert.equal(list.body.data.length, 1);
  assert.ok(!JSON.stringify(list.body).includes(ACCESS_TOKEN));
  const dup = await admin('/api/provider/', { method: 'POST', body: { name: 'relay-a', platform: 'new-api', base_url: station.url, access_token: 'x', user_id: 1 } });
  assert.equal(dup.status, 409);
  const row = await (await gw.d1()).prepare('SELECT credential_ciphertext FROM accounts WHERE station_id = ?').bind(stationId).first();
  assert.match(row.credential_ciphertext, /^v2:[0-9a-f]{8}:[0-9a-f]+$/);
});

test('POST /api/provider/:id/sync pulls models, keys (creating one) and balance, then builds routes', async () => {
  const res = await admin(`/api/provider/${stationId}/sync`, { method: 'POST' });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const report = res.body.data;
  assert.deepEqual(report.errors, []);
  assert.equal(report.keys_created, 1);
  assert.equal(report.keys, 1);
  assert.equal(report.balance_usd, 5);
  assert.equal(report.used_usd, 1);
  assert.equal(report.models, station.state.models.length);
  assert.equal(report.route_entries, station.state.models.length);
  // The panel masks listed keys: the full key must have been revealed (New API's batch route
  // POST /api/token/batch/keys, a hundred keys a call; builds without it: /api/token/:id/key).
  const reveals = () => station.requests.filter((r) => r.method === 'POST' && /^\/api\/token\/(\d+\/key|batch\/keys)$/.test(r.path)).length;
  assert.equal(reveals(), 1);
  assert.ok(station.requests.filter((r) => r.path.startsWith('/api/user/')).every((r) => r.headers['new-api-user'] === '42'));

  const routes = await admin('/api/route/');
  assert.equal(routes.status, 200);
  const models = new Set(routes.body.data.map((r) => r.model));
  assert.ok(models.has('gpt-4o') && models.has('gpt-4o-mini'));
  assert.ok(routes.body.data.every((r) => r.priority === 1 && r.weight === 20));

  const again = await admin(`/api/provider/${stationId}/sync`, { method: 'POST' });
  assert.equal(again.body.data.keys_created, 0, 'sync is idempotent');
  assert.equal(again.body.data.route_entries, report.route_entries);
  assert.equal(reveals(), 1, 'a key already held is not fetched again');
});

test('POST /api/agg-token/ returns the full ag- key once and stores only its hash', async () => {
  const res = await admin('/api/agg-token/', { method: 'POST', body: { name: 'laptop' } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  gatewayKey = res.body.data.key;
  assert.match(gatewayKey, /^ag-[0-9A-Za-z]{48}$/);
  const list = await admin('/api/agg-token/');
  assert.equal(list.body.data.length, 1);
  assert.ok(!JSON.stringify(list.body).includes(gatewayKey));
  const bad = await admin('/api/agg-token/', { method: 'POST', body: { allowed_ips: ['10.0.0.0/99'] } });
  assert.equal(bad.status, 400);
});

test('non-stream chat completion is relayed with the upstream key swapped in', async () => {
  const before = station.requests.length;
  const res = await call(gw.url, '/v1/chat/completions', {
    method: 'POST',
    token: gatewayKey,
    headers: { 'x-forwarded-for': '203.0.113.9', 'x-real-ip': '203.0.113.9', 'user-agent': 'e2e-client/1.0', 'x-custom-trace': 'kept' },
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }] },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.object, 'chat.completion');
  assert.match(res.body.choices[0].message.content, /hello there/);
  assert.ok(res.body.usage.total_tokens > 0);
  const upstream = station.requests.slice(before).find((r) => r.path === '/v1/chat/completions');
  const token = station.state.tokens.find((t) => t.status === 1);
  assert.equal(upstream.headers.authorization, `Bearer sk-${token.key}`);
  assert.equal(upstream.headers['user-agent'], 'e2e-client/1.0');
  assert.equal(upstream.headers['x-custom-trace'], 'kept');
  assert.equal(upstream.headers['x-real-ip'], undefined);
  assert.ok(!JSON.stringify(upstream.headers).includes('ag-'), 'the gateway key never reaches the upstream');
  assert.ok(!JSON.stringify(upstream.headers).includes('203.0.113.9'), 'client proxy headers are dropped');
  assert.equal(upstream.body.toString(), JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }] }), 'body bytes unchanged');
});

test('streamed chat completion arrives chunk by chunk, before the upstream finishes', async () => {
  const started = Date.now();
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gatewayKey}`, 'content-type': 'application/json' },
    // fake-slow-stream: 300 ms between chunks, so the whole stream takes well over a second.
    body: JSON.stringify({ model: 'fake-slow-stream', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'one two three four five' }] }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/event-stream/);
  const arrivals = [];
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    const piece = decoder.decode(chunk, { stream: true });
    text += piece;
    for (const _ of piece.matchAll(/^data: /gm)) arrivals.push(Date.now() - started);
  }
  assert.ok(text.includes('data: [DONE]'), 'stream completes');
  assert.ok(/"usage":\{/.test(text), 'usage chunk passed through');
  assert.ok(arrivals.length >= 5, `events: ${arrivals.length}`);
  const first = arrivals[0];
  const last = arrivals[arrivals.length - 1];
  assert.ok(last - first >= 900, `first event at ${first} ms, last at ${last} ms: the stream was buffered`);
});

test('bad relay input gets OpenAI-shaped errors', async () => {
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] };
  const missing = await call(gw.url, '/v1/chat/completions', { method: 'POST', body: chat });
  assert.equal(missing.status, 401);
  assert.equal(missing.body.error.code, 'invalid_api_key');

  const unknown = await call(gw.url, '/v1/chat/completions', { method: 'POST', token: 'ag-unknownunknownunknown', body: chat });
  assert.equal(unknown.status, 401);
  assert.equal(unknown.body.error.type, 'invalid_request_error');
  assert.equal(unknown.body.error.code, 'invalid_api_key');

  const malformed = await call(gw.url, '/v1/chat/completions', { method: 'POST', token: gatewayKey, raw: '{"model": "gpt-4o-mini", "messages": [', headers: { 'content-type': 'application/json' } });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.body.error.code, 'invalid_json');
  assert.match(malformed.body.error.message, /not valid JSON/);

  const noModel = await call(gw.url, '/v1/chat/completions', { method: 'POST', token: gatewayKey, body: { messages: [] } });
  assert.equal(noModel.status, 400);
  assert.match(noModel.body.error.message, /model/);

  const unknownModel = await call(gw.url, '/v1/chat/completions', { method: 'POST', token: gatewayKey, body: { ...chat, model: 'no-such-model' } });
  assert.equal(unknownModel.status, 404);
  assert.equal(unknownModel.body.error.code, 'model_not_found');
  assert.match(unknownModel.body.error.message, /no-such-model/);

  const unknownPath = await call(gw.url, '/v1/nope', { method: 'POST', token: gatewayKey, body: chat });
  assert.equal(unknownPath.status, 404);
  assert.ok(unknownPath.body.error.message);
});

test('an upstream 429 puts the channel into cooldown for its Retry-After and fails clearly', async () => {
  const res = await call(gw.url, '/v1/chat/completions', {
    method: 'POST', token: gatewayKey, body: { model: 'fake-429', messages: [{ role: 'user', content: 'x' }] },
  });
  assert.equal(res.status, 429);
  assert.equal(res.headers.get('retry-after'), '7');
  assert.equal(res.body.error.type, 'rate_limit_error');
  // The cooldown report travels through waitUntil; poll the registry briefly.
  let cooled;
  for (let i = 0; i < 20 && !cooled; i++) {
    const routes = await admin('/api/route/');
    cooled = routes.body.data.find((r) => r.model === 'fake-429' && r.cooldown?.cooling);
    if (!cooled) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(cooled, 'fake-429 channel is cooling down');
  assert.equal(cooled.cooldown.failures, 1);
  assert.ok(cooled.cooldown.until_ms - Date.now() <= 7_500);
  const cleared = await admin(`/api/route/${cooled.id}/cooldown/clear`, { method: 'POST' });
  assert.equal(cleared.status, 200);
  const after = await admin('/api/route/');
  assert.equal(after.body.data.find((r) => r.id === cooled.id).cooldown, null);
});

test('the sync cron trigger runs the scheduled handler and records its run', async () => {
  const before = station.requests.filter((r) => r.path === '/api/status').length;
  await gw.scheduled('*/5 * * * *');
  const db = await gw.d1();
  const run = await db.prepare("SELECT * FROM job_runs WHERE job = 'sync' ORDER BY id DESC LIMIT 1").first();
  assert.equal(run.status, 'ok', JSON.stringify(run));
  assert.equal(run.processed, 1);
  assert.ok(run.finished_at >= run.started_at);
  assert.ok(station.requests.filter((r) => r.path === '/api/status').length > before);
});

test('no plaintext credential or key is stored in D1', async () => {
  const db = await gw.d1();
  const tables = (await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations'").all()).results;
  let dump = '';
  for (const { name } of tables) dump += JSON.stringify((await db.prepare(`SELECT * FROM "${name}"`).all()).results);
  const secrets = [ACCESS_TOKEN, gatewayKey, gatewayKey.slice(3), ...station.state.tokens.map((t) => t.key)];
  for (const secret of secrets) assert.ok(!dump.includes(secret), `found a secret in D1: ${secret.slice(0, 6)}…`);
  assert.ok(dump.includes('v2:'), 'sealed values are present');
});
