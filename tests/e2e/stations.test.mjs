// End-to-end: every station kind (panels, generic providers, a vendor preset) registered, synced,
// balanced and checked in through the admin API and through the scheduled handler, against
// fakes of each panel steered into expired sessions, WAF challenges, 5xx and malformed JSON.
// D1 and KV state is checked after each job; at the end a D1 dump holds no plaintext secret.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, call } from '../support/gateway.mjs';
import { startPanel } from '../support/fake-panels.mjs';
import { waitFor } from '../support/setup.mjs';

const SYNC = '*/5 * * * *';
const BALANCE = '0 * * * *';
const CHECKIN = '30 0 * * *';

let gw;
const fakes = {};
const ids = {};
const secrets = [];

// Each station: the fake's kind and options, and the registration body's credential.
const SPECS = {
  'new-api': { kind: 'new-api', options: { userId: 42, username: 'neo', password: 'pw-new-api-91', tokens: 26 }, cred: { username: 'neo', password: 'pw-new-api-91' }, checkin: true },
  'one-api': { kind: 'one-api', options: { accessToken: 'tok-one-api-5519', tokens: 25 }, cred: { access_token: 'tok-one-api-5519' } },
  onehub: { kind: 'onehub', options: { accessToken: 'tok-onehub-8842', tokens: 0 }, cred: { access_token: 'tok-onehub-8842' } },
  'done-hub': { kind: 'done-hub', options: { username: 'dh', password: 'pw-done-hub-33' }, cred: { username: 'dh', password: 'pw-done-hub-33' } },
  veloera: { kind: 'veloera', options: { accessToken: 'tok-veloera-2207', userId: 9 }, cred: { access_token: 'tok-veloera-2207', user_id: 9 }, checkin: true },
  anyrouter: { kind: 'anyrouter', options: { session: 'sess-anyrouter-6671', userId: 12345 }, cred: { cookie: 'session=sess-anyrouter-6671', user_id: '12345' }, checkin: true },
  sub2api: { kind: 'sub2api', options: { username: 'a@b.c', password: 'pw-sub2api-77', tokens: 0 }, cred: { username: 'a@b.c', password: 'pw-sub2api-77' } },
  'openai-compatible': { kind: 'openai-compatible', options: { apiKey: 'sk-openai-compat-4410', models: ['gpt-4.1'] }, cred: { api_key: 'sk-openai-compat-4410' } },
  'anthropic-compatible': { kind: 'anthropic-compatible', options: { apiKey: 'sk-ant-compat-9921', models: ['claude-opus-4-1'] }, cred: { api_key: 'sk-ant-compat-9921' } },
  'gemini-compatible': { kind: 'gemini-compatible', options: { apiKey: 'AIza-gemini-compat-3310', models: ['gemini-2.5-pro'] }, cred: { api_key: 'AIza-gemini-compat-3310' } },
  deepseek: { kind: 'openai-compatible', options: { apiKey: 'sk-deepseek-preset-5150', models: ['deepseek-chat'] }, cred: { api_key: 'sk-deepseek-preset-5150' } },
};

before(async () => {
  for (const [name, spec] of Object.entries(SPECS)) {
    fakes[name] = await startPanel(spec.kind, spec.options);
    secrets.push(...Object.values(spec.cred).filter((v) => typeof v === 'string' && v.length > 8));
  }
  secrets.push('sess-anyrouter-6671');
  // A paid-plan-like budget for one run; still small enough that one sync run cannot do all stations.
  gw = await startGateway({ vars: { JOB_SUBREQUEST_BUDGET: '200' } });
});

after(async () => {
  await gw?.close();
  for (const fake of Object.values(fakes)) await fake.close();
});

