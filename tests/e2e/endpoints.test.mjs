// End-to-end: every relay endpoint through the built worker in workerd, against fake New API
// stations speaking all three dialects — bodies byte-exact where they must be, streams relayed
// with usage logged, resources pinned to the station that holds them, model lists in the
// caller's dialect, refusals in the caller's dialect.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { call } from '../support/gateway.mjs';
import { gatewayWithStations, usageRows, waitFor } from '../support/setup.mjs';
import { speechBytes } from '../support/fake-station.mjs';
import { multipartBody, BINARY_SAMPLE, sseFrames } from '../support/fake-selftest-helpers.mjs';

const cleanups = [];
let ctx;

before(async () => {
  ctx = await gatewayWithStations(
    { alpha: { priority: 5 }, beta: { priority: 0 } },
    { vars: { KEEPALIVE_SECONDS: '1', CLIENT_STALL_SECONDS: '2' }, cleanups },
  );
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const relay = (path, opts = {}) => call(ctx.gw.url, path, { token: ctx.key, ...opts });
const post = (path, body, opts = {}) => relay(path, { method: 'POST', body, ...opts });
/** The last request a fake station received on `path` (either station). */
const received = (path) =>
  Object.values(ctx.stations)
    .flatMap((s) => s.fake.requests)
    .filter((r) => r.path.split('?')[0] === path)
    .sort((a, b) => a.at - b.at)
    .at(-1);
async function rawFetch(path, init = {}) {
  const res = await fetch(ctx.gw.url + path, init);
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}

test('OpenAI JSON endpoints relay with usage and cost logged per call', async () => {
  const chat = await post('/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hello there' }] });
  assert.equal(chat.status, 200, JSON.stringify(chat.body));
  assert.equal(chat.body.object, 'chat.completion');
  const [row] = await usageRows(ctx.gw, 1, "endpoint = 'chat.completions'");
  assert.equal(row.prompt_tokens, chat.body.usage.prompt_tokens);
  assert.equal(row.completion_tokens, chat.body.usage.completion_tokens);
  assert.equal(row.status, 200);
  assert.equal(row.model_sent, 'gpt-4o');
  assert.ok(row.cost_usd > 0, 'the station publishes a price for gpt-4o');
  assert.ok(row.ttfb_ms >= 0 && row.latency_ms >= row.ttfb_ms);

  const cases = [
    ['/v1/completions', { model: 'gpt-4o-mini', prompt: 'Say hi' }, (b) => b.object === 'text_completion'],
    ['/v1/embeddings', { model: 'text-embedding-3-small', input: 'abc', encoding_format: 'base64' }, (b) => typeof b.data[0].embedding === 'string'],
    ['/v1/images/generations', { model: 'gpt-image-1', prompt: 'a cat', response_format: 'b64_json' }, (b) => b.data[0].b64_json.length > 0],
    ['/v1/rerank', { model: 'jina-reranker-v2-base-multilingual', query: 'cat', documents: ['a cat', 'a dog'] }, (b) => b.results.length === 2],
    ['/v1/moderations', { model: 'omni-moderation-latest', input: 'hello' }, (b) => Array.isArray(b.results)],
    ['/v1/responses', { model: 'gpt-4o', input: 'hi', store: true }, (b) => b.object === 'response' && b.status === 'completed'],
  ];
  for (const [path, body, check] of cases) {
    const res = await post(path, body);
    assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
    assert.ok(check(res.body), `${path}: ${JSON.stringify(res.body).slice(0, 300)}`);
    const upstream = received(path);
    assert.deepEqual(upstream.json, body, `${path}: body forwarded unchanged`);
    assert.equal(upstream.headers.authorization, `Bearer ${upstream.headers.authorization.slice(7)}`);
    assert.ok(!upstream.headers.authorization.includes(ctx.key), 'the gateway key never reaches the upstream');
  }
  const embedRow = (await usageRows(ctx.gw, 1, "endpoint = 'embeddings'"))[0];
  assert.ok(embedRow.prompt_tokens > 0);
});

