// The gateway benchmark (issue 3); run through `scripts/bench`, which builds the release worker
// first. It measures, side by side and in one run, (a) a fast local fake upstream directly,
// (b) a bare JS pass-through worker and (c) the gateway — both in ONE workerd started through
// Miniflare's API — for non-stream and stream chat completions at each concurrency, then soaks the
// gateway to watch workerd's RSS. Prints markdown tables with the (c)/(b) ratios checked against
// the targets, and writes everything to tests/.tmp/bench-results.json.
//
// Each (case, concurrency) is measured in BENCH_ROUNDS slices that alternate the order a-b-c /
// c-b-a, so a drift in machine load (other processes) hits the three targets alike.
//
// Environment (all optional): BENCH_SECONDS (5) measured seconds per run, split over
// BENCH_ROUNDS (3) slices, each after BENCH_WARMUP_SECONDS (1) of unrecorded warm-up;
// BENCH_CONCURRENCY ("1,32"); BENCH_STREAM_CHUNKS (20) and BENCH_STREAM_DELAY_MS (0) between
// SSE events; BENCH_SOAK_SECONDS (300; 0 skips the soak), BENCH_SOAK_CONCURRENCY (32),
// BENCH_SOAK_MAX_SLOPE (1 MiB/min); BENCH_STRICT (1: exit 1 when a target is missed).

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFakeStation } from '../tests/support/fake-station.mjs';
import { call } from '../tests/support/gateway.mjs';
import { startLoad } from './bench-lib/load.mjs';
import { chatBodies, requestBodies, BENCH_MODEL } from './bench-lib/payloads.mjs';
import { cpuMs, machineBusyMs, rssMiB } from './bench-lib/proc.mjs';
import { compare, comparisonTable, runsTable, sizeLine, soakLine } from './bench-lib/report.mjs';
import { percentile, slope } from './bench-lib/stats.mjs';
import { startUpstream } from './bench-lib/upstream.mjs';
import { startWorkerd } from './bench-lib/workerd.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const RESULTS_PATH = join(ROOT, 'tests', '.tmp', 'bench-results.json');
const CHAT_PATH = '/v1/chat/completions';
const SOAK_SAMPLE_SECONDS = 5;
const PANEL_ACCESS_TOKEN = 'bench-panel-access-token';
const PANEL_USER_ID = 1;

const config = {
  seconds: numberEnv('BENCH_SECONDS', 5),
  warmupSeconds: numberEnv('BENCH_WARMUP_SECONDS', 1),
  rounds: Math.max(1, Math.round(numberEnv('BENCH_ROUNDS', 3))),
  concurrencies: (process.env.BENCH_CONCURRENCY ?? '1,32').split(',').map(Number),
  streamChunks: numberEnv('BENCH_STREAM_CHUNKS', 20),
  streamDelayMs: numberEnv('BENCH_STREAM_DELAY_MS', 0),
  soakSeconds: numberEnv('BENCH_SOAK_SECONDS', 300),
  soakConcurrency: numberEnv('BENCH_SOAK_CONCURRENCY', 32),
  soakMaxSlopeMiBPerMin: numberEnv('BENCH_SOAK_MAX_SLOPE', 1),
  strict: process.env.BENCH_STRICT === '1',
};

function numberEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return value;
}

const progress = (message) => process.stderr.write(`bench: ${message}\n`);

async function main() {
  const cleanups = [];
  try {
    const station = await startFakeStation({ accessToken: PANEL_ACCESS_TOKEN, userId: PANEL_USER_ID });
    cleanups.push(() => station.close());
    const upstream = await startUpstream({ stationUrl: station.url, streamChunks: config.streamChunks, streamDelayMs: config.streamDelayMs });
    cleanups.push(() => upstream.close());
    const workerd = await startWorkerd({ upstreamUrl: upstream.url });
    cleanups.push(() => workerd.close());
    const gatewayKey = await registerStation(workerd, upstream.url);

    const specs = requestSpecs();
    const urls = { a: upstream.url, b: workerd.passthroughUrl, c: workerd.gatewayUrl };
    const pids = { workerd: workerd.pid, upstream: upstream.pid };
    const runs = [];
    for (const kind of Object.keys(specs)) {
      for (const concurrency of config.concurrencies) {
        progress(`${kind} at concurrency ${concurrency}`);
        const slices = { a: [], b: [], c: [] };
        for (let round = 0; round < config.rounds; round += 1) {
          // Alternating the order spreads drifts in machine load evenly over the three targets.
          const order = round % 2 === 0 ? ['a', 'b', 'c'] : ['c', 'b', 'a'];
          for (const target of order) {
            const slice = { url: urls[target], token: gatewayKey, spec: specs[kind], concurrency, pids, seconds: config.seconds / config.rounds };
            slices[target].push(await measureSlice(slice));
          }
        }
        for (const target of ['a', 'b', 'c']) runs.push(summarise({ kind, concurrency, target }, slices[target]));
      }
    }
    const soak = config.soakSeconds > 0 ? await runSoak(workerd, gatewayKey, Object.values(specs), pids) : null;
    const size = await workerSize();
    const summary = report({ runs, soak, size });
    await mkdir(dirname(RESULTS_PATH), { recursive: true });
    await writeFile(RESULTS_PATH, `${JSON.stringify({ finishedAt: new Date().toISOString(), config, runs, soak, size, ...summary }, null, 2)}\n`);
    // Failed requests make every figure meaningless; a missed target fails only when asked to.
    if (summary.failedRuns.length > 0 || (config.strict && summary.missed > 0)) process.exitCode = 1;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((e) => progress(`cleanup: ${e.message}`));
  }
}

