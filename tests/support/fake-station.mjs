// Fake New API panel (QuantumNous/new-api) for end-to-end tests. A node:http server on 127.0.0.1
// serves the management API (/api/*, fake-panel.mjs) and the relay in three dialects
// (fake-relay.mjs): OpenAI /v1/*, Anthropic /v1/messages*, Gemini /v1beta/*. Each relay request can
// be steered into a failure mode with the `x-fake-behavior` header or a `fake-*` model name
// (fake-steering.mjs). Every request is recorded. Only Node built-ins.

import { createServer } from 'node:http';
import { newRequestId, parseJson, readBody, sendBytes, sendJson } from './fake-http.mjs';
import { dispatchApi } from './fake-panel.mjs';
import { dispatchRelay } from './fake-relay.mjs';
import { sendInvalidUrl } from './fake-errors.mjs';
import { createState } from './fake-state.mjs';

export { STEERING_MODELS } from './fake-steering.mjs';
export { ALL_DIALECTS } from './fake-state.mjs';
export { imageBytes, speechBytes } from './fake-openai-media.mjs';

const INDEX_HTML = '<!doctype html><html><head><title>New API</title></head><body><div id="root"></div></body></html>';

/**
 * Start a fake New API panel on 127.0.0.1.
 * @param {object} [options] see createState in fake-state.mjs (e.g. models, dialects, behavior, legacy)
 * @returns {Promise<{url: string, port: number, state: object, requests: object[], reset: () => void, close: () => Promise<void>}>}
 *   requests: every request as {method, path (with query), headers (lower-case), body (raw Buffer), json, at}.
 */
export async function startFakeStation(options = {}) {
  const sockets = new Set();
  const station = { url: '', port: 0, state: createState(options), requests: [], reset, close };
  const server = createServer({ noDelay: true }, (req, res) => {
    handleRequest(station, req, res).catch((error) => failInternally(res, error));
  });
  server.on('connection', (socket) => trackSocket(sockets, socket));
  await listen(server, options.port ?? 0);
  station.port = server.address().port;
  station.url = `http://127.0.0.1:${station.port}`;
  return station;

  function reset() {
    Object.assign(station.state, createState(options));
    station.requests.length = 0;
  }

  function close() {
    if (!server.listening) return Promise.resolve();
    const closed = new Promise((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    return closed;
  }
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
}

function trackSocket(sockets, socket) {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
}

async function handleRequest(station, req, res) {
  const at = Date.now();
  const body = await readBody(req);
  if (body === null) return;
  const json = parseJson(body);
  station.requests.push({ method: req.method, path: req.url, headers: { ...req.headers }, body, json, at });
  const url = new URL(req.url, 'http://fake-station.invalid');
  const ctx = { station, state: station.state, req, res, url, body, json, params: {}, requestId: newRequestId() };
  res.setHeader('X-Oneapi-Request-Id', ctx.requestId);
  // Extra answer headers a test wants on every response (cookies, CORS, server names…).
  for (const [name, value] of Object.entries(station.state.answerHeaders ?? {})) res.setHeader(name, value);
  if (url.pathname.startsWith('/api')) return dispatchApi(ctx);
  // An older panel that serves only some relay routes answers the rest 404 before any token check.
  const only = station.state.onlyRelayPaths;
  if (only && url.pathname.startsWith('/v1') && !only.includes(url.pathname)) return sendInvalidUrl(ctx);
  if (url.pathname.startsWith('/v1')) return dispatchRelay(ctx);
  return sendBytes(res, 200, 'text/html; charset=utf-8', INDEX_HTML, { 'Cache-Control': 'no-cache' });
}

function failInternally(res, error) {
  if (res.headersSent) res.destroy();
  else sendJson(res, 500, { success: false, message: `fake-station: ${error.message}` });
}
