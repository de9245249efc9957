// The gateway benchmark (issue 3); run through `scripts/bench`, which builds the release worker
// first. It measures, side by side and in one run, (a) a fast local fake upstream directly,
// (b) a bare JS pass-through worker and (c) the gateway — both in ONE workerd started through
// Miniflare's API — for non-stream and stream chat completions at each concurrency, then soaks the
// gateway next to the pass-through to watch workerd's RSS. Prints markdown tables with the
// (c)/(b) ratios checked against the targets, and writes everything to
// tests/.tmp/bench-results.json.
//
// Each (case, concurrency) is measured in BENCH_ROUNDS slices that alternate the order a-b-c /
// c-b-a, so a drift in machine load (other processes) hits the three targets alike.
//
// Long streams (BENCH_LONG_CHUNKS events): the gateway passing a chat stream through, and the same
// upstream stream converted for an Anthropic client (`POST /v1/messages` on an OpenAI-only
// channel), each next to the bare JS worker streaming it; reported as time to first byte and
// workerd CPU per 1,000 streamed chunks. They have no targets and do not enter the soak.
//
// Environment (all optional): BENCH_SECONDS (5) measured seconds per run, split over
// BENCH_ROUNDS (3) slices, each after BENCH_WARMUP_SECONDS (1) of unrecorded warm-up;
// BENCH_CONCURRENCY ("1,32"); BENCH_STREAM_CHUNKS (20) and BENCH_STREAM_DELAY_MS (0) between
// SSE events; BENCH_LONG_CHUNKS (1000; 0 skips the long-stream cases), BENCH_LONG_CONCURRENCY
// ("1"); BENCH_SOAK_SECONDS (300; 0 skips the soak), BENCH_SOAK_CONCURRENCY (32),
// BENCH_SOAK_MAX_SLOPE (2 MiB/min over the floor's); BENCH_STRICT (1: exit 1 on a missed target).

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { startFakeStation } from '../tests/support/fake-station.mjs';
import { measureSlice, summarise } from './bench-lib/measure.mjs';
import { chatBodies, longRequestBodies, requestBodies, BENCH_MODEL } from './bench-lib/payloads.mjs';
import { compare, comparisonTable, longStreamTable, runsTable, sizeLine, soakReport } from './bench-lib/report.mjs';
import { runSoak } from './bench-lib/soak.mjs';
import { startUpstream } from './bench-lib/upstream.mjs';
import { PANEL_LOGIN, registerOpenAiOnlyAlias, registerStation, startWorkerd } from './bench-lib/workerd.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const RESULTS_PATH = join(ROOT, 'tests', '.tmp', 'bench-results.json');
const TARGET_IDS = ['a', 'b', 'r', 'c'];
const LONG_PASSTHROUGH = 'long stream, pass-through';
const LONG_CONVERTED = 'long stream, converted';
const LONG_CASES = [LONG_PASSTHROUGH, LONG_CONVERTED];

const config = {
  seconds: numberEnv('BENCH_SECONDS', 5),
  warmupSeconds: numberEnv('BENCH_WARMUP_SECONDS', 1),
  rounds: Math.max(1, Math.round(numberEnv('BENCH_ROUNDS', 3))),
  concurrencies: (process.env.BENCH_CONCURRENCY ?? '1,32').split(',').map(Number),
  streamChunks: numberEnv('BENCH_STREAM_CHUNKS', 20),
  streamDelayMs: numberEnv('BENCH_STREAM_DELAY_MS', 0),
  longChunks: Math.round(numberEnv('BENCH_LONG_CHUNKS', 1000)),
  // A 1,000-chunk stream costs the gateway ~0.15 s of CPU: 32 at once would finish none inside a
  // short slice, so long streams run at concurrency 1 unless asked.
  longConcurrencies: (process.env.BENCH_LONG_CONCURRENCY ?? '1').split(',').map(Number),
  soakSeconds: numberEnv('BENCH_SOAK_SECONDS', 300),
  soakConcurrency: numberEnv('BENCH_SOAK_CONCURRENCY', 32),
  soakMaxSlopeMiBPerMin: numberEnv('BENCH_SOAK_MAX_SLOPE', 2),
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
    const station = await startFakeStation(PANEL_LOGIN);
    cleanups.push(() => station.close());
    const upstream = await startUpstream({
      stationUrl: station.url, streamChunks: config.streamChunks, longChunks: config.longChunks, streamDelayMs: config.streamDelayMs,
    });
    cleanups.push(() => upstream.close());
    const specs = requestSpecs();

    const workerd = await startWorkerd({ upstreamUrl: upstream.url });
    let runs;
    try {
      const token = await registerStation(workerd, upstream.url);
      const cases = Object.fromEntries(Object.entries(specs).map(([kind, spec]) => [kind, { a: spec, b: spec, c: spec }]));
      if (config.longChunks > 0) {
        await registerOpenAiOnlyAlias(workerd, upstream.url, station.state.tokens[0].key);
        Object.assign(cases, await longCases(workerd, token));
      }
      runs = await runMatrix({ workerd, upstream, cases, token });
    } finally {
      await workerd.close(); // the soak starts fresh workerd processes; this one would only take memory
    }

    if (config.soakSeconds > 0) progress(`soak ${config.soakSeconds} s`);
    const soak = config.soakSeconds > 0
      ? await runSoak({ upstream, specs: Object.values(specs), seconds: config.soakSeconds, concurrency: config.soakConcurrency, warmupSeconds: config.warmupSeconds })
      : null;
    const size = await workerSize();
    const summary = report({ runs, soak, size });
    await mkdir(dirname(RESULTS_PATH), { recursive: true });
    await writeFile(RESULTS_PATH, `${JSON.stringify({ finishedAt: new Date().toISOString(), config, runs, soak, size, ...summary }, null, 2)}\n`);
    // Failed requests make every figure meaningless; a missed target fails only when asked to.
    if (summary.failedRuns > 0 || (config.strict && summary.missed > 0)) process.exitCode = 1;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((e) => progress(`cleanup: ${e.message}`));
  }
}