/** Registers the fast upstream as a New API station, syncs it, and mints a gateway key. */
async function registerStation(workerd, upstreamUrl) {
  const admin = async (path, body) => {
    const res = await call(workerd.gatewayUrl, path, { method: 'POST', token: workerd.adminToken, body });
    if (res.status >= 300) throw new Error(`POST ${path}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.data;
  };
  const created = await admin('/api/provider/', {
    name: 'bench-upstream', platform: 'new-api', base_url: upstreamUrl, access_token: PANEL_ACCESS_TOKEN, user_id: PANEL_USER_ID,
  });
  const synced = await admin(`/api/provider/${created.id}/sync`);
  if (synced.errors.length > 0 || synced.route_entries === 0) throw new Error(`sync failed: ${JSON.stringify(synced)}`);
  return (await admin('/api/agg-token/', { name: 'bench' })).key;
}

function requestSpecs() {
  const bodies = requestBodies();
  const answers = chatBodies(config.streamChunks);
  return {
    'non-stream': { body: bodies['non-stream'], expectedBytes: answers.completion.length },
    stream: { body: bodies.stream, expectedBytes: answers.streamBytes },
  };
}

/** CPU used so far by each process of the benchmark and by the whole machine, in ms. */
function cpuSnapshot(pids) {
  const own = process.cpuUsage();
  return { workerd: cpuMs(pids.workerd), upstream: cpuMs(pids.upstream), loadGenerator: (own.user + own.system) / 1000, machine: machineBusyMs() };
}

function cpuSince(before, pids) {
  const after = cpuSnapshot(pids);
  return Object.fromEntries(Object.entries(after).map(([name, ms]) => [name, ms - before[name]]));
}

/** One slice: warm up, then record for `seconds`; CPU deltas cover the recorded window only. */
async function measureSlice({ url, token, spec, concurrency, pids, seconds }) {
  const load = startLoad({ url, path: CHAT_PATH, token, specs: [spec], concurrency });
  await sleep(config.warmupSeconds * 1000);
  const before = cpuSnapshot(pids);
  load.beginWindow();
  await sleep(seconds * 1000);
  const window = load.endWindow();
  const cpu = cpuSince(before, pids);
  await load.stop();
  return { ...window, cpu, rssMiB: rssMiB(pids.workerd) };
}

/** Merges the slices of one (case, concurrency, target) into its table row. */
function summarise({ kind, concurrency, target }, slices) {
  const latencies = slices.flatMap((slice) => slice.latencies);
  const ttfbs = slices.flatMap((slice) => slice.ttfbs);
  const seconds = slices.reduce((sum, slice) => sum + slice.seconds, 0);
  const cpu = (name) => slices.reduce((sum, slice) => sum + slice.cpu[name], 0);
  const requests = latencies.length;
  const perRequest = (ms) => (requests === 0 ? null : ms / requests);
  const percentOfOneCore = (ms) => (ms / (seconds * 1000)) * 100;
  return {
    case: kind,
    concurrency,
    target,
    requests,
    seconds,
    rps: requests / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    ttfbP50Ms: percentile(ttfbs, 50),
    ttfbP99Ms: percentile(ttfbs, 99),
    workerdCpuMsPerRequest: perRequest(cpu('workerd')),
    upstreamCpuMsPerRequest: perRequest(cpu('upstream')),
    // Near 100 % the load generator itself is the limit (expected for (a), not for (b)/(c)).
    loadGeneratorCpuPercent: percentOfOneCore(cpu('loadGenerator')),
    // CPU that other processes on the machine took meanwhile: high values make the run noisy.
    foreignCpuPercent: percentOfOneCore(cpu('machine') - cpu('workerd') - cpu('upstream') - cpu('loadGenerator')),
    workerdRssMiB: slices[slices.length - 1].rssMiB,
    errors: slices.reduce((sum, slice) => sum + slice.errors, 0),
    firstError: slices.find((slice) => slice.firstError)?.firstError ?? null,
  };
}

/** The gateway under steady load (half the loops stream) while workerd's RSS is sampled. */
async function runSoak(workerd, token, specs, pids) {
  progress(`soak ${config.soakSeconds} s`);
  const load = startLoad({ url: workerd.gatewayUrl, path: CHAT_PATH, token, specs, concurrency: config.soakConcurrency });
  await sleep(config.warmupSeconds * 1000);
  load.beginWindow();
  const startedAt = Date.now();
  const cpuBefore = cpuSnapshot(pids);
  const rssSamples = [];
  for (;;) {
    const minutes = (Date.now() - startedAt) / 60_000;
    rssSamples.push([minutes, rssMiB(pids.workerd)]);
    if (minutes * 60 >= config.soakSeconds) break;
    await sleep(Math.min(SOAK_SAMPLE_SECONDS, config.soakSeconds - minutes * 60) * 1000);
  }
  const window = load.endWindow();
  const cpu = cpuSince(cpuBefore, pids);
  await load.stop();
  const requests = window.latencies.length;
  return {
    concurrency: config.soakConcurrency,
    seconds: window.seconds,
    requests,
    rps: requests / window.seconds,
    errors: window.errors,
    firstError: window.firstError,
    workerdCpuMsPerRequest: requests === 0 ? null : cpu.workerd / requests,
    foreignCpuPercent: ((cpu.machine - cpu.workerd - cpu.upstream - cpu.loadGenerator) / (window.seconds * 1000)) * 100,
    rssSamples,
    firstRssMiB: rssSamples[0][1],
    lastRssMiB: rssSamples[rssSamples.length - 1][1],
    slopeMiBPerMin: slope(rssSamples),
  };
}

/** Gzip sizes of what is uploaded: the wasm module and the JS (glue and shim). */
async function workerSize() {
  const wasm = await readFile(join(ROOT, 'build', 'index_bg.wasm'));
  const js = Buffer.concat([await readFile(join(ROOT, 'build', 'index.js')), await readFile(join(ROOT, 'build', 'worker', 'shim.mjs'))]);
  const gzipBytes = (bytes) => gzipSync(bytes, { level: 9 }).length;
  const wasmGzipBytes = gzipBytes(wasm);
  const jsGzipBytes = gzipBytes(js);
  return { wasmBytes: wasm.length, wasmGzipBytes, jsBytes: js.length, jsGzipBytes, totalGzipBytes: wasmGzipBytes + jsGzipBytes };
}

function report({ runs, soak, size }) {
  const comparisons = compare(runs);
  const sizeCheck = sizeLine(size);
  const soakCheck = soak && soakLine(soak, config.soakMaxSlopeMiBPerMin);
  const failedRuns = runs.filter((r) => r.errors > 0 || r.requests === 0);
  console.log(`\n## Gateway benchmark (model ${BENCH_MODEL}, ${config.seconds} s per run after ${config.warmupSeconds} s warm-up, ` +
    `${config.streamChunks} SSE events + usage + [DONE], ${config.streamDelayMs} ms between events)\n`);
  console.log(runsTable(runs));
  console.log('\n### Gateway (c) against the pass-through floor (b)\n');
  console.log(comparisonTable(comparisons));
  console.log(`\n${sizeCheck.text}`);
  console.log(soakCheck ? soakCheck.text : 'soak: skipped (BENCH_SOAK_SECONDS=0)');
  for (const r of failedRuns) console.log(`ERRORS in ${r.case} @${r.concurrency} ${r.target}: ${r.errors} (first: ${r.firstError ?? 'no request completed'})`);
  const checks = [
    ...comparisons.flatMap((c) => [c.throughputPass, c.addedP50Pass, c.addedTtfbPass, c.cpuPass]),
    sizeCheck.pass,
    soakCheck?.pass,
  ].filter((pass) => pass === true || pass === false);
  const missed = checks.filter((pass) => !pass).length;
  console.log(`\ntargets: ${checks.length - missed} PASS, ${missed} MISS; results in ${RESULTS_PATH}`);
  return { comparisons, sizeCheck, soakCheck, failedRuns, missed };
}

await main();
