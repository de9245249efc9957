// End-to-end: per-station dialect overrides. A generic OpenAI-compatible station overridden to
// serve only Responses gets chat and Anthropic clients converted to `/v1/responses`; a New API
// station overridden to drop Anthropic gets Claude clients converted to chat; a prefix override
// moves the station's paths; bad overrides are refused with 400s and change nothing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, call } from '../support/gateway.mjs';
import { startPanel } from '../support/fake-panels.mjs';
import { sseFrames } from '../support/fake-selftest-helpers.mjs';

let gw;
let gatewayKey;
const fakes = {};
const ids = {};

const admin = (path, opts = {}) => call(gw.url, path, { token: gw.secrets.AUTH_TOKEN, ...opts });
const anthropicHeaders = () => ({ 'x-api-key': gatewayKey, 'anthropic-version': '2023-06-01' });

before(async () => {
  fakes.responsesOnly = await startPanel('openai-compatible', { apiKey: 'sk-resp-only-7781', models: ['gpt-4.1'] });
  fakes.newApi = await startPanel('new-api', { accessToken: 'tok-dialects-na', userId: 7 });
  // Serves its OpenAI API under /custom/v1 only: a call to /v1/… would get the fake's 404.
  fakes.custom = await startPanel('openai-compatible', {
    apiKey: 'sk-custom-prefix-5512',
    models: ['gpt-4.1-mini'],
    mounts: [['/custom/v1', '/v1', ['openai']]],
  });
  gw = await startGateway();
  gatewayKey = (await admin('/api/agg-token/', { method: 'POST', body: { name: 'dialects' } })).body.data.key;
});

after(async () => {
  await gw?.close();
  for (const fake of Object.values(fakes)) await fake.close();
});

async function register(name, body) {
  const created = await admin('/api/provider/', { method: 'POST', body: { name, base_url: fakes[name].url, ...body } });
  assert.equal(created.status, 201, `${name}: ${JSON.stringify(created.body)}`);
  ids[name] = created.body.data.id;
  const synced = await admin(`/api/provider/${ids[name]}/sync`, { method: 'POST' });
  assert.deepEqual(synced.body.data?.errors, [], `${name}: ${JSON.stringify(synced.body)}`);
  return created.body.data;
}

// An alias only this station's synced key serves, mapped to `upstream` there.
async function aliasTo(name, alias, upstream) {
  const d1 = await gw.d1();
  const keys = (await d1.prepare("SELECT id FROM upstream_keys WHERE station_id = ? AND status = 'active'").bind(ids[name]).all()).results;
  assert.equal(keys.length, 1, `${name}: one synced key`);
  const res = await admin('/api/route/', { method: 'POST', body: { model: alias, upstream_model: upstream, upstream_key_id: keys[0].id } });
  assert.equal(res.status, 201, `${name}: ${JSON.stringify(res.body)}`);
}

// The relay requests a fake saw since `seen` (management calls left out).
const relayedSince = (name, seen) => fakes[name].requests.slice(seen).filter((r) => !r.path.startsWith('/api') && !r.path.endsWith('/models'));

