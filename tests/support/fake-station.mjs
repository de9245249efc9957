// Fake New API panel (QuantumNous/new-api) for end-to-end tests. A node:http server on 127.0.0.1
// serves the management API (/api/*) and the OpenAI-format relay (/v1/*). It uses the real panel's
// envelopes, status codes, messages, pagination and key-masking rules
// (see /work/shared/refs/upstream-panels.md §0, §1, §11). Each relay request can be steered into a
// failure mode with the `x-fake-behavior` header or a `fake-*` model name. Only Node built-ins.

import { createServer } from 'node:http';
import { createHash, randomInt } from 'node:crypto';

const JSON_TYPE = 'application/json; charset=utf-8';
const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ITEMS_PER_PAGE = 10;
const MAX_PAGE_SIZE = 100;
const MAX_BATCH_KEYS = 100;
const MAX_TOKEN_NAME_BYTES = 50;
const SESSION_MAX_AGE_SECONDS = 30 * 24 * 3600;
const MODEL_CREATED = 1626777600;
const START_TIME = Math.floor(Date.now() / 1000);
const INDEX_HTML = '<!doctype html><html><head><title>New API</title></head><body><div id="root"></div></body></html>';

const DEFAULT_MODELS = ['gpt-4o-mini', 'gpt-4o'];
const DEFAULT_GROUPS = {
  default: { ratio: 1, desc: '默认分组' },
  vip: { ratio: 0.8, desc: 'VIP' },
  auto: { ratio: '自动', desc: '自动选择可用分组' },
};
const DEFAULT_PRICING = {
  'gpt-4o-mini': { model_ratio: 0.075, completion_ratio: 4 },
  'gpt-4o': { model_ratio: 1.25, completion_ratio: 4 },
};

/** Models that select a behaviour by name; they are always listed by the fake. */
export const STEERING_MODELS = Object.freeze({
  'fake-slow': 'slow-first-byte:1500',
  'fake-slow-stream': 'slow-stream:300',
  'fake-500': 'error-500',
  'fake-429': 'rate-limit:7',
  'fake-401': 'unauthorized',
  'fake-cut': 'cut-stream:2',
  'fake-hang': 'hang',
  'fake-bad-json': 'bad-json',
});

// Behaviour kind -> default numeric argument (null: the kind takes no argument).
const BEHAVIOR_DEFAULTS = {
  normal: null,
  'slow-first-byte': 1500,
  'slow-stream': 300,
  'error-500': null,
  'rate-limit': 7,
  unauthorized: null,
  'cut-stream': 2,
  hang: null,
  'bad-json': null,
};

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
  route('POST', '/api/user/login', login, { auth: false }),
  route('GET', '/api/user/groups', getGroups, { auth: false }),
  route('GET', '/api/user/self', getSelf),
  route('GET', '/api/user/self/groups', getGroups),
  route('GET', '/api/user/models', getUserModels),
  route('GET', '/api/user/token', regenerateAccessToken),
  route('GET', '/api/user/checkin', getCheckinStatus, { when: hasCheckin }),
  route('POST', '/api/user/checkin', doCheckin, { when: hasCheckin }),
  route('GET', '/api/token/', listTokens),
  route('POST', '/api/token/', createToken),
  route('POST', '/api/token/batch/keys', getTokenKeys, { when: hasKeyEndpoints }),
  route('POST', '/api/token/:id/key', getTokenKey, { when: hasKeyEndpoints }),
];

// OpenAI-format relay routes. Another format (/v1/messages, /v1beta) would add routes here with its
// own handlers and error writer.
const RELAY_ROUTES = [
  route('GET', '/v1/models', listModels),
  route('POST', '/v1/chat/completions', chatCompletions, { needsModel: true, validate: validateChat }),
  route('POST', '/v1/embeddings', createEmbeddings, { needsModel: true, validate: validateEmbeddings }),
];

// Behaviours that replace the relay answer entirely.
const TERMINAL_BEHAVIORS = {
  'error-500': sendUpstreamError,
  'rate-limit': sendRateLimited,
  unauthorized: sendInvalidToken,
  hang: leaveOpen,
};

/**
 * Start a fake New API panel on 127.0.0.1.
 * @param {object} [options] see the option list in createState
 * @returns {Promise<{url: string, port: number, state: object, requests: object[], reset: () => void, close: () => Promise<void>}>}
 */
