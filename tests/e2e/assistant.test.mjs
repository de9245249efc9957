// End-to-end: the ComfyUI assistant against a fake ComfyUI (real protocol, WebSocket included)
// in workerd — servers with a sealed auth header and a health check, templates offered only
// when the server has their nodes and files, runs queued with the template's graph and the
// right values, progress re-emitted as ordered SSE, results through /view, multi-view as four
// runs with one seed, node errors, cancel, the per-organization switch, and isolation.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { call } from '../support/gateway.mjs';
import { gatewayWithStations, usageRows } from '../support/setup.mjs';
import { startFakeComfy, PNG } from '../support/fake-comfyui.mjs';

const TEMPLATES = resolve(import.meta.dirname, '..', '..', 'src', 'core', 'comfy', 'templates');
const template = (id) => JSON.parse(readFileSync(resolve(TEMPLATES, `${id}.json`), 'utf8'));

let gw;
let llm; // the fake station the assistant's LLM calls go to
let comfy;
let local; // an unauthenticated ComfyUI as the dev default (COMFYUI_URL)
let serverId;
let other; // a second organization's owner token
const cleanups = [];

const admin = (path, opts = {}) => call(gw.url, path, { token: gw.secrets.AUTH_TOKEN, ...opts });

before(async () => {
  comfy = await startFakeComfy({ auth: ['X-API-Key', 'k-secret-123'] });
  local = await startFakeComfy();
  cleanups.push(() => local.close());
  const setup = await gatewayWithStations({ llm: {} }, { cleanups, vars: { COMFYUI_URL: local.url } });
  gw = setup.gw;
  llm = setup.stations.llm.fake;
  const user = await call(gw.url, '/api/users/register', { method: 'POST', body: { email: 'b@other.test', password: 'correct horse battery', name: 'b' } });
  assert.equal(user.status, 201, JSON.stringify(user.body));
  other = user.body.data.access_token;
  const org = await call(gw.url, '/api/organizations', { method: 'POST', token: other, body: { name: 'other' } });
  assert.equal(org.status, 201, JSON.stringify(org.body));
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await comfy?.close();
});

/** Reads an SSE response to its end: [{event, data}]. */
async function sse(res) {
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get('content-type'), /text\/event-stream/);
  return parseSse(await res.text());
}

function parseSse(text) {
  return text
    .split('\n\n')
    .filter((block) => block.trim())
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
      const data = JSON.parse(lines.find((l) => l.startsWith('data: ')).slice(6));
      return { event, data };
    });
}

