// Real clients end to end: the official OpenAI, Anthropic and Google GenAI SDKs (pinned in
// package.json) call the gateway, whose stations each speak ONE dialect natively (OpenAI chat,
// Anthropic messages, Gemini). Every client × upstream pair runs a plain turn, a stream through
// the SDK's stream helper, a tool call whose result goes back, and an upstream 429 that must
// surface as the SDK's typed error; embeddings run OpenAI ↔ Gemini. The fake's answers are
// deterministic (echo of the last user text, word-count tokens, hashed embedding values), so
// every assertion is an exact value.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI, ApiError, FunctionCallingConfigMode } from '@google/genai';
import { gatewayWithStations } from '../support/setup.mjs';
import { embedText } from '../support/fake-openai.mjs';

const cleanups = [];
let ctx;

// One station per upstream dialect, each with its own model names so the model picks the upstream.
// `path`: where a chat-like call must arrive, i.e. in the station's own dialect.
const UPSTREAMS = {
  openai: { platform: 'openai-compatible', dialect: 'openai', chat: 'oa-chat', embed: 'oa-embed', path: /^\/v1\/chat\/completions$/ },
  anthropic: { platform: 'anthropic-compatible', dialect: 'anthropic', chat: 'an-chat', path: /^\/v1\/messages$/ },
  gemini: {
    platform: 'gemini-compatible', dialect: 'gemini', chat: 'ge-chat', embed: 'ge-embed',
    path: /^\/v1beta\/models\/ge-chat:(generateContent|streamGenerateContent\?alt=sse)$/,
  },
};

