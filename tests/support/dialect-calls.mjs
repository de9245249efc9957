// Relay calls in each caller dialect, each with its own way of presenting the gateway key, and
// the exact error body the gateway must answer in that dialect (core/error.rs `render`).

import assert from 'node:assert/strict';
import { call } from './gateway.mjs';

/** The model each dialect asks for by default (all served by the fake station). */
export const DEFAULT_MODELS = { openai: 'gpt-4o', anthropic: 'claude-sonnet-4-5', gemini: 'gemini-2.5-flash' };

/**
 * One entry per way a client presents its key: OpenAI `Authorization: Bearer` on chat
 * completions, Anthropic `x-api-key` on messages, Gemini `x-goog-api-key` and `?key=` on
 * generateContent. `send(url, key, {model, ip})` performs the call.
 */
export const CALLERS = [
  {
    name: 'openai',
    dialect: 'openai',
    send: (url, key, { model = DEFAULT_MODELS.openai, ip } = {}) =>
      call(url, '/v1/chat/completions', {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, ...ipHeader(ip) },
        body: { model, messages: [{ role: 'user', content: 'ping' }] },
      }),
  },
  {
    name: 'anthropic',
    dialect: 'anthropic',
    send: (url, key, { model = DEFAULT_MODELS.anthropic, ip } = {}) =>
      call(url, '/v1/messages', {
        method: 'POST',
        headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', ...ipHeader(ip) },
        body: { model, max_tokens: 16, messages: [{ role: 'user', content: 'ping' }] },
      }),
  },
  {
    name: 'gemini (x-goog-api-key)',
    dialect: 'gemini',
    send: (url, key, { model = DEFAULT_MODELS.gemini, ip } = {}) =>
      call(url, `/v1beta/models/${model}:generateContent`, {
        method: 'POST',
        headers: { 'x-goog-api-key': key, ...ipHeader(ip) },
        body: { contents: [{ role: 'user', parts: [{ text: 'ping' }] }] },
      }),
  },
  {
    name: 'gemini (?key=)',
    dialect: 'gemini',
    send: (url, key, { model = DEFAULT_MODELS.gemini, ip } = {}) =>
      call(url, `/v1beta/models/${model}:generateContent?key=${encodeURIComponent(key)}`, {
        method: 'POST',
        headers: ipHeader(ip),
        body: { contents: [{ role: 'user', parts: [{ text: 'ping' }] }] },
      }),
  },
];

function ipHeader(ip) {
  return ip ? { 'cf-connecting-ip': ip } : {};
}

/** The gateway's statuses per error kind, and how each dialect names them. */
const KINDS = {
  unauthorized: { status: 401, openai: ['invalid_request_error', 'invalid_api_key'], anthropic: 'authentication_error' },
  forbidden: { status: 403, openai: ['permission_error', 'forbidden'], anthropic: 'permission_error', gemini: 'PERMISSION_DENIED' },
  rate_limited: { status: 429, openai: ['rate_limit_error', 'rate_limit_exceeded'], anthropic: 'rate_limit_error', gemini: 'RESOURCE_EXHAUSTED' },
};

/**
 * Asserts `res` is the refusal of `kind` in `dialect`, body shape exactly (no extra field),
 * with a message matching `message`. Gemini answers a bad key like Google does: 400
 * INVALID_ARGUMENT with reason API_KEY_INVALID.
 */
export function assertRefused(dialect, res, kind, message, label = '') {
  const k = KINDS[kind];
  const what = `${label} ${dialect} ${kind}: ${res.status} ${JSON.stringify(res.body)}`;
  const text = res.body?.error?.message;
  assert.match(String(text), message, what);
  let status = k.status;
  let expected;
  if (dialect === 'openai') {
    expected = { error: { message: text, type: k.openai[0], param: null, code: k.openai[1] } };
  } else if (dialect === 'anthropic') {
    expected = { type: 'error', error: { type: k.anthropic, message: text } };
  } else if (kind === 'unauthorized') {
    status = 400;
    expected = {
      error: {
        code: 400,
        message: text,
        status: 'INVALID_ARGUMENT',
        details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }],
      },
    };
  } else {
    expected = { error: { code: k.status, message: text, status: k.gemini } };
  }
  assert.equal(res.status, status, what);
  assert.deepEqual(res.body, expected, what);
}

/** Runs `task(i)` for i in 0..count with at most `concurrency` in flight; results in order. */
export async function pool(count, concurrency, task) {
  const results = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}