const admin = (path, opts = {}) => call(gw.url, path, { token: gw.secrets.AUTH_TOKEN, ...opts });
const db = async () => gw.d1();
const rows = async (sql, ...args) => (await (await db()).prepare(sql).bind(...args).all()).results;
const row = async (sql, ...args) => (await db()).prepare(sql).bind(...args).first();
const routeTable = async () => gw.mf.getKVNamespace('CACHE').then((kv) => kv.get('routes:1', 'json'));
const stationModels = async (name) => {
  const table = await routeTable();
  return Object.entries(table.models).filter(([, chans]) => chans.some((c) => c.station_id === ids[name])).map(([m]) => m).sort();
};
const accountOf = async (name) => row('SELECT * FROM accounts WHERE station_id = ? ORDER BY id LIMIT 1', ids[name]);
const sync = (name) => admin(`/api/provider/${ids[name]}/sync`, { method: 'POST' });

test('registration refuses bad input with clear 400s', async () => {
  const cases = [
    [{ name: 'x', platform: 'new-api', base_url: 'not a url', access_token: 't', user_id: 1 }, /base_url/],
    [{ name: 'x', platform: 'new-hub', base_url: 'http://a', access_token: 't' }, /unknown platform `new-hub`/],
    [{ name: 'x', platform: 'anyrouter', base_url: 'http://a', access_token: 't', user_id: 1 }, /missing credential for platform `anyrouter`/],
    [{ name: 'x', platform: 'openai-compatible', base_url: 'http://a' }, /missing credential for platform `openai-compatible`.*api_key/],
  ];
  for (const [body, message] of cases) {
    const res = await admin('/api/provider/', { method: 'POST', body });
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.body.error.message, message);
  }
  const detect = await admin('/api/provider/detect', { method: 'POST', body: { base_url: 'ftp://x' } });
  assert.equal(detect.status, 400);
});

