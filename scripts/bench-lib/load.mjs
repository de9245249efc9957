// The load generator: N concurrent request loops over keep-alive connections (node:http, one
// socket per loop), timing each request's first body byte and its end. Samples are kept only
// inside a measurement window, so warm-up requests do not count. Every answer is checked: status
// 200 and exactly the expected number of body bytes, else it counts as an error.

import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';

/**
 * One kind of request a loop sends; `path` and `headers` override the load's path and add headers.
 * @typedef {{ body: Buffer, expectedBytes: number, path?: string, headers?: Record<string, string> }} RequestSpec
 */

/**
 * Starts `concurrency` loops against `url`; loop i sends `specs[i % specs.length]` repeatedly.
 * @param {{ url: string, path: string, token: string, specs: RequestSpec[], concurrency: number }} options
 */
export function startLoad({ url, path, token, specs, concurrency }) {
  const target = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let window = null;
  let stopping = false;
  const loops = Array.from({ length: concurrency }, (_, i) => runLoop(specs[i % specs.length]));

  async function runLoop(spec) {
    const options = {
      agent,
      host: target.hostname,
      port: target.port,
      method: 'POST',
      path: spec.path ?? path,
      headers: { 'content-type': 'application/json', 'content-length': spec.body.length, authorization: `Bearer ${token}`, ...spec.headers },
    };
    while (!stopping) {
      const sample = await timedRequest(options, spec);
      if (window && sample.startedAt >= window.startedAt && !window.closed) record(window, sample);
    }
  }

  return {
    /** Starts a fresh measurement window; samples from earlier requests are dropped. */
    beginWindow() {
      window = { startedAt: performance.now(), latencies: [], ttfbs: [], errors: 0, firstError: null, closed: false };
    },
    /** Closes the window and returns its samples and its length in seconds. */
    endWindow() {
      window.closed = true;
      return { ...window, seconds: (performance.now() - window.startedAt) / 1000 };
    },
    /** Stops issuing requests and waits for the ones in flight. */
    async stop() {
      stopping = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

function record(window, sample) {
  if (sample.error) {
    window.errors += 1;
    window.firstError ??= sample.error;
  } else {
    window.latencies.push(sample.latencyMs);
    window.ttfbs.push(sample.ttfbMs);
  }
}

// Resolves (never rejects) with the timings, or with an error description.
function timedRequest(options, spec) {
  return new Promise((resolve) => {
    const startedAt = performance.now();
    const fail = (error) => resolve({ startedAt, error });
    const req = httpRequest(options, (res) => {
      let ttfbMs = null;
      let bytes = 0;
      res.on('data', (chunk) => {
        ttfbMs ??= performance.now() - startedAt;
        bytes += chunk.length;
      });
      res.on('error', (error) => fail(error.message));
      res.on('end', () => {
        const latencyMs = performance.now() - startedAt;
        if (res.statusCode !== 200) fail(`HTTP ${res.statusCode}`);
        else if (bytes !== spec.expectedBytes) fail(`body of ${bytes} bytes, expected ${spec.expectedBytes}`);
        else resolve({ startedAt, latencyMs, ttfbMs });
      });
    });
    req.on('error', (error) => fail(error.message));
    req.end(spec.body);
  });
}
