// Fake management APIs of every station kind besides New API (which is fake-station.mjs):
// one-api, onehub, done-hub, veloera, anyrouter, sub2api, and generic OpenAI/Anthropic/Gemini
// providers. Each follows upstream-panels.md §11 (envelopes, auth errors, pagination, key shapes,
// check-in paths) and can be steered (`fake.state.steer`) into: 'expired' (credentials rejected),
// 'waf' (AnyRouter-style challenge that never clears), '5xx', 'malformed' (truncated JSON).
// Sessions from a password login can be expired with `fake.expireSessions()`. Each kind relays at
// the paths it serves (§10: OneHub's Claude at /claude/v1/messages, no Gemini on One API…) through
// fake-relay.mjs, the New API fake's relay pipeline, keyed by the kind's own tokens.
// startPanel('new-api', …) returns fake-station.mjs's New API with the same steering.

import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { goAtoi, newRequestId, parseJson, randomKey, readBody, sendBytes, sendJson, stripBearer, utcToday } from './fake-http.mjs';
import { dispatchRelay } from './fake-relay.mjs';
import { startFakeStation } from './fake-station.mjs';

export const PANEL_KINDS = ['new-api', 'one-api', 'onehub', 'done-hub', 'veloera', 'anyrouter', 'sub2api'];
export const GENERIC_KINDS = ['openai-compatible', 'anthropic-compatible', 'gemini-compatible'];

const INVALID_URL = (method, path) => ({
  error: { message: `Invalid URL (${method} ${path})`, type: 'invalid_request_error', param: '', code: '' },
});

// The AnyRouter challenge: acw_sc__v2 = arg1 reordered by POSITIONS, XOR MASK (as its script does).
const POSITIONS = [15, 35, 29, 24, 33, 16, 1, 38, 10, 9, 19, 31, 40, 27, 22, 23, 25, 13, 6, 11, 39, 18, 20, 8, 14, 21, 32, 26, 2, 30, 7, 4, 17, 5, 3, 28, 34, 37, 12, 36];
const MASK = '3000176000856006061501533003690027800375';

export function solveChallenge(arg1) {
  const reordered = POSITIONS.map((p) => arg1[p - 1]).join('');
  let out = '';
  for (let i = 0; i < 40; i += 2) {
    out += (parseInt(reordered.slice(i, i + 2), 16) ^ parseInt(MASK.slice(i, i + 2), 16)).toString(16).padStart(2, '0');
  }
  return out;
}

// Where each kind relays (upstream-panels.md §10): [path prefix, the standard root it stands for,
// the dialects served under it]. Paths outside these answer as the kind answers unknown paths.
const OPENAI_ONLY = [['/v1', '/v1', ['openai']]];
const ONE_HUB_RELAY = [...OPENAI_ONLY, ['/claude/v1', '/v1', ['anthropic']], ['/gemini/v1beta', '/v1beta', ['gemini']]];
const RELAY_MOUNTS = {
  'one-api': OPENAI_ONLY,
  onehub: ONE_HUB_RELAY,
  'done-hub': ONE_HUB_RELAY,
  veloera: [['/v1', '/v1', ['openai', 'anthropic']]], // Veloera router/relay-router.go: /v1/responses too, no Gemini
  anyrouter: [['/v1', '/v1', ['openai', 'anthropic']]],
  sub2api: [['/v1', '/v1', ['anthropic', 'openai']], ['/v1beta', '/v1beta', ['gemini']]],
  'openai-compatible': OPENAI_ONLY,
  'anthropic-compatible': [['/v1', '/v1', ['anthropic']]],
  'gemini-compatible': [['/v1beta', '/v1beta', ['gemini']]],
};
// The `type` of OpenAI-style relay errors (§10 "Relay error type").
const RELAY_ERROR_TYPES = { 'one-api': 'one_api_error', onehub: 'one_hub_error', 'done-hub': 'one_hub_error' };