export async function startFakeStation(options = {}) {
  const sockets = new Set();
  const station = { url: '', port: 0, state: createState(options), requests: [], reset, close };
  const server = createServer({ noDelay: true }, (req, res) => {
    handleRequest(station, req, res).catch((error) => failInternally(res, error));
  });
  server.on('connection', (socket) => trackSocket(sockets, socket));
  await listen(server, options.port ?? 0);
  station.port = server.address().port;
  station.url = `http://127.0.0.1:${station.port}`;
  return station;

  function reset() {
    Object.assign(station.state, createState(options));
    station.requests.length = 0;
  }

  function close() {
    if (!server.listening) return Promise.resolve();
    const closed = new Promise((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    return closed;
  }
}

// ---------------------------------------------------------------- state

function createState(options) {
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
    pricing: { ...DEFAULT_PRICING, ...options.pricing },
    legacy,
    masked: options.masked ?? !legacy,
    checkinEnabled: options.checkinEnabled ?? true,
    turnstile: options.turnstile ?? false,
    checkinQuota: options.checkinQuota ?? 250000,
    includeUsageAlways: options.includeUsageAlways ?? false,
    behavior: options.behavior, // station-wide steering when neither header nor model name says otherwise
    streamChunks: options.streamChunks ?? 5,
    embeddingDimensions: options.embeddingDimensions ?? 8,
    tokenLimit: options.tokenLimit ?? 100,
    tokens: [],
    nextTokenId: 1,
    checkins: [],
    sessions: new Map(),
  };
  for (let i = 0; i < (options.tokens ?? 1); i += 1) {
    addToken(state, { name: i === 0 ? 'default' : `token-${i + 1}`, expired_time: -1, unlimited_quota: true });
  }
  return state;
}

function addToken(state, fields) {
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

// A token the relay accepts: enabled, not expired, not exhausted (New API ValidateUserToken).
function isUsableToken(token) {
  const notExpired = token.expired_time === -1 || token.expired_time > unixNow();
  const hasQuota = token.unlimited_quota || token.remain_quota > 0;
  return token.status === 1 && notExpired && hasQuota;
}

function hasCheckin(state) {
  return !state.legacy;
}

function hasKeyEndpoints(state) {
  return state.masked;
}

// ---------------------------------------------------------------- server plumbing

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
}

function trackSocket(sockets, socket) {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
}

async function handleRequest(station, req, res) {
  const at = Date.now();
  const body = await readBody(req);
  if (body === null) return;
  const json = parseJson(body);
  station.requests.push({ method: req.method, path: req.url, headers: { ...req.headers }, body, json, at });
  const url = new URL(req.url, 'http://fake-station.invalid');
  const ctx = { station, state: station.state, req, res, url, body, json, params: {}, requestId: newRequestId() };
  res.setHeader('X-Oneapi-Request-Id', ctx.requestId);
  if (url.pathname.startsWith('/api')) return dispatchApi(ctx);
  if (url.pathname.startsWith('/v1')) return dispatchRelay(ctx);
  return sendIndexPage(res);
}

async function readBody(req) {
  const chunks = [];
  try {
    for await (const chunk of req) chunks.push(chunk);
  } catch {
    return null;
  }
  return Buffer.concat(chunks);
}

function parseJson(body) {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function route(method, pattern, handler, flags = {}) {
  return { method, segments: pathSegments(pattern), handler, auth: true, ...flags };
}

function pathSegments(path) {
  return path.split('/').filter(Boolean);
}

function findRoute(routes, ctx) {
  const segments = pathSegments(ctx.url.pathname);
  for (const candidate of routes) {
    if (candidate.method !== ctx.req.method) continue;
    if (candidate.when && !candidate.when(ctx.state)) continue;
    const params = matchSegments(candidate.segments, segments);
    if (params) {
      ctx.params = params;
      return candidate;
    }
  }
  return null;
}

function matchSegments(pattern, actual) {
  if (pattern.length !== actual.length) return null;
  const params = {};
  for (const [index, part] of pattern.entries()) {
    if (part.startsWith(':')) params[part.slice(1)] = actual[index];
    else if (part !== actual[index]) return null;
  }
  return params;
}

function sendJson(res, status, payload, headers = {}) {
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function ok(ctx, data, message = '') {
  sendJson(ctx.res, 200, { success: true, message, data });
}

// Returns false so that guards can `return fail(...)`.
function fail(ctx, message, status = 200) {
  sendJson(ctx.res, status, { success: false, message });
  return false;
}

// Unknown /api and /v1 paths: New API RelayNotFound.
function sendNotFound(ctx) {
  const message = `Invalid URL (${ctx.req.method} ${ctx.url.pathname})`;
  sendJson(ctx.res, 404, { error: { message, type: 'invalid_request_error', param: '', code: '' } });
}

function sendIndexPage(res) {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' });
  res.end(INDEX_HTML);
}

function failInternally(res, error) {
  if (res.headersSent) res.destroy();
  else sendJson(res, 500, { success: false, message: `fake-station: ${error.message}` });
}

// ---------------------------------------------------------------- management API

function dispatchApi(ctx) {
  const matched = findRoute(API_ROUTES, ctx);
  if (!matched) return sendNotFound(ctx);
  if (matched.auth && !authenticateUser(ctx)) return;
  return matched.handler(ctx);
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

function stripBearer(value) {
  return value.trim().replace(/^bearer\s+/i, '').trim();
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
  return { id: state.userId, username: state.username, display_name: state.username, role: 1, status: 1, group: 'default' };
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

function getGroups(ctx) {
  ok(ctx, ctx.state.groups);
}

function getUserModels(ctx) {
  ok(ctx, ctx.state.models);
}

function regenerateAccessToken(ctx) {
  ctx.state.accessToken = randomKey(32);
  ok(ctx, ctx.state.accessToken);
}

function pricingEntry(state, model) {
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

function getPricing(ctx) {
  const { state } = ctx;
  const groups = Object.entries(state.groups);
  const payload = {
    success: true,
    data: state.models.map((model) => pricingEntry(state, model)),
    group_ratio: Object.fromEntries(groups.filter(([, g]) => typeof g.ratio === 'number').map(([name, g]) => [name, g.ratio])),
    usable_group: Object.fromEntries(groups.map(([name, g]) => [name, g.desc])),
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

// ---------------------------------------------------------------- relay API (OpenAI format)

async function dispatchRelay(ctx) {
  const matched = findRoute(RELAY_ROUTES, ctx);
  if (!matched) return sendNotFound(ctx);
  ctx.token = findRelayToken(ctx.state, ctx.req.headers);
  if (!ctx.token) return sendInvalidToken(ctx);
  if (matched.needsModel && !admitModelRequest(ctx, matched)) return;
  const behavior = resolveBehavior(ctx);
  if (!behavior) return sendRelayError(ctx, 400, `fake-station: unknown x-fake-behavior "${ctx.req.headers['x-fake-behavior']}"`);
  if (behavior.kind === 'slow-first-byte' && !(await pause(ctx.res, behavior.value))) return;
  const terminal = TERMINAL_BEHAVIORS[behavior.kind];
  return terminal ? terminal(ctx, behavior) : matched.handler(ctx, behavior);
}

// New API TokenAuth: optional "Bearer ", optional "sk-", anything after a "-" selects a channel.
function findRelayToken(state, headers) {
  const key = stripBearer(headers.authorization ?? '').replace(/^sk-/, '').split('-')[0];
  const token = key ? state.tokens.find((candidate) => candidate.key === key) : undefined;
  return token && isUsableToken(token) ? token : undefined;
}

// What the panel checks before relaying: body, model (distributor), request shape, user quota.
function admitModelRequest(ctx, matched) {
  const { json, state } = ctx;
  if (json === undefined) return sendRelayError(ctx, 400, '无效的请求，invalid JSON request body');
  const model = json?.model;
  if (typeof model !== 'string' || model === '') {
    return sendRelayError(ctx, 400, '未指定模型名称，模型名称不能为空');
  }
  if (!state.models.includes(model)) {
    const message = `分组 default 下模型 ${model} 无可用渠道（distributor）`;
    return sendRelayError(ctx, 503, message, 'model_not_found');
  }
  const invalid = matched.validate(json);
  if (invalid) return sendRelayError(ctx, 400, invalid, 'invalid_request');
  if (state.quota <= 0) {
    const message = `用户额度不足, 剩余额度: $${(state.quota / state.quotaPerUnit).toFixed(6)}`;
    return sendRelayError(ctx, 403, message, 'insufficient_user_quota');
  }
  return true;
}

function resolveBehavior(ctx) {
  // state.behavior steers the whole station (e.g. one station of several failing in its own way).
  const spec = ctx.req.headers['x-fake-behavior'] ?? STEERING_MODELS[ctx.json?.model] ?? ctx.state.behavior ?? 'normal';
  return parseBehavior(spec.trim());
}

// "kind" or "kind:<number>"; null when the kind is unknown or the argument is not allowed.
function parseBehavior(spec) {
  const [kind, argument, ...rest] = spec.split(':');
  if (!Object.hasOwn(BEHAVIOR_DEFAULTS, kind) || rest.length > 0) return null;
  const fallback = BEHAVIOR_DEFAULTS[kind];
  if (argument === undefined) return { kind, value: fallback };
  const value = Number(argument);
  if (fallback === null || argument === '' || !Number.isFinite(value) || value < 0) return null;
  return { kind, value };
}

// Returns false so that guards can `return sendRelayError(...)`.
function sendRelayError(ctx, status, message, code = '', headers = {}) {
  const error = { message: `${message} (request id: ${ctx.requestId})`, type: 'new_api_error', code };
  sendJson(ctx.res, status, { error }, headers);
  return false;
}

function sendInvalidToken(ctx) {
  sendRelayError(ctx, 401, '无效的令牌');
}

function sendUpstreamError(ctx) {
  sendJson(ctx.res, 500, { error: { message: 'upstream exploded', type: 'new_api_error', code: 'internal_error' } });
}

function sendRateLimited(ctx, behavior) {
  sendRelayError(ctx, 429, '您已达到请求数限制：1分钟内最多请求60次', '', { 'Retry-After': String(behavior.value) });
}

// `hang`: the request stays open until the client aborts or close() destroys the socket.
function leaveOpen() {}

// Resolves true after `ms`, or false as soon as the response is closed (client gone, or close()).
function pause(res, ms) {
  return new Promise((resolve) => {
    const finish = (alive) => {
      clearTimeout(timer);
      res.off('close', onClose);
      resolve(alive);
    };
    const onClose = () => finish(false);
    const timer = setTimeout(() => finish(true), ms);
    res.once('close', onClose);
  });
}

// A non-stream relay answer, possibly broken by `bad-json` or `cut-stream`.
function sendRelayBody(ctx, behavior, payload) {
  const text = JSON.stringify(payload);
  const half = text.slice(0, Math.floor(text.length / 2));
  if (behavior.kind === 'bad-json') {
    ctx.res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(half) });
    ctx.res.end(half);
  } else if (behavior.kind === 'cut-stream') {
    ctx.res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) });
    ctx.res.write(half, () => ctx.res.destroy());
  } else {
    sendJson(ctx.res, 200, payload);
  }
}

function listModels(ctx, behavior) {
  const data = ctx.state.models.map((id) => ({
    id,
    object: 'model',
    created: MODEL_CREATED,
    owned_by: id.startsWith('gpt-') ? 'openai' : 'custom',
    supported_endpoint_types: ['openai'],
  }));
  sendRelayBody(ctx, behavior, { success: true, object: 'list', data });
}

function validateChat(json) {
  return Array.isArray(json.messages) && json.messages.length > 0 ? null : 'field messages is required';
}

function messageText(message) {
  const content = message?.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.filter((part) => part?.type === 'text' && typeof part.text === 'string').map((part) => part.text).join(' ');
}

function countWords(text) {
  return text.split(/\s+/).filter(Boolean).length;
}

function chatCompletions(ctx, behavior) {
  const { json, state } = ctx;
  const lastUser = json.messages.findLast((message) => message?.role === 'user');
  const reply = `echo: ${messageText(lastUser)}`;
  const promptTokens = json.messages.reduce((sum, message) => sum + countWords(messageText(message)), 0);
  const completionTokens = countWords(reply);
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  const completion = { id: `chatcmpl-${randomKey(24)}`, created: unixNow(), model: json.model };
  chargeUsage(ctx, json.model, usage);
  if (json.stream === true) {
    const includeUsage = json.stream_options?.include_usage === true || state.includeUsageAlways;
    return streamChat(ctx, behavior, chatChunks(completion, splitText(reply, state.streamChunks), includeUsage && usage));
  }
  return sendRelayBody(ctx, behavior, {
    ...completion,
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content: reply }, logprobs: null, finish_reason: 'stop' }],
    usage,
  });
}

