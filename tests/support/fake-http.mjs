// HTTP plumbing shared by the fake station's modules: request reading, a tiny path router (with
// `:param` and Gemini-style `:param:action` segments), JSON/byte responses, timed pauses that give
// up when the client goes away, and small id/time helpers. Only Node built-ins.

import { createHash, randomInt } from 'node:crypto';

export const JSON_TYPE = 'application/json; charset=utf-8';
const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Reads the whole request body; null when the client went away first. */
export async function readBody(req) {
  const chunks = [];
  try {
    for await (const chunk of req) chunks.push(chunk);
  } catch {
    return null;
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON body; undefined when empty or not JSON (multipart, binary, broken). */
export function parseJson(body) {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * A route: `pattern` segments are literals, `:name` parameters, or `:name:suffix` parameters whose
 * value must end with `:suffix` (Gemini's `models/{model}:generateContent`).
 */
export function route(method, pattern, handler, flags = {}) {
  return { method, segments: pathSegments(pattern).map(parseSegment), handler, auth: true, ...flags };
}

function parseSegment(part) {
  if (!part.startsWith(':')) return { literal: part };
  const [name, suffix] = part.slice(1).split(':');
  return { name, suffix: suffix === undefined ? '' : `:${suffix}` };
}

function pathSegments(path) {
  return path.split('/').filter(Boolean);
}

/** The first route matching the request (method, `when` guard, path); sets ctx.params. */
export function findRoute(routes, ctx) {
  const segments = pathSegments(ctx.url.pathname);
  for (const candidate of routes) {
    if (candidate.method !== ctx.req.method) continue;
    if (candidate.when && !candidate.when(ctx.state)) continue;
    const params = matchSegments(candidate.segments, segments);
    if (params) {
      ctx.params = params;
      return candidate;
    }
  }
  return null;
}

function matchSegments(pattern, actual) {
  if (pattern.length !== actual.length) return null;
  const params = {};
  for (const [index, part] of pattern.entries()) {
    const value = safeDecode(actual[index]);
    if (value === null) return null;
    if (part.literal !== undefined) {
      if (part.literal !== value) return null;
    } else {
      if (!value.endsWith(part.suffix) || value.length === part.suffix.length) return null;
      params[part.name] = value.slice(0, value.length - part.suffix.length);
    }
  }
  return params;
}

function safeDecode(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/** Sends a complete body (string or Buffer) with an exact Content-Length. */
export function sendBytes(res, status, contentType, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

export function sendJson(res, status, payload, headers = {}) {
  sendBytes(res, status, JSON_TYPE, JSON.stringify(payload), headers);
}

/** Writes one chunk and resolves true once it has been handed to the socket. */
export function writeChunk(res, chunk) {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => res.write(chunk, (error) => resolve(!error)));
}

/** Resolves true after `ms`, or false as soon as the response is closed (client gone, or close()). */
export function pause(res, ms) {
  return new Promise((resolve) => {
    const finish = (alive) => {
      clearTimeout(timer);
      res.off('close', onClose);
      resolve(alive);
    };
    const onClose = () => finish(false);
    const timer = setTimeout(() => finish(true), ms);
    res.once('close', onClose);
  });
}

export function stripBearer(value) {
  return value.trim().replace(/^bearer\s+/i, '').trim();
}

export function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Go strconv.Atoi: optional sign, decimal digits only; null otherwise. */
export function goAtoi(value) {
  return typeof value === 'string' && /^[+-]?\d+$/.test(value) ? Number(value) : null;
}

export function randomKey(length) {
  return Array.from({ length }, () => KEY_ALPHABET[randomInt(KEY_ALPHABET.length)]).join('');
}

export function sha256Hex(data) {
  return createHash('sha256').update(data).digest('hex');
}

/** New API request ids: a yyyyMMddHHmmss timestamp followed by random characters. */
export function newRequestId() {
  return `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}${randomKey(12)}`;
}

export function unixNow() {
  return Math.floor(Date.now() / 1000);
}

export function utcToday() {
  return new Date().toISOString().slice(0, 10);
}
