// The benchmark's fast fake upstream, run as its own process (see upstream.mjs) so that it never
// shares an event loop with the load generator. Chat completions are answered from pre-built
// bytes with no per-request logging; every other path (the New API management calls that the
// gateway's sync makes) is proxied to a full fake New API station, so sync behaves as in the e2e
// tests whatever it calls. Configuration comes from the parent through the environment.

import { createServer, request as httpRequest, Agent } from 'node:http';
import { chatBodies, LONG_MARKER } from './payloads.mjs';

const stationUrl = new URL(requiredEnv('BENCH_STATION_URL'));
const streamDelayMs = Number(process.env.BENCH_STREAM_DELAY_MS ?? 0);
const { completion, streamEvents } = chatBodies(Number(process.env.BENCH_STREAM_CHUNKS ?? 20));
const longStreamEvents = chatBodies(Number(process.env.BENCH_LONG_CHUNKS ?? 1000)).streamEvents;

const COMPLETION_HEADERS = { 'Content-Type': 'application/json', 'Content-Length': completion.length };
const STREAM_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' };
const STREAM_MARKER = Buffer.from('"stream":true');
const stationAgent = new Agent({ keepAlive: true });

const server = createServer({ noDelay: true, keepAliveTimeout: 60_000 }, (req, res) => {
  if (req.method === 'POST' && req.url === '/v1/chat/completions') answerChat(req, res);
  else proxyToStation(req, res);
});
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('disconnect', () => process.exit(0));

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`upstream-server: ${name} is not set`);
  return value;
}

// The request body is read in full (as a real upstream would) and only scanned for the stream flag
// and the long-stream model.
function answerChat(req, res) {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (body.includes(STREAM_MARKER)) sendStream(res, body.includes(LONG_MARKER) ? longStreamEvents : streamEvents);
    else {
      res.writeHead(200, COMPLETION_HEADERS);
      res.end(completion);
    }
  });
}

// One write per SSE event, so the stream reaches the worker in many chunks as a real one does.
function sendStream(res, events) {
  res.writeHead(200, STREAM_HEADERS);
  if (streamDelayMs <= 0) {
    for (const event of events) res.write(event);
    res.end();
    return;
  }
  let next = 0;
  const writeNext = () => {
    if (res.destroyed) return;
    res.write(events[next]);
    next += 1;
    if (next === events.length) res.end();
    else setTimeout(writeNext, streamDelayMs);
  };
  writeNext();
}

function proxyToStation(req, res) {
  const forwarded = httpRequest(
    { host: stationUrl.hostname, port: stationUrl.port, method: req.method, path: req.url, headers: req.headers, agent: stationAgent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  forwarded.on('error', (error) => {
    res.writeHead(502, { 'Content-Type': 'text/plain' });
    res.end(`bench upstream: station unreachable: ${error.message}`);
  });
  req.pipe(forwarded);
}