// Cuts `text` into at most `parts` non-empty pieces of near-equal length.
function splitText(text, parts) {
  const chars = Array.from(text);
  const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.floor((i * chars.length) / parts));
  return bounds.slice(1).map((end, i) => chars.slice(bounds[i], end).join('')).filter(Boolean);
}

// Role chunk, one chunk per piece, the finish chunk, then the usage chunk when `usage` is given.
function chatChunks(completion, pieces, usage) {
  const chunk = (delta, finishReason = null) => ({
    ...completion,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  });
  const chunks = [chunk({ role: 'assistant', content: '' }), ...pieces.map((content) => chunk({ content })), chunk({}, 'stop')];
  if (usage) chunks.push({ ...completion, object: 'chat.completion.chunk', choices: [], usage });
  return chunks;
}

async function streamChat(ctx, behavior, chunks) {
  const { res } = ctx;
  let events = chunks.map((chunk) => JSON.stringify(chunk));
  if (behavior.kind === 'cut-stream') events = events.slice(0, 1 + behavior.value);
  if (behavior.kind === 'bad-json') events = [events[0], events[1].slice(0, Math.floor(events[1].length / 2))];
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  for (const [index, data] of events.entries()) {
    if (index > 0 && behavior.kind === 'slow-stream' && !(await pause(res, behavior.value))) return;
    if (!(await writeChunk(res, `data: ${data}\n\n`))) return;
  }
  if (behavior.kind === 'cut-stream') res.destroy();
  else if (await writeChunk(res, 'data: [DONE]\n\n')) res.end();
}

