// End-to-end: one relayed call through every station kind. Each panel fake (one-api, onehub,
// done-hub, veloera, anyrouter, sub2api) and each generic provider (OpenAI, Anthropic, Gemini) is
// registered and synced; a model alias then routes a client's call to that station alone, and the
// fake must receive the key sync discovered, at the path its kind serves (§10), with the alias
// mapped to the upstream model name — and the client must get the fake's answer back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, call } from '../support/gateway.mjs';
import { GENERIC_KINDS, startPanel } from '../support/fake-panels.mjs';

let gw;
let gatewayKey;
const fakes = {};
const ids = {};

// Each station: fake options, the registration credential, the upstream model an alias maps to,
// and the path the fake must see for an OpenAI chat client (other dialects are converted to).
const SPECS = {
  'one-api': { options: { accessToken: 'tok-one-api-relay' }, cred: { access_token: 'tok-one-api-relay' }, model: 'gpt-4o', path: '/v1/chat/completions' },
  onehub: { options: { accessToken: 'tok-onehub-relay', tokens: 0 }, cred: { access_token: 'tok-onehub-relay' }, model: 'gpt-4o', path: '/v1/chat/completions' },
  'done-hub': { options: { username: 'dh', password: 'pw-done-hub-relay' }, cred: { username: 'dh', password: 'pw-done-hub-relay' }, model: 'gpt-4o', path: '/v1/chat/completions' },
  veloera: { options: { accessToken: 'tok-veloera-relay', userId: 9 }, cred: { access_token: 'tok-veloera-relay', user_id: 9 }, model: 'gpt-4o', path: '/v1/chat/completions' },
  anyrouter: { options: { session: 'sess-anyrouter-relay', userId: 12345 }, cred: { cookie: 'session=sess-anyrouter-relay', user_id: '12345' }, model: 'gpt-4o', path: '/v1/chat/completions' },
  sub2api: { options: { username: 'a@b.c', password: 'pw-sub2api-relay', tokens: 0 }, cred: { username: 'a@b.c', password: 'pw-sub2api-relay' }, model: 'claude-sonnet-4-5', path: '/v1/messages' },
  'openai-compatible': { options: { apiKey: 'sk-openai-relay-4410', models: ['gpt-4.1'] }, cred: { api_key: 'sk-openai-relay-4410' }, model: 'gpt-4.1', path: '/v1/chat/completions' },
  'anthropic-compatible': { options: { apiKey: 'sk-ant-relay-9921', models: ['claude-opus-4-1'] }, cred: { api_key: 'sk-ant-relay-9921' }, model: 'claude-opus-4-1', path: '/v1/messages' },
  'gemini-compatible': { options: { apiKey: 'AIza-gemini-relay-3310', models: ['gemini-2.5-pro'] }, cred: { api_key: 'AIza-gemini-relay-3310' }, model: 'gemini-2.5-pro', path: '/v1beta/models/gemini-2.5-pro:generateContent' },
};

before(async () => {
  for (const [kind, spec] of Object.entries(SPECS)) fakes[kind] = await startPanel(kind, spec.options);
  gw = await startGateway();
  for (const [kind, spec] of Object.entries(SPECS)) {
    const created = await admin('/api/provider/', { method: 'POST', body: { name: kind, platform: kind, base_url: fakes[kind].url, ...spec.cred } });
    assert.equal(created.status, 201, `${kind}: ${JSON.stringify(created.body)}`);
    ids[kind] = created.body.data.id;
    const synced = await admin(`/api/provider/${ids[kind]}/sync`, { method: 'POST' });
    assert.deepEqual(synced.body.data?.errors, [], `${kind}: ${JSON.stringify(synced.body)}`);
  }
  gatewayKey = (await admin('/api/agg-token/', { method: 'POST', body: { name: 'relay' } })).body.data.key;
});

after(async () => {
  await gw?.close();
  for (const fake of Object.values(fakes)) await fake.close();
});

