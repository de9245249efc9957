// Self-test for the fake station's Anthropic (/v1/messages*) and Gemini (/v1beta/*) dialects: body
// shapes, exact usage numbers, stream event order and framing, tool calls, thinking, auth and
// errors in each dialect's own shape, and steering. Imported by fake-station.selftest.mjs.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HELLO, anthropicHeaders, call, geminiHeaders, open, readChunks, readSseResponse, withStation } from './fake-selftest-helpers.mjs';

const WEATHER_TOOL_SCHEMA = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } };

function messagesRequest(extra = {}) {
  return { model: 'claude-sonnet-4-5', max_tokens: 1024, system: 'be brief', messages: [{ role: 'user', content: HELLO }], ...extra };
}

function messages(station, body, headers = anthropicHeaders(station), path = '/v1/messages') {
  return call(station, path, { method: 'POST', headers, body });
}

describe('anthropic dialect', () => {
  test('non-stream message: text block, end_turn, usage with cache fields, model echoed; ?beta=true and Bearer work', async () => {
    await withStation({}, async (station) => {
      const { status, json, headers } = await messages(station, messagesRequest(), anthropicHeaders(station), '/v1/messages?beta=true');
      assert.equal(status, 200);
      assert.equal(headers.get('content-type'), 'application/json; charset=utf-8');
      assert.match(json.id, /^msg_/);
      assert.equal(json.type, 'message');
      assert.equal(json.role, 'assistant');
      assert.equal(json.model, 'claude-sonnet-4-5');
      assert.deepEqual(json.content, [{ type: 'text', text: `echo: ${HELLO}` }]);
      assert.equal(json.stop_reason, 'end_turn');
      assert.equal(json.stop_sequence, null);
      assert.deepEqual(json.usage, { input_tokens: 6, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 5 });
      assert.equal(station.requests.at(-1).path, '/v1/messages?beta=true');

      const viaBearer = await messages(station, messagesRequest(), { authorization: `Bearer sk-${station.state.tokens[0].key}`, 'anthropic-version': '2023-06-01' });
      assert.equal(viaBearer.status, 200);
    });
  });

  test('blocks with cache_control count as cache reads', async () => {
    await withStation({}, async (station) => {
      const system = [{ type: 'text', text: 'long cached prompt here', cache_control: { type: 'ephemeral' } }];
      const { json } = await messages(station, messagesRequest({ system }));
      assert.deepEqual(json.usage, { input_tokens: 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 4, output_tokens: 5 });
    });
  });

  test('errors: no anthropic-version is 400, bad key is 401 authentication_error, missing max_tokens is 400', async () => {
    await withStation({}, async (station) => {
      const noVersion = await messages(station, messagesRequest(), { 'x-api-key': `sk-${station.state.tokens[0].key}` });
      assert.equal(noVersion.status, 400);
      assert.deepEqual(noVersion.json.error, { type: 'invalid_request_error', message: 'anthropic-version: header is required' });
      assert.equal(noVersion.json.type, 'error');

      const badKey = await messages(station, messagesRequest(), { 'x-api-key': 'sk-wrong', 'anthropic-version': '2023-06-01' });
      assert.equal(badKey.status, 401);
      assert.equal(badKey.json.type, 'error');
      assert.equal(badKey.json.error.type, 'authentication_error');
      assert.match(badKey.headers.get('request-id'), /^req_/);
      assert.equal(badKey.json.request_id, badKey.headers.get('request-id'));

      const { max_tokens: _dropped, ...withoutMax } = messagesRequest();
      const noMax = await messages(station, withoutMax);
      assert.equal(noMax.status, 400);
      assert.equal(noMax.json.error.type, 'invalid_request_error');

      const unknown = await messages(station, messagesRequest({ model: 'claude-nope' }));
      assert.equal(unknown.status, 503);
      assert.equal(unknown.json.type, 'error');
    });
  });

  test('stream: message_start, block start, ping, text deltas, block stop, message_delta, message_stop', async () => {
    await withStation({}, async (station) => {
      const response = await open(station, '/v1/messages', { headers: anthropicHeaders(station), body: messagesRequest({ stream: true }) });
      assert.equal(response.headers.get('content-type'), 'text/event-stream');
      const { frames, error, complete } = await readSseResponse(response);
      assert.equal(error, undefined);
      assert.ok(complete);
      const names = frames.map((frame) => frame.event);
      assert.deepEqual(names, [
        'message_start', 'content_block_start', 'ping',
        ...Array(5).fill('content_block_delta'),
        'content_block_stop', 'message_delta', 'message_stop',
      ]);
      for (const frame of frames) assert.equal(frame.json.type, frame.event, 'data.type matches the event name');
      const start = frames[0].json.message;
      assert.equal(start.model, 'claude-sonnet-4-5');
      assert.deepEqual(start.content, []);
      assert.deepEqual(start.usage, { input_tokens: 6, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 });
      assert.deepEqual(frames[1].json.content_block, { type: 'text', text: '' });
      const text = frames.filter((f) => f.event === 'content_block_delta').map((f) => f.json.delta.text).join('');
      assert.equal(text, `echo: ${HELLO}`);
      const delta = frames.at(-2).json;
      assert.deepEqual(delta.delta, { stop_reason: 'end_turn', stop_sequence: null });
      assert.equal(delta.usage.output_tokens, 5);
    });
  });

  test('tools: text block then tool_use whose input streams as several input_json_delta fragments', async () => {
    await withStation({}, async (station) => {
      const tools = [{ name: 'get_weather', description: 'Get the weather', input_schema: WEATHER_TOOL_SCHEMA }];
      const body = messagesRequest({ system: undefined, tools, messages: [{ role: 'user', content: 'weather in Paris' }] });
      const expectedInput = { city: 'weather in Paris', days: 3 };

      const plain = await messages(station, body);
      assert.equal(plain.json.stop_reason, 'tool_use');
      assert.equal(plain.json.content.length, 2);
      assert.equal(plain.json.content[0].type, 'text');
      const [, toolUse] = plain.json.content;
      assert.equal(toolUse.type, 'tool_use');
      assert.match(toolUse.id, /^toolu_[A-Za-z0-9]+$/);
      assert.equal(toolUse.name, 'get_weather');
      assert.deepEqual(toolUse.input, expectedInput);
      assert.deepEqual(plain.json.usage, { input_tokens: 3 + 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 4 + 1 + 4 });

      const { frames } = await readSseResponse(await open(station, '/v1/messages', { headers: anthropicHeaders(station), body: { ...body, stream: true } }));
      const starts = frames.filter((f) => f.event === 'content_block_start').map((f) => [f.json.index, f.json.content_block.type]);
      assert.deepEqual(starts, [[0, 'text'], [1, 'tool_use']]);
      const jsonDeltas = frames.filter((f) => f.json?.delta?.type === 'input_json_delta');
      assert.ok(jsonDeltas.length >= 2, 'input arrives in several fragments');
      assert.ok(jsonDeltas.every((f) => f.json.index === 1));
      assert.deepEqual(JSON.parse(jsonDeltas.map((f) => f.json.delta.partial_json).join('')), expectedInput);
      const stops = frames.filter((f) => f.event === 'content_block_stop').map((f) => f.json.index);
      assert.deepEqual(stops, [0, 1]);
      // Blocks are sequential: every event of block 0 comes before block 1 starts.
      const lastOfFirst = frames.findLastIndex((f) => f.json?.index === 0);
      const firstOfSecond = frames.findIndex((f) => f.json?.index === 1);
      assert.ok(lastOfFirst < firstOfSecond);
      assert.equal(frames.at(-2).json.delta.stop_reason, 'tool_use');
    });
  });

  test('thinking: a thinking block first, its signature_delta right before its stop', async () => {
    await withStation({}, async (station) => {
      const body = messagesRequest({ thinking: { type: 'enabled', budget_tokens: 2048 } });
      const plain = await messages(station, body);
      assert.equal(plain.json.content[0].type, 'thinking');
      assert.equal(plain.json.content[0].thinking, `thinking about: ${HELLO}`);
      assert.ok(plain.json.content[0].signature);
      assert.equal(plain.json.usage.output_tokens, 5 + 6, 'reply words plus thinking words');

      const { frames } = await readSseResponse(await open(station, '/v1/messages', { headers: anthropicHeaders(station), body: { ...body, stream: true } }));
      const block0 = frames.filter((f) => f.json?.index === 0).map((f) => f.json.delta?.type ?? f.event);
      assert.equal(block0[0], 'content_block_start');
      assert.deepEqual(block0.slice(-2), ['signature_delta', 'content_block_stop']);
      assert.ok(block0.slice(1, -2).every((type) => type === 'thinking_delta'));
    });
  });

  test('count_tokens answers {input_tokens} derived from the content', async () => {
    await withStation({}, async (station) => {
      const short = await messages(station, { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: HELLO }] }, anthropicHeaders(station), '/v1/messages/count_tokens');
      assert.equal(short.status, 200);
      assert.deepEqual(short.json, { input_tokens: 4 });
      const longer = await messages(station, { model: 'claude-sonnet-4-5', system: 'be brief', messages: [{ role: 'user', content: `${HELLO} and more` }] }, anthropicHeaders(station), '/v1/messages/count_tokens');
      assert.deepEqual(longer.json, { input_tokens: 8 });
    });
  });

  test('steering: 429 rate_limit_error with retry-after, 500 api_error, cut stream without message_stop', async () => {
    await withStation({}, async (station) => {
      const limited = await messages(station, messagesRequest({ model: 'fake-429' }));
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '7');
      assert.equal(limited.json.type, 'error');
      assert.equal(limited.json.error.type, 'rate_limit_error');

      const failed = await messages(station, messagesRequest(), anthropicHeaders(station, { 'x-fake-behavior': 'error-500' }));
      assert.equal(failed.status, 500);
      assert.equal(failed.json.error.type, 'api_error');

      const unauthorized = await messages(station, messagesRequest({ model: 'fake-401' }));
      assert.equal(unauthorized.status, 401);
      assert.equal(unauthorized.json.error.type, 'authentication_error');

      const cut = await readSseResponse(await open(station, '/v1/messages', { headers: anthropicHeaders(station), body: messagesRequest({ model: 'fake-cut', stream: true }) }));
      assert.ok(cut.error, 'the socket was destroyed');
      assert.deepEqual(cut.frames.map((f) => f.event), ['message_start', 'content_block_start', 'ping']);
    });
  });
});

