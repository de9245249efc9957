// The fake station's relay side: one route table for the OpenAI (/v1/*), Anthropic (/v1/messages*)
// and Gemini (/v1beta/*) dialects, and the pipeline every relay request goes through, as New API
// runs it: dialect enabled? → relay token (Bearer, x-api-key, x-goog-api-key or ?key=) → dialect
// guard → body, model and quota checks → steering → the handler. Every error is answered in the
// route's dialect (upstream-panels.md §1 "Relay side", wire-protocols.md §1, §7).

import { findRoute, pause, route, stripBearer } from './fake-http.mjs';
import { DIALECT_ERRORS, sendInvalidUrl } from './fake-errors.mjs';
import { findRelayToken, tokenModels } from './fake-state.mjs';
import { resolveBehavior } from './fake-steering.mjs';
import { parseMultipart } from './fake-multipart.mjs';
import {
  chatCompletions,
  completions,
  createEmbeddings,
  createResponse,
  getStoredResponse,
  listOpenAiModels,
  validateChat,
  validateCompletions,
  validateEmbeddings,
  validateResponses,
} from './fake-openai.mjs';
import * as media from './fake-openai-media.mjs';
import { countTokens, createMessage, listAnthropicModels, requireAnthropicVersion, validateCountTokens, validateMessages } from './fake-anthropic.mjs';
import * as gemini from './fake-gemini.mjs';

const MODEL_LISTS = { openai: listOpenAiModels, anthropic: listAnthropicModels, gemini: gemini.listGeminiModels };

// Flags: dialect (or a function of the request choosing it); model: where the model name is read
// ('body', 'form', 'path'); defaultModel when the body may omit it; multipart: parse the body as
// multipart/form-data; validate(input) → error message or null; guard(ctx) → true or answers.
const openai = (method, pattern, handler, flags = {}) => route(method, pattern, handler, { dialect: 'openai', ...flags });
const anthropic = (pattern, handler, validate) => route('POST', pattern, handler, { dialect: 'anthropic', model: 'body', validate, guard: requireAnthropicVersion });
const geminiAction = (action, handler, validate) => route('POST', `/v1beta/models/:model:${action}`, handler, { dialect: 'gemini', model: 'path', validate });

const RELAY_ROUTES = [
  route('GET', '/v1/models', (ctx, behavior) => MODEL_LISTS[ctx.dialect](ctx, behavior), { dialect: modelListDialect }),
  openai('POST', '/v1/chat/completions', chatCompletions, { model: 'body', validate: validateChat }),
  openai('POST', '/v1/completions', completions, { model: 'body', validate: validateCompletions }),
  openai('POST', '/v1/embeddings', createEmbeddings, { model: 'body', validate: validateEmbeddings }),
  openai('POST', '/v1/responses', createResponse, { model: 'body', validate: validateResponses }),
  openai('GET', '/v1/responses/:id', getStoredResponse),
  openai('POST', '/v1/images/generations', media.generateImages, { model: 'body', validate: media.validateImageGeneration }),
  openai('POST', '/v1/images/edits', media.editImages, { model: 'form', multipart: true, validate: media.validateImageEdit }),
  openai('POST', '/v1/audio/transcriptions', media.transcribe, { model: 'form', multipart: true, validate: media.validateTranscription }),
  openai('POST', '/v1/audio/speech', media.speak, { model: 'body', validate: media.validateSpeech }),
  openai('POST', '/v1/rerank', media.rerank, { model: 'body', validate: media.validateRerank }),
  openai('POST', '/v1/moderations', media.moderate, { model: 'body', defaultModel: 'omni-moderation-latest', validate: media.validateModeration }),
  openai('POST', '/v1/video/generations', media.createVideo, { model: 'body', validate: media.validateVideo }),
  openai('GET', '/v1/video/generations/:id', media.getVideo),
  openai('POST', '/v1/files', media.uploadFile, { multipart: true, validate: media.validateFileUpload }),
  openai('GET', '/v1/files', media.listFiles),
  openai('GET', '/v1/files/:id', media.getFile),
  openai('DELETE', '/v1/files/:id', media.deleteFile),
  openai('GET', '/v1/files/:id/content', media.getFileContent),
  anthropic('/v1/messages', createMessage, validateMessages),
  anthropic('/v1/messages/count_tokens', countTokens, validateCountTokens),
  route('GET', '/v1beta/models', gemini.listGeminiModels, { dialect: 'gemini' }),
  route('GET', '/v1beta/models/:model', gemini.getGeminiModel, { dialect: 'gemini' }),
  geminiAction('generateContent', gemini.generateContent, gemini.validateGenerate),
  geminiAction('streamGenerateContent', gemini.streamGenerateContent, gemini.validateGenerate),
  geminiAction('countTokens', gemini.countGeminiTokens, gemini.validateGenerate),
  geminiAction('embedContent', gemini.embedContent, gemini.validateEmbedContent),
  geminiAction('batchEmbedContents', gemini.batchEmbedContents, gemini.validateBatchEmbed),
];