test('POST /api/provider/detect names each kind by its answers', async () => {
  const expected = {
    'new-api': 'new-api', 'one-api': 'one-api', onehub: 'onehub', 'done-hub': 'done-hub', veloera: 'veloera', sub2api: 'sub2api',
    'openai-compatible': 'openai-compatible', 'anthropic-compatible': 'anthropic-compatible', 'gemini-compatible': 'gemini-compatible',
  };
  for (const [name, platform] of Object.entries(expected)) {
    const res = await admin('/api/provider/detect', { method: 'POST', body: { base_url: fakes[name].url } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.data.platform, platform, `${name}: ${res.body.data.evidence}`);
  }
  // AnyRouter's WAF hides its fields; on a host that does not say anyrouter the kind stays open.
  const waf = await admin('/api/provider/detect', { method: 'POST', body: { base_url: fakes.anyrouter.url } });
  assert.equal(waf.body.data.platform, null);
  assert.match(waf.body.data.evidence, /WAF/);
});

test('every kind registers and its first sync fills keys, models and routes', async () => {
  for (const [name, spec] of Object.entries(SPECS)) {
    const platform = name;
    const res = await admin('/api/provider/', {
      method: 'POST',
      body: { name, platform, base_url: fakes[name].url, checkin_enabled: Boolean(spec.checkin), ...spec.cred },
    });
    assert.equal(res.status, 201, `${name}: ${JSON.stringify(res.body)}`);
    ids[name] = res.body.data.id;
    const synced = await sync(name);
    assert.equal(synced.status, 200, `${name}: ${JSON.stringify(synced.body)}`);
    assert.deepEqual(synced.body.data.errors, [], name);
    assert.ok(synced.body.data.route_entries > 0, name);
    const account = await accountOf(name);
    assert.equal(account.health, 'healthy', `${name}: ${account.health_reason}`);
  }
  const keys = async (name) => (await row("SELECT COUNT(*) AS n FROM upstream_keys WHERE station_id = ? AND status = 'active'", ids[name])).n;
  // 26 masked New API keys, fetched in full by one batch reveal (/api/token/batch/keys): 26
  // single reveals would pass New API's CriticalRateLimit of 20.
  assert.equal(await keys('new-api'), 26);
  assert.equal(fakes['new-api'].requests.filter((r) => r.path === '/api/token/batch/keys').length, 1);
  assert.equal(fakes['new-api'].requests.filter((r) => /\/api\/token\/\d+\/key/.test(r.path)).length, 0);
  // One API pages by 10 whatever size says: 25 keys over three pages.
  assert.equal(await keys('one-api'), 25);
  assert.deepEqual(fakes['one-api'].requests.filter((r) => r.path.startsWith('/api/token/')).map((r) => r.path), ['/api/token/?p=0', '/api/token/?p=1', '/api/token/?p=2']);
  // OneHub and Sub2API had no key: sync created one on the panel.
  assert.equal(fakes.onehub.state.tokens.length, 1);
  assert.equal(fakes.sub2api.state.tokens.length, 1);
  for (const name of ['onehub', 'sub2api', 'veloera', 'anyrouter', 'done-hub', 'openai-compatible', 'deepseek']) assert.equal(await keys(name), 1, name);
  secrets.push(...Object.values(fakes).flatMap((f) => f.state.tokens.map((t) => t.key)));
  // Panels' models and the generic models lists reach the route table (KV).
  assert.deepEqual(await stationModels('anthropic-compatible'), ['claude-opus-4-1']);
  assert.deepEqual(await stationModels('gemini-compatible'), ['gemini-2.5-pro']);
  assert.deepEqual(await stationModels('deepseek'), ['deepseek-chat']);
  assert.deepEqual(await stationModels('sub2api'), ['claude-sonnet-4-5', 'gpt-4o']);
  assert.ok((await stationModels('new-api')).includes('gpt-4o-mini'));
  // The quota unit comes from /api/status; balances are USD.
  const veloera = await accountOf('veloera');
  assert.equal(veloera.balance_usd, 5);
  assert.equal(veloera.used_usd, 1);
  assert.equal((await accountOf('sub2api')).balance_usd, 12.5);
  // Pricing from /api/pricing: model_ratio 1.25 = $2.5 / M input tokens.
  const price = await row("SELECT * FROM station_models WHERE station_id = ? AND model = 'gpt-4o'", ids.veloera);
  assert.equal(price.input_usd_per_mtok, 2.5);
  // AnyRouter's WAF challenge was solved and its cookie sent along.
  assert.ok(fakes.anyrouter.requests.some((r) => (r.headers.cookie ?? '').includes('acw_sc__v2=')));
  // Generic API keys are stored as they are (no sk- prefix added to a Gemini key).
  const tokens = await admin(`/api/provider/${ids['gemini-compatible']}/tokens`);
  assert.equal(tokens.status, 200);
  assert.match(tokens.body.data[0].key_hint, /^AIz…/);
});

test('a second sync changes nothing and fetches no key again', async () => {
  const before = await rows('SELECT id, key_ciphertext FROM upstream_keys ORDER BY id');
  const keyFetches = () => fakes['new-api'].requests.filter((r) => /\/api\/token\/(\d+\/key|batch\/keys)/.test(r.path)).length;
  const fetched = keyFetches();
  const res = await sync('new-api');
  assert.equal(res.body.data.keys_created, 0);
  assert.equal(keyFetches(), fetched);
  assert.deepEqual(await rows('SELECT id, key_ciphertext FROM upstream_keys ORDER BY id'), before);
});

test('a vanished model leaves the route table; a new one enters with the default weight', async () => {
  const fake = fakes['one-api'];
  fake.state.models = ['gpt-4o', 'o3-mini'];
  const res = await sync('one-api');
  assert.equal(res.status, 200);
  assert.deepEqual(await stationModels('one-api'), ['gpt-4o', 'o3-mini']);
  const entries = await rows("SELECT weight, priority FROM route_entries WHERE station_id = ? AND model = 'o3-mini'", ids['one-api']);
  assert.equal(entries.length, 25, 'one entry per key');
  assert.ok(entries.every((e) => e.weight === 10 && e.priority === 0));
  assert.equal((await rows("SELECT id FROM route_entries WHERE station_id = ? AND model = 'claude-sonnet-4-5'", ids['one-api'])).length, 0);
});

test('an expired login session is replaced by a new login; a rejected token makes the account unhealthy', async () => {
  for (const name of ['new-api', 'sub2api', 'done-hub']) {
    const logins = () => fakes[name].requests.filter((r) => r.method === 'POST' && /login/.test(r.path)).length;
    const before = logins();
    const reused = await sync(name);
    assert.deepEqual(reused.body.data.errors, [], name);
    assert.equal(logins(), before, `${name}: the saved session is reused`);
    fakes[name].expireSessions();
    const res = await sync(name);
    assert.deepEqual(res.body.data.errors, [], name);
    assert.equal(logins(), before + 1, `${name}: one re-login`);
    assert.equal((await accountOf(name)).health, 'healthy');
  }
  fakes.onehub.state.steer = 'expired';
  const res = await sync('onehub');
  assert.equal(res.status, 200);
  assert.match(res.body.data.errors[0], /authentication failed/);
  const account = await accountOf('onehub');
  assert.equal(account.health, 'unhealthy');
  assert.match(account.health_reason, /access token/);
  assert.ok(account.health_changed_at > 0);
  // Channels of the failed account stay until it answers again (its models are not known to have gone).
  assert.ok((await stationModels('onehub')).length > 0);
  fakes.onehub.state.steer = null;
  await sync('onehub');
  assert.equal((await accountOf('onehub')).health, 'healthy');
});

test('a WAF challenge that does not clear is an account error, not a crash', async () => {
  fakes.anyrouter.state.steer = 'waf';
  const res = await sync('anyrouter');
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const account = await accountOf('anyrouter');
  assert.equal(account.health, 'unhealthy');
  assert.match(account.health_reason, /anti-bot|WAF/);
  fakes.anyrouter.state.steer = null;
});

test('5xx and malformed answers degrade the accounts and fail clearly', async () => {
  fakes.veloera.state.steer = '5xx';
  const down = await sync('veloera');
  assert.equal(down.status, 502);
  assert.match(down.body.error.message, /HTTP status 502/);
  assert.equal((await accountOf('veloera')).health, 'degraded');
  fakes.veloera.state.steer = 'malformed';
  const broken = await sync('veloera');
  assert.equal(broken.status, 502);
  assert.match(broken.body.error.message, /unreadable/);
  fakes.veloera.state.steer = null;
  const station = (await admin(`/api/provider/${ids.veloera}`)).body.data.station;
  assert.match(station.last_sync_error, /unreadable/);
  await sync('veloera');
  assert.equal((await accountOf('veloera')).health, 'healthy');
});

test('disabling an account takes its channels out of routing; enabling restores them', async () => {
  const account = await accountOf('new-api');
  const before = await stationModels('new-api');
  const off = await admin(`/api/provider/${ids['new-api']}/accounts/${account.id}/disable`, { method: 'POST' });
  assert.equal(off.status, 200);
  assert.equal(off.body.data.health, 'disabled');
  assert.deepEqual(await stationModels('new-api'), []);
  const keys = (await admin(`/api/provider/${ids['new-api']}/tokens`)).body.data;
  assert.ok(keys.every((k) => k.account_enabled === 0));
  // A sync skips the disabled account and keeps its channels for later.
  await sync('new-api');
  const on = await admin(`/api/provider/${ids['new-api']}/accounts/${account.id}/enable`, { method: 'POST' });
  assert.equal(on.body.data.enabled, 1);
  assert.deepEqual(await stationModels('new-api'), before);
});

test('accounts are added, edited and removed under a station; credentials never come back', async () => {
  const bad = await admin(`/api/provider/${ids.anyrouter}/accounts`, { method: 'POST', body: { name: 'x', access_token: 'abc' } });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /missing credential/);
  const added = await admin(`/api/provider/${ids.veloera}/accounts`, { method: 'POST', body: { name: 'second', access_token: 'tok-veloera-2207', user_id: 9 } });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  assert.equal(added.body.data.credential_kind, 'access_token');
  const edited = await admin(`/api/provider/${ids.veloera}/accounts/${added.body.data.id}`, { method: 'PUT', body: { name: 'renamed', checkin_enabled: true } });
  assert.equal(edited.body.data.name, 'renamed');
  const list = await admin(`/api/provider/${ids.veloera}/accounts`);
  assert.equal(list.body.data.length, 2);
  assert.ok(!JSON.stringify(list.body).includes('tok-veloera'));
  const removed = await admin(`/api/provider/${ids.veloera}/accounts/${added.body.data.id}`, { method: 'DELETE' });
  assert.equal(removed.status, 200);
  assert.equal((await admin(`/api/provider/${ids.veloera}/accounts`)).body.data.length, 1);
  const renamed = await admin(`/api/provider/${ids.deepseek}`, { method: 'PUT', body: { weight: 3 } });
  assert.equal(renamed.body.data.weight, 3);
  const table = await routeTable();
  assert.equal(table.models['deepseek-chat'][0].weight, 3);
});

