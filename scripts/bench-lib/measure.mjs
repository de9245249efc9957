// One measured run of the benchmark: load one target for a while, record latencies and the CPU
// that each process involved spent in exactly that window, and merge several such slices into
// one table row. CPU is read from /proc for named processes (workerd, the upstream), from
// process.cpuUsage() for the load generator, and for the whole machine, so that the CPU other
// processes took meanwhile ("foreign") shows how noisy a run was.

import { setTimeout as sleep } from 'node:timers/promises';
import { startLoad } from './load.mjs';
import { cpuMs, machineBusyMs, rssMiB } from './proc.mjs';
import { percentile } from './stats.mjs';

/** The path every benchmark request goes to. */
export const CHAT_PATH = '/v1/chat/completions';

/**
 * CPU used so far, in ms, by each process in `pids` (name → pid), by this process (the load
 * generator) and by the whole machine.
 */
export function cpuSnapshot(pids) {
  const own = process.cpuUsage();
  const perProcess = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
  return { ...perProcess, loadGenerator: (own.user + own.system) / 1000, machine: machineBusyMs() };
}

/** CPU spent since `before` (a cpuSnapshot of the same pids), plus `foreign`: everyone else's. */
export function cpuSince(before, pids) {
  const after = cpuSnapshot(pids);
  const spent = Object.fromEntries(Object.entries(after).map(([name, ms]) => [name, ms - before[name]]));
  const ours = Object.entries(spent).reduce((sum, [name, ms]) => (name === 'machine' ? sum : sum + ms), 0);
  return { ...spent, foreign: spent.machine - ours };
}

/**
 * One slice: unrecorded warm-up, then `seconds` of recorded load; CPU covers the recorded window.
 * `pids` must name the `workerd` process, whose RSS is read at the end.
 */
export async function measureSlice({ url, token, spec, concurrency, pids, seconds, warmupSeconds }) {
  const load = startLoad({ url, path: CHAT_PATH, token, specs: [spec], concurrency });
  await sleep(warmupSeconds * 1000);
  const before = cpuSnapshot(pids);
  load.beginWindow();
  await sleep(seconds * 1000);
  const window = load.endWindow();
  const cpu = cpuSince(before, pids);
  await load.stop();
  return { ...window, cpu, rssMiB: rssMiB(pids.workerd) };
}

/** Merges the slices of one (case, concurrency, target) into its table row. */
export function summarise({ kind, concurrency, target }, slices) {
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
    foreignCpuPercent: percentOfOneCore(cpu('foreign')),
    workerdRssMiB: slices[slices.length - 1].rssMiB,
    errors: slices.reduce((sum, slice) => sum + slice.errors, 0),
    firstError: slices.find((slice) => slice.firstError)?.firstError ?? null,
  };
}
