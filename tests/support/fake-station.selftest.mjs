// Self-test for tests/support/fake-station.mjs: checks that the fake New API panel answers like the
// real one (management API, relay API) and that every steering mode and close() behave as promised.
// The Anthropic/Gemini and OpenAI media suites live in the imported fake-*.selftest.mjs files.
// Run: node --test tests/support/fake-station.selftest.mjs

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeStation, STEERING_MODELS } from './fake-station.mjs';
import { call, withStation } from './fake-selftest-helpers.mjs';
import './fake-dialects.selftest.mjs';
import './fake-openai.selftest.mjs';

// Management call authenticated with the access token and the New-Api-User header.
function manage(station, path, options = {}) {
  const headers = { authorization: `Bearer ${station.state.accessToken}`, 'new-api-user': String(station.state.userId) };
  return call(station, path, { ...options, headers: { ...headers, ...options.headers } });
}

function relayHeaders(station, extra = {}) {
  return { authorization: `Bearer sk-${station.state.tokens[0].key}`, ...extra };
}

function chat(station, body, extraHeaders = {}) {
  return call(station, '/v1/chat/completions', { method: 'POST', headers: relayHeaders(station, extraHeaders), body });
}

function chatRequest(model, extra = {}) {
  return { model, messages: [{ role: 'user', content: 'hello there fake station' }], ...extra };
}

// Reads an SSE response chunk by chunk: data payloads, arrival times, and the stream error if it broke.
async function readSse(response) {
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  const result = { data: [], arrivals: [], error: undefined };
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      result.arrivals.push(Date.now());
      buffer += decoder.decode(value, { stream: true });
      const events = buffer.split('\n\n');
      buffer = events.pop();
      for (const event of events) result.data.push(event.replace(/^data: /, ''));
    }
  } catch (error) {
    result.error = error;
  }
  return result;
}

function streamChat(station, body, extraHeaders = {}) {
  return fetch(`${station.url}/v1/chat/completions`, {
    method: 'POST',
    headers: relayHeaders(station, { 'content-type': 'application/json', ...extraHeaders }),
    body: JSON.stringify({ ...body, stream: true }),
  });
}

function contentOf(events) {
  return events
    .filter((data) => data !== '[DONE]')
    .map((data) => JSON.parse(data))
    .map((chunk) => chunk.choices[0]?.delta?.content ?? '')
    .join('');
}