test('balance runs on demand and on cron: snapshots, and estimates when a panel is down', async () => {
  const run = await admin('/api/jobs/balance/run', { method: 'POST' });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  assert.ok(run.body.data.processed >= 8, JSON.stringify(run.body.data));
  assert.equal(run.body.data.budget, 200);
  assert.ok(run.body.data.subrequests <= run.body.data.budget + 7, JSON.stringify(run.body.data));
  const snaps = await rows('SELECT * FROM balance_snapshots WHERE account_id = ? ORDER BY id', (await accountOf('sub2api')).id);
  assert.ok(snaps.length >= 1 && snaps.every((s) => s.estimated === 0 && s.balance_usd === 12.5));
  fakes.veloera.state.steer = '5xx';
  await gw.scheduled(BALANCE);
  fakes.veloera.state.steer = null;
  const last = await row('SELECT * FROM balance_snapshots WHERE account_id = ? ORDER BY id DESC LIMIT 1', (await accountOf('veloera')).id);
  assert.equal(last.estimated, 1);
  assert.equal(last.balance_usd, 5, 'last measured balance minus no gateway spend');
  const cronRuns = await rows("SELECT * FROM job_runs WHERE job = 'balance' AND trigger = 'cron'");
  assert.equal(cronRuns.length, 2, 'one instance-wide row and one for the organization');
  assert.ok(cronRuns.some((r) => r.organization_id === 1 && r.failed >= 1 && /veloera|account/.test(r.error)));
  const history = await admin(`/api/provider/${ids.veloera}/balance-history`);
  const points = history.body.data[0].points;
  assert.ok(points.at(-1).estimated);
  assert.equal(points.at(-1).spend_usd, 0);
});