async function streamText(path, headers, body) {
  const res = await fetch(gw.url + path, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { res, text: await res.text() };
}

test('a station created with a Responses-only override gets chat and Anthropic clients converted to /v1/responses', async () => {
  const station = await register('responsesOnly', { platform: 'openai-compatible', api_key: 'sk-resp-only-7781', dialects: [{ dialect: 'openai-responses' }] });
  assert.deepEqual(station.dialects, [{ dialect: 'openai-responses', prefix: '/v1' }], 'the prefix defaults to the standard root');
  await aliasTo('responsesOnly', 'resp-alias', 'gpt-4.1');

  let seen = fakes.responsesOnly.requests.length;
  const chat = await call(gw.url, '/v1/chat/completions', {
    method: 'POST', token: gatewayKey, body: { model: 'resp-alias', messages: [{ role: 'user', content: 'hello responses' }] },
  });
  assert.equal(chat.status, 200, JSON.stringify(chat.body));
  assert.equal(chat.body.object, 'chat.completion');
  assert.equal(chat.body.choices[0].message.content, 'echo: hello responses');
  assert.equal(chat.body.choices[0].finish_reason, 'stop');
  let [upstream] = relayedSince('responsesOnly', seen);
  assert.equal(relayedSince('responsesOnly', seen).length, 1);
  assert.equal(upstream.path, '/v1/responses');
  assert.equal(upstream.json.model, 'gpt-4.1', 'the mapped model');
  assert.equal(upstream.headers.authorization, 'Bearer sk-resp-only-7781');
  assert.ok(JSON.stringify(upstream.json.input).includes('hello responses'), JSON.stringify(upstream.json));
  assert.equal(upstream.json.messages, undefined, 'a Responses body, not a chat one');

  seen = fakes.responsesOnly.requests.length;
  const { res, text } = await streamText('/v1/chat/completions', { authorization: `Bearer ${gatewayKey}` }, {
    model: 'resp-alias', stream: true, messages: [{ role: 'user', content: 'stream responses please' }],
  });
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get('content-type'), /text\/event-stream/);
  const frames = sseFrames(text);
  assert.equal(frames.at(-1).data, '[DONE]');
  const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.data));
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'), text);
  assert.equal(chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join(''), 'echo: stream responses please');
  [upstream] = relayedSince('responsesOnly', seen);
  assert.equal(upstream.path, '/v1/responses');
  assert.equal(upstream.json.stream, true);
  assert.equal(upstream.json.model, 'gpt-4.1');

  seen = fakes.responsesOnly.requests.length;
  const msg = await call(gw.url, '/v1/messages', {
    method: 'POST', headers: anthropicHeaders(), body: { model: 'resp-alias', max_tokens: 64, messages: [{ role: 'user', content: 'hello from claude' }] },
  });
  assert.equal(msg.status, 200, JSON.stringify(msg.body));
  assert.equal(msg.body.type, 'message');
  assert.equal(msg.body.content[0].text, 'echo: hello from claude');
  assert.equal(msg.body.stop_reason, 'end_turn');
  [upstream] = relayedSince('responsesOnly', seen);
  assert.equal(upstream.path, '/v1/responses');
  assert.equal(upstream.json.model, 'gpt-4.1');
  assert.equal(upstream.headers['x-api-key'], undefined, 'OpenAI auth for the converted call');
});

