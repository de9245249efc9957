// End-to-end failover: channels on several fake stations fail in different ways (500, 429 with
// Retry-After, hang past the first-byte timeout, connection refused, 401); the client still gets
// its answer, failed channels cool down in the Durable Object, and cooling channels are skipped.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { gatewayWithStations, waitFor } from '../support/setup.mjs';

const cleanups = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const setup = (specs, vars) => gatewayWithStations(specs, { vars, cleanups });

const relayCalls = (station, model = 'gpt-4o') =>
  station.fake.requests.filter((r) => r.path === '/v1/chat/completions' && r.json?.model === model).length;

async function cooldowns(admin, model) {
  // Reports travel through waitUntil: poll briefly until every expected row is there.
  const rows = (await admin('/api/route/')).body.data.filter((r) => r.model === model);
  return new Map(rows.map((r) => [r.station_id, r.cooldown]));
}

test('500 and 429 channels fail over to a healthy one, cool down, and are skipped next time', async () => {
  const { admin, stations, chat } = await setup({
    a500: { priority: 10, behavior: 'error-500' },
    b429: { priority: 5, behavior: 'rate-limit:30' },
    cOk: { priority: 0, behavior: 'normal' },
  });
  const res = await chat();
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.match(res.body.choices[0].message.content, /ping/);
  assert.deepEqual([relayCalls(stations.a500), relayCalls(stations.b429), relayCalls(stations.cOk)], [1, 1, 1]);

  const state = await waitFor(async () => {
    const c = await cooldowns(admin, 'gpt-4o');
    return c.get(stations.a500.id)?.cooling && c.get(stations.b429.id)?.cooling ? c : null;
  });
  assert.ok(state, 'both failed channels are cooling down');
  const now = Date.now();
  const a = state.get(stations.a500.id);
  const b = state.get(stations.b429.id);
  assert.ok(a.until_ms - now > 550_000 && a.until_ms - now <= 600_000, `500 → base cooldown, got ${a.until_ms - now} ms`);
  assert.ok(b.until_ms - now > 25_000 && b.until_ms - now <= 30_000, `429 → its Retry-After, got ${b.until_ms - now} ms`);
  assert.match(a.last_error, /HTTP 500/);
  assert.equal(state.get(stations.cOk.id), null, 'the healthy channel has no cooldown');

  const second = await chat();
  assert.equal(second.status, 200);
  assert.deepEqual([relayCalls(stations.a500), relayCalls(stations.b429), relayCalls(stations.cOk)], [1, 1, 2], 'cooling channels are skipped');
});

test('hang (first-byte timeout), connection refused and 401 fail over; all-failing gives a clear error', async () => {
  const { admin, stations, chat } = await setup(
    {
      dHang: { priority: 10, behavior: 'hang' },
      eGone: { priority: 5, behavior: 'normal', closeAfterSync: true },
      f401: { priority: 3, behavior: 'unauthorized' },
      gOk: { priority: 0, behavior: 'normal' },
    },
    { FIRST_BYTE_TIMEOUT_SECONDS: '1', RELAY_MAX_ATTEMPTS: '4' },
  );
  const started = Date.now();
  const res = await chat();
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.ok(Date.now() - started < 5_000, 'the hung channel was abandoned after the timeout');
  assert.deepEqual([relayCalls(stations.dHang), relayCalls(stations.f401), relayCalls(stations.gOk)], [1, 1, 1]);
  const state = await waitFor(async () => {
    const c = await cooldowns(admin, 'gpt-4o');
    return [stations.dHang, stations.eGone, stations.f401].every((s) => c.get(s.id)?.cooling) ? c : null;
  });
  assert.ok(state, 'hang, refused and 401 channels are all cooling down');
  assert.match(state.get(stations.dHang.id).last_error, /no response within 1000 ms/);
  assert.match(state.get(stations.eGone.id).last_error, /connection/);
  assert.match(state.get(stations.f401.id).last_error, /HTTP 401/);

  // Every station answers fake-500 with a 500: the client gets the upstream's error, OpenAI-shaped.
  const failing = await chat('fake-500');
  assert.equal(failing.status, 500, JSON.stringify(failing.body));
  assert.equal(failing.body.error.type, 'server_error');
  assert.match(failing.body.error.message, /upstream exploded/);
});