const admin = (path, opts = {}) => call(gw.url, path, { token: gw.secrets.AUTH_TOKEN, ...opts });

// An alias that only this station's synced key serves, mapped to `upstream` there.
async function aliasTo(kind, alias, upstream) {
  const d1 = await gw.d1();
  const keys = (await d1.prepare("SELECT id FROM upstream_keys WHERE station_id = ? AND status = 'active'").bind(ids[kind]).all()).results;
  assert.equal(keys.length, 1, `${kind}: one synced key`);
  const res = await admin('/api/route/', { method: 'POST', body: { model: alias, upstream_model: upstream, upstream_key_id: keys[0].id } });
  assert.equal(res.status, 201, `${kind}: ${JSON.stringify(res.body)}`);
}

// The key the gateway must present: the panel's token (sk- added where the panel stores it bare),
// or the provider's API key as entered.
function expectedKey(kind) {
  const fake = fakes[kind];
  if (GENERIC_KINDS.includes(kind)) return fake.state.apiKey;
  assert.equal(fake.state.tokens.length, 1, `${kind}: one token on the panel`);
  const { key } = fake.state.tokens[0];
  return key.startsWith('sk-') ? key : `sk-${key}`;
}

function presentedKey(request) {
  const { headers } = request;
  return headers['x-api-key'] ?? headers['x-goog-api-key'] ?? (headers.authorization ?? '').replace(/^Bearer /, '');
}

// The one relay request the fake saw since `seen` requests, checked against the spec.
function assertRelayed(kind, seen, path, model) {
  const relayed = fakes[kind].requests.slice(seen).filter((r) => !r.path.startsWith('/api'));
  assert.equal(relayed.length, 1, `${kind}: ${JSON.stringify(relayed.map((r) => r.path))}`);
  const [request] = relayed;
  assert.equal(request.method, 'POST');
  assert.equal(request.path, path, kind);
  assert.equal(presentedKey(request), expectedKey(kind), `${kind}: the discovered key`);
  if (!path.startsWith('/v1beta/')) assert.equal(request.json?.model, model, `${kind}: the mapped model`);
}

for (const [kind, spec] of Object.entries(SPECS)) {
  test(`${kind}: an OpenAI chat call relays to ${spec.path} with the synced key and the mapped model`, async () => {
    const alias = `relay-${kind}`;
    await aliasTo(kind, alias, spec.model);
    const seen = fakes[kind].requests.length;
    const text = `hello ${kind}`;
    const res = await call(gw.url, '/v1/chat/completions', { method: 'POST', token: gatewayKey, body: { model: alias, messages: [{ role: 'user', content: text }] } });
    assert.equal(res.status, 200, `${kind}: ${JSON.stringify(res.body)}`);
    assertRelayed(kind, seen, spec.path, spec.model);
    assert.equal(res.body.choices[0].message.content, `echo: ${text}`, `${kind}: the fake's answer`);
  });
}

for (const kind of ['onehub', 'done-hub']) {
  test(`${kind}: an Anthropic client is relayed to /claude/v1/messages`, async () => {
    const alias = `relay-${kind}-claude`;
    await aliasTo(kind, alias, 'claude-sonnet-4-5');
    const seen = fakes[kind].requests.length;
    const res = await call(gw.url, '/v1/messages', {
      method: 'POST',
      headers: { 'x-api-key': gatewayKey, 'anthropic-version': '2023-06-01' },
      body: { model: alias, max_tokens: 64, messages: [{ role: 'user', content: 'hello claude' }] },
    });
    assert.equal(res.status, 200, `${kind}: ${JSON.stringify(res.body)}`);
    assertRelayed(kind, seen, '/claude/v1/messages', 'claude-sonnet-4-5');
    assert.equal(res.body.content[0].text, 'echo: hello claude');
    assert.equal(res.body.model, 'claude-sonnet-4-5');
  });
}
