// New API's management API (/api/*) for the fake station: status, login sessions, user self,
// models, groups, pricing, tokens (paginated, masked, full-key endpoints) and check-in, with the real
// panel's envelopes, status codes, messages, pagination and key-masking rules
// (see /work/shared/refs/upstream-panels.md §0, §1, §11).

import { createHash } from 'node:crypto';
import { findRoute, goAtoi, isObject, randomKey, route, sendJson, stripBearer, utcToday } from './fake-http.mjs';
import { sendInvalidUrl } from './fake-errors.mjs';
import { addToken, pricingEntry } from './fake-state.mjs';

const ITEMS_PER_PAGE = 10;
const MAX_PAGE_SIZE = 100;
const MAX_BATCH_KEYS = 100;
const MAX_TOKEN_NAME_BYTES = 50;
const SESSION_MAX_AGE_SECONDS = 30 * 24 * 3600;
const START_TIME = Math.floor(Date.now() / 1000);

const AUTH_MESSAGES = {
  noCredential: '无权进行此操作，未登录且未提供 access token',
  badToken: '无权进行此操作，access token 无效',
  userHeaderMissing: '无权进行此操作，未提供 New-Api-User',
  userHeaderFormat: '无权进行此操作，New-Api-User 格式错误',
  userHeaderMismatch: '无权进行此操作，New-Api-User 与登录用户不匹配',
};

const API_ROUTES = [
  route('GET', '/api/status', getStatus, { auth: false }),
  route('GET', '/api/pricing', getPricing, { auth: false }),
  // New API router/api-router.go: login, the single and the batch key reveal sit behind
  // middleware.CriticalRateLimit() (after UserAuth on the token routes).
  route('POST', '/api/user/login', login, { auth: false, critical: true }),
  route('GET', '/api/user/groups', getGroups, { auth: false }),
  route('GET', '/api/user/self', getSelf),
  route('GET', '/api/user/self/groups', getGroups),
  route('GET', '/api/user/models', getUserModels),
  route('GET', '/api/user/token', regenerateAccessToken),
  route('GET', '/api/user/checkin', getCheckinStatus, { when: hasCheckin }),
  route('POST', '/api/user/checkin', doCheckin, { when: hasCheckin }),
  route('GET', '/api/token/', listTokens),
  route('POST', '/api/token/', createToken),
  route('POST', '/api/token/batch/keys', getTokenKeys, { when: hasBatchKeys, critical: true }),
  route('POST', '/api/token/:id/key', getTokenKey, { when: hasKeyEndpoints, critical: true }),
];

/** Answers one /api/* request (authenticated per New API authHelper unless the route is public). */
export function dispatchApi(ctx) {
  const matched = findRoute(API_ROUTES, ctx);
  if (!matched) return sendInvalidUrl(ctx);
  if (matched.auth && !authenticateUser(ctx)) return;
  if (matched.critical && !allowCritical(ctx)) return;
  return matched.handler(ctx);
}

// New API middleware/rate-limit.go CriticalRateLimit (common/init.go: CRITICAL_RATE_LIMIT_NUM 20 per
// CRITICAL_RATE_LIMIT_DURATION 1200 s, keyed by client IP, shared by every critical route): a
// sliding window of accepted calls; a refused call is not counted and gets a bare 429.
function allowCritical(ctx) {
  const { state } = ctx;
  const now = Date.now();
  state.criticalCalls = state.criticalCalls.filter((at) => now - at < state.criticalWindowMs);
  if (state.criticalCalls.length >= state.criticalLimit) {
    ctx.res.writeHead(429).end();
    return false;
  }
  state.criticalCalls.push(now);
  return true;
}

function hasCheckin(state) {
  return !state.legacy;
}

function hasKeyEndpoints(state) {
  return state.masked;
}

// The batch reveal came with masking; `batchKeys: false` plays a build that has only the single one.
function hasBatchKeys(state) {
  return state.masked && state.batchKeys;
}

function ok(ctx, data, message = '') {
  sendJson(ctx.res, 200, { success: true, message, data });
}

// Returns false so that guards can `return fail(...)`.
function fail(ctx, message, status = 200) {
  sendJson(ctx.res, status, { success: false, message });
  return false;
}