// Behaviours that replace the relay answer entirely, answered in the route's dialect.
const TERMINAL_BEHAVIORS = {
  'error-500': (errors, ctx) => errors.serverError(ctx),
  'rate-limit': (errors, ctx, behavior) => errors.rateLimited(ctx, behavior.value),
  unauthorized: (errors, ctx) => errors.invalidKey(ctx),
  hang: () => {}, // the request stays open until the client aborts or close() destroys the socket
};

// New API answers GET /v1/models in the Anthropic shape for x-api-key + anthropic-version, in the
// Gemini shape for a Google key, and in the OpenAI shape otherwise.
function modelListDialect(ctx) {
  const { headers } = ctx.req;
  if (headers['x-api-key'] && headers['anthropic-version']) return 'anthropic';
  if (headers['x-goog-api-key'] || ctx.url.searchParams.has('key')) return 'gemini';
  return 'openai';
}

/** Answers one relay request (/v1/*, /v1beta/*). */
export async function dispatchRelay(ctx) {
  const matched = findRoute(RELAY_ROUTES, ctx);
  ctx.dialect = typeof matched?.dialect === 'function' ? matched.dialect(ctx) : matched?.dialect;
  // ctx.dialects: what the path's mount serves, where a panel splits dialects by path prefix.
  if (!matched || !(ctx.dialects ?? ctx.state.dialects).includes(ctx.dialect)) return sendInvalidUrl(ctx);
  const errors = DIALECT_ERRORS[ctx.dialect];
  ctx.token = findRelayToken(ctx.state, presentedKey(ctx));
  if (!ctx.token) return errors.invalidKey(ctx);
  if (matched.guard && !matched.guard(ctx)) return;
  if ((matched.model || matched.validate) && !admitRequest(ctx, matched, errors)) return;
  if (ctx.model) ctx.res.setHeader('X-Fake-Model', ctx.model);
  const behavior = resolveBehavior(ctx);
  if (!behavior) return errors.reject(ctx, 400, `fake-station: unknown x-fake-behavior "${ctx.req.headers['x-fake-behavior']}"`);
  if (behavior.kind === 'slow-first-byte' && !(await pause(ctx.res, behavior.value))) return;
  const terminal = TERMINAL_BEHAVIORS[behavior.kind];
  return terminal ? terminal(errors, ctx, behavior) : matched.handler(ctx, behavior);
}

// The relay key as the dialect sends it; a Bearer token works everywhere (New API TokenAuth).
function presentedKey(ctx) {
  const { headers } = ctx.req;
  const candidates = [];
  if (ctx.dialect === 'anthropic') candidates.push(headers['x-api-key']);
  if (ctx.dialect === 'gemini') candidates.push(headers['x-goog-api-key'], ctx.url.searchParams.get('key'));
  candidates.push(stripBearer(headers.authorization ?? ''));
  return candidates.find(Boolean) ?? '';
}

// What the panel checks before relaying: body, model (distributor), request shape, user quota.
// Sets ctx.form for multipart routes and ctx.model.
function admitRequest(ctx, matched, errors) {
  const { state } = ctx;
  if (matched.multipart) {
    ctx.form = parseMultipart(ctx.req.headers['content-type'], ctx.body);
    if (ctx.form.error) return errors.reject(ctx, 400, `invalid multipart body: ${ctx.form.error}`, 'invalid_request');
  } else if (ctx.json === undefined) {
    return errors.reject(ctx, 400, '无效的请求，invalid JSON request body');
  }
  const model = { body: ctx.json?.model, form: ctx.form?.fields.model, path: ctx.params.model }[matched.model] ?? matched.defaultModel;
  if (matched.model && (typeof model !== 'string' || model === '')) return errors.reject(ctx, 400, '未指定模型名称，模型名称不能为空');
  if (matched.model && !tokenModels(state, ctx.token).includes(model)) {
    return errors.reject(ctx, 503, `分组 default 下模型 ${model} 无可用渠道（distributor）`, 'model_not_found');
  }
  ctx.model = model;
  const invalid = matched.validate?.(matched.multipart ? ctx.form : ctx.json);
  if (invalid) return errors.reject(ctx, 400, invalid, 'invalid_request');
  if (state.quota <= 0) {
    const message = `用户额度不足, 剩余额度: $${(state.quota / state.quotaPerUnit).toFixed(6)}`;
    return errors.reject(ctx, 403, message, 'insufficient_user_quota');
  }
  return true;
}
