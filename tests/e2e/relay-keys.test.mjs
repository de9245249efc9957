// End-to-end: no upstream key dies from one answer, and client headers never decide upstream
// auth (issue 12). An official-OpenAI-shaped station answers 401 to a foreign
// `OpenAI-Organization`: the header is not forwarded. A single 401 cools the channel and starts
// a verification probe that passes: the key stays active. A truly revoked key is marked invalid
// by its failed probe, and restored when the station takes it again and sync re-probes it (or
// an admin re-enables it). A body with a second `model` key in any letter case is refused with
// a 400 in the caller's dialect before it counts or reaches a station.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, call } from '../support/gateway.mjs';
import { startPanel } from '../support/fake-panels.mjs';
import { waitFor } from '../support/setup.mjs';

let gw;
let key;
let fake;
let stationId;
const API_KEY = 'sk-official-shaped-4417';

const admin = (path, opts = {}) => call(gw.url, path, { token: gw.secrets.AUTH_TOKEN, ...opts });
const chat = (headers = {}, model = 'gpt-4o') =>
  call(gw.url, '/v1/chat/completions', { method: 'POST', token: key, headers, body: { model, messages: [{ role: 'user', content: 'ping' }] } });

async function keyRow() {
  const { results } = await (await gw.d1()).prepare('SELECT id, status, status_reason FROM upstream_keys WHERE station_id = ?').bind(stationId).all();
  assert.equal(results.length, 1);
  return results[0];
}

before(async () => {
  fake = await startPanel('openai-compatible', { apiKey: API_KEY, models: ['gpt-4o'] });
  gw = await startGateway();
  const created = await admin('/api/provider/', { method: 'POST', body: { name: 'official', platform: 'openai-compatible', base_url: fake.url, api_key: API_KEY } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  stationId = created.body.data.id;
  const synced = await admin(`/api/provider/${stationId}/sync`, { method: 'POST' });
  assert.deepEqual(synced.body.data?.errors, [], JSON.stringify(synced.body));
  key = (await admin('/api/agg-token/', { method: 'POST', body: { name: 'keys' } })).body.data.key;
});

after(async () => {
  await gw?.close();
  await fake?.close();
});

test('a foreign OpenAI-Organization (and other account selectors) never reach the station', async () => {
  const seen = fake.requests.length;
  const res = await chat({ 'OpenAI-Organization': 'org-x', 'OpenAI-Project': 'proj-x', 'x-goog-user-project': 'p', 'OpenAI-Beta': 'assistants=v2' });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const [upstream] = fake.requests.slice(seen);
  assert.equal(upstream.headers['openai-organization'], undefined);
  assert.equal(upstream.headers['openai-project'], undefined);
  assert.equal(upstream.headers['x-goog-user-project'], undefined);
  assert.equal(upstream.headers['openai-beta'], 'assistants=v2', 'everything else stays transparent');
  assert.equal((await keyRow()).status, 'active');
  assert.equal((await chat()).status, 200);
});

test('one 401 cools the channel and is verified by a probe: the key stays active', async () => {
  const seen = fake.requests.length;
  const res = await chat({ 'x-fake-behavior': 'unauthorized' });
  assert.ok(res.status >= 500, `${res.status} ${JSON.stringify(res.body)}`);
  const probe = await waitFor(() => fake.requests.slice(seen).find((r) => r.method === 'GET' && r.path === '/v1/models'));
  assert.ok(probe, 'a verification probe ran');
  assert.equal(probe.headers.authorization, `Bearer ${API_KEY}`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await keyRow()).status, 'active', 'the probe passed: no key dies from one answer');
  const routes = await admin('/api/route/');
  assert.ok(routes.body.data.some((r) => r.cooldown), 'the channel is cooling down');
  assert.equal((await chat()).status, 200, 'the only channel still answers');
  const cleared = await admin(`/api/route/${routes.body.data[0].id}/cooldown/clear`, { method: 'POST' });
  assert.equal(cleared.status, 200);
});

test('a revoked key is marked invalid by its failed probe and restored by sync once accepted again', async () => {
  fake.state.steer = 'expired';
  const res = await chat();
  assert.ok(res.status >= 500, JSON.stringify(res.body));
  const dead = await waitFor(async () => {
    const row = await keyRow();
    return row.status === 'invalid' ? row : null;
  });
  assert.ok(dead, 'marked invalid after the probe');
  assert.match(dead.status_reason, /^verification probe: HTTP 401/);
  assert.equal((await chat()).status, 404, 'its channels left the route table');

  // Still rejected: sync keeps it invalid.
  await admin(`/api/provider/${stationId}/sync`, { method: 'POST' });
  assert.equal((await keyRow()).status, 'invalid');

  fake.state.steer = undefined;
  const synced = await admin(`/api/provider/${stationId}/sync`, { method: 'POST' });
  assert.equal(synced.status, 200, JSON.stringify(synced.body));
  const restored = await keyRow();
  assert.equal(restored.status, 'active', JSON.stringify(restored));
  assert.equal(restored.status_reason, null);
  assert.equal((await chat()).status, 200);

  // An admin can re-enable a key by hand too.
  await (await gw.d1()).prepare("UPDATE upstream_keys SET status = 'invalid', status_reason = 'x' WHERE id = ?").bind(restored.id).run();
  const enabled = await admin(`/api/provider/${stationId}/tokens/${restored.id}/enable`, { method: 'POST' });
  assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
  assert.equal((await keyRow()).status, 'active');
  assert.equal((await chat()).status, 200);
  assert.equal((await admin(`/api/provider/${stationId}/tokens/999999/enable`, { method: 'POST' })).status, 404);
});

test('a second `model` key in any letter case is refused in each dialect, before the station', async () => {
  const seen = fake.requests.length;
  const openai = await call(gw.url, '/v1/chat/completions', {
    method: 'POST', token: key, headers: { 'content-type': 'application/json' },
    raw: '{"model":"gpt-4o","Model":"expensive","messages":[{"role":"user","content":"x"}]}',
  });
  assert.equal(openai.status, 400, JSON.stringify(openai.body));
  assert.equal(openai.body.error.type, 'invalid_request_error');
  assert.match(openai.body.error.message, /duplicate top-level key/);
  const anthropic = await call(gw.url, '/v1/messages', {
    method: 'POST', headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    raw: '{"model":"gpt-4o","max_tokens":8,"MODEL":"expensive","messages":[{"role":"user","content":"x"}]}',
  });
  assert.equal(anthropic.status, 400, JSON.stringify(anthropic.body));
  assert.equal(anthropic.body.type, 'error');
  assert.equal(anthropic.body.error.type, 'invalid_request_error');
  const responses = await call(gw.url, '/v1/responses', {
    method: 'POST', token: key, headers: { 'content-type': 'application/json' },
    raw: '{"model":"gpt-4o","input":"x","stream":false,"Stream":true}',
  });
  assert.equal(responses.status, 400, JSON.stringify(responses.body));
  assert.deepEqual(fake.requests.slice(seen), [], 'nothing reached the station');
});
