// Self-test for the fake station's OpenAI endpoints beyond plain chat: chat tool calls and length
// stops, Responses (body, stored GET, stream event order), images, audio, rerank, moderations,
// video tasks, files, model-list shapes, dialect selection, and steering on these endpoints.
// Imported by fake-station.selftest.mjs.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { imageBytes, speechBytes } from './fake-station.mjs';
import { BINARY_SAMPLE, HELLO, anthropicHeaders, bearer, call, geminiHeaders, multipartBody, open, readChunks, readSseResponse, withStation } from './fake-selftest-helpers.mjs';

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

function post(station, path, body, headers = {}) {
  return call(station, path, { method: 'POST', headers: { ...bearer(station), ...headers }, body });
}

function postMultipart(station, path, parts, { boundary = 'fake-boundary-7MA4YWxk', headers = {} } = {}) {
  const body = multipartBody(boundary, parts);
  const result = call(station, path, {
    method: 'POST',
    headers: { ...bearer(station), 'content-type': `multipart/form-data; boundary=${boundary}`, ...headers },
    body,
  });
  return result.then((answer) => ({ ...answer, sent: body }));
}

describe('openai chat extras', () => {
  test('tools: tool_calls with finish_reason tool_calls; streamed as id+name first, then argument fragments', async () => {
    await withStation({}, async (station) => {
      const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Get the weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
      const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'weather in Paris' }], tools };
      const plain = await post(station, '/v1/chat/completions', body);
      const [choice] = plain.json.choices;
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.tool_calls.length, 1);
      assert.equal(choice.message.tool_calls[0].function.name, 'get_weather');
      assert.deepEqual(JSON.parse(choice.message.tool_calls[0].function.arguments), { city: 'weather in Paris' });
      assert.deepEqual(plain.json.usage, { prompt_tokens: 3 + 4, completion_tokens: 4 + 1 + 3, total_tokens: 15 });

      const { frames } = await readSseResponse(await open(station, '/v1/chat/completions', { headers: bearer(station), body: { ...body, stream: true } }));
      assert.equal(frames.at(-1).data, '[DONE]');
      const toolDeltas = frames.slice(0, -1).map((f) => f.json.choices[0]?.delta?.tool_calls?.[0]).filter(Boolean);
      assert.equal(toolDeltas[0].id.startsWith('call_'), true);
      assert.equal(toolDeltas[0].function.name, 'get_weather');
      assert.ok(toolDeltas.length >= 3);
      assert.ok(toolDeltas.slice(1).every((d) => d.index === 0 && d.id === undefined && d.function.name === undefined));
      assert.deepEqual(JSON.parse(toolDeltas.map((d) => d.function.arguments).join('')), { city: 'weather in Paris' });
      assert.equal(frames.at(-2).json.choices[0].finish_reason, 'tool_calls');
    });
  });

  test('max_tokens cuts the reply and finishes with length', async () => {
    await withStation({}, async (station) => {
      const { json } = await post(station, '/v1/chat/completions', { model: 'gpt-4o', max_tokens: 2, messages: [{ role: 'user', content: HELLO }] });
      assert.equal(json.choices[0].message.content, 'echo: hello');
      assert.equal(json.choices[0].finish_reason, 'length');
      assert.equal(json.usage.completion_tokens, 2);
    });
  });
});

