// The soak: the gateway and, as its floor, the bare pass-through, each in a fresh workerd of its
// own, under the same steady load at the same time (half the loops stream), while both processes'
// RSS is sampled every few seconds. workerd's RSS grows by itself under load, even for the bare
// pass-through (its heaps grow in steps over minutes), so the gateway's trend is judged against
// the floor's, over the second half of the soak.

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoad } from './load.mjs';
import { CHAT_PATH, cpuSince, cpuSnapshot } from './measure.mjs';
import { rssMiB } from './proc.mjs';
import { slope } from './stats.mjs';
import { registerStation, startWorkerd } from './workerd.mjs';

const SAMPLE_SECONDS = 5;

/**
 * @param {{ upstream: { url: string, pid: number }, specs: import('./load.mjs').RequestSpec[],
 *   seconds: number, concurrency: number, warmupSeconds: number }} options
 */
export async function runSoak({ upstream, specs, seconds, concurrency, warmupSeconds }) {
  const workerds = {};
  try {
    workerds.floor = await startWorkerd({ upstreamUrl: upstream.url });
    workerds.gateway = await startWorkerd({ upstreamUrl: upstream.url });
    const token = await registerStation(workerds.gateway, upstream.url);
    const pids = { floor: workerds.floor.pid, gateway: workerds.gateway.pid, upstream: upstream.pid };
    const loads = {
      floor: startLoad({ url: workerds.floor.passthroughUrl, path: CHAT_PATH, token, specs, concurrency }),
      gateway: startLoad({ url: workerds.gateway.gatewayUrl, path: CHAT_PATH, token, specs, concurrency }),
    };
    await sleep(warmupSeconds * 1000);
    const before = cpuSnapshot(pids);
    Object.values(loads).forEach((load) => load.beginWindow());
    const samples = await sampleRss(pids, seconds);
    const windows = { floor: loads.floor.endWindow(), gateway: loads.gateway.endWindow() };
    const cpu = cpuSince(before, pids);
    await Promise.all(Object.values(loads).map((load) => load.stop()));
    return {
      seconds: windows.gateway.seconds,
      concurrency,
      foreignCpuPercent: (cpu.foreign / (windows.gateway.seconds * 1000)) * 100,
      floor: figures(windows.floor, samples.floor, cpu.floor),
      gateway: figures(windows.gateway, samples.gateway, cpu.gateway),
    };
  } finally {
    await Promise.all(Object.values(workerds).map((workerd) => workerd.close()));
  }
}

// [minutes, MiB] pairs for the floor and the gateway workerd, from now until `seconds` have passed.
async function sampleRss(pids, seconds) {
  const startedAt = performance.now();
  const samples = { floor: [], gateway: [] };
  for (;;) {
    const elapsedSeconds = (performance.now() - startedAt) / 1000;
    samples.floor.push([elapsedSeconds / 60, rssMiB(pids.floor)]);
    samples.gateway.push([elapsedSeconds / 60, rssMiB(pids.gateway)]);
    if (elapsedSeconds >= seconds) return samples;
    await sleep(Math.min(SAMPLE_SECONDS, seconds - elapsedSeconds) * 1000);
  }
}

function figures(window, rssSamples, workerdCpuMs) {
  const requests = window.latencies.length;
  const halfway = rssSamples[rssSamples.length - 1][0] / 2;
  return {
    requests,
    rps: requests / window.seconds,
    errors: window.errors,
    firstError: window.firstError,
    workerdCpuMsPerRequest: requests === 0 ? null : workerdCpuMs / requests,
    rssSamples,
    firstRssMiB: rssSamples[0][1],
    lastRssMiB: rssSamples[rssSamples.length - 1][1],
    peakRssMiB: Math.max(...rssSamples.map(([, mib]) => mib)),
    slopeMiBPerMin: slope(rssSamples),
    lateSlopeMiBPerMin: slope(rssSamples.filter(([minutes]) => minutes >= halfway)),
  };
}