before(async () => {
  const specs = Object.fromEntries(
    Object.entries(UPSTREAMS).map(([name, u]) => [name, { options: { models: [u.chat, u.embed].filter(Boolean) } }]),
  );
  ctx = await gatewayWithStations(specs, { cleanups });
  const db = await ctx.gw.d1();
  for (const [name, u] of Object.entries(UPSTREAMS)) {
    ctx.stations[name].fake.state.dialects = [u.dialect];
    await db.prepare('UPDATE stations SET platform = ? WHERE id = ?').bind(u.platform, ctx.stations[name].id).run();
  }
  const rebuilt = await ctx.admin('/api/route/rebuild', { method: 'POST' });
  assert.equal(rebuilt.status, 200, JSON.stringify(rebuilt.body));
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const words = (text) => text.split(/\s+/).filter(Boolean).length;
const lastUpstream = (name) => ctx.stations[name].fake.requests.at(-1);

const openai = () => new OpenAI({ apiKey: ctx.key, baseURL: `${ctx.gw.url}/v1`, maxRetries: 0 });
const anthropic = () => new Anthropic({ apiKey: ctx.key, baseURL: ctx.gw.url, maxRetries: 0 });
const genai = () => new GoogleGenAI({ apiKey: ctx.key, httpOptions: { baseUrl: ctx.gw.url } });

const WEATHER = {
  name: 'get_weather',
  description: 'Weather for a city',
  schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const TOOL_RESULT = 'sunny, 21 C';
const responseText = (r) =>
  r.output.filter((item) => item.type === 'message').flatMap((item) => item.content).map((part) => part.text).join('');

// Each client driver speaks its SDK and returns normalised results:
//   chat(model, text) / stream(model, text) → {text, input, output, stop}
//   toolCall(model, text) → {name, args, stop, history}
//   toolResult(model, history, followUp) → {text}
//   fail(model, behavior) → the thrown error
const CLIENTS = {
  'openai chat.completions': {
    stops: { text: 'stop', tool: 'tool_calls' },
    isStreamError: (e) => e instanceof OpenAI.APIError,
    rateLimitError: OpenAI.RateLimitError,
    async chat(model, text) {
      const r = await openai().chat.completions.create({ model, messages: [{ role: 'user', content: text }] });
      return { text: r.choices[0].message.content, input: r.usage.prompt_tokens, output: r.usage.completion_tokens, stop: r.choices[0].finish_reason };
    },
    async stream(model, text, headers) {
      const s = openai().chat.completions.stream({ model, messages: [{ role: 'user', content: text }], stream_options: { include_usage: true } }, { headers });
      let streamed = '';
      s.on('content', (delta) => { streamed += delta; });
      const final = await s.finalChatCompletion();
      assert.equal(final.choices[0].message.content, streamed);
      return { text: streamed, input: final.usage.prompt_tokens, output: final.usage.completion_tokens, stop: final.choices[0].finish_reason };
    },
    async toolCall(model, text) {
      const messages = [{ role: 'user', content: text }];
      const tools = [{ type: 'function', function: { name: WEATHER.name, description: WEATHER.description, parameters: WEATHER.schema } }];
      const r = await openai().chat.completions.create({ model, messages, tools });
      const message = r.choices[0].message;
      const [call] = message.tool_calls;
      return { name: call.function.name, args: JSON.parse(call.function.arguments), stop: r.choices[0].finish_reason, history: { messages: [...messages, message], tools, id: call.id } };
    },
    async streamToolCall(model, text) {
      const tools = [{ type: 'function', function: { name: WEATHER.name, description: WEATHER.description, parameters: WEATHER.schema } }];
      const s = openai().chat.completions.stream({ model, messages: [{ role: 'user', content: text }], tools });
      let done;
      s.on('tool_calls.function.arguments.done', (event) => { done = event; });
      const final = await s.finalChatCompletion();
      const [call] = final.choices[0].message.tool_calls;
      assert.equal(done?.arguments, call.function.arguments, 'the helper announced the finished arguments');
      return { name: call.function.name, id: call.id, args: call.function.arguments, stop: final.choices[0].finish_reason };
    },
    async toolResult(model, { messages, tools, id }, followUp) {
      const r = await openai().chat.completions.create({
        model,
        tools,
        tool_choice: 'none',
        messages: [...messages, { role: 'tool', tool_call_id: id, content: TOOL_RESULT }, { role: 'user', content: followUp }],
      });
      return { text: r.choices[0].message.content };
    },
    fail: (model, behavior) => openai().chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-fake-behavior': behavior } }),
  },

  'openai responses': {
    stops: { text: 'completed', tool: 'completed' },
    // The ResponseStream helper rejects with the stream's own `error` event (not an APIError).
    isStreamError: (e) => e?.type === 'error' && typeof e.code === 'string' && typeof e.message === 'string',
    rateLimitError: OpenAI.RateLimitError,
    async chat(model, text) {
      const r = await openai().responses.create({ model, input: text });
      return { text: r.output_text, input: r.usage.input_tokens, output: r.usage.output_tokens, stop: r.status };
    },
    async stream(model, text, headers) {
      const s = openai().responses.stream({ model, input: text }, { headers });
      let streamed = '';
      s.on('response.output_text.delta', (event) => { streamed += event.delta; });
      const final = await s.finalResponse();
      // The stream helper's final object has no `output_text` convenience field: read the items.
      assert.equal(responseText(final), streamed);
      return { text: streamed, input: final.usage.input_tokens, output: final.usage.output_tokens, stop: final.status };
    },
    async toolCall(model, text) {
      const tools = [{ type: 'function', name: WEATHER.name, description: WEATHER.description, parameters: WEATHER.schema, strict: false }];
      const r = await openai().responses.create({ model, input: text, tools });
      const call = r.output.find((item) => item.type === 'function_call');
      const input = [{ role: 'user', content: text }, ...r.output.filter((item) => item.type === 'function_call')];
      return { name: call.name, args: JSON.parse(call.arguments), stop: r.status, history: { input, tools, id: call.call_id } };
    },
    async streamToolCall(model, text) {
      const tools = [{ type: 'function', name: WEATHER.name, description: WEATHER.description, parameters: WEATHER.schema, strict: false }];
      const s = openai().responses.stream({ model, input: text, tools });
      let streamed = '';
      s.on('response.function_call_arguments.delta', (event) => { streamed += event.delta; });
      const final = await s.finalResponse();
      const call = final.output.find((item) => item.type === 'function_call');
      assert.equal(streamed, call.arguments, 'the argument deltas add up to the final arguments');
      return { name: call.name, id: call.call_id, args: call.arguments, stop: final.status };
    },
    async toolResult(model, { input, tools, id }, followUp) {
      const r = await openai().responses.create({
        model,
        tools,
        tool_choice: 'none',
        input: [...input, { type: 'function_call_output', call_id: id, output: TOOL_RESULT }, { role: 'user', content: followUp }],
      });
      return { text: r.output_text };
    },
    fail: (model, behavior) => openai().responses.create({ model, input: 'x' }, { headers: { 'x-fake-behavior': behavior } }),
  },

  'anthropic messages': {
    stops: { text: 'end_turn', tool: 'tool_use' },
    isStreamError: (e) => e instanceof Anthropic.APIError,
    rateLimitError: Anthropic.RateLimitError,
    async chat(model, text) {
      const r = await anthropic().messages.create({ model, max_tokens: 256, messages: [{ role: 'user', content: text }] });
      return { text: r.content.filter((b) => b.type === 'text').map((b) => b.text).join(''), input: r.usage.input_tokens, output: r.usage.output_tokens, stop: r.stop_reason };
    },
    async stream(model, text, headers) {
      const s = anthropic().messages.stream({ model, max_tokens: 256, messages: [{ role: 'user', content: text }] }, { headers });
      let streamed = '';
      s.on('text', (delta) => { streamed += delta; });
      const final = await s.finalMessage();
      assert.equal(final.content[0].text, streamed);
      return { text: streamed, input: final.usage.input_tokens, output: final.usage.output_tokens, stop: final.stop_reason };
    },
    async toolCall(model, text) {
      const messages = [{ role: 'user', content: text }];
      const tools = [{ name: WEATHER.name, description: WEATHER.description, input_schema: WEATHER.schema }];
      const r = await anthropic().messages.create({ model, max_tokens: 256, messages, tools });
      const call = r.content.find((b) => b.type === 'tool_use');
      return { name: call.name, args: call.input, stop: r.stop_reason, history: { messages: [...messages, { role: 'assistant', content: r.content }], tools, id: call.id } };
    },
    async streamToolCall(model, text) {
      const tools = [{ name: WEATHER.name, description: WEATHER.description, input_schema: WEATHER.schema }];
      const s = anthropic().messages.stream({ model, max_tokens: 256, messages: [{ role: 'user', content: text }], tools });
      let json = '';
      s.on('inputJson', (partial) => { json += partial; });
      const final = await s.finalMessage();
      const call = final.content.find((b) => b.type === 'tool_use');
      return { name: call.name, id: call.id, args: json, stop: final.stop_reason };
    },
    async toolResult(model, { messages, tools, id }, followUp) {
      const r = await anthropic().messages.create({
        model,
        max_tokens: 256,
        tools,
        tool_choice: { type: 'none' },
        messages: [...messages, { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: TOOL_RESULT }, { type: 'text', text: followUp }] }],
      });
      return { text: r.content.filter((b) => b.type === 'text').map((b) => b.text).join('') };
    },
    fail: (model, behavior) => anthropic().messages.create({ model, max_tokens: 16, messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-fake-behavior': behavior } }),
  },

  'google-genai models': {
    stops: { text: 'STOP', tool: 'STOP' },
    isStreamError: (e) => e instanceof ApiError,
    // Gemini's functionCall.id is optional: a Gemini upstream's calls pass through without one.
    idlessUpstream: 'gemini',
    rateLimitError: ApiError,
    async chat(model, text) {
      const r = await genai().models.generateContent({ model, contents: text });
      return { text: r.text, input: r.usageMetadata.promptTokenCount, output: r.usageMetadata.candidatesTokenCount, stop: r.candidates[0].finishReason };
    },
    async stream(model, text, headers) {
      let streamed = '';
      let last;
      for await (const chunk of await genai().models.generateContentStream({ model, contents: text, config: { httpOptions: { headers } } })) {
        streamed += chunk.text ?? '';
        last = chunk;
      }
      return { text: streamed, input: last.usageMetadata.promptTokenCount, output: last.usageMetadata.candidatesTokenCount, stop: last.candidates[0].finishReason };
    },
    async toolCall(model, text) {
      const contents = [{ role: 'user', parts: [{ text }] }];
      const tools = [{ functionDeclarations: [{ name: WEATHER.name, description: WEATHER.description, parametersJsonSchema: WEATHER.schema }] }];
      const r = await genai().models.generateContent({ model, contents, config: { tools } });
      const [call] = r.functionCalls;
      return { name: call.name, args: call.args, stop: r.candidates[0].finishReason, history: { contents: [...contents, r.candidates[0].content], tools, name: call.name } };
    },
    async streamToolCall(model, text) {
      const tools = [{ functionDeclarations: [{ name: WEATHER.name, description: WEATHER.description, parametersJsonSchema: WEATHER.schema }] }];
      const calls = [];
      let stop;
      for await (const chunk of await genai().models.generateContentStream({ model, contents: text, config: { tools } })) {
        calls.push(...(chunk.functionCalls ?? []));
        stop = chunk.candidates?.[0]?.finishReason ?? stop;
      }
      assert.equal(calls.length, 1, JSON.stringify(calls));
      return { name: calls[0].name, id: calls[0].id, args: JSON.stringify(calls[0].args), stop };
    },
    async toolResult(model, { contents, tools, name }, followUp) {
      const r = await genai().models.generateContent({
        model,
        contents: [...contents, { role: 'user', parts: [{ functionResponse: { name, response: { result: TOOL_RESULT } } }, { text: followUp }] }],
        config: { tools, toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.NONE } } },
      });
      return { text: r.text };
    },
    fail: (model, behavior) => genai().models.generateContent({ model, contents: 'x', config: { httpOptions: { headers: { 'x-fake-behavior': behavior } } } }),
  },
};

for (const [client, drive] of Object.entries(CLIENTS)) {
  for (const [upstream, u] of Object.entries(UPSTREAMS)) {
    const label = `${client} → ${upstream} upstream`;

    test(`${label}: plain and streamed turns give the exact echo and usage`, async () => {
      for (const [mode, run] of [['plain', drive.chat], ['stream', drive.stream]]) {
        const prompt = `tell me about ${mode} mode please`;
        const r = await run(u.chat, prompt);
        const expected = `echo: ${prompt}`;
        assert.deepEqual(
          { text: r.text, input: r.input, output: r.output, stop: r.stop },
          { text: expected, input: words(prompt), output: words(expected), stop: drive.stops.text },
          `${mode}`,
        );
        assert.match(lastUpstream(upstream).path, u.path, `${mode}: sent in the station's dialect`);
      }
    });

    test(`${label}: a streamed tool call is assembled by the SDK's stream helper`, async () => {
      const question = 'weather in Lyon';
      const call = await drive.streamToolCall(u.chat, question);
      assert.equal(call.name, WEATHER.name);
      if (drive.idlessUpstream === upstream) assert.equal(call.id, undefined);
      else assert.ok(typeof call.id === 'string' && call.id.length > 0, `a call id: ${call.id}`);
      assert.deepEqual(JSON.parse(call.args), { city: question }, `arguments JSON: ${call.args}`);
      assert.equal(call.stop, drive.stops.tool);
      assert.match(lastUpstream(upstream).path, u.path);
    });

    test(`${label}: a stream the upstream cuts mid-way is the SDK's error, not a short success`, async () => {
      const partial = await drive.stream(u.chat, 'a long answer that breaks off', { 'x-fake-behavior': 'cut-stream:2' }).then(
        (r) => assert.fail(`silently truncated: ${JSON.stringify(r)}`),
        (e) => e,
      );
      assert.ok(drive.isStreamError(partial), `${partial?.constructor?.name}: ${partial?.message}`);
      assert.match(String(partial.message), /interrupted|upstream|stream/i);
    });

    test(`${label}: a tool call, then its result sent back`, async () => {
      const question = 'weather in Paris';
      const call = await drive.toolCall(u.chat, question);
      assert.deepEqual({ name: call.name, args: call.args, stop: call.stop }, { name: WEATHER.name, args: { city: question }, stop: drive.stops.tool });
      const followUp = 'thanks now summarize';
      const answer = await drive.toolResult(u.chat, call.history, followUp);
      assert.equal(answer.text, `echo: ${followUp}`);
      const sent = JSON.stringify(lastUpstream(upstream).json);
      assert.ok(sent.includes(TOOL_RESULT), `the tool result reached the upstream: ${sent}`);
    });
  }
}

test('openai embeddings.create (base64 by default, and floats) against OpenAI and Gemini upstreams', async () => {
  const input = ['first text', 'second longer text'];
  for (const upstream of ['openai', 'gemini']) {
    const model = UPSTREAMS[upstream].embed;
    const decoded = await openai().embeddings.create({ model, input, dimensions: 4 });
    assert.equal(decoded.data.length, 2);
    for (const [i, text] of input.entries()) {
      assert.deepEqual(Array.from(decoded.data[i].embedding), embedText(text, 4), `${upstream} base64 item ${i}`);
      assert.equal(decoded.data[i].index, i);
    }
    const sent = lastUpstream(upstream);
    if (upstream === 'openai') assert.equal(sent.json.encoding_format, 'base64', 'passed through as the SDK sent it');
    else {
      assert.equal(sent.path, `/v1beta/models/${model}:batchEmbedContents`);
      assert.deepEqual(sent.json.requests.map((r) => [r.content.parts[0].text, r.outputDimensionality]), [[input[0], 4], [input[1], 4]]);
    }
    const floats = await openai().embeddings.create({ model, input: 'just floats', encoding_format: 'float' });
    assert.deepEqual(floats.data[0].embedding, embedText('just floats', 8), `${upstream} floats`);
    assert.ok(floats.usage.prompt_tokens > 0);
  }
});

test('google-genai embedContent (batch) and :embedContent (single) against Gemini and OpenAI upstreams', async () => {
  const contents = ['alpha beta', 'gamma'];
  for (const upstream of ['gemini', 'openai']) {
    const model = UPSTREAMS[upstream].embed;
    const r = await genai().models.embedContent({ model, contents, config: { outputDimensionality: 4 } });
    assert.deepEqual(r.embeddings.map((e) => e.values), contents.map((text) => embedText(text, 4)), upstream);
    const single = await fetch(`${ctx.gw.url}/v1beta/models/${model}:embedContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': ctx.key, 'content-type': 'application/json' },
      body: JSON.stringify({ content: { parts: [{ text: 'one alone' }] } }),
    });
    assert.equal(single.status, 200);
    assert.deepEqual(await single.json(), { embedding: { values: embedText('one alone', 8) } }, upstream);
  }
  const sent = lastUpstream('openai');
  assert.equal(sent.path, '/v1/embeddings');
  assert.deepEqual(sent.json, { model: UPSTREAMS.openai.embed, input: ['one alone'], encoding_format: 'float' });
});

// Last: a 429 puts the channel into cooldown (it is still tried, being the only one).
for (const [client, drive] of Object.entries(CLIENTS)) {
  test(`${client}: an upstream 429 from every dialect is the SDK's typed rate-limit error`, async () => {
    for (const [upstream, u] of Object.entries(UPSTREAMS)) {
      const error = await drive.fail(u.chat, 'rate-limit:7').then(
        () => assert.fail(`${upstream}: no error`),
        (e) => e,
      );
      assert.ok(error instanceof drive.rateLimitError, `${upstream}: ${error?.constructor?.name} ${error?.message}`);
      assert.equal(error.status, 429, upstream);
    }
  });
}