describe('management API', () => {
  test('GET /api/status: current and legacy shapes', async () => {
    await withStation({}, async (station) => {
      const { status, json } = await call(station, '/api/status');
      assert.equal(status, 200);
      assert.equal(json.success, true);
      assert.equal(json.data.system_name, 'New API');
      assert.equal(json.data.quota_per_unit, 500000);
      assert.equal(json.data.checkin_enabled, true);
      assert.equal(json.data.turnstile_check, false);
      assert.equal(json.data.quota_display_type, 'USD');
      assert.equal(typeof json.data.version, 'string');
    });
    await withStation({ legacy: true }, async (station) => {
      const { json } = await call(station, '/api/status');
      assert.equal('checkin_enabled' in json.data, false);
      assert.equal('quota_display_type' in json.data, false);
      assert.equal(json.data.price, 7.3);
      assert.equal(json.data.min_topup, 1);
      assert.equal(json.data.enable_online_topup, false);
    });
  });

  test('auth errors: no credential, bad token, New-Api-User missing / malformed / mismatched', async () => {
    await withStation({}, async (station) => {
      const none = await call(station, '/api/user/self');
      assert.equal(none.status, 401);
      assert.deepEqual(none.json, { success: false, message: '无权进行此操作，未登录且未提供 access token' });

      const bad = await call(station, '/api/user/self', { headers: { authorization: 'wrong', 'new-api-user': '42' } });
      assert.equal(bad.status, 200);
      assert.deepEqual(bad.json, { success: false, message: '无权进行此操作，access token 无效' });

      const missing = await call(station, '/api/user/self', { headers: { authorization: 'fake-access-token' } });
      assert.equal(missing.status, 401);
      assert.match(missing.json.message, /未提供 New-Api-User/);

      const malformed = await manage(station, '/api/user/self', { headers: { 'new-api-user': 'abc' } });
      assert.equal(malformed.status, 401);
      assert.match(malformed.json.message, /New-Api-User 格式错误/);

      const mismatch = await manage(station, '/api/token/', { headers: { 'new-api-user': '7' } });
      assert.equal(mismatch.status, 401);
      assert.match(mismatch.json.message, /New-Api-User 与登录用户不匹配/);

      const raw = await call(station, '/api/user/self', { headers: { Authorization: 'fake-access-token', 'New-Api-User': '42' } });
      assert.equal(raw.json.success, true, 'token without "Bearer " and mixed-case header names work');
    });
  });

  test('GET /api/user/self, models, groups and pricing', async () => {
    await withStation({}, async (station) => {
      const self = await manage(station, '/api/user/self');
      assert.equal(self.json.success, true);
      assert.equal(self.json.data.id, 42);
      assert.equal(self.json.data.username, 'alice');
      assert.equal(self.json.data.quota, 2500000);
      assert.equal(self.json.data.used_quota, 500000);
      assert.equal(self.json.data.group, 'default');

      const models = await manage(station, '/api/user/models');
      assert.deepEqual(models.json.data.slice(0, 2), ['gpt-4o-mini', 'gpt-4o']);
      for (const model of Object.keys(STEERING_MODELS)) assert.ok(models.json.data.includes(model), model);

      const groups = await manage(station, '/api/user/self/groups');
      assert.equal(groups.json.data.default.ratio, 1);

      const pricing = await call(station, '/api/pricing');
      assert.equal(pricing.json.success, true);
      assert.deepEqual(pricing.json.data.map((entry) => entry.model_name), models.json.data);
      assert.equal(pricing.json.group_ratio.default, 1);
      assert.equal(pricing.json.usable_group.default, '默认分组');
    });
  });

  test('token list, current mode: 1-based p (p=0 == p=1), page_size/ps/size, max 100, masked keys', async () => {
    await withStation({ tokens: 27 }, async (station) => {
      const first = await manage(station, '/api/token/?p=1&size=10');
      assert.equal(first.json.success, true);
      assert.deepEqual(Object.keys(first.json.data).sort(), ['items', 'page', 'page_size', 'total']);
      assert.equal(first.json.data.total, 27);
      assert.equal(first.json.data.page_size, 10);

      const zero = await manage(station, '/api/token/?p=0&size=10');
      assert.deepEqual(zero.json.data.items.map((t) => t.id), first.json.data.items.map((t) => t.id));

      const ids = [];
      for (const page of [1, 2, 3]) {
        const { json } = await manage(station, `/api/token/?p=${page}&page_size=10`);
        assert.equal(json.data.page, page);
        assert.equal(json.data.items.length, page === 3 ? 7 : 10);
        ids.push(...json.data.items.map((t) => t.id));
      }
      assert.equal(new Set(ids).size, 27);
      assert.equal((await manage(station, '/api/token/?p=4&ps=10')).json.data.items.length, 0);
      assert.equal((await manage(station, '/api/token/?p=1&size=500')).json.data.page_size, 100);

      for (const token of first.json.data.items) {
        assert.match(token.key, /^[A-Za-z0-9]{4}\*{10}[A-Za-z0-9]{4}$/);
        assert.equal(token.user_id, 42);
        assert.equal(token.status, 1);
      }
    });
  });

  test('token list, legacy mode: plain array, 0-based p, full keys, no /key endpoint', async () => {
    await withStation({ legacy: true, tokens: 27 }, async (station) => {
      const pages = [];
      for (const page of [0, 1, 2]) pages.push((await manage(station, `/api/token/?p=${page}&size=10`)).json.data);
      assert.ok(pages.every(Array.isArray));
      assert.deepEqual(pages.map((items) => items.length), [10, 10, 7]);
      assert.equal(new Set(pages.flat().map((t) => t.id)).size, 27);
      const fullKeys = new Set(station.state.tokens.map((t) => t.key));
      for (const token of pages.flat()) assert.ok(fullKeys.has(token.key));

      const keyCall = await manage(station, '/api/token/1/key', { method: 'POST' });
      assert.equal(keyCall.status, 404);
    });
  });

  test('full keys via POST /api/token/:id/key and /api/token/batch/keys', async () => {
    await withStation({ tokens: 3 }, async (station) => {
      const [token] = station.state.tokens;
      const single = await manage(station, `/api/token/${token.id}/key`, { method: 'POST' });
      assert.deepEqual(single.json, { success: true, message: '', data: { key: token.key } });
      assert.match(token.key, /^[A-Za-z0-9]{48}$/);

      const ids = station.state.tokens.map((t) => t.id);
      const batch = await manage(station, '/api/token/batch/keys', { method: 'POST', body: { ids } });
      assert.deepEqual(batch.json.data.keys, Object.fromEntries(station.state.tokens.map((t) => [String(t.id), t.key])));
    });
  });

  test('CriticalRateLimit: 20 login and key-reveal calls per 20 minutes, then a bare 429', async () => {
    await withStation({ tokens: 2 }, async (station) => {
      const [token] = station.state.tokens;
      const login = await call(station, '/api/user/login', { method: 'POST', body: { username: 'alice', password: 'secret' } });
      assert.equal(login.json.success, true);
      for (let i = 0; i < 18; i += 1) assert.equal((await manage(station, `/api/token/${token.id}/key`, { method: 'POST' })).status, 200);
      assert.equal((await manage(station, '/api/token/batch/keys', { method: 'POST', body: { ids: [token.id] } })).status, 200);
      const limited = await manage(station, `/api/token/${token.id}/key`, { method: 'POST' });
      assert.equal(limited.status, 429);
      assert.equal(limited.text, '');
      assert.equal((await manage(station, '/api/token/batch/keys', { method: 'POST', body: { ids: [token.id] } })).status, 429);
      assert.equal((await call(station, '/api/user/login', { method: 'POST', body: { username: 'alice', password: 'secret' } })).status, 429);
      // Other management routes are not limited; an unauthenticated reveal fails auth first.
      assert.equal((await manage(station, '/api/user/self')).status, 200);
      assert.equal((await call(station, `/api/token/${token.id}/key`, { method: 'POST' })).status, 401);
    });
    await withStation({ tokens: 1, batchKeys: false }, async (station) => {
      assert.equal((await manage(station, '/api/token/batch/keys', { method: 'POST', body: { ids: [1] } })).status, 404);
    });
  });

  test('POST /api/token/ returns no key; name length and token limit are enforced', async () => {
    await withStation({ tokens: 1, tokenLimit: 2 }, async (station) => {
      const body = { name: 'gateway', remain_quota: 0, unlimited_quota: true, expired_time: -1, model_limits_enabled: false, model_limits: '', allow_ips: '', group: '' };
      const created = await manage(station, '/api/token/', { method: 'POST', body });
      assert.deepEqual(created.json, { success: true, message: '' });
      const token = station.state.tokens.at(-1);
      assert.equal(token.name, 'gateway');
      const models = await call(station, '/v1/models', { headers: { authorization: `Bearer sk-${token.key}` } });
      assert.equal(models.status, 200, 'the new token works on the relay');

      const tooLong = await manage(station, '/api/token/', { method: 'POST', body: { ...body, name: 'x'.repeat(51) } });
      assert.equal(tooLong.json.success, false);

      const capped = await manage(station, '/api/token/', { method: 'POST', body });
      assert.deepEqual(capped.json, { success: false, message: '已达到最大令牌数量限制 (2)' });
    });
  });

  test('a token created without expired_time/unlimited_quota gets Go zero values and is unusable', async () => {
    await withStation({}, async (station) => {
      await manage(station, '/api/token/', { method: 'POST', body: { name: 'bare' } });
      const token = station.state.tokens.at(-1);
      assert.equal(token.expired_time, 0);
      assert.equal(token.unlimited_quota, false);
      const models = await call(station, '/v1/models', { headers: { authorization: `Bearer sk-${token.key}` } });
      assert.equal(models.status, 401);
    });
  });

  test('check-in: first call awards quota, second is 今日已签到; status; disabled; legacy 404', async () => {
    await withStation({}, async (station) => {
      const first = await manage(station, '/api/user/checkin', { method: 'POST' });
      assert.equal(first.json.success, true);
      assert.equal(first.json.message, '签到成功');
      assert.equal(first.json.data.quota_awarded, 250000);
      assert.match(first.json.data.checkin_date, /^\d{4}-\d{2}-\d{2}$/);
      assert.equal(station.state.quota, 2750000);

      const second = await manage(station, '/api/user/checkin', { method: 'POST' });
      assert.deepEqual(second.json, { success: false, message: '今日已签到' });

      const month = first.json.data.checkin_date.slice(0, 7);
      const status = await manage(station, `/api/user/checkin?month=${month}`);
      assert.equal(status.json.data.stats.checked_in_today, true);
      assert.equal(status.json.data.stats.checkin_count, 1);

      station.state.checkinEnabled = false;
      const disabled = await manage(station, '/api/user/checkin', { method: 'POST' });
      assert.deepEqual(disabled.json, { success: false, message: '签到功能未启用' });
    });
    await withStation({ legacy: true }, async (station) => {
      const missing = await manage(station, '/api/user/checkin', { method: 'POST' });
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error.message, 'Invalid URL (POST /api/user/checkin)');
    });
  });

  test('check-in with Turnstile on needs ?turnstile=', async () => {
    await withStation({ turnstile: true }, async (station) => {
      const blocked = await manage(station, '/api/user/checkin', { method: 'POST' });
      assert.deepEqual(blocked.json, { success: false, message: 'Turnstile token 为空' });
      const passed = await manage(station, '/api/user/checkin?turnstile=cf-token', { method: 'POST' });
      assert.equal(passed.json.success, true);
    });
    await withStation({ turnstile: true }, async (station) => {
      const credentials = { username: 'alice', password: 'secret' };
      const blocked = await call(station, '/api/user/login', { method: 'POST', body: credentials });
      assert.deepEqual(blocked.json, { success: false, message: 'Turnstile token 为空' });
      const login = await call(station, '/api/user/login?turnstile=cf-token', { method: 'POST', body: credentials });
      const cookie = login.headers.get('set-cookie').split(';')[0];
      const checkin = await call(station, '/api/user/checkin', { method: 'POST', headers: { cookie, 'new-api-user': '42' } });
      assert.equal(checkin.json.success, true, 'a session that passed Turnstile at login needs no new token');
    });
  });

  test('login sets a session cookie; GET /api/user/token rotates the access token', async () => {
    await withStation({}, async (station) => {
      const wrong = await call(station, '/api/user/login', { method: 'POST', body: { username: 'alice', password: 'nope' } });
      assert.deepEqual(wrong.json, { success: false, message: '用户名或密码错误，或用户已被封禁' });

      const login = await call(station, '/api/user/login', { method: 'POST', body: { username: 'alice', password: 'secret' } });
      assert.equal(login.json.success, true);
      assert.equal(login.json.data.id, 42);
      const setCookie = login.headers.get('set-cookie');
      assert.match(setCookie, /^session=[^;]+; Path=\/;.*HttpOnly/);
      const cookie = setCookie.split(';')[0];

      const noUser = await call(station, '/api/user/self', { headers: { cookie } });
      assert.equal(noUser.status, 401);
      const self = await call(station, '/api/user/self', { headers: { cookie, 'new-api-user': '42' } });
      assert.equal(self.json.data.username, 'alice');

      const rotated = await call(station, '/api/user/token', { headers: { cookie, 'new-api-user': '42' } });
      assert.equal(typeof rotated.json.data, 'string');
      assert.notEqual(rotated.json.data, 'fake-access-token');
      const old = await call(station, '/api/user/self', { headers: { authorization: 'fake-access-token', 'new-api-user': '42' } });
      assert.equal(old.json.success, false);
      const fresh = await call(station, '/api/user/self', { headers: { authorization: rotated.json.data, 'new-api-user': '42' } });
      assert.equal(fresh.json.success, true);
    });
  });

  test('unknown /api and /v1 paths answer 404 Invalid URL', async () => {
    await withStation({}, async (station) => {
      const api = await manage(station, '/api/nothing/here');
      assert.equal(api.status, 404);
      assert.deepEqual(api.json, { error: { message: 'Invalid URL (GET /api/nothing/here)', type: 'invalid_request_error', param: '', code: '' } });
      const v1 = await call(station, '/v1/nothing', { method: 'POST', headers: relayHeaders(station) });
      assert.equal(v1.status, 404);
      assert.equal(v1.json.error.message, 'Invalid URL (POST /v1/nothing)');
    });
  });
});