function requestSpecs() {
  const bodies = requestBodies();
  const answers = chatBodies(config.streamChunks);
  return {
    'non-stream': { body: bodies['non-stream'], expectedBytes: answers.completion.length },
    stream: { body: bodies.stream, expectedBytes: answers.streamBytes },
  };
}

/**
 * The long-stream cases, target by target: the upstream and the bare worker get the chat body
 * naming the upstream model; the gateway the alias, as chat (passed through) or as Anthropic
 * Messages (converted). The converted answer's length is taken from one calibration call (the
 * load generator then checks every answer against it) after checking it is a complete stream.
 */
async function longCases(workerd, token) {
  const bodies = longRequestBodies();
  const chat = { body: bodies.direct, expectedBytes: chatBodies(config.longChunks).streamBytes };
  const messages = { path: '/v1/messages', headers: { 'anthropic-version': '2023-06-01' }, body: bodies.gatewayMessages };
  const res = await fetch(workerd.gatewayUrl + messages.path, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...messages.headers }, body: messages.body,
  });
  const text = await res.text();
  const deltas = text.split('event: content_block_delta').length - 1;
  if (res.status !== 200 || deltas !== config.longChunks || !text.trimEnd().endsWith('{"type":"message_stop"}')) {
    throw new Error(`converted long stream: HTTP ${res.status}, ${deltas} text deltas (expected ${config.longChunks}): ${text.slice(0, 300)}`);
  }
  return {
    [LONG_PASSTHROUGH]: { a: chat, b: chat, c: { ...chat, body: bodies.gatewayChat } },
    [LONG_CONVERTED]: { a: chat, b: chat, c: { ...messages, expectedBytes: Buffer.byteLength(text) } },
  };
}

/** Every (case, concurrency, target), measured in alternating-order slices. */
async function runMatrix({ workerd, upstream, cases, token }) {
  const urls = { a: upstream.url, b: workerd.passthroughUrl, r: workerd.rustFloorUrl, c: workerd.gatewayUrl };
  const pids = { workerd: workerd.pid, upstream: upstream.pid };
  const runs = [];
  for (const [kind, specs] of Object.entries(cases)) {
    for (const concurrency of LONG_CASES.includes(kind) ? config.longConcurrencies : config.concurrencies) {
      progress(`${kind} at concurrency ${concurrency}`);
      const slices = Object.fromEntries(TARGET_IDS.map((target) => [target, []]));
      for (let round = 0; round < config.rounds; round += 1) {
        for (const target of round % 2 === 0 ? TARGET_IDS : [...TARGET_IDS].reverse()) {
          const seconds = config.seconds / config.rounds;
          slices[target].push(await measureSlice({ url: urls[target], token, spec: specs[target] ?? specs.b, concurrency, pids, seconds, warmupSeconds: config.warmupSeconds }));
        }
      }
      for (const target of TARGET_IDS) runs.push(summarise({ kind, concurrency, target }, slices[target]));
    }
  }
  return runs;
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
  const comparisons = compare(runs.filter((r) => !LONG_CASES.includes(r.case)));
  const sizeCheck = sizeLine(size);
  const soakCheck = soak && soakReport(soak, config.soakMaxSlopeMiBPerMin);
  console.log(`\n## Gateway benchmark (model ${BENCH_MODEL}, ${config.seconds} s per run in ${config.rounds} slices, ` +
    `${config.streamChunks} SSE events + usage + [DONE], ${config.streamDelayMs} ms between events)\n`);
  console.log(runsTable(runs));
  console.log('\n### Gateway (c) against the pass-through floor (b)\n');
  console.log(comparisonTable(comparisons));
  if (config.longChunks > 0) {
    console.log(`\n### Long streams (${config.longChunks} events): gateway (c) passing through or converting (Anthropic client, OpenAI upstream) against the bare worker (b)\n`);
    console.log(longStreamTable(runs.filter((r) => LONG_CASES.includes(r.case)), config.longChunks));
  }
  console.log(`\n${sizeCheck.text}\n`);
  console.log(soakCheck ? soakCheck.text : 'soak: skipped (BENCH_SOAK_SECONDS=0)');
  const failed = [...runs.map((r) => ({ ...r, label: `${r.case} @${r.concurrency} ${r.target}` })),
    ...(soak ? [{ ...soak.floor, label: 'soak floor' }, { ...soak.gateway, label: 'soak gateway' }] : [])]
    .filter((r) => r.errors > 0 || r.requests === 0);
  for (const r of failed) console.log(`ERRORS in ${r.label}: ${r.errors} (first: ${r.firstError ?? 'no request completed'})`);
  const checks = [
    ...comparisons.flatMap((c) => [c.throughputPass, c.addedP50Pass, c.addedTtfbPass, c.cpuPass]),
    sizeCheck.pass,
    soakCheck?.pass,
  ].filter((pass) => pass === true || pass === false);
  const missed = checks.filter((pass) => !pass).length;
  console.log(`\ntargets: ${checks.length - missed} PASS, ${missed} MISS; results in ${RESULTS_PATH}`);
  return { comparisons, sizeCheck, soakCheck, failedRuns: failed.length, missed };
}

await main();
