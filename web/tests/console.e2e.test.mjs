// The console in real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
// against the built worker in workerd with a fake New API station: sign in, add a station by URL
// with auto-detect, sync, see its models and routes; create a key, copy it, relay a call with
// it and see the log row and the dashboard move; invite a member who accepts in a second
// browser context and sees only what the role allows; switch to Chinese with no English left;
// screenshots of every main page in both themes under tests/.tmp/console/; switch organization.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { startGateway } from '../../tests/support/gateway.mjs';
import { startFakeStation } from '../../tests/support/fake-station.mjs';
import { startConsoleServer } from '../server.mjs';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SHOTS = join(ROOT, 'tests', '.tmp', 'console');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TIMEOUT = 20_000;

let gw;
let fake;
let consoleServer;
let browser;
let admin; // the admin's browser context
let page;

before(async () => {
  // workerd resolves the worker's module paths from the working directory: the repository root.
  process.chdir(ROOT);
  await mkdir(SHOTS, { recursive: true });
  gw = await startGateway();
  fake = await startFakeStation({ accessToken: 'tok-relay-one', userId: 7, models: ['gpt-4o-mini', 'claude-sonnet-4-5'] });
  consoleServer = await startConsoleServer({ gateway: gw.url });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  admin = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: 'en-US' });
  await admin.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: consoleServer.url });
  page = await admin.newPage();
  page.setDefaultTimeout(TIMEOUT);
});

after(async () => {
  await browser?.close();
  await consoleServer?.close();
  await fake?.close();
  await gw?.close();
});

const url = (path) => consoleServer.url + path;
const heading = (p, name) => p.getByRole('heading', { level: 1, name }).waitFor();

/** Every English UI message (its fixed text between placeholders), parsed from en.ts. */
async function englishMessages() {
  const read = async (lang) => {
    const text = await readFile(join(ROOT, 'web', 'src', 'i18n', `${lang}.ts`), 'utf8');
    return Object.fromEntries([...text.matchAll(/^\s*'([\w.]+)': '(.*)',$/gm)].map((m) => [m[1], m[2]]));
  };
  const [en, zh] = await Promise.all([read('en'), read('zh')]);
  assert.ok(Object.keys(en).length > 300, 'en.ts parsed');
  const zhText = Object.values(zh).join('\n');
  return [
    ...new Set(
      Object.values(en)
        .flatMap((v) => v.split(/\{\w+\}/))
        .map((s) => s.trim())
        .filter((s) => /[A-Za-z]{3,}/.test(s) && s.length >= 4 && !zhText.includes(s)),
    ),
  ];
}