test('streamed Responses and chat relay unchanged and log their usage', async () => {
  const { res, bytes } = await rawFetch('/v1/responses', {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o', input: 'tell me a story', stream: true }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/event-stream/);
  const events = sseFrames(bytes.toString()).map((f) => f.event);
  assert.equal(events[0], 'response.created');
  assert.equal(events.at(-1), 'response.completed');
  const [row] = await usageRows(ctx.gw, 1, "endpoint = 'responses' AND stream = 1");
  assert.ok(row.prompt_tokens > 0 && row.completion_tokens > 0, JSON.stringify(row));
  assert.equal(row.error_class, null);
});

test('multipart uploads arrive byte-exact and binary answers come back byte-exact', async () => {
  const boundary = '----gatewayTest7MA4YWxkTrZu0gW';
  const edit = multipartBody(boundary, [
    { name: 'image', filename: 'in.png', type: 'image/png', data: BINARY_SAMPLE },
    { name: 'model', value: 'gpt-image-1' },
    { name: 'prompt', value: 'add a hat' },
  ]);
  const { res, bytes } = await rawFetch('/v1/images/edits', {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.key}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: edit,
  });
  assert.equal(res.status, 200, bytes.toString());
  assert.equal(JSON.parse(bytes).sha256, sha256(edit), 'the station saw exactly the bytes the client sent');
  assert.equal(received('/v1/images/edits').headers['content-type'], `multipart/form-data; boundary=${boundary}`);

  for (const [format, type] of [['text', /^text\/plain/], ['srt', /^application\/x-subrip/], ['vtt', /^text\/vtt/]]) {
    const form = multipartBody(boundary, [
      { name: 'file', filename: 'a.mp3', type: 'audio/mpeg', data: BINARY_SAMPLE },
      { name: 'model', value: 'whisper-1' },
      { name: 'response_format', value: format },
    ]);
    const t = await rawFetch('/v1/audio/transcriptions', {
      method: 'POST',
      headers: { authorization: `Bearer ${ctx.key}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body: form,
    });
    assert.equal(t.res.status, 200, t.bytes.toString());
    assert.match(t.res.headers.get('content-type'), type, format);
    assert.equal(t.res.headers.get('x-fake-body-sha256'), sha256(form));
  }

  const input = 'Byte-exact speech ✓ with non-ASCII';
  const speech = await rawFetch('/v1/audio/speech', {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tts-1', input, voice: 'alloy' }),
  });
  assert.equal(speech.res.status, 200);
  assert.equal(speech.res.headers.get('content-type'), 'audio/mpeg');
  assert.ok(speech.bytes.equals(speechBytes(input, 'mp3')), 'audio bytes unchanged');

  const noModel = await rawFetch('/v1/images/edits', {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.key}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: multipartBody(boundary, [{ name: 'prompt', value: 'x' }]),
  });
  assert.equal(noModel.res.status, 400);
  assert.match(JSON.parse(noModel.bytes).error.message, /form field `model` is required/);
});

test('files and video tasks stay pinned to the station that holds them', async () => {
  const boundary = 'filesBoundary42';
  const uploads = [];
  for (let i = 0; i < 4; i++) {
    const data = Buffer.concat([BINARY_SAMPLE, Buffer.from([i])]);
    const { res, bytes } = await rawFetch('/v1/files', {
      method: 'POST',
      headers: { authorization: `Bearer ${ctx.key}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body: multipartBody(boundary, [
        { name: 'purpose', value: 'batch' },
        { name: 'file', filename: `f${i}.jsonl`, type: 'application/jsonl', data },
      ]),
    });
    assert.equal(res.status, 200, bytes.toString());
    uploads.push({ id: JSON.parse(bytes).id, data });
  }
  const listed = await waitFor(async () => {
    const l = await relay('/v1/files');
    return l.body.data?.length === uploads.length ? l : null;
  });
  assert.deepEqual(new Set(listed.body.data.map((f) => f.id)), new Set(uploads.map((u) => u.id)));
  for (const { id, data } of uploads) {
    const meta = await relay(`/v1/files/${id}`);
    assert.equal(meta.status, 200, JSON.stringify(meta.body));
    assert.equal(meta.body.id, id);
    const content = await rawFetch(`/v1/files/${id}/content`, { headers: { authorization: `Bearer ${ctx.key}` } });
    assert.ok(content.bytes.equals(data), 'content comes from the station that holds the file');
  }
  const gone = await relay(`/v1/files/${uploads[0].id}`, { method: 'DELETE' });
  assert.equal(gone.body.deleted, true);
  const after = await relay(`/v1/files/${uploads[0].id}`);
  assert.equal(after.status, 404);
  assert.equal(after.body.error.code, 'not_found');
  const unknown = await relay('/v1/files/file-never-uploaded');
  assert.equal(unknown.status, 404);

  const task = await post('/v1/video/generations', { model: 'sora-2', prompt: 'waves' });
  assert.equal(task.status, 200, JSON.stringify(task.body));
  const polled = await waitFor(async () => {
    const p = await relay(`/v1/video/generations/${task.body.id}`);
    return p.status === 200 ? p : null;
  });
  assert.equal(polled.body.id, task.body.id);

  const stored = await post('/v1/responses', { model: 'gpt-4o', input: 'remember me', store: true });
  const fetched = await waitFor(async () => {
    const r = await relay(`/v1/responses/${stored.body.id}`);
    return r.status === 200 ? r : null;
  });
  assert.equal(fetched.body.id, stored.body.id);
});

test('model lists answer in the caller\'s dialect', async () => {
  const openai = await relay('/v1/models');
  assert.equal(openai.body.object, 'list');
  assert.ok(openai.body.data.some((m) => m.id === 'gpt-4o' && m.object === 'model'));
  const one = await relay('/v1/models/gpt-4o');
  assert.equal(one.body.id, 'gpt-4o');
  const missing = await relay('/v1/models/nope');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'model_not_found');

  const anthropic = await call(ctx.gw.url, '/v1/models?limit=2', { headers: { 'x-api-key': ctx.key, 'anthropic-version': '2023-06-01' } });
  assert.equal(anthropic.status, 200);
  assert.equal(anthropic.body.data.length, 2);
  assert.equal(anthropic.body.has_more, true);
  assert.equal(anthropic.body.data[0].type, 'model');
  assert.match(anthropic.body.data[0].created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const gemini = await call(ctx.gw.url, `/v1beta/models?key=${ctx.key}`);
  assert.equal(gemini.status, 200);
  assert.ok(gemini.body.models.some((m) => m.name === 'models/gemini-2.5-flash' && m.supportedGenerationMethods.includes('generateContent')));
  const geminiOne = await call(ctx.gw.url, '/v1beta/models/gemini-2.5-flash', { headers: { 'x-goog-api-key': ctx.key } });
  assert.equal(geminiOne.body.name, 'models/gemini-2.5-flash');
});

test('Anthropic Messages: x-api-key auth, ?beta=true, stream with usage, count_tokens', async () => {
  const headers = { 'x-api-key': ctx.key, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'fine-grained-tool-streaming-2025-05-14' };
  const msg = await call(ctx.gw.url, '/v1/messages?beta=true', {
    method: 'POST',
    headers,
    body: { model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] },
  });
  assert.equal(msg.status, 200, JSON.stringify(msg.body));
  assert.equal(msg.body.type, 'message');
  const upstream = received('/v1/messages');
  assert.ok(upstream.path.endsWith('?beta=true'));
  assert.ok(upstream.headers['x-api-key'] && upstream.headers['x-api-key'] !== ctx.key);
  assert.equal(upstream.headers['anthropic-beta'], headers['anthropic-beta']);
  assert.equal(upstream.headers.authorization, undefined);

  const { res, bytes } = await rawFetch('/v1/messages', {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'stream please' }] }),
  });
  assert.equal(res.status, 200);
  const events = sseFrames(bytes.toString()).map((f) => f.event);
  assert.equal(events[0], 'message_start');
  assert.equal(events.at(-1), 'message_stop');
  const [row] = await usageRows(ctx.gw, 1, "endpoint = 'messages' AND stream = 1");
  const start = JSON.parse(sseFrames(bytes.toString())[0].data).message.usage;
  assert.equal(row.prompt_tokens, start.input_tokens + (start.cache_read_input_tokens ?? 0) + (start.cache_creation_input_tokens ?? 0));
  assert.ok(row.completion_tokens > 0);

  const count = await call(ctx.gw.url, '/v1/messages/count_tokens', {
    method: 'POST',
    headers,
    body: { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'count these words please' }] },
  });
  assert.equal(count.status, 200);
  assert.ok(count.body.input_tokens > 0);

  // No anthropic-version from the client: the gateway supplies the one the API requires.
  const bare = await call(ctx.gw.url, '/v1/messages', {
    method: 'POST',
    headers: { 'x-api-key': ctx.key },
    body: { model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] },
  });
  assert.equal(bare.status, 200, JSON.stringify(bare.body));
});