test('check-in: rewards, "already checked in" as success, unsupported kinds, never twice a day', async () => {
  const veloera = await admin(`/api/provider/${ids.veloera}/checkin`, { method: 'POST' });
  assert.equal(veloera.status, 200, JSON.stringify(veloera.body));
  assert.equal(veloera.body.data[0].outcome, 'rewarded');
  assert.equal(veloera.body.data[0].reward_usd, 0.5, '250000 quota at 500000 per USD');
  const anyrouter = await admin(`/api/provider/${ids.anyrouter}/checkin`, { method: 'POST' });
  assert.equal(anyrouter.body.data[0].outcome, 'rewarded');
  assert.equal(anyrouter.body.data[0].reward_usd, 25);
  const onehub = await admin(`/api/provider/${ids.onehub}/checkin`, { method: 'POST' });
  assert.equal(onehub.body.data[0].outcome, 'unsupported');
  // Done today elsewhere (a browser): the panel says so, which is a success.
  fakes['new-api'].state.checkins.push({ checkin_date: new Date().toISOString().slice(0, 10), quota_awarded: 1 });
  await gw.scheduled(CHECKIN);
  const newApi = await row('SELECT * FROM checkin_records WHERE account_id = ?', (await accountOf('new-api')).id);
  assert.equal(newApi.outcome, 'already_done');
  const calls = () => Object.values(fakes).flatMap((f) => f.requests).filter((r) => /check_?in|sign_in/.test(r.path) && r.method === 'POST').length;
  const before = calls();
  const count = (await row('SELECT COUNT(*) AS n FROM checkin_records')).n;
  await gw.scheduled(CHECKIN);
  await admin('/api/jobs/checkin/run', { method: 'POST' });
  await admin(`/api/provider/${ids.veloera}/checkin`, { method: 'POST' });
  assert.equal(calls(), before, 'no panel was asked twice');
  assert.equal((await row('SELECT COUNT(*) AS n FROM checkin_records')).n, count);
  const history = await admin(`/api/provider/${ids.veloera}/checkins`);
  assert.equal(history.body.data.length, 1);
});