describe('openai responses', () => {
  test('non-stream response with usage, stored and readable by GET; unknown id is 404', async () => {
    await withStation({}, async (station) => {
      const { status, json } = await post(station, '/v1/responses', { model: 'gpt-4o', instructions: 'be brief', input: HELLO });
      assert.equal(status, 200);
      assert.match(json.id, /^resp_/);
      assert.equal(json.object, 'response');
      assert.equal(json.status, 'completed');
      assert.equal(json.model, 'gpt-4o');
      assert.equal(json.output.length, 1);
      assert.equal(json.output[0].type, 'message');
      assert.deepEqual(json.output[0].content, [{ type: 'output_text', text: `echo: ${HELLO}`, annotations: [], logprobs: [] }]);
      assert.deepEqual(json.usage, { input_tokens: 6, input_tokens_details: { cached_tokens: 0 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 11 });

      const stored = await call(station, `/v1/responses/${json.id}`, { headers: bearer(station) });
      assert.deepEqual(stored.json, json);
      const missing = await call(station, '/v1/responses/resp_nope', { headers: bearer(station) });
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error.type, 'invalid_request_error');

      const unstored = await post(station, '/v1/responses', { model: 'gpt-4o', input: HELLO, store: false });
      assert.equal((await call(station, `/v1/responses/${unstored.json.id}`, { headers: bearer(station) })).status, 404);
    });
  });

  test('stream: the documented event sequence with sequence_number 0,1,2…; function call item when tools are given', async () => {
    await withStation({}, async (station) => {
      const tools = [{ type: 'function', name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } }];
      const input = [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: HELLO }] }];
      const response = await open(station, '/v1/responses', { headers: bearer(station), body: { model: 'gpt-4o', input, tools, stream: true } });
      const { frames, error } = await readSseResponse(response);
      assert.equal(error, undefined);
      const names = frames.map((f) => f.event);
      assert.deepEqual(names, [
        'response.created', 'response.in_progress',
        'response.output_item.added', 'response.content_part.added',
        ...Array(5).fill('response.output_text.delta'),
        'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
        'response.output_item.added',
        ...Array(names.filter((n) => n === 'response.function_call_arguments.delta').length).fill('response.function_call_arguments.delta'),
        'response.function_call_arguments.done', 'response.output_item.done',
        'response.completed',
      ]);
      assert.ok(names.filter((n) => n === 'response.function_call_arguments.delta').length >= 2);
      frames.forEach((frame, index) => {
        assert.equal(frame.json.type, frame.event);
        assert.equal(frame.json.sequence_number, index);
      });
      assert.equal(frames[0].json.response.status, 'in_progress');
      const text = frames.filter((f) => f.event === 'response.output_text.delta').map((f) => f.json.delta).join('');
      assert.equal(text, `echo: ${HELLO}`);
      const args = frames.filter((f) => f.event === 'response.function_call_arguments.delta').map((f) => f.json.delta).join('');
      assert.deepEqual(JSON.parse(args), { q: HELLO });
      const completed = frames.at(-1).json.response;
      assert.equal(completed.status, 'completed');
      assert.deepEqual(completed.output.map((item) => item.type), ['message', 'function_call']);
      assert.equal(completed.usage.total_tokens, completed.usage.input_tokens + completed.usage.output_tokens);
      assert.ok(!frames.some((f) => f.data === '[DONE]'), 'Responses streams have no [DONE]');
    });
  });

  test('max_output_tokens ends with response.incomplete', async () => {
    await withStation({}, async (station) => {
      const { frames } = await readSseResponse(await open(station, '/v1/responses', { headers: bearer(station), body: { model: 'gpt-4o', input: HELLO, max_output_tokens: 1, stream: true } }));
      assert.equal(frames.at(-1).event, 'response.incomplete');
      assert.deepEqual(frames.at(-1).json.response.incomplete_details, { reason: 'max_output_tokens' });
    });
  });
});