test('admin signs in with the token, adds a station by URL with auto-detect, syncs, sees models and routes', async () => {
  await page.goto(url('/'));
  await heading(page, 'Sign in');
  await page.getByRole('tab', { name: 'Admin token' }).click();
  await page.getByLabel('Admin token').fill('wrong-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Invalid or missing admin token' }).waitFor();

  await page.getByLabel('Admin token').fill(gw.secrets.AUTH_TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading(page, 'Dashboard');
  await page.getByText('No stations yet').waitFor();

  await page.getByRole('link', { name: 'Stations' }).click();
  await heading(page, 'Stations');
  await page.getByText('Paste a station’s URL').waitFor();
  await page.getByRole('button', { name: '+ Add station' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add station' });
  await dialog.getByLabel('Base URL').fill(fake.url);
  await dialog.getByRole('button', { name: 'Detect' }).click();
  await dialog.getByTestId('detect-result').filter({ hasText: 'Detected: New API' }).waitFor();
  assert.equal(await dialog.getByLabel('Platform').inputValue(), 'new-api');
  assert.equal(await dialog.getByLabel('Name', { exact: true }).inputValue(), '127.0.0.1');
  await dialog.getByLabel('Name', { exact: true }).fill('relay-one');
  // The credential fields follow the platform: New API takes a token plus the panel user id.
  await dialog.getByLabel('Access token').fill('tok-relay-one');
  await dialog.getByLabel('Panel user ID').fill('7');
  await dialog.getByRole('button', { name: 'Add and sync' }).click();

  const added = page.getByRole('dialog', { name: 'Station “relay-one” added' });
  await added.getByTestId('sync-result').filter({ hasText: 'Sync finished' }).waitFor();
  assert.match(await added.getByTestId('sync-result').innerText(), /\d+ models · 1 keys · \d+ channels/);
  await added.getByRole('button', { name: 'Open station' }).click();
  await heading(page, 'relay-one');
  await page.getByText('Healthy').first().waitFor();
  await page.getByRole('tab', { name: 'Models' }).click();
  const models = page.getByTestId('station-models');
  await models.getByText('gpt-4o-mini', { exact: true }).waitFor();
  await models.getByText('claude-sonnet-4-5', { exact: true }).waitFor();
  // New API pricing of the fake: gpt-4o-mini at $0.15 in / $0.60 out per 1M tokens.
  assert.match(await models.getByRole('row').filter({ hasText: 'gpt-4o-mini' }).innerText(), /\$0\.15\s+\$0\.60/);
  await page.getByRole('tab', { name: 'Upstream keys' }).click();
  await page.getByText('active', { exact: true }).first().waitFor();
  await page.getByRole('tab', { name: 'Dialects' }).click();
  await page.getByRole('heading', { name: 'Platform defaults' }).waitFor();
  await page.locator('.chip').getByText('openai-chat', { exact: true }).waitFor();
  await page.getByText('Nothing learned: every default dialect answered.').waitFor();

  await page.getByRole('link', { name: 'Models & routes' }).click();
  await heading(page, 'Models & routes');
  const table = page.getByTestId('routes-gpt-4o-mini');
  await table.getByRole('link', { name: 'relay-one' }).waitFor();
  // An inline edit is saved and survives a reload.
  const weight = table.getByLabel('Weight of relay-one');
  await weight.fill('25');
  await weight.press('Enter');
  await table.getByText('Edited').waitFor();
  await page.reload();
  assert.equal(await page.getByTestId('routes-gpt-4o-mini').getByLabel('Weight of relay-one').inputValue(), '25');
});

test('a key is created and copied, a relay call with it shows up in the logs and on the dashboard', async () => {
  await page.getByRole('link', { name: 'Gateway keys' }).click();
  await page.getByText('No gateway keys yet').waitFor();
  await page.getByRole('button', { name: '+ Create key' }).click();
  const form = page.getByRole('dialog', { name: 'Create key' });
  await form.getByLabel('Name').fill('laptop');
  await form.getByRole('button', { name: 'Create' }).click();
  const shown = page.getByRole('dialog', { name: 'Your new key' });
  const key = (await shown.getByTestId('new-key').innerText()).trim();
  assert.match(key, /^ag-/);
  await shown.locator('.key-reveal').getByRole('button', { name: 'Copy' }).click();
  await shown.getByText('Copied!').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);
  await shown.getByRole('tab', { name: 'Claude Code' }).click();
  assert.match(await shown.locator('pre').innerText(), new RegExp(`ANTHROPIC_AUTH_TOKEN="${key}"`));
  await shown.getByRole('button', { name: 'I have stored it' }).click();
  await page.getByTestId('keys-table').getByText('laptop').waitFor();

  const relay = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(relay.status, 200, await relay.clone().text());
  await relay.json();

  await page.getByRole('link', { name: 'Usage logs' }).click();
  await heading(page, 'Usage logs');
  const row = page.getByTestId('logs-table').getByRole('row').filter({ hasText: 'gpt-4o-mini' });
  for (let i = 0; i < 20 && (await row.count()) === 0; i++) {
    await page.waitForTimeout(500);
    await page.reload();
  }
  await row.first().click();
  const drawer = page.getByRole('dialog', { name: 'Call detail' });
  await drawer.getByTestId('log-detail').waitFor();
  const detail = await drawer.innerText();
  assert.match(detail, /Model asked\s+gpt-4o-mini/);
  assert.match(detail, /Attempts\s+1/);
  assert.match(detail, /Billed\s+\$0\.\d+/);
  await drawer.getByRole('button', { name: 'Close' }).click();

  await page.getByRole('link', { name: 'Dashboard' }).click();
  await heading(page, 'Dashboard');
  await page.getByTestId('stat-requests').filter({ hasText: /^1$/ }).waitFor();
  await page.getByText('Requests per day').waitFor();
  await page.getByRole('heading', { name: 'By key' }).locator('xpath=ancestor::section').getByText('laptop').waitFor();
});

test('an invited member accepts in a second browser and sees only what the role allows', async () => {
  await page.getByRole('link', { name: 'Organization' }).click();
  await page.getByRole('heading', { name: 'Invitations' }).waitFor();
  await page.getByLabel('Email').fill('member@example.com');
  await page.getByRole('button', { name: 'Invite', exact: true }).click();
  const link = (await page.getByTestId('invite-link').innerText()).trim();
  assert.ok(link.startsWith(`${consoleServer.url}/invite/`), link);
  await page.getByRole('button', { name: 'Done' }).click();
  await page.getByText('Pending').waitFor();

  const memberContext = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US' });
  try {
    const member = await memberContext.newPage();
    member.setDefaultTimeout(TIMEOUT);
    await member.goto(link);
    await member.getByTestId('invite-summary').filter({ hasText: 'as Member' }).waitFor();
    await member.getByRole('link', { name: 'Register' }).click();
    await member.getByLabel('Name').fill('Mia Lin');
    await member.getByLabel('Email').fill('member@example.com');
    await member.getByLabel('Password').fill('member-password-1');
    await member.getByRole('button', { name: 'Register' }).click();
    await member.getByRole('button', { name: 'Accept and join' }).click();
    // A member lands on their keys; the admin pages are not offered and not reachable.
    await heading(member, 'Gateway keys');
    await member.getByRole('button', { name: 'Menu' }).click();
    const nav = member.getByRole('navigation', { name: 'Main navigation' });
    await nav.getByRole('link', { name: 'Usage logs' }).waitFor();
    for (const hidden of ['Dashboard', 'Stations', 'Jobs']) assert.equal(await nav.getByRole('link', { name: hidden }).count(), 0, hidden);
    await member.goto(url('/stations'));
    await heading(member, 'Gateway keys');
    await member.goto(url('/routes'));
    await heading(member, 'Models');
    await member.getByText('gpt-4o-mini', { exact: true }).waitFor();
    await member.goto(url('/organization'));
    await member.getByTestId('members-table').getByText('member@example.com').waitFor();
    assert.equal(await member.getByRole('heading', { name: 'Invitations' }).count(), 0);
    await member.goto(url('/logs'));
    await member.getByText('The calls made with your keys').waitFor();
    await member.getByText('No calls match').waitFor();
    await member.screenshot({ path: join(SHOTS, 'member-phone-logs.png'), fullPage: true });
    // Signing out and back in with email and password.
    await member.getByRole('button', { name: 'Menu' }).click();
    await member.getByRole('button', { name: 'Sign out' }).click();
    await heading(member, 'Sign in');
    await member.getByLabel('Email').fill('member@example.com');
    await member.getByLabel('Password').fill('wrong-password-1');
    await member.getByRole('button', { name: 'Sign in' }).click();
    await member.getByRole('alert').filter({ hasText: 'Invalid email or password' }).waitFor();
    await member.getByLabel('Password').fill('member-password-1');
    await member.getByRole('button', { name: 'Sign in' }).click();
    // Back where they were.
    await heading(member, 'Usage logs');
  } finally {
    await memberContext.close();
  }
  await page.reload();
  await page.getByTestId('members-table').getByText('member@example.com').waitFor();
});

test('switching to Chinese leaves no English on any page, and it is remembered', async () => {
  const english = await englishMessages();
  await page.goto(url('/'));
  await heading(page, 'Dashboard');
  await page.getByTestId('lang-toggle').click();
  await heading(page, '仪表盘');
  for (const [path, title] of [
    ['/', '仪表盘'],
    ['/stations', '站点'],
    ['/routes', '模型与路由'],
    ['/keys', '网关密钥'],
    ['/logs', '使用日志'],
    ['/jobs', '任务'],
    ['/organization', null],
    ['/settings', '设置'],
    ['/profile', '个人资料'],
  ]) {
    await page.goto(url(path));
    if (title) await heading(page, title);
    await page.waitForLoadState('networkidle');
    const text = await page.locator('body').innerText();
    await page.screenshot({ path: join(SHOTS, `zh${path === '/' ? '-dashboard' : path.replace('/', '-')}.png`), fullPage: true });
    const left = english.filter((s) => text.includes(s));
    assert.deepEqual(left, [], `English left on ${path}`);
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
  }
  await page.getByTestId('lang-toggle').click();
  await heading(page, 'Profile');
});

test('screenshots of every main page in both themes', async () => {
  const stationId = (await (await gw.d1()).prepare('SELECT id FROM stations').first()).id;
  const pages = [
    ['dashboard', '/'],
    ['stations', '/stations'],
    ['station-detail', `/stations/${stationId}`],
    ['routes', '/routes'],
    ['keys', '/keys'],
    ['logs', '/logs'],
    ['jobs', '/jobs'],
    ['organization', '/organization'],
    ['settings', '/settings'],
  ];
  for (const theme of ['light', 'dark']) {
    await page.evaluate((t) => localStorage.setItem('ag.theme', t), theme);
    for (const [name, path] of pages) {
      await page.goto(url(path));
      await page.locator('h1').waitFor();
      await page.waitForLoadState('networkidle');
      assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), theme);
      await page.screenshot({ path: join(SHOTS, `${name}-${theme}.png`), fullPage: true });
    }
  }
  const signIn = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const p = await signIn.newPage();
  await p.goto(url('/sign-in'));
  await p.getByRole('heading', { name: 'Sign in' }).waitFor();
  await p.screenshot({ path: join(SHOTS, 'sign-in-light.png') });
  await signIn.close();
});

test('switching organization scopes every page to it', async () => {
  const created = await fetch(`${gw.url}/api/organizations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.secrets.AUTH_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Second', owner_email: 'member@example.com' }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  await page.goto(url('/stations'));
  await page.getByRole('link', { name: 'relay-one' }).waitFor();
  await page.getByTestId('org-switch').selectOption({ label: 'Second' });
  await page.getByText('No stations yet').waitFor();
  assert.equal(await page.getByRole('link', { name: 'relay-one' }).count(), 0);
  // The choice is remembered across a reload.
  await page.reload();
  await page.getByText('No stations yet').waitFor();
  await page.getByTestId('org-switch').selectOption({ label: 'Default' });
  await page.getByRole('link', { name: 'relay-one' }).waitFor();
});