// New API authHelper: session cookie or access token, then the New-Api-User header.
function authenticateUser(ctx) {
  const { state, req } = ctx;
  ctx.session = sessionFromCookie(state, req.headers.cookie);
  if (!ctx.session) {
    const credential = stripBearer(req.headers.authorization ?? '');
    if (!credential) return fail(ctx, AUTH_MESSAGES.noCredential, 401);
    if (credential !== state.accessToken) return fail(ctx, AUTH_MESSAGES.badToken);
  }
  const userHeader = req.headers['new-api-user'];
  if (!userHeader) return fail(ctx, AUTH_MESSAGES.userHeaderMissing, 401);
  const userId = goAtoi(userHeader);
  if (userId === null) return fail(ctx, AUTH_MESSAGES.userHeaderFormat, 401);
  if (userId !== state.userId) return fail(ctx, AUTH_MESSAGES.userHeaderMismatch, 401);
  return true;
}

function sessionFromCookie(state, cookieHeader = '') {
  const pairs = cookieHeader.split(';').map((part) => part.trim().split('='));
  const sid = pairs.find(([name]) => name === 'session')?.slice(1).join('=');
  const session = sid ? state.sessions.get(sid) : undefined;
  return session?.userId === state.userId ? session : undefined;
}

// New API TurnstileCheck: passes when Turnstile is off, the session already passed, or ?turnstile= is set.
function checkTurnstile(ctx) {
  if (!ctx.state.turnstile || ctx.session?.turnstilePassed) return true;
  if (!ctx.url.searchParams.get('turnstile')) return fail(ctx, 'Turnstile token 为空');
  if (ctx.session) ctx.session.turnstilePassed = true;
  return true;
}

function getStatus(ctx) {
  const { state } = ctx;
  const shared = {
    system_name: 'New API',
    quota_per_unit: state.quotaPerUnit,
    display_in_currency: true,
    turnstile_check: state.turnstile,
    turnstile_site_key: state.turnstile ? '1x00000000000000000000AA' : '',
    setup: true,
    server_address: ctx.station.url,
    docs_link: '',
    start_time: START_TIME,
    email_verification: false,
    github_oauth: false,
    logo: '',
    footer_html: '',
    price: 7.3,
  };
  if (state.legacy) return ok(ctx, { ...shared, version: 'v0.6.6', min_topup: 1, enable_online_topup: false });
  return ok(ctx, {
    ...shared,
    version: 'v0.12.3',
    quota_display_type: 'USD',
    usd_exchange_rate: 7.3,
    checkin_enabled: state.checkinEnabled,
    passkey_login: false,
    self_use_mode_enabled: false,
    default_use_auto_group: false,
    HeaderNavModules: '',
    announcements_enabled: false,
  });
}

function userSummary(state) {
  return { id: state.userId, username: state.username, display_name: state.username, role: 1, status: 1, group: state.group };
}

// New API service/group.go GetUserUsableGroups: the UserUsableGroups setting (here: every group not
// marked `public: false`), plus the user's own group when there is a user and it is not listed.
function usableGroups(state, userGroup) {
  const usable = Object.fromEntries(Object.entries(state.groups).filter(([, g]) => g.public !== false).map(([name, g]) => [name, g.desc]));
  if (userGroup && !(userGroup in usable)) usable[userGroup] = '用户分组';
  return usable;
}

function login(ctx) {
  const { state, json } = ctx;
  if (!checkTurnstile(ctx)) return;
  if (!isObject(json)) return fail(ctx, '无效的参数');
  if (!json.username || !json.password) return fail(ctx, '用户名或密码为空');
  if (json.username !== state.username || json.password !== state.password) {
    return fail(ctx, '用户名或密码错误，或用户已被封禁');
  }
  const sid = randomKey(40);
  state.sessions.set(sid, { userId: state.userId, turnstilePassed: state.turnstile });
  ctx.res.setHeader('Set-Cookie', `session=${sid}; Path=/; Max-Age=${SESSION_MAX_AGE_SECONDS}; HttpOnly; SameSite=Strict`);
  return ok(ctx, userSummary(state));
}

