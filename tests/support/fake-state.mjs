// The fake station's mutable state (user, quota, tokens, models, pricing, stored files/responses/
// video tasks) and New API's token and billing rules, shared by the management API and the relay.

import { STEERING_MODELS } from './fake-steering.mjs';
import { randomKey, unixNow } from './fake-http.mjs';

/** Every dialect the fake can speak; `options.dialects` picks a subset. */
export const ALL_DIALECTS = Object.freeze(['openai', 'anthropic', 'gemini']);

const DEFAULT_MODELS = [
  'gpt-4o-mini',
  'gpt-4o',
  'claude-sonnet-4-5',
  'gemini-2.5-flash',
  'text-embedding-3-small',
  'gpt-image-1',
  'whisper-1',
  'tts-1',
  'omni-moderation-latest',
  'jina-reranker-v2-base-multilingual',
  'sora-2',
];
const DEFAULT_GROUPS = {
  default: { ratio: 1, desc: '默认分组' },
  vip: { ratio: 0.8, desc: 'VIP' },
  auto: { ratio: '自动', desc: '自动选择可用分组' },
};
const DEFAULT_PRICING = {
  'gpt-4o-mini': { model_ratio: 0.075, completion_ratio: 4 },
  'gpt-4o': { model_ratio: 1.25, completion_ratio: 4 },
};

/**
 * Fresh state from the options given to startFakeStation (also what reset() restores). Options:
 * userId, username, password, accessToken, quotaPerUnit, quota, usedQuota, models, groups (name →
 * {ratio, desc, public}), group (the user's), groupModels (group → models), pricing,
 * dialects (subset of ALL_DIALECTS; the others answer 404), legacy, masked, checkinEnabled,
 * batchKeys (the batch key reveal route; default true), criticalRateLimit (calls per 20 minutes to
 * login and the key reveals, default 20 as New API's CriticalRateLimit),
 * turnstile, checkinQuota, includeUsageAlways, behavior (station-wide steering spec), streamChunks
 * (text pieces per stream), embeddingDimensions, videoPollsToComplete, tokenLimit, tokens (count).
 */
export function createState(options) {
  const legacy = options.legacy ?? false;
  const state = {
    userId: options.userId ?? 42,
    username: options.username ?? 'alice',
    password: options.password ?? 'secret',
    accessToken: options.accessToken ?? 'fake-access-token',
    quotaPerUnit: options.quotaPerUnit ?? 500000,
    quota: options.quota ?? 2500000,
    usedQuota: options.usedQuota ?? 500000,
    requestCount: 0,
    models: [...new Set([...(options.models ?? DEFAULT_MODELS), ...Object.keys(STEERING_MODELS)])],
    groups: structuredClone(options.groups ?? DEFAULT_GROUPS),
    group: options.group ?? 'default', // the user's group; a group marked `public: false` is private
    groupModels: options.groupModels, // group → the models enabled in it (none: every model everywhere)
    pricing: { ...DEFAULT_PRICING, ...options.pricing },
    dialects: [...(options.dialects ?? ALL_DIALECTS)],
    legacy,
    masked: options.masked ?? !legacy,
    batchKeys: options.batchKeys ?? true,
    criticalLimit: options.criticalRateLimit ?? 20,
    criticalWindowMs: 1200 * 1000,
    criticalCalls: [],
    checkinEnabled: options.checkinEnabled ?? true,
    turnstile: options.turnstile ?? false,
    checkinQuota: options.checkinQuota ?? 250000,
    includeUsageAlways: options.includeUsageAlways ?? false,
    behavior: options.behavior, // station-wide steering when neither header nor model name says otherwise
    streamChunks: options.streamChunks ?? 5,
    embeddingDimensions: options.embeddingDimensions ?? 8,
    videoPollsToComplete: options.videoPollsToComplete ?? 2,
    tokenLimit: options.tokenLimit ?? 100,
    tokens: [],
    nextTokenId: 1,
    checkins: [],
    sessions: new Map(),
    files: new Map(), // file id -> { meta, data: Buffer }
    responses: new Map(), // stored Responses API objects by id
    videos: new Map(), // video task id -> { task, polls }
  };
  for (let i = 0; i < (options.tokens ?? 1); i += 1) {
    addToken(state, { name: i === 0 ? 'default' : `token-${i + 1}`, expired_time: -1, unlimited_quota: true });
  }
  return state;
}