/** Per-kind differences: user header, status fields, token pagination, paths, check-in. */
const PROFILES = {
  'one-api': {
    status: { system_name: 'One API', version: 'v0.6.10', chat_link: '', oidc: false, lark_client_id: '', top_up_link: '' },
    tokens: 'one-api',
    modelsPath: '/api/user/available_models',
  },
  onehub: {
    status: { system_name: 'One Hub', version: 'v1.0', PaymentUSDRate: 7.3, PaymentMinAmount: 1, chat_links: '[]', language: 'zh' },
    tokens: 'onehub',
    modelsPath: '/api/available_model',
    groupsPath: '/api/user_group_map',
  },
  'done-hub': {
    status: { system_name: 'Done Hub', version: 'v1.1', PaymentUSDRate: 7.3, chat_links: '[]', linuxDo_oauth: false, invite_code_register: false },
    tokens: 'onehub',
    modelsPath: '/api/available_model',
    groupsPath: '/api/user_group_map',
  },
  veloera: {
    userHeader: 'veloera-user',
    status: { system_name: 'Veloera', version: 'v0.3', price: 7.3, setup: true, docs_link: '', check_in_enabled: true },
    tokens: 'legacy',
    modelsPath: '/api/user/models',
    groupsPath: '/api/user/self/groups',
    pricing: true,
    checkin: { path: '/api/user/check_in', reward: 'quota', dup: '你今天已经签到过了' },
  },
  anyrouter: {
    userHeader: 'new-api-user',
    status: { system_name: 'AnyRouter', version: 'v0.9', quota_display_type: 'USD', setup: true, checkin_enabled: false },
    tokens: 'new-api',
    modelsPath: '/api/user/models',
    groupsPath: '/api/user/self/groups',
    pricing: true,
    checkin: { path: '/api/user/sign_in', reward: 'message' },
    waf: true,
  },
};

/**
 * Starts a fake of `kind` on 127.0.0.1. Options: userId, accessToken, username, password,
 * session (an importable session cookie value), apiKey, models, tokens (count, default 1),
 * quota, usedQuota, quotaPerUnit, balance (sub2api USD), mounts (replaces the kind's relay
 * mounts: [[prefix, root, dialects]], e.g. a provider serving its API under `/custom/v1`).
 */
export async function startPanel(kind, options = {}) {
  if (kind === 'new-api') return startNewApi(options);
  const state = createState(kind, options);
  const handler = kind === 'sub2api' ? handleSub2Api : GENERIC_KINDS.includes(kind) ? handleGeneric : handleFamily;
  return serve(state, handler);
}

async function startNewApi(options) {
  const fake = await startFakeStation(options);
  fake.expireSessions = () => fake.state.sessions.clear();
  return fake;
}

function createState(kind, options) {
  const state = {
    kind,
    profile: PROFILES[kind],
    userId: options.userId ?? 7,
    username: options.username ?? 'alice',
    password: options.password ?? 'secret',
    accessToken: options.accessToken ?? 'fake-access-token',
    apiKey: options.apiKey ?? `sk-${randomKey(32)}`,
    organization: options.organization ?? 'org-fake-own',
    mounts: options.mounts ?? RELAY_MOUNTS[kind],
    quotaPerUnit: options.quotaPerUnit ?? 500000,
    quota: options.quota ?? 2500000,
    usedQuota: options.usedQuota ?? 500000,
    balance: options.balance ?? 12.5,
    models: options.models ?? ['gpt-4o', 'claude-sonnet-4-5'],
    tokens: [],
    nextId: 1,
    sessions: new Set(options.session ? [options.session] : []),
    checkins: [],
    wafTokens: new Map(), // acw_tc -> expected acw_sc__v2
    steer: null,
    // What fake-relay.mjs reads: Sub2API and the official APIs compare whole keys (New API's
    // family trims `sk-` and a channel suffix); one group at ratio 1, no per-model pricing.
    wholeKeys: kind === 'sub2api' || GENERIC_KINDS.includes(kind),
    relayErrorType: RELAY_ERROR_TYPES[kind],
    // name → {ratio, desc, public}; `group` is the user's, `groupModels` the models each group
    // enables (fake-state.mjs tokenModels: what a key of that group may call).
    groups: options.groups ?? { default: { ratio: 1, desc: '默认分组', public: true } },
    group: options.group ?? 'default',
    groupModels: options.groupModels,
    // Sub2API: the groups keys belong to (`platform` decides what a key serves), models per
    // platform, the key prefix (default.api_key_prefix), a TOTP login, active subscriptions.
    keyGroups: options.keyGroups ?? [{ id: 3, name: 'claude', platform: 'anthropic', rate_multiplier: 1, status: 'active', subscription_type: 'standard' }],
    platformModels: options.platformModels,
    keyPrefix: options.keyPrefix ?? 'sk-',
    requires2fa: options.requires2fa ?? false,
    subscriptions: options.subscriptions ?? [],
    switchedOff: options.switchedOff ?? [], // OneHub/DoneHub relays switched off: 'gemini', 'claude' 
    pricing: {},
    requestCount: 0,
    responses: new Map(), // stored Responses API objects (fake-openai.mjs)
    streamChunks: 3,
    includeUsageAlways: false,
  };
  for (let i = 0; i < (options.tokens ?? 1); i += 1) addToken(state, `token-${i + 1}`);
  return state;
}

