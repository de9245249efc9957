// End-to-end: the relay against stations as they are in the wild (issue 12). A New API station
// that serves only chat completions and embeddings (unknown routes answered 404 `Invalid URL`
// before any token check) gets Anthropic, Responses and Gemini clients — the official SDKs —
// converted after its first "no such route"; the fact is learned (D1, route table, admin API),
// costs no cooldown, and the next call goes converted at once. Gemini is served under /v1 as
// under /v1beta.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { gatewayWithStations } from '../support/setup.mjs';

const cleanups = [];
let ctx;
let fake;

before(async () => {
  ctx = await gatewayWithStations({ chatOnly: { options: { dialects: ['openai'] } } }, { cleanups });
  fake = ctx.stations.chatOnly.fake;
  // Like One API and older New API: chat completions, embeddings and the model list only.
  fake.state.onlyRelayPaths = ['/v1/chat/completions', '/v1/embeddings', '/v1/models'];
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const openai = () => new OpenAI({ apiKey: ctx.key, baseURL: `${ctx.gw.url}/v1`, maxRetries: 0 });
const anthropic = () => new Anthropic({ apiKey: ctx.key, baseURL: ctx.gw.url, maxRetries: 0 });
const genai = (apiVersion) => new GoogleGenAI({ apiKey: ctx.key, httpOptions: { baseUrl: ctx.gw.url, apiVersion } });

// The relay paths the fake saw since `seen`.
const pathsSince = (seen) => fake.requests.slice(seen).filter((r) => !r.path.startsWith('/api')).map((r) => r.path);

async function learned() {
  const res = await ctx.admin(`/api/provider/${ctx.stations.chatOnly.id}/dialects`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.data;
}

test('Anthropic messages on a chat-only station: learned once, converted from then on, no cooldown', async () => {
  let seen = fake.requests.length;
  const first = await anthropic().messages.create({ model: 'gpt-4o', max_tokens: 64, messages: [{ role: 'user', content: 'hello claude' }] });
  assert.equal(first.content[0].text, 'echo: hello claude');
  assert.equal(first.stop_reason, 'end_turn');
  assert.deepEqual(pathsSince(seen), ['/v1/messages', '/v1/chat/completions'], 'tried natively, then converted');

  const facts = await learned();
  assert.equal(facts.applies, 'defaults minus learned');
  assert.deepEqual(facts.learned.map((f) => f.missing), ['anthropic-messages']);
  assert.match(facts.learned[0].evidence, /Invalid URL \(POST \/v1\/messages\)/);
  assert.ok(facts.learned[0].recheck_after > Date.now() + 23 * 3600 * 1000, 'rechecked after about a day');
  assert.ok(facts.defaults.some((d) => d.dialect === 'anthropic-messages'), 'the platform default is shown beside it');

  seen = fake.requests.length;
  const s = anthropic().messages.stream({ model: 'gpt-4o', max_tokens: 64, messages: [{ role: 'user', content: 'stream please' }] });
  let streamed = '';
  s.on('text', (delta) => { streamed += delta; });
  const final = await s.finalMessage();
  assert.equal(streamed, 'echo: stream please');
  assert.equal(final.stop_reason, 'end_turn');

  const tools = [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];
  const tool = await anthropic().messages.create({ model: 'gpt-4o', max_tokens: 64, tools, messages: [{ role: 'user', content: 'weather in Paris' }] });
  assert.equal(tool.stop_reason, 'tool_use');
  assert.equal(tool.content.find((b) => b.type === 'tool_use').name, 'get_weather');
  assert.deepEqual(pathsSince(seen), ['/v1/chat/completions', '/v1/chat/completions'], 'later calls go converted at once');

  const routes = await ctx.admin('/api/route/');
  assert.ok(routes.body.data.every((r) => r.cooldown === null || r.cooldown === undefined), JSON.stringify(routes.body.data));
  assert.ok(routes.body.data.every((r) => r.key_status === 'active'));
});

test('OpenAI Responses on a chat-only station: plain and the stream lifecycle, converted', async () => {
  let seen = fake.requests.length;
  const r = await openai().responses.create({ model: 'gpt-4o', input: 'hello responses' });
  assert.equal(r.output_text, 'echo: hello responses');
  assert.deepEqual(pathsSince(seen), ['/v1/responses', '/v1/chat/completions']);

  seen = fake.requests.length;
  const events = [];
  const s = openai().responses.stream({ model: 'gpt-4o', input: 'stream responses' });
  s.on('event', (e) => events.push(e.type));
  const final = await s.finalResponse();
  assert.equal(final.status, 'completed');
  assert.equal(events[0], 'response.created');
  assert.ok(events.includes('response.output_text.delta'));
  assert.equal(events.at(-1), 'response.completed');
  assert.deepEqual(pathsSince(seen), ['/v1/chat/completions']);
  assert.deepEqual((await learned()).learned.map((f) => f.missing).sort(), ['anthropic-messages', 'openai-responses']);
});

for (const version of ['v1', 'v1beta']) {
  test(`Gemini generate and stream under /${version} on a chat-only station`, async () => {
    const seen = fake.requests.length;
    const r = await genai(version).models.generateContent({ model: 'gpt-4o', contents: `gemini ${version}` });
    assert.equal(r.text, `echo: gemini ${version}`);
    let streamed = '';
    for await (const chunk of await genai(version).models.generateContentStream({ model: 'gpt-4o', contents: `stream ${version}` })) {
      streamed += chunk.text ?? '';
    }
    assert.equal(streamed, `echo: stream ${version}`);
    const paths = pathsSince(seen);
    assert.ok(paths.every((p) => p === '/v1/chat/completions' || p.startsWith('/v1beta/models/gpt-4o:')), paths.join());
    assert.equal(paths.filter((p) => p === '/v1/chat/completions').length, 2, paths.join());
  });
}

test('Gemini embeddings and token counts follow the same rule; an explicit override wins', async () => {
  let seen = fake.requests.length;
  const e = await genai('v1').models.embedContent({ model: 'text-embedding-3-small', contents: ['one', 'two'] });
  assert.equal(e.embeddings.length, 2);
  assert.deepEqual(pathsSince(seen).at(-1), '/v1/embeddings');

  seen = fake.requests.length;
  const counted = await anthropic().messages.countTokens({ model: 'gpt-4o', messages: [{ role: 'user', content: 'count these words' }] });
  assert.ok(counted.input_tokens > 0);
  assert.deepEqual(pathsSince(seen), [], 'the converted dialect is counted locally');

  // An explicit list wins: the learned facts no longer apply (the station answers for itself).
  const id = ctx.stations.chatOnly.id;
  const put = await ctx.admin(`/api/provider/${id}`, { method: 'PUT', body: { dialects: [{ dialect: 'openai-chat' }, { dialect: 'anthropic-messages' }] } });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.equal((await learned()).applies, 'override');
  seen = fake.requests.length;
  await assert.rejects(anthropic().messages.create({ model: 'gpt-4o', max_tokens: 16, messages: [{ role: 'user', content: 'x' }] }), (err) => err.status === 404);
  assert.deepEqual(pathsSince(seen), ['/v1/messages'], 'no learning under an explicit list');
  const reset = await ctx.admin(`/api/provider/${id}`, { method: 'PUT', body: { dialects: null } });
  assert.equal(reset.status, 200, JSON.stringify(reset.body));
  const forgot = await ctx.admin(`/api/provider/${id}/dialects/learned`, { method: 'DELETE' });
  assert.equal(forgot.status, 200);
  assert.deepEqual((await learned()).learned, []);
});
