// End-to-end: what crosses the gateway besides the payload (issue 12). A station's cookies, CORS
// grants and software names never reach the client, while rate-limit and request-id headers do;
// pinned resources belong to their caller: key B cannot list, read or delete key A's file, org
// admins see every pin, and a pinned call through a disabled station is a 409, not a silent call.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { call } from '../support/gateway.mjs';
import { gatewayWithStations, waitFor } from '../support/setup.mjs';

const cleanups = [];
let ctx;
let keyB;

before(async () => {
  ctx = await gatewayWithStations({ main: {} }, { cleanups });
  const minted = await ctx.admin('/api/agg-token/', { method: 'POST', body: { name: 'b' } });
  keyB = minted.body.data.key;
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const client = (apiKey) => new OpenAI({ apiKey, baseURL: `${ctx.gw.url}/v1`, maxRetries: 0 });

test('Set-Cookie, CORS and server-software headers from the station never reach the client', async () => {
  const fake = ctx.stations.main.fake;
  fake.state.answerHeaders = {
    'Set-Cookie': 'session=station-secret; Path=/; HttpOnly',
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Credentials': 'true',
    Server: 'new-api/0.9',
    'X-Powered-By': 'Gin',
    'x-ratelimit-remaining-requests': '99',
    'x-request-id': 'req-abc',
  };
  try {
    for (const stream of [false, true]) {
      const res = await fetch(`${ctx.gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', stream, messages: [{ role: 'user', content: 'hi' }] }),
      });
      await res.text();
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('set-cookie'), null, `stream=${stream}`);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
      assert.equal(res.headers.get('access-control-allow-credentials'), null);
      assert.equal(res.headers.get('x-powered-by'), null);
      assert.equal(res.headers.get('x-oneapi-request-id'), null);
      assert.notEqual(res.headers.get('server'), 'new-api/0.9');
      assert.equal(res.headers.get('x-ratelimit-remaining-requests'), '99');
      assert.equal(res.headers.get('x-request-id'), 'req-abc');
    }
    // An error the client caused is relayed as is, under the same header policy.
    const bad = await call(ctx.gw.url, '/v1/chat/completions', { method: 'POST', token: ctx.key, body: { model: 'gpt-4o' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('set-cookie'), null);
  } finally {
    fake.state.answerHeaders = undefined;
  }
});

test('key B cannot list, read or delete key A\'s file; admins see every pin', async () => {
  const a = client(ctx.key);
  const b = client(keyB);
  const file = await a.files.create({ file: await toFile(Buffer.from('{"x":1}\n'), 'a.jsonl'), purpose: 'batch' });
  assert.match(file.id, /^file-/);
  await waitFor(async () => (await a.files.list()).data.some((f) => f.id === file.id));
  assert.deepEqual((await b.files.list()).data.map((f) => f.id), [], 'B lists none of A\'s files');
  await assert.rejects(b.files.retrieve(file.id), (e) => e.status === 404);
  await assert.rejects(b.files.content(file.id), (e) => e.status === 404);
  await assert.rejects(b.files.delete(file.id), (e) => e.status === 404);
  assert.equal((await a.files.retrieve(file.id)).id, file.id, 'A still reaches it');

  const pins = await ctx.admin('/api/route/pins?kind=file');
  assert.equal(pins.status, 200, JSON.stringify(pins.body));
  assert.deepEqual(pins.body.data.map((p) => [p.external_id, p.gateway_key_id]), [[file.id, ctx.keyId]]);

  // A pinned call respects a disabled station: a clear 409, nothing sent.
  const id = ctx.stations.main.id;
  assert.equal((await ctx.admin(`/api/provider/${id}`, { method: 'PUT', body: { enabled: false } })).status, 200);
  const seen = ctx.stations.main.fake.requests.length;
  await assert.rejects(a.files.retrieve(file.id), (e) => e.status === 409 && /station is disabled/.test(e.message));
  assert.equal(ctx.stations.main.fake.requests.length, seen);
  assert.equal((await ctx.admin(`/api/provider/${id}`, { method: 'PUT', body: { enabled: true } })).status, 200);
  assert.equal((await a.files.delete(file.id)).deleted, true);
});