describe('openai media and files', () => {
  test('images/generations: url or b64_json with exact bytes; bad response_format is 400', async () => {
    await withStation({}, async (station) => {
      const urls = await post(station, '/v1/images/generations', { model: 'gpt-image-1', prompt: 'a red fox', n: 2 });
      assert.equal(urls.status, 200);
      assert.equal(urls.json.model, 'gpt-image-1');
      assert.equal(urls.json.data.length, 2);
      assert.ok(urls.json.data.every((image) => image.url.startsWith(`${station.url}/`)));
      assert.equal(urls.json.usage.input_tokens, 3);

      const encoded = await post(station, '/v1/images/generations', { model: 'gpt-image-1', prompt: 'a red fox', response_format: 'b64_json' });
      assert.deepEqual(Buffer.from(encoded.json.data[0].b64_json, 'base64'), imageBytes('a red fox', 0));

      const bad = await post(station, '/v1/images/generations', { model: 'gpt-image-1', prompt: 'x', response_format: 'gif' });
      assert.equal(bad.status, 400);
    });
  });

  test('images/edits: multipart parsed for real; echoes sha256 of the raw body and the parts; wrong boundary is 400', async () => {
    await withStation({}, async (station) => {
      const parts = [
        { name: 'model', value: 'gpt-image-1' },
        { name: 'prompt', value: 'add a hat' },
        { name: 'image', filename: 'cat.png', type: 'image/png', data: BINARY_SAMPLE },
      ];
      const edited = await postMultipart(station, '/v1/images/edits', parts);
      assert.equal(edited.status, 200, edited.text);
      assert.equal(edited.json.sha256, sha256(edited.sent));
      assert.equal(edited.headers.get('x-fake-body-sha256'), sha256(edited.sent));
      assert.deepEqual(edited.json.parts, [
        { name: 'model', size: 11 },
        { name: 'prompt', size: 9 },
        { name: 'image', filename: 'cat.png', content_type: 'image/png', size: BINARY_SAMPLE.length },
      ]);
      assert.equal(edited.json.model, 'gpt-image-1');
      assert.equal(edited.headers.get('x-fake-model'), 'gpt-image-1');

      const wrongBoundary = await call(station, '/v1/images/edits', {
        method: 'POST',
        headers: { ...bearer(station), 'content-type': 'multipart/form-data; boundary=other' },
        body: multipartBody('fake-boundary-7MA4YWxk', parts),
      });
      assert.equal(wrongBoundary.status, 400);
      assert.match(wrongBoundary.json.error.message, /multipart/);

      const unterminated = multipartBody('fake-boundary-7MA4YWxk', parts).subarray(0, -30);
      const truncated = await call(station, '/v1/images/edits', {
        method: 'POST',
        headers: { ...bearer(station), 'content-type': 'multipart/form-data; boundary=fake-boundary-7MA4YWxk' },
        body: unterminated,
      });
      assert.equal(truncated.status, 400);
      assert.match(truncated.json.error.message, /closing boundary not found/);

      const noImage = await postMultipart(station, '/v1/images/edits', parts.slice(0, 2));
      assert.equal(noImage.status, 400);
      assert.match(noImage.json.error.message, /image is required/);
    });
  });

  test('images/edits through the platform FormData encoder', async () => {
    await withStation({}, async (station) => {
      const form = new FormData();
      form.append('model', 'gpt-image-1');
      form.append('prompt', 'add a hat');
      form.append('image[]', new Blob([BINARY_SAMPLE], { type: 'image/png' }), 'cat.png');
      const response = await fetch(`${station.url}/v1/images/edits`, { method: 'POST', headers: bearer(station), body: form });
      const json = await response.json();
      assert.equal(response.status, 200);
      assert.equal(json.sha256, sha256(station.requests.at(-1).body));
      assert.deepEqual(json.parts.map((part) => [part.name, part.size]), [['model', 11], ['prompt', 9], ['image[]', BINARY_SAMPLE.length]]);
    });
  });

  test('audio/transcriptions: every response_format with its Content-Type', async () => {
    await withStation({}, async (station) => {
      const parts = (format) => [
        { name: 'file', filename: 'talk.mp3', type: 'audio/mpeg', data: BINARY_SAMPLE },
        { name: 'model', value: 'whisper-1' },
        ...(format ? [{ name: 'response_format', value: format }] : []),
      ];
      const expectedText = `transcript of talk.mp3 (512 bytes, sha256 ${sha256(BINARY_SAMPLE).slice(0, 16)})`;

      const json = await postMultipart(station, '/v1/audio/transcriptions', parts());
      assert.equal(json.status, 200, json.text);
      assert.equal(json.json.text, expectedText);
      assert.deepEqual(json.json.usage, { type: 'duration', seconds: 1 });
      assert.equal(json.json.sha256, sha256(json.sent));

      const text = await postMultipart(station, '/v1/audio/transcriptions', parts('text'));
      assert.equal(text.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.equal(text.text, `${expectedText}\n`);
      assert.equal(text.headers.get('x-fake-body-sha256'), sha256(text.sent));

      const srt = await postMultipart(station, '/v1/audio/transcriptions', parts('srt'));
      assert.equal(srt.headers.get('content-type'), 'application/x-subrip');
      assert.equal(srt.text, `1\n00:00:00,000 --> 00:00:01,000\n${expectedText}\n\n`);

      const vtt = await postMultipart(station, '/v1/audio/transcriptions', parts('vtt'));
      assert.equal(vtt.headers.get('content-type'), 'text/vtt');
      assert.equal(vtt.text, `WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n${expectedText}\n\n`);

      const verbose = await postMultipart(station, '/v1/audio/transcriptions', parts('verbose_json'));
      assert.equal(verbose.json.task, 'transcribe');
      assert.equal(verbose.json.segments[0].text, expectedText);

      const noFile = await postMultipart(station, '/v1/audio/transcriptions', parts().slice(1));
      assert.equal(noFile.status, 400);
      const badFormat = await postMultipart(station, '/v1/audio/transcriptions', parts('xml'));
      assert.equal(badFormat.status, 400);
    });
  });

  test('audio/speech: audio/mpeg bytes derived from the input, with 0x00 and high bytes', async () => {
    await withStation({}, async (station) => {
      const { status, headers, bytes } = await post(station, '/v1/audio/speech', { model: 'tts-1', input: 'say this', voice: 'alloy' });
      assert.equal(status, 200);
      assert.equal(headers.get('content-type'), 'audio/mpeg');
      assert.deepEqual(bytes, speechBytes('say this'));
      assert.ok(bytes.includes(0x00) && bytes.some((byte) => byte >= 0x80));
      assert.notDeepEqual(speechBytes('say that'), bytes);
      const missingVoice = await post(station, '/v1/audio/speech', { model: 'tts-1', input: 'x' });
      assert.equal(missingVoice.status, 400);
    });
  });

  test('rerank and moderations', async () => {
    await withStation({}, async (station) => {
      const documents = ['cats sleep a lot', 'the fox jumps', { text: 'a quick brown fox jumps' }];
      const ranked = await post(station, '/v1/rerank', { model: 'jina-reranker-v2-base-multilingual', query: 'quick fox jumps', documents, top_n: 2 });
      assert.equal(ranked.json.model, 'jina-reranker-v2-base-multilingual');
      assert.deepEqual(ranked.json.results.map((r) => r.index), [2, 1]);
      assert.deepEqual(ranked.json.results[0].document, { text: 'a quick brown fox jumps' });
      assert.ok(ranked.json.results[0].relevance_score > ranked.json.results[1].relevance_score);
      assert.deepEqual(ranked.json.usage, { prompt_tokens: 3 * 3 + 4 + 3 + 5, total_tokens: 21 });

      const moderated = await post(station, '/v1/moderations', { input: ['I will kill the process', 'hello'] });
      assert.equal(moderated.json.model, 'omni-moderation-latest');
      assert.equal(moderated.json.results[0].flagged, true);
      assert.equal(moderated.json.results[0].categories.violence, true);
      assert.equal(moderated.json.results[1].flagged, false);
      assert.equal((await post(station, '/v1/moderations', { model: 'omni-moderation-latest' })).status, 400);
    });
  });

  test('video task: queued, then in_progress, then completed; unknown id is 404', async () => {
    await withStation({}, async (station) => {
      const created = await post(station, '/v1/video/generations', { model: 'sora-2', prompt: 'a fox running' });
      assert.equal(created.json.status, 'queued');
      assert.equal(created.json.model, 'sora-2');
      const poll = () => call(station, `/v1/video/generations/${created.json.id}`, { headers: bearer(station) });
      const first = await poll();
      assert.deepEqual([first.json.status, first.json.progress], ['in_progress', 50]);
      const second = await poll();
      assert.deepEqual([second.json.status, second.json.progress], ['completed', 100]);
      assert.ok(second.json.url);
      assert.equal((await call(station, '/v1/video/generations/video_nope', { headers: bearer(station) })).status, 404);
    });
  });

  test('files: upload, list, get, exact content, delete; ids differ between stations; unknown id is 404', async () => {
    await withStation({}, async (station) => {
      await withStation({}, async (other) => {
        const parts = [{ name: 'purpose', value: 'batch' }, { name: 'file', filename: 'data.jsonl', type: 'application/jsonl', data: BINARY_SAMPLE }];
        const uploaded = await postMultipart(station, '/v1/files', parts);
        assert.equal(uploaded.status, 200, uploaded.text);
        const file = uploaded.json;
        assert.match(file.id, /^file-/);
        assert.deepEqual([file.object, file.bytes, file.filename, file.purpose], ['file', 512, 'data.jsonl', 'batch']);
        const elsewhere = await postMultipart(other, '/v1/files', parts);
        assert.notEqual(elsewhere.json.id, file.id);
        assert.ok(file.id.includes(String(station.port)));

        const listed = await call(station, '/v1/files', { headers: bearer(station) });
        assert.deepEqual(listed.json.data.map((f) => f.id), [file.id]);
        const meta = await call(station, `/v1/files/${file.id}`, { headers: bearer(station) });
        assert.equal(meta.json.bytes, 512);
        const content = await call(station, `/v1/files/${file.id}/content`, { headers: bearer(station) });
        assert.deepEqual(content.bytes, BINARY_SAMPLE);

        const foreign = await call(other, `/v1/files/${file.id}`, { headers: bearer(other) });
        assert.equal(foreign.status, 404);
        assert.deepEqual(foreign.json.error, { message: `No such File object: ${file.id}`, type: 'invalid_request_error', param: 'id', code: null });

        const deleted = await call(station, `/v1/files/${file.id}`, { method: 'DELETE', headers: bearer(station) });
        assert.deepEqual(deleted.json, { id: file.id, object: 'file', deleted: true });
        assert.equal((await call(station, `/v1/files/${file.id}/content`, { headers: bearer(station) })).status, 404);

        const noPurpose = await postMultipart(station, '/v1/files', parts.slice(1));
        assert.equal(noPurpose.status, 400);
      });
    });
  });
});

describe('model lists, dialect selection and steering on every endpoint', () => {
  test('GET /v1/models shape follows the headers like New API', async () => {
    await withStation({}, async (station) => {
      const openaiShape = await call(station, '/v1/models', { headers: bearer(station) });
      assert.equal(openaiShape.json.object, 'list');
      const anthropicShape = await call(station, '/v1/models', { headers: anthropicHeaders(station) });
      assert.equal(anthropicShape.json.data[0].type, 'model');
      assert.equal(anthropicShape.json.has_more, false);
      assert.equal(anthropicShape.json.first_id, station.state.models[0]);
      const geminiShape = await call(station, '/v1/models', { headers: geminiHeaders(station) });
      assert.equal(geminiShape.json.models[0].name, `models/${station.state.models[0]}`);
    });
  });

  test('dialects option: a station that only speaks Anthropic answers 404 elsewhere', async () => {
    await withStation({ dialects: ['anthropic'] }, async (station) => {
      assert.deepEqual(station.state.dialects, ['anthropic']);
      const body = { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
      assert.equal((await call(station, '/v1/messages', { method: 'POST', headers: anthropicHeaders(station), body })).status, 200);
      const chat = await post(station, '/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(chat.status, 404);
      assert.equal(chat.json.error.message, 'Invalid URL (POST /v1/chat/completions)');
      const gemini = await call(station, '/v1beta/models/gemini-2.5-flash:generateContent', { method: 'POST', headers: geminiHeaders(station), body: { contents: [{ parts: [{ text: 'hi' }] }] } });
      assert.equal(gemini.status, 404);
      assert.equal((await call(station, '/v1/models', { headers: anthropicHeaders(station) })).status, 200);
      assert.equal((await call(station, '/v1/models', { headers: bearer(station) })).status, 404);
    });
  });

  test('steering reaches media endpoints and Responses; unknown relay keys are rejected', async () => {
    await withStation({}, async (station) => {
      const failed = await post(station, '/v1/images/generations', { model: 'gpt-image-1', prompt: 'x' }, { 'x-fake-behavior': 'error-500' });
      assert.equal(failed.status, 500);
      assert.equal(failed.json.error.type, 'new_api_error');
      const limited = await post(station, '/v1/responses', { model: 'fake-429', input: 'x' });
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '7');
      const speech = await fetch(`${station.url}/v1/audio/speech`, {
        method: 'POST',
        headers: { ...bearer(station), 'content-type': 'application/json', 'x-fake-behavior': 'cut-stream' },
        body: JSON.stringify({ model: 'tts-1', input: 'x', voice: 'alloy' }),
      });
      assert.equal(speech.status, 200);
      await assert.rejects(speech.arrayBuffer(), 'the binary body is cut short');
      const badKey = await call(station, '/v1/embeddings', { method: 'POST', headers: { authorization: 'Bearer sk-nope' }, body: { model: 'gpt-4o', input: 'x' } });
      assert.equal(badKey.status, 401);
    });
  });

  test('silent-stream: first event, a silent gap, then the rest', async () => {
    await withStation({}, async (station) => {
      const response = await open(station, '/v1/messages', {
        headers: anthropicHeaders(station, { 'x-fake-behavior': 'silent-stream:250' }),
        body: { model: 'claude-sonnet-4-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: HELLO }] },
      });
      const { frames, arrivals, error } = await readSseResponse(response);
      assert.equal(error, undefined);
      assert.equal(frames[0].event, 'message_start');
      assert.equal(frames.at(-1).event, 'message_stop');
      assert.ok(arrivals.length >= 2);
      assert.ok(arrivals[1] - arrivals[0] >= 240, `gap was ${arrivals[1] - arrivals[0]} ms`);
      assert.ok(arrivals.at(-1) - arrivals[1] < 200, 'the rest follows without pauses');
    });
  });

  test('cut-stream on a Responses stream stops before response.completed', async () => {
    await withStation({}, async (station) => {
      const cut = await readSseResponse(await open(station, '/v1/responses', { headers: { ...bearer(station), 'x-fake-behavior': 'cut-stream:3' }, body: { model: 'gpt-4o', input: HELLO, stream: true } }));
      assert.ok(cut.error);
      assert.deepEqual(cut.frames.map((f) => f.event), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    });
  });

  test('bad-json on a non-stream Anthropic answer is a truncated 200 body', async () => {
    await withStation({}, async (station) => {
      const { text, json, status } = await call(station, '/v1/messages', {
        method: 'POST',
        headers: anthropicHeaders(station),
        body: { model: 'fake-bad-json', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
      });
      assert.equal(status, 200);
      assert.ok(text.startsWith('{"id":"msg_'));
      assert.equal(json, undefined);
      const chunks = await readChunks(await open(station, '/v1/chat/completions', { headers: { ...bearer(station), 'x-fake-behavior': 'slow-first-byte:50' }, body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true } }));
      assert.ok(chunks.text.endsWith('data: [DONE]\n\n'));
    });
  });
});

test('legacy completions: text_completion body, and a stream ending in [DONE]', async () => {
  await withStation({}, async (station) => {
    const plain = await call(station, '/v1/completions', { method: 'POST', headers: bearer(station), body: { model: 'gpt-4o-mini', prompt: 'say three words' } });
    assert.equal(plain.status, 200);
    assert.equal(plain.json.object, 'text_completion');
    assert.equal(plain.json.choices[0].finish_reason, 'stop');
    assert.equal(plain.json.usage.prompt_tokens, 3);
    const streamed = await readSseResponse(await open(station, '/v1/completions', { headers: bearer(station), body: { model: 'gpt-4o-mini', prompt: 'x', stream: true, stream_options: { include_usage: true } } }));
    assert.equal(streamed.frames.at(-1).data, '[DONE]');
    assert.equal(JSON.parse(streamed.frames.at(-2).data).usage.prompt_tokens, 1);
    const missing = await call(station, '/v1/completions', { method: 'POST', headers: bearer(station), body: { model: 'gpt-4o-mini' } });
    assert.equal(missing.status, 400);
  });
});
