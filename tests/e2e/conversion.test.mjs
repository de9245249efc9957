// End-to-end format conversion: stations that speak only one dialect (the fake refuses the
// others with New API's 404) serve clients of every dialect through the gateway — requests,
// whole responses and streams converted, usage logged, token counts estimated locally, and
// channels that need no conversion preferred when priorities tie.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { call } from '../support/gateway.mjs';
import { gatewayWithStations, usageRows } from '../support/setup.mjs';
import { sseFrames } from '../support/fake-selftest-helpers.mjs';

const cleanups = [];
let ctx;

/** Re-labels a synced station's platform and rebuilds routes, as an admin editing it would. */
async function setPlatform(name, platform, dialects) {
  const station = ctx.stations[name];
  station.fake.state.dialects = dialects;
  await (await ctx.gw.d1()).prepare('UPDATE stations SET platform = ? WHERE id = ?').bind(platform, station.id).run();
  const rebuilt = await ctx.admin('/api/route/rebuild', { method: 'POST' });
  assert.equal(rebuilt.status, 200, JSON.stringify(rebuilt.body));
}

before(async () => {
  ctx = await gatewayWithStations({ openaiOnly: { priority: 5 } }, { cleanups });
  await setPlatform('openaiOnly', 'openai-compatible', ['openai']);
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const anthropicHeaders = () => ({ 'x-api-key': ctx.key, 'anthropic-version': '2023-06-01' });
async function stream(path, headers, body) {
  const res = await fetch(ctx.gw.url + path, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { res, text: await res.text() };
}
const lastUpstream = () => ctx.stations.openaiOnly.fake.requests.at(-1);

test('an Anthropic client is served by an OpenAI-only station, whole and streamed', async () => {
  const msg = await call(ctx.gw.url, '/v1/messages', {
    method: 'POST',
    headers: anthropicHeaders(),
    body: { model: 'claude-sonnet-4-5', max_tokens: 100, system: 'be brief', messages: [{ role: 'user', content: 'hello converted world' }] },
  });
  assert.equal(msg.status, 200, JSON.stringify(msg.body));
  assert.equal(msg.body.type, 'message');
  assert.equal(msg.body.role, 'assistant');
  assert.equal(msg.body.content[0].type, 'text');
  assert.ok(msg.body.content[0].text.length > 0);
  assert.equal(msg.body.stop_reason, 'end_turn');
  assert.ok(msg.body.usage.input_tokens > 0);
  const upstream = lastUpstream();
  assert.equal(upstream.path, '/v1/chat/completions', 'converted to the station\'s own dialect');
  assert.equal(upstream.json.messages[0].role, 'system');
  assert.ok(upstream.headers.authorization?.startsWith('Bearer '));
  assert.equal(upstream.headers['x-api-key'], undefined);

  const { res, text } = await stream('/v1/messages', anthropicHeaders(), {
    model: 'claude-sonnet-4-5', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'stream it please' }],
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/event-stream/);
  const events = sseFrames(text).map((f) => f.event);
  assert.equal(events[0], 'message_start');
  assert.ok(events.includes('content_block_delta'));
  assert.deepEqual(events.slice(-2), ['message_delta', 'message_stop']);
  assert.ok(!text.includes('[DONE]'), 'no OpenAI terminator leaks to an Anthropic client');
  const [row] = await usageRows(ctx.gw, 1, "endpoint = 'messages' AND stream = 1");
  assert.ok(row.prompt_tokens > 0 && row.completion_tokens > 0, JSON.stringify(row));
});

test('count_tokens on a station without Anthropic is a local estimate, not a constant', async () => {
  const count = async (content) =>
    (await call(ctx.gw.url, '/v1/messages/count_tokens', {
      method: 'POST',
      headers: anthropicHeaders(),
      body: { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content }] },
    })).body.input_tokens;
  const small = await count('hi');
  const large = await count('a much longer message '.repeat(40));
  assert.ok(small > 0 && large > small * 5, `${small} vs ${large}`);
  assert.ok(!ctx.stations.openaiOnly.fake.requests.some((r) => r.path.includes('count_tokens')), 'no upstream call');
});

test('a Gemini client is served by an OpenAI-only station in both stream framings', async () => {
  const body = { contents: [{ role: 'user', parts: [{ text: 'hello from gemini' }] }] };
  const gen = await call(ctx.gw.url, '/v1beta/models/gpt-4o:generateContent', { method: 'POST', headers: { 'x-goog-api-key': ctx.key }, body });
  assert.equal(gen.status, 200, JSON.stringify(gen.body));
  assert.ok(gen.body.candidates[0].content.parts[0].text.length > 0);
  assert.equal(gen.body.candidates[0].finishReason, 'STOP');
  assert.ok(gen.body.usageMetadata.promptTokenCount > 0);
  assert.equal(lastUpstream().path, '/v1/chat/completions');

  const sse = await stream('/v1beta/models/gpt-4o:streamGenerateContent?alt=sse', { 'x-goog-api-key': ctx.key }, body);
  assert.equal(sse.res.status, 200);
  const frames = sseFrames(sse.text).map((f) => JSON.parse(f.data));
  assert.ok(frames.length >= 2);
  assert.equal(frames.at(-1).candidates[0].finishReason, 'STOP');

  const array = await stream('/v1beta/models/gpt-4o:streamGenerateContent', { 'x-goog-api-key': ctx.key }, body);
  assert.equal(array.res.status, 200);
  assert.match(array.res.headers.get('content-type'), /application\/json/);
  const items = JSON.parse(array.text);
  assert.ok(Array.isArray(items) && items.length >= 2, array.text);
});

test('an OpenAI client is served by an Anthropic-only station; upstream errors come back in the client\'s shape', async () => {
  await setPlatform('openaiOnly', 'anthropic-compatible', ['anthropic']);
  try {
    const chat = await call(ctx.gw.url, '/v1/chat/completions', {
      method: 'POST',
      token: ctx.key,
      body: { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi claude' }] },
    });
    assert.equal(chat.status, 200, JSON.stringify(chat.body));
    assert.equal(chat.body.object, 'chat.completion');
    assert.ok(chat.body.choices[0].message.content.length > 0);
    assert.equal(chat.body.choices[0].finish_reason, 'stop');
    const upstream = lastUpstream();
    assert.equal(upstream.path, '/v1/messages');
    assert.ok(upstream.headers['x-api-key'] && upstream.headers['anthropic-version']);
    assert.ok(upstream.json.max_tokens > 0, 'Anthropic requires max_tokens');

    const { text } = await stream('/v1/chat/completions', { authorization: `Bearer ${ctx.key}` }, {
      model: 'claude-sonnet-4-5', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'stream' }],
    });
    const frames = sseFrames(text);
    assert.equal(frames.at(-1).data, '[DONE]');
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.data));
    assert.ok(chunks.some((c) => c.choices?.[0]?.delta?.content));
    assert.ok(chunks.at(-1).usage?.prompt_tokens > 0, 'usage merged into the final chunk');

    const bad = await call(ctx.gw.url, '/v1/chat/completions', {
      method: 'POST',
      token: ctx.key,
      headers: { 'x-fake-behavior': 'error-500' },
      body: { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'x' }] },
    });
    assert.equal(bad.status, 500);
    assert.ok(bad.body.error?.message, JSON.stringify(bad.body));
  } finally {
    await setPlatform('openaiOnly', 'openai-compatible', ['openai']);
  }
});
