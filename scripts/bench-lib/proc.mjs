// Process figures from Linux /proc: CPU time (user + system, all threads) and resident memory
// of a process, and finding the workerd processes that Miniflare started.

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

// Fields of /proc/<pid>/stat after the parenthesised command name (which may contain spaces).
function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), rest: stat.slice(stat.lastIndexOf(')') + 2).split(' ') };
}

/** CPU time the process has used so far (user + system), in milliseconds. */
export function cpuMs(pid) {
  const { rest } = statFields(pid);
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Resident set size in MiB (VmRSS). */
export function rssMiB(pid) {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) / 1024;
}

/** Process ids of the descendants of `ancestor` whose command name is `name`. */
export function descendantsNamed(ancestor, name) {
  const parents = new Map();
  const names = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const { comm, rest } = statFields(entry);
      names.set(Number(entry), comm);
      parents.set(Number(entry), Number(rest[1]));
    } catch {
      // The process ended while we were listing: not ours to find.
    }
  }
  const descends = (pid) => {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p)) if (p === ancestor) return true;
    return false;
  };
  return [...names].filter(([pid, comm]) => comm === name && descends(pid)).map(([pid]) => pid);
}

/** CPU time all processes on the machine have used (busy, not idle or I/O wait), in milliseconds. */
export function machineBusyMs() {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal …: everything but idle (3) and iowait (4).
  const busy = ticks.slice(0, 8).reduce((sum, t, i) => (i === 3 || i === 4 ? sum : sum + t), 0);
  return (busy * 1000) / CLOCK_TICKS_PER_SECOND;
}
