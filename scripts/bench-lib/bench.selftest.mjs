// Self-test of the benchmark's machinery (scripts/bench runs it before measuring): statistics,
// the target checks, the fast upstream's exact answers and its proxying of management calls, the
// load generator's answer checks, and the /proc readers. A benchmark that measures wrongly is
// worse than none.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFakeStation } from '../../tests/support/fake-station.mjs';
import { startLoad } from './load.mjs';
import { chatBodies, longRequestBodies, requestBodies } from './payloads.mjs';
import { cpuMs, descendantsNamed, machineBusyMs, rssMiB } from './proc.mjs';
import { compare, longStreamTable, markdownTable, soakReport } from './report.mjs';
import { percentile, slope } from './stats.mjs';
import { startUpstream } from './upstream.mjs';

const STREAM_CHUNKS = 4;
const LONG_CHUNKS = 30;
const cleanups = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function upstreamWithStation() {
  const station = await startFakeStation({ accessToken: 'selftest-token', userId: 3 });
  cleanups.push(() => station.close());
  const upstream = await startUpstream({ stationUrl: station.url, streamChunks: STREAM_CHUNKS, longChunks: LONG_CHUNKS, streamDelayMs: 0 });
  cleanups.push(() => upstream.close());
  return { station, upstream };
}

test('percentile is nearest-rank over unsorted samples', () => {
  assert.equal(percentile([5, 1, 4, 2, 3], 50), 3);
  assert.equal(percentile([5, 1, 4, 2, 3], 99), 5);
  assert.equal(percentile([5, 1, 4, 2, 3], 0), 1);
  assert.equal(percentile([10, 20, 30, 40], 50), 20);
  assert.equal(percentile([], 50), null);
});

test('slope is the least-squares gradient', () => {
  assert.equal(slope([[0, 1], [1, 3], [2, 5]]), 2);
  assert.equal(slope([[0, 4], [1, 2], [2, 6], [3, 4]]), 0.4);
  assert.equal(slope([[1, 1]]), null);
  assert.equal(slope([[1, 1], [1, 2]]), null);
});

test('compare checks (c) against (b) with latency targets at concurrency 1 only, and shows the Rust floor (b\') beside', () => {
  const row = (target, concurrency, rps, p50Ms, ttfbP50Ms, workerdCpuMsPerRequest) => ({ case: 'stream', target, concurrency, rps, p50Ms, ttfbP50Ms, workerdCpuMsPerRequest });
  const [one, many] = compare([
    row('a', 1, 9000, 0.2, 0.2, 0),
    row('b', 1, 1000, 1.0, 0.9, 0.5),
    row('r', 1, 900, 1.2, 1.1, 0.7),
    row('c', 1, 800, 1.4, 1.5, 0.875),
    row('b', 32, 2000, 10, 9, 0.4),
    row('c', 32, 1400, 20, 19, 0.5),
  ]);
  assert.deepEqual(
    { ...one, addedP50Ms: one.addedP50Ms.toFixed(3), addedTtfbMs: one.addedTtfbMs.toFixed(3), rustFloorCpuRatio: one.rustFloorCpuRatio.toFixed(2) },
    { case: 'stream', concurrency: 1, throughputRatio: 0.8, throughputPass: true, addedP50Ms: '0.400', addedP50Pass: true, addedTtfbMs: '0.600', addedTtfbPass: false, cpuRatio: 1.75, cpuPass: false, rustFloorCpuRatio: '1.40', cpuOverRustFloor: 1.25 },
  );
  // Without a Rust floor row the (b') columns are empty, not wrong.
  assert.equal(many.rustFloorCpuRatio, null);
  assert.equal(many.cpuOverRustFloor, null);
  assert.equal(many.throughputRatio, 0.7);
  assert.equal(many.throughputPass, false);
  assert.equal(many.addedP50Pass, null);
  assert.equal(many.addedTtfbPass, null);
  assert.equal(many.cpuPass, true);
});

test('the long-stream table reports what the gateway adds per 1,000 chunks', () => {
  const row = (target, ttfbP50Ms, workerdCpuMsPerRequest) => ({ case: 'long stream, converted', target, concurrency: 1, ttfbP50Ms, workerdCpuMsPerRequest });
  const table = longStreamTable([row('a', 0.5, 0), row('b', 1.0, 10), row('c', 1.5, 25)], 500);
  const cells = table.split('\n')[2].split('|').map((cell) => cell.trim()).filter(Boolean);
  assert.deepEqual(cells, ['long stream, converted', '1', '1.00', '1.50', '+0.50 ms', '20.00', '50.00', '+30.00 ms', '2.50×']);
});