export function addToken(state, fields) {
  const now = unixNow();
  const token = {
    id: state.nextTokenId,
    user_id: state.userId,
    key: randomKey(48),
    status: 1,
    name: '',
    created_time: now,
    accessed_time: now,
    expired_time: 0,
    remain_quota: 0,
    unlimited_quota: false,
    model_limits_enabled: false,
    model_limits: '',
    allow_ips: '',
    used_quota: 0,
    group: '',
    cross_group_retry: false,
    auto_groups: null,
    DeletedAt: null,
    ...fields,
  };
  state.nextTokenId += 1;
  state.tokens.push(token);
  return token;
}

/**
 * The relay token a presented key selects (New API TokenAuth: optional "Bearer ", optional "sk-",
 * anything after a "-" selects a channel; `state.wholeKeys`: the key as stored, as Sub2API and
 * official APIs compare it), if it is usable: enabled, not expired, not exhausted.
 */
export function findRelayToken(state, presentedKey) {
  const key = state.wholeKeys ? presentedKey : presentedKey.replace(/^sk-/, '').split('-')[0];
  const token = key ? state.tokens.find((candidate) => candidate.key === key) : undefined;
  return token && isUsableToken(token) ? token : undefined;
}

function isUsableToken(token) {
  const notExpired = token.expired_time === -1 || token.expired_time > unixNow();
  const hasQuota = token.unlimited_quota || token.remain_quota > 0;
  return token.status === 1 && notExpired && hasQuota;
}

/**
 * The models a relay token may call. With `groupModels` (group → models) the token's group's, else
 * the user's (New API controller/model.go ListModels, OneHub relay/model.go ListModelsByToken: a
 * token without a group lists its user's group); without it every model.
 */
export function tokenModels(state, token) {
  if (!state.groupModels) return state.models;
  return state.groupModels[token?.group || state.group] ?? [];
}

/** The /api/pricing entry of a model: defaults overlaid with options.pricing. */
export function pricingEntry(state, model) {
  return {
    model_name: model,
    quota_type: 0,
    model_ratio: 1,
    model_price: 0,
    owner_by: '',
    completion_ratio: 1,
    enable_groups: Object.keys(state.groups).filter((name) => name !== 'auto'),
    supported_endpoint_types: ['openai'],
    ...state.pricing[model],
  };
}

// New API billing: (prompt + completion × completion_ratio) × model_ratio × group_ratio, at least 1;
// per-call models (quota_type 1) cost model_price USD. A token without a group uses the user's
// (middleware/auth.go TokenAuth: "token_group" falls back to the user group).
function usageCost(state, model, promptTokens, completionTokens, token) {
  const price = pricingEntry(state, model);
  const groupRatio = Number(state.groups[token.group || state.group]?.ratio) || 1;
  if (price.quota_type === 1) return Math.round(price.model_price * state.quotaPerUnit * groupRatio);
  const weighted = promptTokens + completionTokens * price.completion_ratio;
  return Math.max(1, Math.round(weighted * price.model_ratio * groupRatio));
}

/** Bills one relayed call to the user and the token that made it. */
export function chargeUsage(ctx, model, promptTokens, completionTokens = 0) {
  const { state, token } = ctx;
  const cost = usageCost(state, model, promptTokens, completionTokens, token);
  state.quota -= cost;
  state.usedQuota += cost;
  state.requestCount += 1;
  token.used_quota += cost;
  token.accessed_time = unixNow();
  if (!token.unlimited_quota) token.remain_quota -= cost;
}
