// Helpers for the fake station's self-tests: start/stop a station, make calls, read SSE and
// JSON-array streams frame by frame, and build exact multipart bodies.

import { startFakeStation } from './fake-station.mjs';

/** The user text the self-tests send (the fake echoes it back). */
export const HELLO = 'hello there fake station';

export async function withStation(options, run) {
  const station = await startFakeStation(options);
  try {
    await run(station);
  } finally {
    await station.close();
  }
}

/** One call; `body` objects are sent as JSON, strings and Buffers as they are. */
export async function call(station, path, { method = 'GET', headers = {}, body, signal } = {}) {
  const init = { method, headers: { ...headers }, signal };
  if (body !== undefined) {
    const raw = typeof body === 'string' || Buffer.isBuffer(body);
    init.body = raw ? body : JSON.stringify(body);
    if (!raw) init.headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${station.url}${path}`, init);
  const bytes = Buffer.from(await response.arrayBuffer());
  const text = bytes.toString('utf8');
  return { status: response.status, headers: response.headers, bytes, text, json: parseOrUndefined(text) };
}

export function parseOrUndefined(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function bearer(station) {
  return { authorization: `Bearer sk-${station.state.tokens[0].key}` };
}

export function anthropicHeaders(station, extra = {}) {
  return { 'x-api-key': `sk-${station.state.tokens[0].key}`, 'anthropic-version': '2023-06-01', ...extra };
}

export function geminiHeaders(station, extra = {}) {
  return { 'x-goog-api-key': `sk-${station.state.tokens[0].key}`, ...extra };
}

/** Starts a streaming call and returns the fetch Response. */
export function open(station, path, { headers = {}, body }) {
  return fetch(`${station.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** Reads the whole body chunk by chunk: the text, chunk arrival times, and the error if it broke. */
export async function readChunks(response) {
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  const result = { text: '', arrivals: [], error: undefined };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      result.arrivals.push(Date.now());
      result.text += decoder.decode(value, { stream: true });
    }
  } catch (error) {
    result.error = error;
  }
  return result;
}

/** SSE frames of a text (LF or CRLF line ends) as {event, data} with data JSON-parsed when it can be. */
export function sseFrames(text) {
  return text
    .split(/\r?\n\r?\n/)
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const frame = { event: undefined, data: undefined, raw: block };
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event:')) frame.event = line.slice(6).trim();
        if (line.startsWith('data:')) frame.data = line.slice(5).trim();
      }
      frame.json = parseOrUndefined(frame.data);
      return frame;
    });
}

/** Reads an SSE response: frames, arrivals, error; `complete` says whether the last frame was whole. */
export async function readSseResponse(response) {
  const result = await readChunks(response);
  return { ...result, frames: sseFrames(result.text), complete: /\r?\n\r?\n$/.test(result.text) };
}

/** A multipart/form-data body, byte-exact: parts are {name, value} or {name, filename, type, data}. */
export function multipartBody(boundary, parts) {
  const chunks = [];
  for (const part of parts) {
    const file = part.filename === undefined ? '' : `; filename="${part.filename}"`;
    const type = part.type ? `\r\nContent-Type: ${part.type}` : '';
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"${file}${type}\r\n\r\n`));
    chunks.push(Buffer.isBuffer(part.data) ? part.data : Buffer.from(part.value ?? part.data ?? ''));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** All 256 byte values, twice, in an order that would show any re-encoding. */
export const BINARY_SAMPLE = Buffer.from([...Array(256).keys(), ...Array.from({ length: 256 }, (_, i) => 255 - i)]);