// Writes one chunk and resolves once it has been handed to the socket.
function writeChunk(res, text) {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => res.write(text, (error) => resolve(!error)));
}

function embeddingInputs(input) {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input) || input.length === 0) return null;
  return input.every((item) => typeof item === 'number') ? [input] : input;
}

function validateEmbeddings(json) {
  return embeddingInputs(json.input) ? null : 'input is empty';
}

// Deterministic float32 values in [-1, 1] derived from the input text.
function embedText(text, dimensions) {
  return Array.from({ length: dimensions }, (_, index) => {
    const digest = createHash('sha256').update(`${index}:${text}`).digest();
    return Math.fround((digest.readUInt32LE(0) / 0xffffffff) * 2 - 1);
  });
}

function float32Base64(values) {
  const buffer = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => buffer.writeFloatLE(value, index * 4));
  return buffer.toString('base64');
}

function createEmbeddings(ctx, behavior) {
  const { json, state } = ctx;
  const inputs = embeddingInputs(json.input);
  const dimensions = Number.isInteger(json.dimensions) && json.dimensions > 0 ? json.dimensions : state.embeddingDimensions;
  const data = inputs.map((item, index) => {
    const vector = embedText(typeof item === 'string' ? item : JSON.stringify(item), dimensions);
    const embedding = json.encoding_format === 'base64' ? float32Base64(vector) : vector;
    return { object: 'embedding', index, embedding };
  });
  const promptTokens = inputs.reduce((sum, item) => sum + (typeof item === 'string' ? countWords(item) : item.length), 0);
  const usage = { prompt_tokens: promptTokens, total_tokens: promptTokens };
  chargeUsage(ctx, json.model, usage);
  sendRelayBody(ctx, behavior, { object: 'list', data, model: json.model, usage });
}

