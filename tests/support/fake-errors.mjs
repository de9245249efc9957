// Error answers in each dialect's own shape (wire-protocols.md §7): New API's OpenAI-style relay
// errors, Anthropic's {"type":"error",...} with a request-id header, and Google's
// {"error":{code,message,status}}. The relay picks the writer set by the route's dialect.

import { randomKey, sendJson } from './fake-http.mjs';

const ANTHROPIC_ERROR_TYPES = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

const GEMINI_STATUSES = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

const RATE_LIMIT_MESSAGE = '您已达到请求数限制：1分钟内最多请求60次';

/**
 * Per dialect: reject(ctx, status, message, code?) for request errors, and the answers of the
 * terminal steering behaviours: invalidKey, serverError, rateLimited(ctx, seconds).
 * Each returns false so that guards can `return errors.reject(...)`.
 */
export const DIALECT_ERRORS = Object.freeze({
  openai: {
    reject(ctx, status, message, code = '', headers = {}) {
      const error = { message: `${message} (request id: ${ctx.requestId})`, type: ctx.state.relayErrorType ?? 'new_api_error', code };
      sendJson(ctx.res, status, { error }, headers);
      return false;
    },
    invalidKey(ctx) {
      return this.reject(ctx, 401, '无效的令牌');
    },
    serverError(ctx) {
      sendJson(ctx.res, 500, { error: { message: 'upstream exploded', type: 'new_api_error', code: 'internal_error' } });
      return false;
    },
    rateLimited(ctx, seconds) {
      return this.reject(ctx, 429, RATE_LIMIT_MESSAGE, '', { 'Retry-After': String(seconds) });
    },
  },
  anthropic: {
    reject(ctx, status, message, _code, headers = {}) {
      const type = ANTHROPIC_ERROR_TYPES[status] ?? 'api_error';
      const requestId = `req_${randomKey(24)}`;
      sendJson(ctx.res, status, { type: 'error', error: { type, message }, request_id: requestId }, { 'request-id': requestId, ...headers });
      return false;
    },
    invalidKey(ctx) {
      return this.reject(ctx, 401, 'invalid x-api-key');
    },
    serverError(ctx) {
      return this.reject(ctx, 500, 'Internal server error');
    },
    rateLimited(ctx, seconds) {
      return this.reject(ctx, 429, RATE_LIMIT_MESSAGE, '', { 'retry-after': String(seconds) });
    },
  },
  gemini: {
    reject(ctx, status, message, _code, headers = {}, details) {
      const error = { code: status, message, status: GEMINI_STATUSES[status] ?? 'UNKNOWN', ...(details && { details }) };
      sendJson(ctx.res, status, { error }, headers);
      return false;
    },
    // Google answers a bad key with 400 INVALID_ARGUMENT / API_KEY_INVALID, not 401.
    invalidKey(ctx) {
      const details = [{
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'API_KEY_INVALID',
        domain: 'googleapis.com',
        metadata: { service: 'generativelanguage.googleapis.com' },
      }];
      return this.reject(ctx, 400, 'API key not valid. Please pass a valid API key.', '', {}, details);
    },
    serverError(ctx) {
      return this.reject(ctx, 500, 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting');
    },
    rateLimited(ctx, seconds) {
      const details = [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${seconds}s` }];
      const message = 'You exceeded your current quota, please check your plan and billing details.';
      return this.reject(ctx, 429, message, '', { 'Retry-After': String(seconds) }, details);
    },
  },
});

/** New API RelayNotFound: the answer to an unknown /api or /v1 path (and to a dialect it does not speak). */
export function sendInvalidUrl(ctx) {
  const message = `Invalid URL (${ctx.req.method} ${ctx.url.pathname})`;
  sendJson(ctx.res, 404, { error: { message, type: 'invalid_request_error', param: '', code: '' } });
  return false;
}

/** OpenAI's own error body, for answers New API passes through from the vendor (files, responses). */
export function sendOpenAiError(ctx, status, message, { type = 'invalid_request_error', param = null, code = null } = {}) {
  sendJson(ctx.res, status, { error: { message, type, param, code } });
  return false;
}