test('the soak passes while the gateway grows no faster than the floor (or zero) plus the allowance', () => {
  const figures = (lateSlopeMiBPerMin) => ({ requests: 1, rps: 1, errors: 0, workerdCpuMsPerRequest: 1, rssSamples: [[0, 1]], firstRssMiB: 1, lastRssMiB: 1, peakRssMiB: 1, slopeMiBPerMin: 0, lateSlopeMiBPerMin });
  const verdict = (floor, gateway) => soakReport({ seconds: 60, concurrency: 32, foreignCpuPercent: 0, floor: figures(floor), gateway: figures(gateway) }, 2).pass;
  assert.equal(verdict(5, 6.5), true);
  assert.equal(verdict(5, 7.5), false);
  assert.equal(verdict(-3, 1.9), true);
  assert.equal(verdict(-3, 2.1), false);
  assert.equal(verdict(0, null), false);
  assert.match(soakReport({ seconds: 60, concurrency: 32, foreignCpuPercent: 0, floor: figures(1), gateway: figures(9) }, 2).text, /2nd-half slope 9\.0 MiB\/min ≤ floor's \(1\.0, at least 0\) \+ 2 MISS$/);
});

test('markdownTable pads every column to its widest cell', () => {
  assert.equal(markdownTable(['a', 'long'], [['xyz', 1], ['', 22]]), '| a   | long |\n|-----|------|\n| xyz | 1    |\n|     | 22   |');
});

test('the upstream answers chat calls with the exact pre-built bytes', async () => {
  const { upstream } = await upstreamWithStation();
  const bodies = requestBodies();
  const answers = chatBodies(STREAM_CHUNKS);
  const post = (body) => fetch(`${upstream.url}/v1/chat/completions`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });

  const plain = await post(bodies['non-stream']);
  assert.equal(plain.headers.get('content-type'), 'application/json');
  assert.deepEqual(Buffer.from(await plain.arrayBuffer()), answers.completion);
  assert.equal(JSON.parse(answers.completion).usage.total_tokens, 17 + STREAM_CHUNKS);

  const streamed = await post(bodies.stream);
  assert.equal(streamed.headers.get('content-type'), 'text/event-stream');
  const text = await streamed.text();
  assert.equal(text, Buffer.concat(answers.streamEvents).toString());
  assert.equal(Buffer.byteLength(text), answers.streamBytes);
  const events = text.split('\n\n').filter(Boolean);
  assert.equal(events.length, STREAM_CHUNKS + 3, 'content events, finish, usage, [DONE]');
  assert.equal(events.at(-1), 'data: [DONE]');
  assert.deepEqual(JSON.parse(events.at(-2).slice('data: '.length)).usage, { prompt_tokens: 17, completion_tokens: STREAM_CHUNKS, total_tokens: 17 + STREAM_CHUNKS });
});

test('the upstream answers the long-stream model with the long stream, whatever the client model', async () => {
  const { upstream } = await upstreamWithStation();
  const text = await (await fetch(`${upstream.url}/v1/chat/completions`, { method: 'POST', body: longRequestBodies().direct })).text();
  assert.equal(text, Buffer.concat(chatBodies(LONG_CHUNKS).streamEvents).toString());
  // The gateway's alias body is renamed to the upstream model before it is sent; unrenamed it is short.
  const alias = await (await fetch(`${upstream.url}/v1/chat/completions`, { method: 'POST', body: longRequestBodies().gatewayChat })).text();
  assert.equal(Buffer.byteLength(alias), chatBodies(STREAM_CHUNKS).streamBytes);
});

test('the upstream proxies management calls to the fake New API station', async () => {
  const { station, upstream } = await upstreamWithStation();
  const res = await fetch(`${upstream.url}/api/user/self`, { headers: { authorization: 'Bearer selftest-token', 'new-api-user': '3' } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.success, true);
  assert.equal(body.data.id, 3);
  assert.ok(station.requests.some((r) => r.path === '/api/user/self'));
});

test('the load generator times good answers and counts wrong ones as errors', async () => {
  const { upstream } = await upstreamWithStation();
  const body = requestBodies().stream;
  const { streamBytes } = chatBodies(STREAM_CHUNKS);
  const run = async (expectedBytes) => {
    const load = startLoad({ url: upstream.url, path: '/v1/chat/completions', token: 't', specs: [{ body, expectedBytes }], concurrency: 2 });
    load.beginWindow();
    await sleep(300);
    const window = load.endWindow();
    await load.stop();
    return window;
  };
  const good = await run(streamBytes);
  assert.equal(good.errors, 0);
  assert.ok(good.latencies.length > 10, `${good.latencies.length} requests`);
  assert.equal(good.ttfbs.length, good.latencies.length);
  assert.ok(good.ttfbs.every((ttfb, i) => ttfb > 0 && ttfb <= good.latencies[i]));
  const bad = await run(streamBytes + 1);
  assert.equal(bad.latencies.length, 0);
  assert.ok(bad.errors > 10);
  assert.equal(bad.firstError, `body of ${streamBytes} bytes, expected ${streamBytes + 1}`);
});

test('the /proc readers see this process and find a child by name', async () => {
  assert.ok(cpuMs(process.pid) > 0);
  assert.ok(machineBusyMs() >= cpuMs(process.pid));
  const rss = rssMiB(process.pid);
  assert.ok(rss > 10 && rss < 4096, `${rss} MiB`);
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  cleanups.push(async () => {
    child.kill();
  });
  await once(child, 'spawn');
  assert.deepEqual(descendantsNamed(process.pid, 'sleep'), [child.pid]);
  assert.deepEqual(descendantsNamed(process.pid, 'no-such-process'), []);
});
