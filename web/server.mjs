// Serves the built console (web/dist) and proxies the gateway's paths (/api, /v1, /v1beta,
// /health, /dashboard) to it, so console and API share one origin locally and in the browser
// tests. Unknown paths get index.html (client-side routes such as /invite/:token).
//   node web/server.mjs --gateway http://127.0.0.1:8787 --port 8788
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

const DIST = resolve(fileURLToPath(new URL('.', import.meta.url)), 'dist');
const PROXIED = ['/api/', '/v1/', '/v1beta/', '/health', '/dashboard/'];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};
// Hop-by-hop headers are not forwarded either way.
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'content-length']);

async function proxy(req, res, gateway) {
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  let upstream;
  try {
    upstream = await fetch(gateway + req.url, {
      method: req.method,
      headers,
      body: hasBody ? Readable.toWeb(req) : undefined,
      duplex: hasBody ? 'half' : undefined,
      redirect: 'manual',
    });
  } catch (err) {
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ success: false, error: { code: 'gateway_unreachable', message: `gateway unreachable: ${err.message}` } }));
    return;
  }
  const out = {};
  upstream.headers.forEach((v, k) => {
    if (!HOP.has(k) && k !== 'content-encoding') out[k] = v;
  });
  res.writeHead(upstream.status, out);
  if (upstream.body) await pipeline(Readable.fromWeb(upstream.body), res).catch(() => res.destroy());
  else res.end();
}

async function serveStatic(req, res) {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const file = normalize(join(DIST, path));
  let target = join(DIST, 'index.html');
  if (file.startsWith(DIST)) {
    const info = await stat(file).catch(() => null);
    if (info?.isFile()) target = file;
  }
  const body = await readFile(target);
  const immutable = target.includes(`${join(DIST, 'assets')}`);
  res.writeHead(200, {
    'content-type': TYPES[extname(target)] ?? 'application/octet-stream',
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

/** Starts the server; `port` 0 picks a free one. Resolves to { url, close }. */
export async function startConsoleServer({ gateway, port = 0, host = '127.0.0.1' }) {
  const base = gateway.replace(/\/+$/, '');
  const server = createServer((req, res) => {
    const handler = PROXIED.some((p) => req.url === p.replace(/\/$/, '') || req.url.startsWith(p)) ? proxy(req, res, base) : serveStatic(req, res);
    handler.catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err?.message ?? err));
    });
  });
  await new Promise((ok, fail) => server.once('error', fail).listen(port, host, ok));
  const { port: actual } = server.address();
  return {
    url: `http://${host}:${actual}`,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections?.();
        server.close(() => ok());
      }),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const { url } = await startConsoleServer({ gateway: arg('gateway', 'http://127.0.0.1:8787'), port: Number(arg('port', '8788')) });
  console.log(`console: ${url}`);
}