function getSelf(ctx) {
  const { state } = ctx;
  ok(ctx, {
    ...userSummary(state),
    email: '',
    quota: state.quota,
    used_quota: state.usedQuota,
    request_count: state.requestCount,
    aff_code: 'Ab12',
    aff_count: 0,
    aff_quota: 0,
    aff_history_quota: 0,
    inviter_id: 0,
    setting: '',
    sidebar_modules: '',
    permissions: {},
    github_id: '',
    discord_id: '',
    oidc_id: '',
    wechat_id: '',
    telegram_id: '',
    linux_do_id: '',
    stripe_customer: '',
  });
}

// New API controller/group.go GetUserGroups: the user's usable groups with their ratios ("自动" for auto).
function getGroups(ctx) {
  const { state } = ctx;
  const usable = usableGroups(state, state.group);
  const groups = Object.entries(state.groups).filter(([name]) => name in usable);
  ok(ctx, Object.fromEntries(groups.map(([name, g]) => [name, { ratio: g.ratio, desc: usable[name] }])));
}

// New API controller/user.go GetUserModels: the models enabled in every group the user may use.
function getUserModels(ctx) {
  const { state } = ctx;
  if (!state.groupModels) return ok(ctx, state.models);
  const groups = Object.keys(usableGroups(state, state.group));
  ok(ctx, [...new Set(groups.flatMap((group) => state.groupModels[group] ?? []))]);
}

function regenerateAccessToken(ctx) {
  ctx.state.accessToken = randomKey(32);
  ok(ctx, ctx.state.accessToken);
}

// New API controller/pricing.go GetPricing behind middleware.TryUserAuth, which reads only the
// session cookie: with an access token the caller is anonymous, and every group outside the
// usable groups is deleted from group_ratio, and models only such groups enable leave `data`.
function getPricing(ctx) {
  const { state } = ctx;
  const userGroup = sessionFromCookie(state, ctx.req.headers.cookie) ? state.group : '';
  const usable = usableGroups(state, userGroup);
  const groups = Object.entries(state.groups).filter(([name]) => name in usable);
  const data = state.models
    .map((model) => pricingEntry(state, model))
    .map((entry) => ({ ...entry, enable_groups: entry.enable_groups.filter((g) => g in usable) }))
    .filter((entry) => entry.enable_groups.length > 0);
  const payload = {
    success: true,
    data,
    group_ratio: Object.fromEntries(groups.filter(([, g]) => typeof g.ratio === 'number').map(([name, g]) => [name, g.ratio])),
    usable_group: usable,
  };
  if (state.legacy) return sendJson(ctx.res, 200, payload);
  const pricingVersion = createHash('sha256').update(JSON.stringify(payload.data)).digest('hex').slice(0, 16);
  return sendJson(ctx.res, 200, {
    ...payload,
    vendors: [],
    supported_endpoint: {},
    auto_groups: ['default'],
    pricing_version: pricingVersion,
  });
}

function presentToken(state, token) {
  return state.masked ? { ...token, key: maskKey(token.key) } : { ...token };
}

// New API MaskTokenKey.
function maskKey(key) {
  if (key.length <= 4) return '*'.repeat(key.length);
  if (key.length <= 8) return `${key.slice(0, 2)}****${key.slice(-2)}`;
  return `${key.slice(0, 4)}**********${key.slice(-4)}`;
}

function listTokens(ctx) {
  const { state, url } = ctx;
  const tokens = [...state.tokens].sort((a, b) => b.id - a.id).map((token) => presentToken(state, token));
  if (state.legacy) {
    const { page, size } = legacyPage(url.searchParams);
    return ok(ctx, tokens.slice(page * size, (page + 1) * size));
  }
  const { page, pageSize } = currentPage(url.searchParams);
  const items = tokens.slice((page - 1) * pageSize, page * pageSize);
  return ok(ctx, { page, page_size: pageSize, total: tokens.length, items });
}

// Current New API: `p` is 1-based (0 or missing = 1); size from page_size, ps, then size; at most 100.
function currentPage(params) {
  const page = Math.max(goAtoi(params.get('p')) ?? 1, 1);
  const requested = ['page_size', 'ps', 'size'].map((name) => goAtoi(params.get(name))).find((n) => n);
  const pageSize = requested > 0 ? Math.min(requested, MAX_PAGE_SIZE) : ITEMS_PER_PAGE;
  return { page, pageSize };
}