test('a New API station overridden to drop Anthropic gets Claude clients converted to chat; null restores the defaults', async () => {
  await register('newApi', { platform: 'new-api', access_token: 'tok-dialects-na', user_id: 7 });
  await aliasTo('newApi', 'na-claude', 'claude-sonnet-4-5');
  const ask = async (content) => {
    const seen = fakes.newApi.requests.length;
    const res = await call(gw.url, '/v1/messages', {
      method: 'POST', headers: anthropicHeaders(), body: { model: 'na-claude', max_tokens: 64, messages: [{ role: 'user', content }] },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.content[0].text, `echo: ${content}`);
    const relayed = relayedSince('newApi', seen);
    assert.equal(relayed.length, 1);
    assert.equal(relayed[0].json.model, 'claude-sonnet-4-5');
    return relayed[0];
  };
  assert.equal((await ask('native first')).path, '/v1/messages', 'New API serves Anthropic by default');

  const dropped = [{ dialect: 'openai-chat' }, { dialect: 'openai-responses' }, { dialect: 'gemini' }];
  const put = await admin(`/api/provider/${ids.newApi}`, { method: 'PUT', body: { dialects: dropped } });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.deepEqual(put.body.data.dialects, [
    { dialect: 'openai-chat', prefix: '/v1' }, { dialect: 'openai-responses', prefix: '/v1' }, { dialect: 'gemini', prefix: '/v1beta' },
  ]);
  const got = await admin(`/api/provider/${ids.newApi}`);
  assert.deepEqual(got.body.data.station.dialects, put.body.data.dialects, 'GET returns the stored override');
  const converted = await ask('converted now');
  assert.equal(converted.path, '/v1/chat/completions');
  assert.equal(converted.json.messages.at(-1).content, 'converted now');
  assert.ok(converted.headers.authorization?.startsWith('Bearer '));

  // A PUT without `dialects` keeps the override; `null` restores the platform's defaults.
  const renamed = await admin(`/api/provider/${ids.newApi}`, { method: 'PUT', body: { weight: 11 } });
  assert.deepEqual(renamed.body.data.dialects, put.body.data.dialects);
  const reset = await admin(`/api/provider/${ids.newApi}`, { method: 'PUT', body: { dialects: null } });
  assert.equal(reset.body.data.dialects, null);
  assert.equal((await ask('native again')).path, '/v1/messages');
});

test('a prefix override is honoured for native calls', async () => {
  const station = await register('custom', { platform: 'openai-compatible', api_key: 'sk-custom-prefix-5512' });
  assert.equal(station.dialects, null);
  await aliasTo('custom', 'custom-alias', 'gpt-4.1-mini');
  const chat = () => call(gw.url, '/v1/chat/completions', {
    method: 'POST', token: gatewayKey, body: { model: 'custom-alias', messages: [{ role: 'user', content: 'custom root' }] },
  });
  let seen = fakes.custom.requests.length;
  const before = await chat();
  assert.notEqual(before.status, 200, 'the fake serves nothing under /v1');
  assert.equal(relayedSince('custom', seen)[0].path, '/v1/chat/completions');

  const put = await admin(`/api/provider/${ids.custom}`, { method: 'PUT', body: { dialects: [{ dialect: 'openai-chat', prefix: '/custom/v1/' }] } });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.deepEqual(put.body.data.dialects, [{ dialect: 'openai-chat', prefix: '/custom/v1' }]);
  // The failure above may have cooled the channel down; clear it so the next call goes there.
  const routes = (await admin('/api/route/')).body.data.filter((r) => r.model === 'custom-alias');
  for (const r of routes) await admin(`/api/route/${r.id}/cooldown/clear`, { method: 'POST' });
  seen = fakes.custom.requests.length;
  const after = await chat();
  assert.equal(after.status, 200, JSON.stringify(after.body));
  assert.equal(after.body.choices[0].message.content, 'echo: custom root');
  const relayed = relayedSince('custom', seen);
  assert.equal(relayed.length, 1);
  assert.equal(relayed[0].path, '/custom/v1/chat/completions');
  assert.equal(relayed[0].json.model, 'gpt-4.1-mini');
});

test('bad overrides get clear 400s and change nothing', async () => {
  const cases = [
    [[], /`dialects` must not be empty/],
    ['openai-chat', /`dialects` must be a list/],
    [[{ dialect: 'openai' }], /unknown dialect `openai`.*openai-chat, openai-completions, openai-responses, anthropic-messages, gemini/],
    [[{ dialect: 'gemini', prefix: 'v1beta' }], /the `prefix` of `gemini` must be a path starting with `\/`/],
    [[{ dialect: 'openai-chat' }, { dialect: 'openai-chat', prefix: '/x/v1' }], /`openai-chat` is listed twice/],
  ];
  const before = (await admin('/api/provider/')).body.data.length;
  for (const [dialects, message] of cases) {
    const created = await admin('/api/provider/', {
      method: 'POST', body: { name: 'bad', platform: 'openai-compatible', base_url: 'http://127.0.0.1:9', api_key: 'sk-x', dialects },
    });
    assert.equal(created.status, 400, JSON.stringify(dialects));
    assert.match(created.body.error.message, message);
    const put = await admin(`/api/provider/${ids.custom}`, { method: 'PUT', body: { dialects } });
    assert.equal(put.status, 400, JSON.stringify(dialects));
    assert.match(put.body.error.message, message);
  }
  assert.equal((await admin('/api/provider/')).body.data.length, before, 'no station was created');
  const custom = await admin(`/api/provider/${ids.custom}`);
  assert.deepEqual(custom.body.data.station.dialects, [{ dialect: 'openai-chat', prefix: '/custom/v1' }], 'the override is unchanged');
});