test('Gemini: key in the query or header, both stream framings, countTokens and embeddings', async () => {
  const body = { contents: [{ role: 'user', parts: [{ text: 'hello gemini' }] }] };
  const gen = await call(ctx.gw.url, `/v1beta/models/gemini-2.5-flash:generateContent?key=${ctx.key}`, { method: 'POST', body });
  assert.equal(gen.status, 200, JSON.stringify(gen.body));
  assert.ok(gen.body.candidates[0].content.parts[0].text);
  const upstream = received('/v1beta/models/gemini-2.5-flash:generateContent');
  assert.ok(!upstream.path.includes('key='), 'our key never goes upstream in the query');
  assert.ok(upstream.headers['x-goog-api-key'] && upstream.headers['x-goog-api-key'] !== ctx.key);

  const sse = await rawFetch('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', {
    method: 'POST',
    headers: { 'x-goog-api-key': ctx.key, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(sse.res.status, 200);
  const frames = sseFrames(sse.bytes.toString());
  assert.ok(frames.length >= 2);
  const last = JSON.parse(frames.at(-1).data);
  const [row] = await usageRows(ctx.gw, 1, "endpoint = 'gemini.streamGenerateContent'");
  assert.equal(row.prompt_tokens, last.usageMetadata.promptTokenCount);
  assert.equal(row.stream, 1);

  const array = await rawFetch('/v1beta/models/gemini-2.5-flash:streamGenerateContent', {
    method: 'POST',
    headers: { 'x-goog-api-key': ctx.key, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(array.res.status, 200);
  const items = JSON.parse(array.bytes.toString());
  assert.ok(Array.isArray(items) && items.length >= 2);

  const count = await call(ctx.gw.url, '/v1beta/models/gemini-2.5-flash:countTokens', { method: 'POST', headers: { 'x-goog-api-key': ctx.key }, body });
  assert.ok(count.body.totalTokens > 0, JSON.stringify(count.body));
  const embed = await call(ctx.gw.url, '/v1beta/models/text-embedding-3-small:embedContent', {
    method: 'POST',
    headers: { 'x-goog-api-key': ctx.key },
    body: { content: { parts: [{ text: 'embed me' }] } },
  });
  assert.equal(embed.status, 200, JSON.stringify(embed.body));
  assert.ok(embed.body.embedding.values.length > 0);
  const batch = await call(ctx.gw.url, '/v1beta/models/text-embedding-3-small:batchEmbedContents', {
    method: 'POST',
    headers: { 'x-goog-api-key': ctx.key },
    body: { requests: [{ model: 'models/text-embedding-3-small', content: { parts: [{ text: 'a' }] } }, { model: 'models/text-embedding-3-small', content: { parts: [{ text: 'b' }] } }] },
  });
  assert.equal(batch.body.embeddings.length, 2);
});

test('a stream cut mid-way ends with an in-band error in each dialect and is logged', async () => {
  const cases = [
    ['/v1/chat/completions', { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] }, { authorization: `Bearer ${ctx.key}` },
      (f) => f.event === undefined && JSON.parse(f.data).error?.code === 'upstream_stream_interrupted'],
    ['/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'x' }] }, { 'x-api-key': ctx.key, 'anthropic-version': '2023-06-01' },
      (f) => f.event === 'error' && JSON.parse(f.data).error.type === 'api_error'],
    ['/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', { contents: [{ parts: [{ text: 'x' }] }] }, { 'x-goog-api-key': ctx.key },
      (f) => f.event === undefined && JSON.parse(f.data).error.status === 'UNAVAILABLE'],
    ['/v1/responses', { model: 'gpt-4o', input: 'x', stream: true }, { authorization: `Bearer ${ctx.key}` },
      (f) => f.event === 'error' && Number.isInteger(JSON.parse(f.data).sequence_number)],
  ];
  for (const [path, body, headers, isError] of cases) {
    const { res, bytes } = await rawFetch(path, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'x-fake-behavior': 'cut-stream:2' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, path);
    const frames = sseFrames(bytes.toString());
    assert.ok(frames.length >= 2, `${path}: ${bytes}`);
    assert.ok(isError(frames.at(-1)), `${path}: last frame ${JSON.stringify(frames.at(-1))}`);
  }
  const rows = await usageRows(ctx.gw, 4, "error_class = 'stream_cut'");
  assert.ok(rows.length >= 4);
});

test('keep-alive frames flow while the upstream is silent, without splitting events', async () => {
  const { res, bytes } = await rawFetch('/v1/messages', {
    method: 'POST',
    headers: { 'x-api-key': ctx.key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', 'x-fake-behavior': 'silent-stream:3200' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(res.status, 200);
  const frames = sseFrames(bytes.toString());
  const pings = frames.filter((f) => f.event === 'ping' && f.data === '{"type": "ping"}');
  assert.ok(pings.length >= 2, `expected gateway pings during 3.2 s of silence: ${bytes}`);
  for (const f of frames) assert.doesNotThrow(() => JSON.parse(f.data), 'every frame is whole');
  assert.equal(frames.at(-1).event, 'message_stop');

  const chat = await rawFetch('/v1/chat/completions', {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json', 'x-fake-behavior': 'silent-stream:1600' },
    body: JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.match(chat.bytes.toString(), /\n: keep-alive\n\n/);
});

test('a client that goes away mid-stream is logged as such', async () => {
  const controller = new AbortController();
  const res = await fetch(ctx.gw.url + '/v1/chat/completions', {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json', 'x-fake-behavior': 'slow-stream:400' },
    body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] }),
    signal: controller.signal,
  });
  const reader = res.body.getReader();
  await reader.read();
  controller.abort();
  // Detected by the request signal, a failed write, or (behind Miniflare's entry worker) a
  // write the client no longer takes within CLIENT_STALL_SECONDS.
  const rows = await waitFor(async () => {
    const { results } = await (await ctx.gw.d1()).prepare("SELECT * FROM usage_logs WHERE model_requested = 'gpt-4o-mini' AND stream = 1").all();
    return results.length ? results : null;
  }, { tries: 80 });
  assert.equal(rows[0].client_closed, 1, JSON.stringify(rows[0]));
  assert.equal(rows[0].error_class, 'client_closed');
  assert.equal(rows[0].model_requested, 'gpt-4o-mini');
});

test('billing endpoints report the key\'s limit and spend', async () => {
  const sub = await relay('/dashboard/billing/subscription');
  assert.equal(sub.status, 200);
  assert.equal(sub.body.object, 'billing_subscription');
  assert.equal(sub.body.hard_limit_usd, 100000000);
  const usage = await relay('/v1/dashboard/billing/usage');
  assert.equal(usage.body.object, 'list');
  assert.ok(usage.body.total_usage > 0, 'calls so far cost something');
});

test('unknown relay paths and bad input answer in the caller\'s dialect', async () => {
  const unknown = await post('/v1/nope', {});
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'not_found');
  const gem = await call(ctx.gw.url, '/v1beta/models/gemini-2.5-flash:generateContent', { method: 'POST', headers: { 'x-goog-api-key': ctx.key }, raw: '{"contents":', });
  assert.equal(gem.status, 400);
  assert.equal(gem.body.error.status, 'INVALID_ARGUMENT');
});