// New API billing: (prompt + completion × completion_ratio) × model_ratio × group_ratio, at least 1;
// per-call models (quota_type 1) cost model_price USD.
function usageCost(state, model, usage, token) {
  const price = pricingEntry(state, model);
  const groupRatio = Number(state.groups[token.group || 'default']?.ratio) || 1;
  if (price.quota_type === 1) return Math.round(price.model_price * state.quotaPerUnit * groupRatio);
  const weighted = usage.prompt_tokens + (usage.completion_tokens ?? 0) * price.completion_ratio;
  return Math.max(1, Math.round(weighted * price.model_ratio * groupRatio));
}

function chargeUsage(ctx, model, usage) {
  const { state, token } = ctx;
  const cost = usageCost(state, model, usage, token);
  state.quota -= cost;
  state.usedQuota += cost;
  state.requestCount += 1;
  token.used_quota += cost;
  token.accessed_time = unixNow();
  if (!token.unlimited_quota) token.remain_quota -= cost;
}

// ---------------------------------------------------------------- small helpers

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Go strconv.Atoi: optional sign, decimal digits only; null otherwise.
function goAtoi(value) {
  return typeof value === 'string' && /^[+-]?\d+$/.test(value) ? Number(value) : null;
}

function randomKey(length) {
  return Array.from({ length }, () => KEY_ALPHABET[randomInt(KEY_ALPHABET.length)]).join('');
}

// New API request ids: a yyyyMMddHHmmss timestamp followed by random characters.
function newRequestId() {
  return `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}${randomKey(12)}`;
}

function unixNow() {
  return Math.floor(Date.now() / 1000);
}

function utcToday() {
  return new Date().toISOString().slice(0, 10);
}