function geminiRequest(extra = {}) {
  return { systemInstruction: { parts: [{ text: 'be brief' }] }, contents: [{ role: 'user', parts: [{ text: HELLO }] }], ...extra };
}

function generate(station, body, { action = 'generateContent', query = '', headers = geminiHeaders(station), model = 'gemini-2.5-flash' } = {}) {
  return call(station, `/v1beta/models/${model}:${action}${query}`, { method: 'POST', headers, body });
}

describe('gemini dialect', () => {
  test('generateContent: candidates, STOP, exact usageMetadata, modelVersion; x-goog-api-key or ?key=', async () => {
    await withStation({}, async (station) => {
      const { status, json, headers } = await generate(station, geminiRequest());
      assert.equal(status, 200);
      assert.equal(headers.get('x-fake-model'), 'gemini-2.5-flash');
      assert.deepEqual(json.candidates, [{ content: { parts: [{ text: `echo: ${HELLO}` }], role: 'model' }, finishReason: 'STOP', index: 0 }]);
      assert.deepEqual(json.usageMetadata, { promptTokenCount: 6, candidatesTokenCount: 5, totalTokenCount: 11, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 6 }] });
      assert.equal(json.modelVersion, 'gemini-2.5-flash');
      assert.equal(typeof json.responseId, 'string');

      const byQuery = await generate(station, geminiRequest(), { query: `?key=sk-${station.state.tokens[0].key}`, headers: {} });
      assert.equal(byQuery.status, 200);
    });
  });

  test('snake_case request fields are read too', async () => {
    await withStation({}, async (station) => {
      const { json } = await generate(station, { system_instruction: { parts: [{ text: 'be brief' }] }, contents: [{ role: 'user', parts: [{ text: HELLO }] }] });
      assert.equal(json.usageMetadata.promptTokenCount, 6);
    });
  });

  test('errors: bad key is 400 API_KEY_INVALID, no contents is 400 INVALID_ARGUMENT, fake-429 is RESOURCE_EXHAUSTED', async () => {
    await withStation({}, async (station) => {
      const bad = await generate(station, geminiRequest(), { headers: { 'x-goog-api-key': 'nope' } });
      assert.equal(bad.status, 400);
      assert.equal(bad.json.error.code, 400);
      assert.equal(bad.json.error.status, 'INVALID_ARGUMENT');
      assert.equal(bad.json.error.details[0].reason, 'API_KEY_INVALID');

      const empty = await generate(station, { contents: [] });
      assert.equal(empty.status, 400);
      assert.equal(empty.json.error.status, 'INVALID_ARGUMENT');

      const limited = await generate(station, geminiRequest(), { model: 'fake-429' });
      assert.equal(limited.status, 429);
      assert.deepEqual(
        { code: limited.json.error.code, status: limited.json.error.status },
        { code: 429, status: 'RESOURCE_EXHAUSTED' },
      );
      assert.equal(limited.headers.get('retry-after'), '7');

      const failed = await generate(station, geminiRequest(), { headers: geminiHeaders(station, { 'x-fake-behavior': 'error-500' }) });
      assert.equal(failed.status, 500);
      assert.equal(failed.json.error.status, 'INTERNAL');
    });
  });

  test('streamGenerateContent?alt=sse: CRLF data frames, finishReason and usage on the last', async () => {
    await withStation({}, async (station) => {
      const response = await open(station, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', { headers: geminiHeaders(station), body: geminiRequest() });
      assert.equal(response.headers.get('content-type'), 'text/event-stream');
      const { frames, text, error } = await readSseResponse(response);
      assert.equal(error, undefined);
      assert.ok(text.includes('\r\n\r\n'));
      assert.equal(frames.length, 5);
      assert.ok(frames.every((f) => f.event === undefined && f.json.modelVersion === 'gemini-2.5-flash'));
      assert.equal(frames.map((f) => f.json.candidates[0].content.parts[0].text).join(''), `echo: ${HELLO}`);
      assert.ok(frames.slice(0, -1).every((f) => !f.json.usageMetadata && !f.json.candidates[0].finishReason));
      assert.equal(frames.at(-1).json.candidates[0].finishReason, 'STOP');
      assert.equal(frames.at(-1).json.usageMetadata.totalTokenCount, 11);
    });
  });

  test('streamGenerateContent without alt: one JSON array streamed gradually', async () => {
    await withStation({}, async (station) => {
      const response = await open(station, '/v1beta/models/gemini-2.5-flash:streamGenerateContent', {
        headers: geminiHeaders(station, { 'x-fake-behavior': 'slow-stream:30' }),
        body: geminiRequest(),
      });
      assert.equal(response.headers.get('content-type'), 'application/json; charset=UTF-8');
      const { text, arrivals } = await readChunks(response);
      assert.ok(text.startsWith('[{') && text.endsWith('}]'));
      assert.equal(text.split('\r\n,').length, 5);
      const records = JSON.parse(text);
      assert.equal(records.length, 5);
      assert.equal(records.map((r) => r.candidates[0].content.parts[0].text).join(''), `echo: ${HELLO}`);
      assert.equal(records.at(-1).usageMetadata.candidatesTokenCount, 5);
      assert.ok(arrivals.length >= 5, `arrived in ${arrivals.length} reads`);
    });
  });

  test('functionCall part when tools are given; thinking adds thoughtsTokenCount and thought parts', async () => {
    await withStation({}, async (station) => {
      const tools = [{ functionDeclarations: [{ name: 'get_weather', description: 'Get the weather', parameters: { type: 'OBJECT', properties: { city: { type: 'STRING' } } } }] }];
      const called = await generate(station, { contents: [{ role: 'user', parts: [{ text: 'weather in Paris' }] }], tools });
      const parts = called.json.candidates[0].content.parts;
      assert.deepEqual(parts.at(-1), { functionCall: { name: 'get_weather', args: { city: 'weather in Paris' } } });
      assert.equal(called.json.candidates[0].finishReason, 'STOP', 'Gemini says STOP even for function calls');
      assert.equal(called.json.usageMetadata.promptTokenCount, 3 + 4);

      const thinking = await generate(station, geminiRequest({ generationConfig: { thinkingConfig: { thinkingBudget: -1, includeThoughts: true } } }));
      const thoughtParts = thinking.json.candidates[0].content.parts;
      assert.deepEqual(thoughtParts[0], { text: `thinking about: ${HELLO}`, thought: true });
      assert.deepEqual(
        thinking.json.usageMetadata,
        { promptTokenCount: 6, candidatesTokenCount: 5, totalTokenCount: 17, thoughtsTokenCount: 6, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 6 }] },
      );
      const hidden = await generate(station, geminiRequest({ generationConfig: { thinkingConfig: { thinkingBudget: 512 } } }));
      assert.equal(hidden.json.candidates[0].content.parts.length, 1, 'no thought parts without includeThoughts');
      assert.equal(hidden.json.usageMetadata.thoughtsTokenCount, 6);
    });
  });

  test('countTokens, embedContent, batchEmbedContents', async () => {
    await withStation({}, async (station) => {
      const counted = await generate(station, geminiRequest(), { action: 'countTokens' });
      assert.deepEqual(counted.json, { totalTokens: 6, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 6 }] });
      const wrapped = await generate(station, { generateContentRequest: { model: 'models/gemini-2.5-flash', contents: [{ parts: [{ text: 'a b c' }] }] } }, { action: 'countTokens' });
      assert.equal(wrapped.json.totalTokens, 3);

      const single = await generate(station, { content: { parts: [{ text: 'a b' }] }, outputDimensionality: 4 }, { action: 'embedContent', model: 'text-embedding-3-small' });
      assert.equal(single.status, 200);
      assert.equal(single.json.embedding.values.length, 4);
      const batch = await generate(station, { requests: [{ content: { parts: [{ text: 'a b' }] }, outputDimensionality: 4 }, { content: { parts: [{ text: 'c' }] } }] }, { action: 'batchEmbedContents', model: 'text-embedding-3-small' });
      assert.equal(batch.json.embeddings.length, 2);
      assert.deepEqual(batch.json.embeddings[0].values, single.json.embedding.values, 'deterministic');
      assert.equal(batch.json.embeddings[1].values.length, 8);
    });
  });

  test('GET /v1beta/models: models/ names, supportedGenerationMethods, paging; single model and 404', async () => {
    await withStation({}, async (station) => {
      const all = await call(station, '/v1beta/models', { headers: geminiHeaders(station) });
      assert.equal(all.json.models.length, station.state.models.length);
      assert.equal(all.json.nextPageToken, undefined);
      assert.ok(all.json.models.every((m) => m.name.startsWith('models/')));
      const flash = all.json.models.find((m) => m.name === 'models/gemini-2.5-flash');
      assert.deepEqual(flash.supportedGenerationMethods, ['generateContent', 'streamGenerateContent', 'countTokens']);

      const first = await call(station, '/v1beta/models?pageSize=3', { headers: geminiHeaders(station) });
      assert.equal(first.json.models.length, 3);
      const second = await call(station, `/v1beta/models?pageSize=3&pageToken=${first.json.nextPageToken}`, { headers: geminiHeaders(station) });
      assert.equal(second.json.models[0].name, all.json.models[3].name);

      const one = await call(station, '/v1beta/models/gemini-2.5-flash', { headers: geminiHeaders(station) });
      assert.equal(one.json.name, 'models/gemini-2.5-flash');
      const missing = await call(station, '/v1beta/models/gemini-nope', { headers: geminiHeaders(station) });
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error.status, 'NOT_FOUND');
    });
  });

  test('cut-stream cuts both framings mid-way; bad-json breaks the second frame', async () => {
    await withStation({}, async (station) => {
      const sse = await readSseResponse(await open(station, '/v1beta/models/fake-cut:streamGenerateContent?alt=sse', { headers: geminiHeaders(station), body: geminiRequest() }));
      assert.ok(sse.error);
      assert.equal(sse.frames.length, 3);
      const array = await readChunks(await open(station, '/v1beta/models/fake-cut:streamGenerateContent', { headers: geminiHeaders(station), body: geminiRequest() }));
      assert.ok(array.error);
      assert.ok(array.text.startsWith('[') && !array.text.endsWith(']'));

      const broken = await readSseResponse(await open(station, '/v1beta/models/fake-bad-json:streamGenerateContent?alt=sse', { headers: geminiHeaders(station), body: geminiRequest() }));
      assert.equal(broken.error, undefined, 'bad-json ends the stream cleanly');
      assert.equal(broken.frames.length, 2);
      assert.ok(broken.frames[0].json);
      assert.equal(broken.frames[1].json, undefined, 'the second frame is cut in half');
    });
  });
});