describe('relay API', () => {
  test('GET /v1/models lists every model; key with or without sk-; bad key is 401', async () => {
    await withStation({}, async (station) => {
      const models = await call(station, '/v1/models', { headers: relayHeaders(station) });
      assert.equal(models.json.success, true);
      assert.equal(models.json.object, 'list');
      assert.deepEqual(models.json.data.map((m) => m.id), station.state.models);
      assert.deepEqual(models.json.data[0].supported_endpoint_types, ['openai']);

      const bare = await call(station, '/v1/models', { headers: { authorization: `Bearer ${station.state.tokens[0].key}` } });
      assert.equal(bare.status, 200);

      const bad = await call(station, '/v1/models', { headers: { authorization: 'Bearer sk-nope' } });
      assert.equal(bad.status, 401);
      assert.match(bad.json.error.message, /^无效的令牌 \(request id: \w+\)$/);
      assert.equal(bad.json.error.type, 'new_api_error');

      station.state.tokens[0].status = 2;
      assert.equal((await call(station, '/v1/models', { headers: relayHeaders(station) })).status, 401);
    });
  });

  test('non-stream chat completion echoes the last user message with deterministic usage', async () => {
    await withStation({}, async (station) => {
      const { status, json } = await chat(station, chatRequest('gpt-4o-mini'));
      assert.equal(status, 200);
      assert.equal(json.object, 'chat.completion');
      assert.equal(json.model, 'gpt-4o-mini');
      assert.equal(json.choices[0].message.content, 'echo: hello there fake station');
      assert.equal(json.choices[0].finish_reason, 'stop');
      assert.deepEqual(json.usage, { prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
      assert.ok(station.state.quota < 2500000 && station.state.usedQuota > 500000, 'the call is billed');
    });
  });

  test('stream: role chunk, 5 content chunks, stop, usage when asked, [DONE]', async () => {
    await withStation({}, async (station) => {
      const response = await streamChat(station, chatRequest('gpt-4o', { stream_options: { include_usage: true } }));
      assert.equal(response.headers.get('content-type'), 'text/event-stream');
      const { data, error } = await readSse(response);
      assert.equal(error, undefined);
      assert.equal(data.at(-1), '[DONE]');
      const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
      assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
      assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
      assert.equal(chunks[0].choices[0].delta.role, 'assistant');
      assert.equal(chunks.length, 1 + 5 + 1 + 1);
      assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
      assert.deepEqual(chunks.at(-1).choices, []);
      assert.equal(chunks.at(-1).usage.total_tokens, 9);
      assert.ok(chunks.slice(0, -1).every((c) => c.usage === null), 'the other chunks carry usage: null');
      assert.equal(contentOf(data), 'echo: hello there fake station');

      const plain = await readSse(await streamChat(station, chatRequest('gpt-4o')));
      assert.ok(plain.data.slice(0, -1).every((d) => !('usage' in JSON.parse(d))), 'no usage unless asked');
    });
    await withStation({ includeUsageAlways: true }, async (station) => {
      const { data } = await readSse(await streamChat(station, chatRequest('gpt-4o')));
      assert.ok(JSON.parse(data.at(-2)).usage);
    });
  });

  test('invalid JSON is 400, unknown model is 503 model_not_found', async () => {
    await withStation({}, async (station) => {
      const invalid = await call(station, '/v1/chat/completions', {
        method: 'POST',
        headers: relayHeaders(station, { 'content-type': 'application/json' }),
        body: '{"model":',
      });
      assert.equal(invalid.status, 400);
      assert.equal(invalid.json.error.type, 'new_api_error');

      const unknown = await chat(station, chatRequest('no-such-model'));
      assert.equal(unknown.status, 503);
      assert.equal(unknown.json.error.code, 'model_not_found');
      assert.match(unknown.json.error.message, /no-such-model/);
    });
  });

  test('embeddings: deterministic float vectors and base64 float32', async () => {
    await withStation({}, async (station) => {
      const request = (extra) => call(station, '/v1/embeddings', {
        method: 'POST',
        headers: relayHeaders(station),
        body: { model: 'gpt-4o-mini', input: ['a b', 'c'], ...extra },
      });
      const floats = await request({});
      assert.equal(floats.json.object, 'list');
      assert.equal(floats.json.data.length, 2);
      assert.equal(floats.json.data[0].embedding.length, 8);
      assert.deepEqual(floats.json.usage, { prompt_tokens: 3, total_tokens: 3 });
      assert.deepEqual((await request({})).json.data, floats.json.data, 'deterministic');

      const encoded = await request({ encoding_format: 'base64' });
      const buffer = Buffer.from(encoded.json.data[0].embedding, 'base64');
      const decoded = Array.from({ length: buffer.length / 4 }, (_, i) => buffer.readFloatLE(i * 4));
      assert.deepEqual(decoded, floats.json.data[0].embedding);
    });
  });

  test('requests are recorded with lower-case headers, raw body and parsed json', async () => {
    await withStation({}, async (station) => {
      await chat(station, chatRequest('gpt-4o'), { 'X-Custom-Thing': 'yes' });
      const recorded = station.requests.at(-1);
      assert.equal(recorded.method, 'POST');
      assert.equal(recorded.path, '/v1/chat/completions');
      assert.equal(recorded.headers.authorization, `Bearer sk-${station.state.tokens[0].key}`);
      assert.equal(recorded.headers['x-custom-thing'], 'yes');
      assert.ok(Buffer.isBuffer(recorded.body));
      assert.equal(recorded.json.model, 'gpt-4o');
      assert.equal(typeof recorded.at, 'number');

      station.reset();
      assert.equal(station.requests.length, 0);
      assert.equal(station.state.quota, 2500000);
    });
  });
});

describe('steering', () => {
  test('error-500 by model and by header', async () => {
    await withStation({}, async (station) => {
      const expected = { error: { message: 'upstream exploded', type: 'new_api_error', code: 'internal_error' } };
      const byModel = await chat(station, chatRequest('fake-500'));
      assert.equal(byModel.status, 500);
      assert.deepEqual(byModel.json, expected);
      const byHeader = await chat(station, chatRequest('gpt-4o'), { 'x-fake-behavior': 'error-500' });
      assert.deepEqual(byHeader.json, expected);
    });
  });

  test('rate-limit sends 429 with Retry-After', async () => {
    await withStation({}, async (station) => {
      const byModel = await chat(station, chatRequest('fake-429'));
      assert.equal(byModel.status, 429);
      assert.equal(byModel.headers.get('retry-after'), '7');
      assert.equal(byModel.json.error.type, 'new_api_error');
      const byHeader = await chat(station, chatRequest('gpt-4o'), { 'x-fake-behavior': 'rate-limit:3' });
      assert.equal(byHeader.headers.get('retry-after'), '3');
    });
  });

  test('unauthorized sends the invalid-token 401', async () => {
    await withStation({}, async (station) => {
      const { status, json } = await chat(station, chatRequest('fake-401'));
      assert.equal(status, 401);
      assert.match(json.error.message, /^无效的令牌/);
    });
  });

  test('slow-first-byte delays the headers', async () => {
    await withStation({}, async (station) => {
      const started = Date.now();
      const { status } = await chat(station, chatRequest('gpt-4o'), { 'x-fake-behavior': 'slow-first-byte:300' });
      assert.equal(status, 200);
      assert.ok(Date.now() - started >= 290, `took ${Date.now() - started} ms`);
    });
  });

  test('slow-stream delivers chunks one by one', async () => {
    await withStation({}, async (station) => {
      const response = await streamChat(station, chatRequest('gpt-4o'), { 'x-fake-behavior': 'slow-stream:80' });
      const { data, arrivals } = await readSse(response);
      assert.equal(data.at(-1), '[DONE]');
      assert.ok(arrivals.length >= data.length - 1, `${arrivals.length} reads for ${data.length} events`);
      assert.ok(arrivals.at(-1) - arrivals[0] >= 80 * (data.length - 2), 'chunks are spread over time');
    });
  });

  test('cut-stream: stream stops after n content chunks without [DONE]; non-stream body is cut', async () => {
    await withStation({}, async (station) => {
      const cut = await readSse(await streamChat(station, chatRequest('fake-cut')));
      assert.ok(!cut.data.includes('[DONE]'));
      assert.equal(cut.data.length, 1 + 2);
      assert.ok(cut.error, 'the stream ends with an error');

      const three = await readSse(await streamChat(station, chatRequest('gpt-4o'), { 'x-fake-behavior': 'cut-stream:3' }));
      assert.equal(three.data.length, 1 + 3);

      const response = await fetch(`${station.url}/v1/chat/completions`, {
        method: 'POST',
        headers: relayHeaders(station, { 'content-type': 'application/json' }),
        body: JSON.stringify(chatRequest('fake-cut')),
      });
      await assert.rejects(response.text());
    });
  });

  test('bad-json answers 200 with a truncated body', async () => {
    await withStation({}, async (station) => {
      const { status, text, json } = await chat(station, chatRequest('fake-bad-json'));
      assert.equal(status, 200);
      assert.ok(text.startsWith('{"id":"chatcmpl-'));
      assert.equal(json, undefined);
    });
  });

  test('hang never answers; the client can abort', async () => {
    await withStation({}, async (station) => {
      const aborter = new AbortController();
      const started = Date.now();
      setTimeout(() => aborter.abort(), 150);
      const request = { method: 'POST', headers: relayHeaders(station), body: chatRequest('fake-hang'), signal: aborter.signal };
      await assert.rejects(call(station, '/v1/chat/completions', request), { name: 'AbortError' });
      assert.ok(Date.now() - started >= 140);
      assert.equal(station.requests.at(-1).json.model, 'fake-hang', 'the request did arrive');
    });
  });

  test('steering does not apply to management endpoints; unknown values are rejected', async () => {
    await withStation({}, async (station) => {
      const self = await manage(station, '/api/user/self', { headers: { 'x-fake-behavior': 'error-500' } });
      assert.equal(self.json.success, true);
      const typo = await chat(station, chatRequest('gpt-4o'), { 'x-fake-behavior': 'explode' });
      assert.equal(typo.status, 400);
    });
  });
});

describe('lifecycle', () => {
  test('close() ends hanging and slow requests and frees the port', async () => {
    const station = await startFakeStation();
    const hanging = assert.rejects(call(station, '/v1/chat/completions', {
      method: 'POST',
      headers: relayHeaders(station),
      body: chatRequest('fake-hang'),
    }));
    const slow = assert.rejects(chat(station, chatRequest('fake-slow')));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await station.close();
    assert.ok(Date.now() - started < 500, 'close() does not wait for open requests');
    await hanging;
    await slow;
    await assert.rejects(fetch(`${station.url}/api/status`));
    await station.close();
  });
});