// Legacy New API (≤ mid-2025): `p` is 0-based, `size` at most 100.
function legacyPage(params) {
  const page = Math.max(goAtoi(params.get('p')) ?? 0, 0);
  const requested = goAtoi(params.get('size')) ?? 0;
  const size = requested > 0 ? Math.min(requested, MAX_PAGE_SIZE) : ITEMS_PER_PAGE;
  return { page, size };
}

// Go zero values for fields the client leaves out, as gin's JSON binding would give.
function tokenFieldsFromBody(json) {
  const text = (value) => (typeof value === 'string' ? value : '');
  const integer = (value) => (Number.isInteger(value) ? value : 0);
  return {
    name: text(json.name),
    expired_time: integer(json.expired_time),
    remain_quota: integer(json.remain_quota),
    unlimited_quota: json.unlimited_quota === true,
    model_limits_enabled: json.model_limits_enabled === true,
    model_limits: text(json.model_limits),
    allow_ips: text(json.allow_ips),
    group: text(json.group),
  };
}

function tokenFieldsError(state, fields) {
  if (Buffer.byteLength(fields.name) > MAX_TOKEN_NAME_BYTES) return '令牌名称过长';
  if (fields.unlimited_quota) return null;
  if (fields.remain_quota < 0) return '额度值不能为负数';
  const maxQuota = 1_000_000_000 * state.quotaPerUnit;
  return fields.remain_quota > maxQuota ? `额度值超出有效范围，最大值为 ${maxQuota}` : null;
}

function createToken(ctx) {
  const { state, json } = ctx;
  if (!isObject(json)) return fail(ctx, '无效的参数');
  const fields = tokenFieldsFromBody(json);
  const error = tokenFieldsError(state, fields);
  if (error) return fail(ctx, error);
  if (state.tokens.length >= state.tokenLimit) return fail(ctx, `已达到最大令牌数量限制 (${state.tokenLimit})`);
  addToken(state, fields);
  return sendJson(ctx.res, 200, { success: true, message: '' });
}

function getTokenKey(ctx) {
  const id = goAtoi(ctx.params.id);
  const token = ctx.state.tokens.find((candidate) => candidate.id === id);
  if (!token) return fail(ctx, 'record not found');
  return ok(ctx, { key: token.key });
}

function getTokenKeys(ctx) {
  const ids = ctx.json?.ids;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every(Number.isInteger)) return fail(ctx, '无效的参数');
  if (ids.length > MAX_BATCH_KEYS) return fail(ctx, `批量请求数量过多，最多 ${MAX_BATCH_KEYS} 条`);
  const found = ctx.state.tokens.filter((token) => ids.includes(token.id));
  return ok(ctx, { keys: Object.fromEntries(found.map((token) => [String(token.id), token.key])) });
}

function getCheckinStatus(ctx) {
  const { state } = ctx;
  if (!state.checkinEnabled) return fail(ctx, '签到功能未启用');
  const month = ctx.url.searchParams.get('month') || utcToday().slice(0, 7);
  const records = state.checkins.filter((record) => record.checkin_date.startsWith(`${month}-`));
  const stats = {
    total_quota: state.checkins.reduce((sum, record) => sum + record.quota_awarded, 0),
    total_checkins: state.checkins.length,
    checkin_count: records.length,
    checked_in_today: hasCheckedInToday(state),
    records,
  };
  const data = { enabled: true, min_quota: state.checkinQuota, max_quota: state.checkinQuota, stats };
  return sendJson(ctx.res, 200, { success: true, data });
}

function doCheckin(ctx) {
  const { state } = ctx;
  if (!checkTurnstile(ctx)) return;
  if (!state.checkinEnabled) return fail(ctx, '签到功能未启用');
  if (hasCheckedInToday(state)) return fail(ctx, '今日已签到');
  const record = { checkin_date: utcToday(), quota_awarded: state.checkinQuota };
  state.checkins.push(record);
  state.quota += record.quota_awarded;
  return ok(ctx, record, '签到成功');
}

function hasCheckedInToday(state) {
  const today = utcToday();
  return state.checkins.some((record) => record.checkin_date === today);
}