function addToken(state, name, groupId = state.keyGroups[0].id) {
  const id = state.nextId++;
  const key = state.kind === 'sub2api' ? `${state.keyPrefix}${randomBytes(32).toString('hex')}`
    : GENERIC_KINDS.includes(state.kind) ? state.apiKey
    : state.profile?.tokens === 'onehub' ? `${randomKey(16)}_${randomKey(43)}` : randomKey(48);
  const token = { id, user_id: state.userId, key, name, status: 1, group: '', group_id: groupId, expired_time: -1, unlimited_quota: true, remain_quota: 0, used_quota: 0 };
  state.tokens.push(token);
  return token;
}

async function serve(state, handler) {
  const requests = [];
  const sockets = new Set();
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    if (body === null) return;
    const url = new URL(req.url, 'http://fake.invalid');
    const json = parseJson(body);
    const ctx = { state, req, res, url, path: url.pathname, body, json, params: {}, requestId: newRequestId() };
    requests.push({ method: req.method, path: req.url, headers: { ...req.headers }, json });
    try {
      if (steered(ctx)) return;
      await handler(ctx);
    } catch (error) {
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { success: false, message: `fake: ${error.message}` });
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    state,
    requests,
    expireSessions: () => state.sessions.clear(),
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

// Station-wide failure modes, answered before any route.
function steered(ctx) {
  const { state, res } = ctx;
  if (state.steer === '5xx') return sendBytes(res, 502, 'text/html', '<html><body>502 Bad Gateway</body></html>'), true;
  if (state.steer === 'malformed') return sendBytes(res, 200, 'application/json', '{"success":true,"data":{"quo'), true;
  if (state.steer === 'waf') return sendChallenge(ctx), true;
  return false;
}

function sendChallenge(ctx) {
  const arg1 = randomBytes(20).toString('hex').toUpperCase();
  const acwTc = randomKey(24);
  ctx.state.wafTokens.set(acwTc, solveChallenge(arg1));
  const page = `<html><script>\nvar arg1='${arg1}';\nvar l=function(){/* obfuscated */};\n</script></html>`;
  sendBytes(ctx.res, 200, 'text/html; charset=utf-8', page, { 'Set-Cookie': `acw_tc=${acwTc}; Path=/; HttpOnly` });
}

function cookies(req) {
  return Object.fromEntries((req.headers.cookie ?? '').split(';').map((p) => p.trim().split('=')).filter(([k]) => k).map(([k, ...v]) => [k, v.join('=')]));
}

// The relay mount a path falls under, if any.
function relayMount(ctx) {
  return ctx.state.mounts.find(([prefix]) => ctx.path.startsWith(`${prefix}/`));
}

// Relays through fake-relay.mjs with the path as its standard root and the mount's dialects.
function relay(ctx, [prefix, root, dialects]) {
  ctx.url.pathname = root + ctx.path.slice(prefix.length);
  ctx.dialects = dialects;
  return dispatchRelay(ctx);
}

function ok(ctx, data, message = '') {
  sendJson(ctx.res, 200, { success: true, message, data });
}

function fail(ctx, message, status = 200) {
  sendJson(ctx.res, status, { success: false, message });
}

// ---- New-API family (one-api, onehub, done-hub, veloera, anyrouter) ----

// DoneHub controller/misc.go GetStatus publishes GeminiAPIEnabled/ClaudeAPIEnabled.
function apiSwitches(state) {
  if (state.kind !== 'done-hub') return {};
  return { GeminiAPIEnabled: !state.switchedOff.includes('gemini'), ClaudeAPIEnabled: !state.switchedOff.includes('claude') };
}

// DoneHub middleware/api-enabled.go: a switched-off /gemini or /claude answers 403 before auth.
function switchedOffAnswer(ctx) {
  if (ctx.state.switchedOff.includes('gemini') && ctx.path.startsWith('/gemini/')) {
    return sendJson(ctx.res, 403, { error: { code: 500, status: 'one_hub_error', message: 'Gemini API is not supported' } }), true;
  }
  if (ctx.state.switchedOff.includes('claude') && ctx.path.startsWith('/claude/')) {
    return sendJson(ctx.res, 403, { type: 'one_hub_error', error: { type: 'api_not_supported', message: 'Claude API is not supported' } }), true;
  }
  return false;
}

function handleFamily(ctx) {
  const { state, req, path, res } = ctx;
  const profile = state.profile;
  if (switchedOffAnswer(ctx)) return;
  // Relay calls carry a key, not a browser: AnyRouter serves Claude Code without the challenge.
  const mount = relayMount(ctx);
  if (mount) return relay(ctx, mount);
  if (profile.waf && !passesWaf(ctx)) return sendChallenge(ctx);
  if (!path.startsWith('/api')) return sendBytes(res, 200, 'text/html', `<html><head><title>${profile.status.system_name}</title></head></html>`);
  const route = `${req.method} ${path}`;
  if (route === 'GET /api/status') return ok(ctx, { ...profile.status, ...apiSwitches(state), quota_per_unit: state.quotaPerUnit, turnstile_check: false });
  if (route === 'POST /api/user/login') return login(ctx);
  const known = familyRoutes(profile);
  const handler = known[route];
  if (!handler) return sendJson(res, 404, INVALID_URL(req.method, path));
  if (!authenticate(ctx)) return;
  return handler(ctx);
}

function familyRoutes(profile) {
  const routes = {
    'GET /api/user/self': (ctx) => ok(ctx, selfData(ctx.state)),
    [`GET ${profile.modelsPath}`]: (ctx) => ok(ctx, profile.modelsPath === '/api/available_model' ? availableModels(ctx) : userModels(ctx.state)),
    'GET /api/token/': listTokens,
    'POST /api/token/': createToken,
  };
  if (profile.groupsPath) routes[`GET ${profile.groupsPath}`] = (ctx) => ok(ctx, groups(ctx));
  if (profile.pricing) routes['GET /api/pricing'] = pricing;
  if (profile.checkin) routes[`POST ${profile.checkin.path}`] = checkin;
  return routes;
}

function passesWaf(ctx) {
  const jar = cookies(ctx.req);
  return jar.acw_tc && ctx.state.wafTokens.get(jar.acw_tc) === jar.acw_sc__v2;
}

function login(ctx) {
  const { state, json } = ctx;
  if (state.kind === 'anyrouter') return fail(ctx, '管理员关闭了密码登录');
  if (json?.username !== state.username || json?.password !== state.password) return fail(ctx, '用户名或密码错误，或用户已被封禁');
  const sid = randomKey(32);
  state.sessions.add(sid);
  ctx.res.setHeader('Set-Cookie', `session=${sid}; Path=/; HttpOnly`);
  return ok(ctx, { id: state.userId, username: state.username, role: 1, status: 1, group: 'default' });
}

// Session cookie or access token (expired when steered), then the panel's user header.
function authenticate(ctx) {
  const { state, req } = ctx;
  const expired = state.steer === 'expired';
  const session = cookies(req).session;
  if (session) {
    if (expired || !state.sessions.has(session)) {
      fail(ctx, state.kind === 'anyrouter' ? 'Unauthorized' : '无权进行此操作，未登录且未提供 access token', 401);
      return false;
    }
  } else {
    const token = stripBearer(req.headers.authorization ?? '');
    if (!token) return fail(ctx, '无权进行此操作，未登录且未提供 access token', 401), false;
    if (expired || token !== state.accessToken) return fail(ctx, '无权进行此操作，access token 无效'), false;
  }
  const header = state.profile.userHeader;
  if (header) {
    const name = header === 'veloera-user' ? 'Veloera-User' : 'New-Api-User';
    const value = req.headers[header];
    if (!value) return fail(ctx, `无权进行此操作，未提供 ${name}`, 401), false;
    if (goAtoi(value) !== state.userId) return fail(ctx, `无权进行此操作，${name} 与登录用户不匹配`, 401), false;
  }
  return true;
}

function selfData(state) {
  return { id: state.userId, username: state.username, role: 1, status: 1, group: state.group, quota: state.quota, used_quota: state.usedQuota, request_count: 3, access_token: '' };
}

// OneHub router/api-router.go: /api/available_model and /api/user_group_map sit behind
// TrySetUserBySession, so only a session cookie makes the caller a user; an access token is
// anonymous there and sees the public groups alone.
function sessionUser(ctx) {
  return ctx.state.sessions.has(cookies(ctx.req).session ?? '');
}

// The groups a caller sees: OneHub controller/group.go GetUserGroupRatio (public, plus the user's
// own with a session); the New API family's /api/user/self/groups (service/group.go
// GetUserUsableGroups: public, plus the user's own, for any authenticated caller).
function visibleGroups(ctx) {
  const { state } = ctx;
  const withUser = state.profile.groupsPath !== '/api/user_group_map' || sessionUser(ctx);
  return Object.entries(state.groups).filter(([name, g]) => g.public !== false || (withUser && name === state.group));
}

const groupHas = (state, group, model) => !state.groupModels || (state.groupModels[group] ?? []).includes(model);

// New API family GetUserModels: every model of the user's usable groups.
function userModels(state) {
  if (!state.groupModels) return state.models;
  const usable = Object.entries(state.groups).filter(([name, g]) => g.public !== false || name === state.group);
  return state.models.filter((m) => usable.some(([name]) => groupHas(state, name, m)));
}

// OneHub relay/model.go getAvailableModels: each model with the visible groups that enable it.
function availableModels(ctx) {
  const { state } = ctx;
  const visible = visibleGroups(ctx).map(([name]) => name);
  const entries = state.models
    .map((m) => [m, visible.filter((g) => groupHas(state, g, m))])
    .filter(([, groups]) => groups.length > 0)
    .map(([m, groups]) => [m, { groups, owned_by: 'OpenAI', price: { model: m, type: 'tokens', channel_type: 1, input: 1.25, output: 5, locked: false } }]);
  return Object.fromEntries(entries);
}

function groups(ctx) {
  const visible = visibleGroups(ctx);
  if (ctx.state.profile.groupsPath === '/api/user_group_map') {
    return Object.fromEntries(visible.map(([symbol, g], i) => [symbol, { id: i + 1, symbol, name: g.desc, ratio: g.ratio, api_rate: 600, public: g.public !== false, promotion: false, min: 0, max: 0, enable: true }]));
  }
  return Object.fromEntries(visible.map(([name, g]) => [name, { ratio: g.ratio, desc: g.desc }]));
}

function pricing(ctx) {
  const data = ctx.state.models.map((m) => ({ model_name: m, quota_type: 0, model_ratio: 1.25, model_price: 0, owner_by: '', completion_ratio: 4, enable_groups: ['default'] }));
  sendJson(ctx.res, 200, { success: true, data, group_ratio: { default: 1, vip: 0.8 }, usable_group: { default: '默认分组' } });
}

function listTokens(ctx) {
  const { state, url } = ctx;
  const tokens = [...state.tokens].sort((a, b) => b.id - a.id);
  const style = state.profile.tokens;
  const q = (name) => goAtoi(url.searchParams.get(name));
  if (style === 'one-api') {
    const p = Math.max(q('p') ?? 0, 0);
    return ok(ctx, tokens.slice(p * 10, p * 10 + 10)); // size is ignored: 10 per page
  }
  if (style === 'legacy') {
    const p = Math.max(q('p') ?? 0, 0);
    const size = Math.min(q('size') || 10, 100);
    return ok(ctx, tokens.slice(p * size, (p + 1) * size));
  }
  if (style === 'onehub') {
    const page = Math.max(q('page') ?? 1, 1);
    const size = q('size') || 10;
    if (size > 100) return fail(ctx, 'size 参数不能超过 100');
    return ok(ctx, { data: tokens.slice((page - 1) * size, page * size), page, size, total_count: tokens.length });
  }
  const page = Math.max(q('p') ?? 1, 1);
  const size = Math.min(q('size') || 10, 100);
  return ok(ctx, { page, page_size: size, total: tokens.length, items: tokens.slice((page - 1) * size, page * size) });
}

function createToken(ctx) {
  const token = addToken(ctx.state, String(ctx.json?.name ?? ''));
  // One API answers with the created token (key included); DoneHub with {id, key}
  // (done-hub controller/token.go AddToken); OneHub, Veloera and AnyRouter with success only.
  if (ctx.state.kind === 'one-api') return ok(ctx, token);
  if (ctx.state.kind === 'done-hub') return ok(ctx, { id: token.id, key: token.key });
  return sendJson(ctx.res, 200, { success: true, message: '' });
}

function checkin(ctx) {
  const { state } = ctx;
  const today = utcToday();
  const done = state.checkins.includes(today);
  if (state.profile.checkin.reward === 'message') {
    // AnyRouter: a repeat is success with an empty message.
    if (done) return sendJson(ctx.res, 200, { success: true, message: '' });
    state.checkins.push(today);
    state.quota += 25 * state.quotaPerUnit;
    return sendJson(ctx.res, 200, { success: true, message: '签到成功，获得 $25' });
  }
  if (done) return fail(ctx, state.profile.checkin.dup);
  state.checkins.push(today);
  state.quota += 250000;
  return ok(ctx, { quota: 250000 }, '签到成功');
}

// ---- Sub2API ----

function handleSub2Api(ctx) {
  const { state, req, path, res } = ctx;
  const route = `${req.method} ${path}`;
  const code0 = (data, status = 200) => sendJson(res, status, { code: 0, message: 'success', data });
  if (route === 'GET /api/v1/settings/public') return code0({ site_name: 'Sub2API', version: '0.1.0', turnstile_enabled: false, registration_enabled: true });
  if (route === 'POST /api/v1/auth/login') {
    if (ctx.json?.email !== state.username || ctx.json?.password !== state.password) return sendJson(res, 401, { code: 401, message: 'invalid email or password', reason: 'INVALID_CREDENTIALS' });
    // Sub2API handler/auth_handler.go Login (builds with TOTP): a second step is required.
    if (state.requires2fa) return code0({ requires_2fa: true, temp_token: randomKey(32), user_email_masked: 'a***@b.c' });
    const jwt = `eyJ${randomKey(40)}`;
    state.sessions.add(jwt);
    return code0({ access_token: jwt, token_type: 'Bearer', user: { id: state.userId, email: state.username } });
  }
  if (path.startsWith('/v1/') || path.startsWith('/v1beta/')) return sub2apiRelay(ctx);
  if (!path.startsWith('/api/v1/')) return sendBytes(res, 404, 'text/plain', '404 page not found');
  const auth = req.headers.authorization ?? '';
  if (!auth.startsWith('Bearer ')) return sendJson(res, 401, { code: 'UNAUTHORIZED', message: 'Authorization header is required' });
  if (state.steer === 'expired' || !state.sessions.has(auth.slice(7))) return sendJson(res, 401, { code: 'TOKEN_EXPIRED', message: 'token has expired' });
  const page = Math.max(goAtoi(ctx.url.searchParams.get('page')) ?? 1, 1);
  const size = Math.min(goAtoi(ctx.url.searchParams.get('page_size')) || 20, 100);
  const keyView = (t) => ({ id: t.id, user_id: state.userId, key: t.key, name: t.name, group_id: t.group_id, status: t.status === 1 ? 'active' : 'disabled', created_at: '2025-12-01T00:00:00Z', group: keyGroup(state, t) });
  switch (route) {
    case 'GET /api/v1/auth/me':
      return code0({ id: state.userId, email: state.username, username: 'alice', role: 'user', balance: state.balance, concurrency: 3, status: 'active' });
    case 'GET /api/v1/keys': {
      const items = state.tokens.slice((page - 1) * size, page * size).map(keyView);
      return code0({ items, total: state.tokens.length, page, page_size: size, pages: Math.ceil(state.tokens.length / size) });
    }
    case 'POST /api/v1/keys':
      if (!ctx.json?.name) return sendJson(res, 400, { code: 400, message: 'name is required' });
      return code0(keyView(addToken(state, ctx.json.name, ctx.json.group_id ?? undefined)), 201);
    case 'GET /api/v1/groups/available':
      return code0(state.keyGroups);
    case 'GET /api/v1/subscriptions/progress':
      return code0(state.subscriptions.map((sub) => ({ subscription: { id: sub.id, group_id: sub.group_id, status: 'active' }, progress: subscriptionProgress(state, sub) })));
    default:
      return sendBytes(res, 404, 'text/plain', '404 page not found');
  }
}

function keyGroup(state, token) {
  return state.keyGroups.find((g) => g.id === token.group_id) ?? null;
}

const modelsOf = (state, platform) => state.platformModels?.[platform] ?? state.models;

// service/subscription_service.go SubscriptionProgress: the windows the group limits.
function subscriptionProgress(state, sub) {
  const group = state.keyGroups.find((g) => g.id === sub.group_id);
  const window = (period) => {
    const limit = sub[`${period}_limit_usd`];
    if (limit === undefined) return undefined;
    const used = sub[`${period}_used_usd`] ?? 0;
    return { limit_usd: limit, used_usd: used, remaining_usd: Math.max(limit - used, 0), percentage: (100 * used) / limit, window_start: '2025-12-01T00:00:00Z', resets_at: sub[`${period}_resets_at`], resets_in_seconds: 3600 };
  };
  return { id: sub.id, group_name: group?.name ?? '', expires_at: sub.expires_at, expires_in_days: 20, daily: window('daily'), weekly: window('weekly'), monthly: window('monthly') };
}

// handler/gateway_handler.go Usage: a subscription group's smallest remaining limit, -1 with none.
function usage(state, token) {
  const group = keyGroup(state, token);
  const sub = group?.subscription_type === 'subscription' && state.subscriptions.find((s) => s.group_id === group.id);
  if (!sub) return { isValid: true, planName: '钱包余额', remaining: state.balance, unit: 'USD' };
  const progress = subscriptionProgress(state, sub);
  const remaining = ['daily', 'weekly', 'monthly'].map((p) => progress[p]?.remaining_usd).filter((r) => r !== undefined);
  return { isValid: true, planName: group.name, remaining: remaining.length ? Math.min(...remaining) : -1, unit: 'USD' };
}

// Sub2API routes/gateway.go: every relay route takes the key exactly as listed; what it serves
// depends on the key's group platform (gateway_handler.go Models, Messages; gemini_v1beta_handler.go).
function sub2apiRelay(ctx) {
  const { state, req, res } = ctx;
  const key = req.headers['x-api-key'] ?? req.headers['x-goog-api-key'] ?? ctx.url.searchParams.get('key') ?? stripBearer(req.headers.authorization ?? '');
  const token = state.tokens.find((t) => t.key === key && t.status === 1);
  if (!token) return sendJson(res, 401, { code: 'INVALID_API_KEY', message: 'Invalid API key' });
  const platform = keyGroup(state, token)?.platform ?? 'anthropic';
  if (ctx.path === '/v1/usage') return sendJson(res, 200, usage(state, token));
  if (ctx.path === '/v1/models') {
    // The OpenAI list for OpenAI groups, the Claude list for every other group.
    const models = modelsOf(state, platform === 'openai' ? 'openai' : 'anthropic');
    return sendJson(res, 200, { object: 'list', data: models.map((id) => ({ id, type: 'model', display_name: id, created_at: '2025-09-29T00:00:00Z' })) });
  }
  if (ctx.path.startsWith('/v1beta/') && platform !== 'gemini') {
    return sendJson(res, 400, { error: { code: 400, message: 'API key group platform is not gemini', status: 'INVALID_ARGUMENT' } });
  }
  if (ctx.path === '/v1beta/models') {
    return sendJson(res, 200, { models: modelsOf(state, 'gemini').map((m) => ({ name: `models/${m}`, displayName: m, supportedGenerationMethods: ['generateContent'] })) });
  }
  // /v1/messages picks the group's Claude accounts (or the Gemini compatibility path); /v1/responses
  // its OpenAI accounts: a group without such accounts has none available.
  const serves = { '/v1/messages': ['anthropic', 'gemini'], '/v1/responses': ['openai'] }[ctx.path];
  if (serves && !serves.includes(platform)) {
    return sendJson(res, 503, { type: 'error', error: { type: 'api_error', message: 'No available accounts' } });
  }
  return relay(ctx, relayMount(ctx));
}

// ---- Generic providers (and vendor presets pointed here) ----

function handleGeneric(ctx) {
  const { state, req, res, url } = ctx;
  if (state.kind === 'gemini-compatible') {
    const key = req.headers['x-goog-api-key'] ?? url.searchParams.get('key');
    if (key !== state.apiKey || state.steer === 'expired') {
      return sendJson(res, 400, { error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT', details: [{ reason: 'API_KEY_INVALID' }] } });
    }
    if (ctx.path === '/v1beta/models') return sendJson(res, 200, { models: state.models.map((m) => ({ name: `models/${m}`, displayName: m, supportedGenerationMethods: ['generateContent'] })) });
  } else if (state.kind === 'anthropic-compatible') {
    if (req.headers['x-api-key'] !== state.apiKey || state.steer === 'expired') {
      return sendJson(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });
    }
    if (ctx.path === '/v1/models') {
      return sendJson(res, 200, { data: state.models.map((id) => ({ id, type: 'model', display_name: id, created_at: '2025-01-01T00:00:00Z' })), has_more: false, first_id: state.models[0], last_id: state.models.at(-1) });
    }
  } else {
    if (stripBearer(req.headers.authorization ?? '') !== state.apiKey || state.steer === 'expired') {
      return sendJson(res, 401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } });
    }
    // As OpenAI: a key used with an organization it does not belong to is refused.
    const org = req.headers['openai-organization'];
    if (org !== undefined && org !== state.organization) {
      return sendJson(res, 401, { error: { message: `OpenAI-Organization header should match organization for API key`, type: 'invalid_request_error', code: 'mismatched_organization' } });
    }
    if (ctx.path.endsWith('/models')) return sendJson(res, 200, { object: 'list', data: state.models.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'system' })) });
  }
  const mount = relayMount(ctx);
  if (mount) return relay(ctx, mount);
  return sendJson(res, 404, { error: { message: `no route ${ctx.path}`, type: 'not_found' } });
}
