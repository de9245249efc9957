// End-to-end: bounded reads (issue 12). A body over the configured limit gets a 413 in the
// caller's dialect before it reaches a station; a 50 MB embeddings answer still relays whole,
// its usage read from the tail, and the isolate keeps serving.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { call } from '../support/gateway.mjs';
import { gatewayWithStations, usageRows } from '../support/setup.mjs';

const cleanups = [];
let ctx;

before(async () => {
  ctx = await gatewayWithStations({ main: {} }, { vars: { MAX_JSON_BODY_MB: '1' }, cleanups });
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const big = 'x'.repeat(1100 * 1024);

test('an over-limit body is refused with a 413 in each dialect, before any station', async () => {
  const seen = ctx.stations.main.fake.requests.length;
  const openai = await call(ctx.gw.url, '/v1/chat/completions', {
    method: 'POST', token: ctx.key, body: { model: 'gpt-4o', messages: [{ role: 'user', content: big }] },
  });
  assert.equal(openai.status, 413, JSON.stringify(openai.body).slice(0, 300));
  assert.equal(openai.body.error.code, 'request_too_large');
  assert.match(openai.body.error.message, /limit of 1 MB \(MAX_JSON_BODY_MB\)/);
  const anthropic = await call(ctx.gw.url, '/v1/messages', {
    method: 'POST', headers: { 'x-api-key': ctx.key, 'anthropic-version': '2023-06-01' },
    body: { model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: big }] },
  });
  assert.equal(anthropic.status, 413);
  assert.deepEqual(Object.keys(anthropic.body).sort(), ['error', 'type']);
  assert.equal(anthropic.body.error.type, 'request_too_large');
  const gemini = await call(ctx.gw.url, '/v1beta/models/gemini-2.5-flash:generateContent', {
    method: 'POST', headers: { 'x-goog-api-key': ctx.key }, body: { contents: [{ parts: [{ text: big }] }] },
  });
  assert.equal(gemini.status, 413);
  assert.equal(gemini.body.error.status, 'INVALID_ARGUMENT');
  assert.equal(ctx.stations.main.fake.requests.length, seen, 'nothing reached the station');
});

test('a 50 MB embeddings answer relays whole, with its usage, and the isolate survives', async () => {
  const inputs = Array.from({ length: 20 }, (_, i) => `input number ${i}`);
  const res = await fetch(`${ctx.gw.url}/v1/embeddings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'text-embedding-3-small', input: inputs, dimensions: 125000 }),
  });
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.ok(text.length > 45 * 1024 * 1024, `${text.length} bytes`);
  const body = JSON.parse(text);
  assert.equal(body.data.length, 20);
  assert.equal(body.data[19].embedding.length, 125000);
  const [row] = await usageRows(ctx.gw, 1, "endpoint = 'embeddings'");
  assert.equal(row.prompt_tokens, 60, 'usage read from the tail of the answer');
  const after = await ctx.chat();
  assert.equal(after.status, 200, 'the isolate still serves');
});