const runRequest = (conversation, body, token = gw.secrets.AUTH_TOKEN) =>
  fetch(`${gw.url}/api/assistant/conversations/${conversation}/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

async function conversation() {
  const res = await admin('/api/assistant/conversations', { method: 'POST', body: { server_id: serverId, title: 't' } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.data;
}

test('a server is added with a sealed auth header and its health check caches the catalogue', async () => {
  const created = await admin('/api/assistant/servers', {
    method: 'POST',
    body: { name: 'studio', base_url: `${comfy.url}/`, auth_header: 'X-API-Key', auth_value: 'k-secret-123' },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  serverId = created.body.data.id;
  assert.equal(created.body.data.auth_header, 'X-API-Key');
  assert.ok(!JSON.stringify(created.body).includes('k-secret-123'));
  const { results } = await (await gw.d1()).prepare('SELECT auth_ciphertext FROM comfy_servers WHERE id = ?').bind(serverId).all();
  assert.ok(results[0].auth_ciphertext && !results[0].auth_ciphertext.includes('k-secret-123'));

  const checked = await admin(`/api/assistant/servers/${serverId}/check`, { method: 'POST' });
  assert.equal(checked.status, 200, JSON.stringify(checked.body));
  const server = checked.body.data;
  assert.equal(server.status, 'ok');
  assert.equal(server.system_stats.devices[0].type, 'cuda');
  assert.ok(server.catalog.node_classes.includes('KSampler'));
  assert.deepEqual(server.catalog.models.unet_name, ['wan2.1_t2v_1.3B_fp16.safetensors', 'wan2.2_ti2v_5B_fp16.safetensors']);
  assert.ok(!JSON.stringify(checked.body).includes('k-secret-123'));

  // A wrong secret makes the check fail with the reason, not crash.
  const wrong = await admin('/api/assistant/servers', { method: 'POST', body: { base_url: comfy.url, auth_header: 'X-API-Key', auth_value: 'nope' } });
  const failed = await admin(`/api/assistant/servers/${wrong.body.data.id}/check`, { method: 'POST' });
  assert.equal(failed.body.data.status, 'unreachable');
  assert.match(failed.body.data.last_error, /401/);
  await admin(`/api/assistant/servers/${wrong.body.data.id}`, { method: 'DELETE' });
});

test('with no server registered, the dev default COMFYUI_URL serves as server 0', async () => {
  const listed = await admin('/api/assistant/templates?server_id=0');
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  assert.ok(listed.body.data.every((t) => t.availability.available));
  const res = await admin('/api/assistant/conversations', { method: 'POST', body: {} });
  assert.equal(res.status, 201);
  const events = await sse(await runRequest(res.body.data.id, { template: 'text-to-image', params: { prompt: 'local fox' } }));
  assert.equal(events.at(-1).event, 'done');
  assert.equal(local.state.prompts.at(-1).prompt['6'].inputs.text, 'local fox');
});

test('a text-to-image run queues the template graph with the right values and streams progress in order', async () => {
  const conv = await conversation();
  const events = await sse(await runRequest(conv.id, {
    template: 'text-to-image',
    params: { prompt: 'a red fox in snow', width: 1344, height: 768, seed: 42, sampler: 'dpmpp_2m' },
  }));
  const names = events.map((e) => e.event);
  assert.equal(names[0], 'run');
  assert.equal(names.at(-1), 'done', names.join(','));
  const order = ['run', 'started', 'executing', 'progress', 'preview', 'output', 'done'].map((n) => names.indexOf(n));
  assert.ok(order.every((i) => i >= 0), names.join(','));
  assert.deepEqual([...order].sort((a, b) => a - b), order, names.join(','));
  const progress = events.filter((e) => e.event === 'progress').map((e) => e.data.percent);
  assert.deepEqual(progress, [25, 50, 75, 100]);
  assert.equal(events.find((e) => e.event === 'preview').data.mime, 'image/png');

  // The graph ComfyUI received is the template with exactly the chosen values.
  const expected = template('text-to-image').graph;
  expected['6'].inputs.text = 'a red fox in snow';
  expected['7'].inputs.text = 'blurry, low quality, watermark';
  Object.assign(expected['5'].inputs, { width: 1344, height: 768 });
  Object.assign(expected['3'].inputs, { seed: 42, sampler_name: 'dpmpp_2m' });
  const received = comfy.state.prompts.at(-1);
  assert.deepEqual(received.prompt, expected);
  assert.equal(received.client_id, conv.client_id);

  // The result is viewable through the gateway, and stored with its parameters.
  const run = events[0].data.run;
  const file = events.at(-1).data.outputs[0];
  const view = await fetch(`${gw.url}/api/assistant/runs/${run}/view?filename=${file.filename}&subfolder=${file.subfolder}&type=output`, {
    headers: { authorization: `Bearer ${gw.secrets.AUTH_TOKEN}` },
  });
  assert.equal(view.status, 200);
  assert.deepEqual(Buffer.from(await view.arrayBuffer()), PNG);
  const other = await admin(`/api/assistant/runs/${run}/view?filename=elsewhere.png&subfolder=&type=output`);
  assert.equal(other.status, 404);
  const stored = await admin(`/api/assistant/conversations/${conv.id}`);
  const row = stored.body.data.runs[0];
  assert.equal(row.status, 'done');
  assert.equal(row.params.seed, 42);
  assert.deepEqual(row.graph, expected);
  assert.deepEqual(row.outputs, [file]);
});

test('when the WebSocket cannot open, the run is followed by polling /history', async () => {
  const plain = await startFakeComfy({ webSocket: false });
  cleanups.push(() => plain.close());
  const server = await admin('/api/assistant/servers', { method: 'POST', body: { name: 'no-ws', base_url: plain.url } });
  const conv = await admin('/api/assistant/conversations', { method: 'POST', body: { server_id: server.body.data.id } });
  const events = await sse(await runRequest(conv.body.data.id, { template: 'text-to-image', params: { prompt: 'polled fox' } }));
  assert.deepEqual(events.map((e) => e.event).filter((e) => e !== 'queued'), ['run', 'done']);
  const file = events.at(-1).data.outputs[0];
  assert.match(file.filename, /^t2i_\d+_\.png$/);
  const view = await fetch(`${gw.url}/api/assistant/runs/${events[0].data.run}/view?filename=${file.filename}&subfolder=${file.subfolder}&type=output`, {
    headers: { authorization: `Bearer ${gw.secrets.AUTH_TOKEN}` },
  });
  assert.deepEqual(Buffer.from(await view.arrayBuffer()), PNG);
});

test('multi-view queues four runs with one seed and one view each', async () => {
  const conv = await conversation();
  const before = comfy.state.prompts.length;
  const events = await sse(await runRequest(conv.id, { template: 'multi-view', params: { prompt: 'a knight in silver armour' } }));
  const runs = events.filter((e) => e.event === 'run');
  assert.deepEqual(runs.map((r) => r.data.label), ['front', 'back', 'left', 'right']);
  assert.equal(events.filter((e) => e.event === 'done').length, 4);
  const queued = comfy.state.prompts.slice(before);
  assert.equal(queued.length, 4);
  const seeds = new Set(queued.map((p) => p.prompt['3'].inputs.seed));
  assert.equal(seeds.size, 1);
  queued.forEach((p, i) => {
    assert.ok(p.prompt['6'].inputs.text.startsWith(`a knight in silver armour, ${['front', 'back', 'left', 'right'][i]} view,`));
  });
  const queuedEvents = events.filter((e) => e.event === 'queued');
  assert.ok(queuedEvents.length >= 1, 'queue positions are reported');
});

test('a node error reaches the stream as a clear message and the run is stored as failed', async () => {
  const conv = await conversation();
  const events = await sse(await runRequest(conv.id, { template: 'text-to-image', params: { prompt: 'FAIL on purpose' } }));
  const error = events.find((e) => e.event === 'error');
  assert.equal(error.data.node, '3');
  assert.equal(error.data.message, 'KSampler (node 3): CUDA out of memory. Tried to allocate 2.00 GiB');
  const stored = await admin(`/api/assistant/conversations/${conv.id}`);
  assert.equal(stored.body.data.runs[0].status, 'error');
});

test('an invalid fill is refused with the reasons before anything is queued', async () => {
  const conv = await conversation();
  const before = comfy.state.prompts.length;
  const res = await runRequest(conv.id, { template: 'text-to-image', params: { prompt: 'x', width: 4096, sampler: 'warp' } });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.match(body.error.message, /parameter `width`: 4096 is above the maximum 2048/);
  assert.match(body.error.message, /`warp` is not offered by the server/);
  assert.equal(comfy.state.prompts.length, before);
});

test('cancel reaches the fake: the prompt is deleted from the queue and interrupted', async () => {
  const conv = await conversation();
  const res = await runRequest(conv.id, { template: 'text-to-image', params: { prompt: 'SLOW lighthouse' } });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let run;
  while (!/event: progress/.test(text)) {
    const { value, done } = await reader.read();
    assert.ok(!done, 'the stream ended before any progress');
    text += decoder.decode(value, { stream: true });
    run ??= parseSse(text.slice(0, text.lastIndexOf('\n\n') + 2)).find((e) => e.event === 'run')?.data.run;
  }
  const interrupts = comfy.state.interrupts;
  const cancelled = await admin(`/api/assistant/runs/${run}/cancel`, { method: 'POST' });
  assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
  assert.equal(comfy.state.interrupts, interrupts + 1);
  assert.ok(comfy.state.deleted.length > 0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  assert.ok(parseSse(text).some((e) => e.event === 'cancelled'), text);
  const stored = await admin(`/api/assistant/conversations/${conv.id}`);
  assert.equal(stored.body.data.runs[0].status, 'cancelled');
});

test('another organization sees neither the conversations nor the runs nor their images', async () => {
  const conv = await conversation();
  const mine = await admin('/api/assistant/conversations');
  assert.ok(mine.body.data.length >= 1);
  const list = await call(gw.url, '/api/assistant/conversations', { token: other });
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.data, []);
  assert.equal((await call(gw.url, `/api/assistant/conversations/${conv.id}`, { token: other })).status, 404);
  const { results } = await (await gw.d1()).prepare("SELECT id, outputs FROM assistant_runs WHERE status = 'done' LIMIT 1").all();
  const file = JSON.parse(results[0].outputs)[0];
  const view = await call(gw.url, `/api/assistant/runs/${results[0].id}/view?filename=${file.filename}&subfolder=${file.subfolder}&type=output`, { token: other });
  assert.equal(view.status, 404);
  assert.equal((await call(gw.url, `/api/assistant/runs/${results[0].id}/events`, { token: other })).status, 404);
  assert.equal((await call(gw.url, `/api/assistant/runs/${results[0].id}/cancel`, { method: 'POST', token: other })).status, 404);
  assert.equal((await runRequest(conv.id, { template: 'text-to-image', params: { prompt: 'x' } }, other)).status, 404);
  assert.deepEqual((await call(gw.url, '/api/assistant/servers', { token: other })).body.data, []);
});

test('an admin can switch the assistant off for the organization', async () => {
  const off = await admin('/api/assistant/settings', { method: 'PUT', body: { enabled: false } });
  assert.deepEqual(off.body.data, { enabled: false, model: null });
  const refused = await admin('/api/assistant/conversations');
  assert.equal(refused.status, 403);
  assert.match(refused.body.error.message, /disabled/);
  // Another organization is unaffected.
  assert.equal((await call(gw.url, '/api/assistant/conversations', { token: other })).status, 200);
  await admin('/api/assistant/settings', { method: 'PUT', body: { enabled: true } });
  assert.equal((await admin('/api/assistant/conversations')).status, 200);
});

test('a missing model file makes the template unavailable, with the reason', async () => {
  const listed = await admin(`/api/assistant/templates?server_id=${serverId}`);
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  assert.ok(listed.body.data.every((t) => t.availability.available), JSON.stringify(listed.body.data.map((t) => t.availability)));
  comfy.removeFile('UNETLoader', 'unet_name', 'wan2.2_ti2v_5B_fp16.safetensors');
  await admin(`/api/assistant/servers/${serverId}/check`, { method: 'POST' });
  const after = await admin(`/api/assistant/templates?server_id=${serverId}`);
  const i2v = after.body.data.find((t) => t.id === 'image-to-video');
  assert.deepEqual(i2v.availability, { available: false, reasons: ['`wan2.2_ti2v_5B_fp16.safetensors` (UNETLoader.unet_name) is not installed'] });
  assert.ok(after.body.data.find((t) => t.id === 'text-to-video').availability.available);
  const conv = await conversation();
  const refused = await runRequest(conv.id, { template: 'image-to-video', params: { prompt: 'waves', image: 'example.png' } });
  assert.equal(refused.status, 400);
  assert.match((await refused.json()).error.message, /cannot run on this server: `wan2.2_ti2v_5B_fp16.safetensors`/);
});

test('an uploaded template with marked parameters is checked, listed and runs', async () => {
  const bad = await admin('/api/assistant/templates', { method: 'POST', body: { id: 'mine', title: 'Mine', description: '', output: 'image', params: [{ name: 'p', type: 'text', targets: [['6', 'nope']] }], graph: template('text-to-image').graph } });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /`6.nope`/);
  const graph = template('text-to-image').graph;
  const upload = { id: 'square-fox', title: 'Square', description: 'Square images', output: 'image', graph,
    params: [{ name: 'subject', type: 'text', required: true, targets: [['6', 'text']] }, { name: 'seed', type: 'seed', targets: [['3', 'seed']] }] };
  const created = await admin('/api/assistant/templates', { method: 'POST', body: upload });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const listed = await admin('/api/assistant/templates');
  assert.ok(listed.body.data.some((t) => t.id === 'square-fox'));
  assert.deepEqual((await call(gw.url, '/api/assistant/templates', { token: other })).body.data.map((t) => t.id).includes('square-fox'), false);
  const conv = await conversation();
  const events = await sse(await runRequest(conv.id, { template: 'square-fox', params: { subject: 'a fox', seed: 3 } }));
  assert.equal(events.at(-1).event, 'done');
  assert.equal(comfy.state.prompts.at(-1).prompt['6'].inputs.text, 'a fox');
});

const chat = (conversation, message) =>
  fetch(`${gw.url}/api/assistant/chat`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.secrets.AUTH_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ conversation_id: conversation, message }),
  });

test('a chat turn: the LLM (through the relay) fills a template, an invalid fill goes back once, the run streams', async () => {
  const conv = await conversation();
  const noModel = await chat(conv.id, 'a fox');
  assert.equal(noModel.status, 400);
  assert.match((await noModel.json()).error.message, /choose the assistant's model first/);
  const set = await admin('/api/assistant/settings', { method: 'PUT', body: { model: 'gpt-4o' } });
  assert.deepEqual(set.body.data, { enabled: true, model: 'gpt-4o' });

  const calls = llm.requests.length;
  llm.state.scriptedToolCalls = [
    { name: 'run_template', args: { template: 'text-to-image', params: { prompt: 'a fox at dawn', width: 5000 } } },
    { name: 'run_template', args: { template: 'text-to-image', params: { prompt: 'a fox at dawn', width: 1024, height: 576 } } },
  ];
  const events = await sse(await chat(conv.id, 'a fox at dawn, wide'));
  assert.equal(events[0].event, 'message');
  assert.match(events[0].data.content, /Queued 1 prompt\(s\) of `text-to-image`/);
  assert.equal(events.at(-1).event, 'done', JSON.stringify(events.map((e) => e.event)));
  const turns = llm.requests.slice(calls).filter((r) => r.path.startsWith('/v1/chat/completions'));
  assert.equal(turns.length, 2);
  assert.equal(turns[0].json.model, 'gpt-4o');
  assert.deepEqual(turns[0].json.tools.map((t) => t.function.name), ['run_template', 'tweak_last_run', 'ask_user']);
  const feedback = turns[1].json.messages.at(-1);
  assert.equal(feedback.role, 'tool');
  assert.match(feedback.content, /parameter `width`: 5000 is above the maximum 2048/);
  const graph = comfy.state.prompts.at(-1).prompt;
  assert.equal(graph['6'].inputs.text, 'a fox at dawn');
  assert.equal(graph['5'].inputs.width, 1024);
  const seed = graph['3'].inputs.seed;
  // Both LLM calls are in the organization's usage log like any call.
  const rows = await usageRows(gw, 2, "endpoint = 'chat.completions'");
  assert.ok(rows.length >= 2 && rows.every((r) => r.organization_id === 1));

  // "Same but at dusk": a tweak keeps the seed and the size.
  llm.state.scriptedToolCalls = [{ name: 'tweak_last_run', args: { changes: { prompt: 'a fox at dusk' } } }];
  const tweak = await sse(await chat(conv.id, 'same but at dusk'));
  assert.equal(tweak.at(-1).event, 'done');
  const tweaked = comfy.state.prompts.at(-1).prompt;
  assert.equal(tweaked['6'].inputs.text, 'a fox at dusk');
  assert.equal(tweaked['3'].inputs.seed, seed);
  assert.equal(tweaked['5'].inputs.height, 576);

  // A clarifying question, then a fill that never validates: a clear message after three tries.
  llm.state.scriptedToolCalls = [{ name: 'ask_user', args: { question: 'Portrait or landscape?' } }];
  const asked = await sse(await chat(conv.id, 'make me something'));
  assert.deepEqual(asked.map((e) => e.event), ['message']);
  assert.equal(asked[0].data.content, 'Portrait or landscape?');
  const bad = { name: 'run_template', args: { template: 'text-to-image', params: { prompt: 'x', sampler: 'warp' } } };
  llm.state.scriptedToolCalls = [bad, bad, bad];
  const before = comfy.state.prompts.length;
  const gaveUp = await sse(await chat(conv.id, 'use the warp sampler'));
  assert.deepEqual(gaveUp.map((e) => e.event), ['message']);
  assert.match(gaveUp[0].data.content, /after 3 tries.*`warp` is not offered by the server/);
  assert.equal(comfy.state.prompts.length, before);
  const stored = await admin(`/api/assistant/conversations/${conv.id}`);
  assert.deepEqual(stored.body.data.messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
});
