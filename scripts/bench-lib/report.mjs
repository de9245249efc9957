// Turns the benchmark's measurements into the printed report: the per-run table, the gateway
// versus pass-through ratios checked against the targets of issue 3, the worker size and the
// soak. Every check is returned as data too, for the results JSON.

/** Targets from issue 3; (c) is the gateway, (b) the bare JS pass-through in the same workerd. */
export const TARGETS = {
  minThroughputRatio: 0.75,
  maxAddedP50Ms: 0.5,
  maxAddedTtfbMs: 0.5,
  maxCpuRatio: 1.5,
  maxWorkerGzipBytes: 1_000_000,
};

const TARGET_LABELS = { a: '(a) upstream', b: '(b) pass-through', r: "(b') Rust pass-through", c: '(c) gateway' };

/** Markdown table with padded columns. */
export function markdownTable(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

const fixed = (value, digits) => (value === null || value === undefined ? '—' : value.toFixed(digits));

/** One row per (case, concurrency, target) with every figure measured. */
export function runsTable(runs) {
  const headers = ['case', 'conc', 'target', 'req/s', 'p50 ms', 'p99 ms', 'TTFB p50', 'TTFB p99', 'workerd CPU ms/req', 'upstream CPU ms/req', 'load-gen CPU %', 'foreign CPU %', 'workerd RSS MiB', 'errors'];
  const rows = runs.map((r) => [
    r.case, r.concurrency, TARGET_LABELS[r.target], fixed(r.rps, 0), fixed(r.p50Ms, 2), fixed(r.p99Ms, 2),
    fixed(r.ttfbP50Ms, 2), fixed(r.ttfbP99Ms, 2), fixed(r.workerdCpuMsPerRequest, 3), fixed(r.upstreamCpuMsPerRequest, 3), fixed(r.loadGeneratorCpuPercent, 0), fixed(r.foreignCpuPercent, 0),
    fixed(r.workerdRssMiB, 0), r.errors,
  ]);
  return markdownTable(headers, rows);
}

const verdict = (pass) => (pass ? 'PASS' : 'MISS');

/**
 * Gateway versus pass-through for every (case, concurrency) measured. Latency targets apply at
 * concurrency 1 only (at 32 the added latency is queueing, reported for information).
 */
export function compare(runs) {
  const find = (kind, concurrency, target) => runs.find((r) => r.case === kind && r.concurrency === concurrency && r.target === target);
  return runs
    .filter((r) => r.target === 'c')
    .map((gateway) => {
      const floor = find(gateway.case, gateway.concurrency, 'b');
      const latencyTargeted = gateway.concurrency === 1;
      const throughputRatio = gateway.rps / floor.rps;
      const addedP50Ms = gateway.p50Ms - floor.p50Ms;
      const addedTtfbMs = gateway.ttfbP50Ms - floor.ttfbP50Ms;
      const cpuRatio = gateway.workerdCpuMsPerRequest / floor.workerdCpuMsPerRequest;
      // The Rust floor (b'), when measured: what any workers-rs worker pays before its own logic.
      const rustFloor = find(gateway.case, gateway.concurrency, 'r');
      const rustFloorCpuRatio = rustFloor ? rustFloor.workerdCpuMsPerRequest / floor.workerdCpuMsPerRequest : null;
      const cpuOverRustFloor = rustFloor ? gateway.workerdCpuMsPerRequest / rustFloor.workerdCpuMsPerRequest : null;
      return {
        case: gateway.case,
        concurrency: gateway.concurrency,
        throughputRatio,
        throughputPass: throughputRatio >= TARGETS.minThroughputRatio,
        addedP50Ms,
        addedP50Pass: latencyTargeted ? addedP50Ms <= TARGETS.maxAddedP50Ms : null,
        addedTtfbMs,
        addedTtfbPass: latencyTargeted ? addedTtfbMs <= TARGETS.maxAddedTtfbMs : null,
        cpuRatio,
        cpuPass: cpuRatio <= TARGETS.maxCpuRatio,
        rustFloorCpuRatio,
        cpuOverRustFloor,
      };
    });
}

/** The ratios of compare() with their PASS/MISS (or info, where no target applies). */
export function comparisonTable(comparisons) {
  const withVerdict = (text, pass) => (pass === null ? `${text} (info)` : `${text} ${verdict(pass)}`);
  const headers = [
    'case', 'conc',
    `throughput (c)/(b) ≥ ${TARGETS.minThroughputRatio * 100}%`,
    `added p50 ≤ ${TARGETS.maxAddedP50Ms} ms @1`,
    `added TTFB ≤ ${TARGETS.maxAddedTtfbMs} ms @1`,
    `CPU/req (c)/(b) ≤ ${TARGETS.maxCpuRatio}×`,
    "CPU/req (b')/(b)",
    "CPU/req (c)/(b')",
  ];
  const rows = comparisons.map((c) => [
    c.case, c.concurrency,
    withVerdict(`${(c.throughputRatio * 100).toFixed(1)}%`, c.throughputPass),
    withVerdict(`${c.addedP50Ms >= 0 ? '+' : ''}${c.addedP50Ms.toFixed(2)} ms`, c.addedP50Pass),
    withVerdict(`${c.addedTtfbMs >= 0 ? '+' : ''}${c.addedTtfbMs.toFixed(2)} ms`, c.addedTtfbPass),
    withVerdict(`${c.cpuRatio.toFixed(2)}×`, c.cpuPass),
    c.rustFloorCpuRatio === null ? '–' : `${c.rustFloorCpuRatio.toFixed(2)}× (info)`,
    c.cpuOverRustFloor === null ? '–' : `${c.cpuOverRustFloor.toFixed(2)}× (info)`,
  ]);
  return markdownTable(headers, rows);
}

/**
 * Long streams, one row per (case, concurrency): time to first byte and workerd CPU of the bare
 * worker (b) and the gateway (c), and what the gateway adds per 1,000 streamed chunks. No targets.
 */
export function longStreamTable(runs, chunks) {
  const perThousand = (ms) => (ms === null ? null : (ms * 1000) / chunks);
  const headers = [
    'case', 'conc', 'TTFB p50 (b)', 'TTFB p50 (c)', 'added TTFB', 'workerd CPU ms / 1,000 chunks (b)', '(c)', 'added by the gateway', '(c)/(b)',
  ];
  const rows = runs
    .filter((r) => r.target === 'c')
    .map((gateway) => {
      const floor = runs.find((r) => r.case === gateway.case && r.concurrency === gateway.concurrency && r.target === 'b');
      const [b, c] = [floor, gateway].map((r) => perThousand(r.workerdCpuMsPerRequest));
      return [
        gateway.case, gateway.concurrency, fixed(floor.ttfbP50Ms, 2), fixed(gateway.ttfbP50Ms, 2),
        `+${fixed(gateway.ttfbP50Ms - floor.ttfbP50Ms, 2)} ms`, fixed(b, 2), fixed(c, 2), `+${fixed(c - b, 2)} ms`, `${fixed(c / b, 2)}×`,
      ];
    });
  return markdownTable(headers, rows);
}

/** The worker's raw and gzip sizes, checked against the upload-size target. */
export function sizeLine(size) {
  const pass = size.totalGzipBytes <= TARGETS.maxWorkerGzipBytes;
  return {
    pass,
    text:
      `worker size: wasm ${size.wasmBytes} B raw / ${size.wasmGzipBytes} B gzip, JS ${size.jsBytes} B raw / ${size.jsGzipBytes} B gzip; ` +
      `total ${(size.totalGzipBytes / 1000).toFixed(0)} kB gzip (≤ ${TARGETS.maxWorkerGzipBytes / 1000} kB) ${verdict(pass)}`,
  };
}

/**
 * The soak as a table (floor and gateway side by side) and its verdict: the gateway's RSS slope
 * over the second half may exceed the floor's (or zero, if the floor shrank) by `maxSlope` MiB/min.
 */
export function soakReport(soak, maxSlope) {
  const allowed = Math.max(soak.floor.lateSlopeMiBPerMin ?? 0, 0) + maxSlope;
  const pass = soak.gateway.lateSlopeMiBPerMin !== null && soak.gateway.lateSlopeMiBPerMin <= allowed;
  const headers = ['soak target', 'requests', 'req/s', 'errors', 'workerd CPU ms/req', 'RSS first → last (peak) MiB', 'slope MiB/min', '2nd-half slope MiB/min'];
  const row = (label, f) => [
    label, f.requests, fixed(f.rps, 0), f.errors, fixed(f.workerdCpuMsPerRequest, 3),
    `${fixed(f.firstRssMiB, 0)} → ${fixed(f.lastRssMiB, 0)} (${fixed(f.peakRssMiB, 0)})`, fixed(f.slopeMiBPerMin, 1), fixed(f.lateSlopeMiBPerMin, 1),
  ];
  const text = [
    `soak: ${soak.seconds.toFixed(0)} s, floor and gateway each in a fresh workerd at the same time, concurrency ${soak.concurrency} each ` +
      `(half the loops stream), ${soak.floor.rssSamples.length} RSS samples each, foreign CPU ${fixed(soak.foreignCpuPercent, 0)} %\n`,
    markdownTable(headers, [row(TARGET_LABELS.b, soak.floor), row(TARGET_LABELS.c, soak.gateway)]),
    `\ngateway RSS trend: 2nd-half slope ${fixed(soak.gateway.lateSlopeMiBPerMin, 1)} MiB/min ≤ floor's (${fixed(soak.floor.lateSlopeMiBPerMin, 1)}, at least 0) + ${maxSlope} ${verdict(pass)}`,
  ].join('\n');
  return { pass, text };
}
