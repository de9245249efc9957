// Starts the fast fake upstream (upstream-server.mjs) in a child process and hands back its URL
// and process id (the benchmark reads the child's CPU time to show it is not the bottleneck).

import { fork } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

/**
 * @param {{ stationUrl: string, streamChunks: number, longChunks: number, streamDelayMs: number }} options
 * @returns {Promise<{ url: string, pid: number, close: () => Promise<void> }>}
 */
export async function startUpstream({ stationUrl, streamChunks, longChunks, streamDelayMs }) {
  const child = fork(join(import.meta.dirname, 'upstream-server.mjs'), [], {
    env: {
      ...process.env,
      BENCH_STATION_URL: stationUrl,
      BENCH_STREAM_CHUNKS: String(streamChunks),
      BENCH_LONG_CHUNKS: String(longChunks),
      BENCH_STREAM_DELAY_MS: String(streamDelayMs),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`bench upstream exited early (code ${code})`);
  });
  const [{ port }] = await Promise.race([once(child, 'message'), exited]);
  exited.catch(() => {}); // after start-up, an exit is only the expected close()
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    async close() {
      if (child.exitCode !== null) return;
      const gone = once(child, 'exit');
      child.kill('SIGTERM');
      await gone;
    },
  };
}