test('the sync cron works through stations least recently synced first, within its budget', async () => {
  const stamps = async () => Object.fromEntries((await rows('SELECT id, last_synced_at FROM stations')).map((s) => [s.id, s.last_synced_at]));
  const before = await stamps();
  await gw.scheduled(SYNC);
  const first = await stamps();
  const moved = Object.keys(before).filter((id) => first[id] !== before[id]);
  assert.ok(moved.length > 0 && moved.length < Object.keys(before).length, `one run syncs a batch, not all: ${moved.length}`);
  const oldest = Object.keys(before).sort((a, b) => before[a] - before[b] || a - b)[0];
  assert.ok(moved.includes(oldest), 'the least recently synced goes first');
  await gw.scheduled(SYNC);
  const second = await stamps();
  assert.ok(Object.keys(before).filter((id) => second[id] === before[id]).length < Object.keys(before).length - moved.length, 'the next run moves on');
  const runs = (await admin('/api/jobs')).body.data;
  assert.ok(runs.some((r) => r.job === 'sync' && r.trigger === 'cron' && r.processed === moved.length));
  assert.ok(runs.some((r) => r.job === 'balance' && r.trigger === 'manual'));
  const unknown = await admin('/api/jobs/backup/run', { method: 'POST' });
  assert.equal(unknown.status, 400);
});

test('deleting a station removes its channels', async () => {
  const res = await admin(`/api/provider/${ids.deepseek}`, { method: 'DELETE' });
  assert.equal(res.status, 200);
  assert.equal((await routeTable()).models['deepseek-chat'], undefined);
  assert.equal((await rows('SELECT id FROM upstream_keys WHERE station_id = ?', ids.deepseek)).length, 0);
  assert.equal((await admin(`/api/provider/${ids.deepseek}`)).status, 404);
});

test("an unreachable panel's balance is estimated from the gateway's own spend", async () => {
  const minted = await admin('/api/agg-token/', { method: 'POST', body: { name: 'estimate' } });
  const key = minted.body.data.key;
  secrets.push(key);
  // gpt-4o-mini is served by the New API station only.
  const chat = await call(gw.url, '/v1/chat/completions', { method: 'POST', token: key, body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ping' }] } });
  assert.equal(chat.status, 200, JSON.stringify(chat.body));
  const usage = await waitFor(async () => (await rows('SELECT cost_usd FROM usage_logs WHERE station_id = ? AND cost_usd > 0', ids['new-api']))[0]);
  assert.ok(usage, 'the call was logged with a cost');
  const account = await accountOf('new-api');
  await fakes['new-api'].close();
  const run = await admin('/api/jobs/balance/run', { method: 'POST' });
  assert.equal(run.status, 200);
  const snap = await row('SELECT * FROM balance_snapshots WHERE account_id = ? ORDER BY id DESC LIMIT 1', account.id);
  assert.equal(snap.estimated, 1);
  assert.ok(Math.abs(snap.balance_usd - (account.balance_usd - usage.cost_usd)) < 1e-6, `${snap.balance_usd} vs ${account.balance_usd} - ${usage.cost_usd}`);
  assert.ok(snap.used_usd > account.used_usd);
  const after = await accountOf('new-api');
  assert.equal(after.health, 'degraded');
  assert.equal(after.balance_usd, account.balance_usd, 'the measured figures stay as measured');
});

test('a D1 dump after the suite holds no plaintext credential or key', async () => {
  const d1 = await db();
  const tables = (await d1.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations'").all()).results;
  let dump = '';
  for (const { name } of tables) dump += JSON.stringify((await d1.prepare(`SELECT * FROM "${name}"`).all()).results);
  assert.ok(secrets.length > 60, `${secrets.length} secrets checked`);
  for (const secret of secrets) assert.ok(!dump.includes(secret), `found a secret in D1: ${secret.slice(0, 6)}…`);
  assert.ok(dump.includes('v2:'));
});
