// Steering of relay answers: which behaviour a request asks for (x-fake-behavior header, a fake-*
// model name, or the station-wide state.behavior), and the two writers every relay handler answers
// through — sendPayload (one body) and sendStream (framed events) — which apply slow-stream,
// silent-stream, cut-stream and bad-json the same way for every dialect.

import { pause, sendBytes, writeChunk } from './fake-http.mjs';

/** Models that select a behaviour by name; they are always listed by the fake. */
export const STEERING_MODELS = Object.freeze({
  'fake-slow': 'slow-first-byte:1500',
  'fake-slow-stream': 'slow-stream:300',
  'fake-500': 'error-500',
  'fake-429': 'rate-limit:7',
  'fake-401': 'unauthorized',
  'fake-cut': 'cut-stream:2',
  'fake-hang': 'hang',
  'fake-bad-json': 'bad-json',
});

// Behaviour kind -> default numeric argument (null: the kind takes no argument).
const BEHAVIOR_DEFAULTS = {
  normal: null,
  'slow-first-byte': 1500,
  'slow-stream': 300,
  'silent-stream': 1000,
  'error-500': null,
  'rate-limit': 7,
  unauthorized: null,
  'cut-stream': 2,
  hang: null,
  'bad-json': null,
};

/** The behaviour for this relay request, or null when the header names an unknown one. */
export function resolveBehavior(ctx) {
  const spec = ctx.req.headers['x-fake-behavior'] ?? STEERING_MODELS[ctx.model] ?? ctx.state.behavior ?? 'normal';
  return parseBehavior(spec.trim());
}

// "kind" or "kind:<number>"; null when the kind is unknown or the argument is not allowed.
function parseBehavior(spec) {
  const [kind, argument, ...rest] = spec.split(':');
  if (!Object.hasOwn(BEHAVIOR_DEFAULTS, kind) || rest.length > 0) return null;
  const fallback = BEHAVIOR_DEFAULTS[kind];
  if (argument === undefined) return { kind, value: fallback };
  const value = Number(argument);
  if (fallback === null || argument === '' || !Number.isFinite(value) || value < 0) return null;
  return { kind, value };
}

/**
 * A complete (non-stream) answer. bad-json sends the first half with a matching Content-Length;
 * cut-stream announces the full length, sends half and destroys the socket; silent-stream sends
 * half, waits, then the rest.
 */
export async function sendPayload(ctx, behavior, contentType, body, headers = {}) {
  const { res } = ctx;
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const half = bytes.subarray(0, Math.floor(bytes.length / 2));
  if (behavior.kind === 'bad-json') return sendBytes(res, 200, contentType, half, headers);
  if (behavior.kind !== 'cut-stream' && behavior.kind !== 'silent-stream') {
    return sendBytes(res, 200, contentType, bytes, headers);
  }
  res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': bytes.length, ...headers });
  if (!(await writeChunk(res, half))) return;
  if (behavior.kind === 'cut-stream') return res.destroy();
  if (await pause(res, behavior.value)) res.end(bytes.subarray(half.length));
}

/** SSE framing: `event:` line when the frame names one, then `data:`; `eol` ends each line. */
export function sseFraming({ eol = '\n', done } = {}) {
  return {
    contentType: 'text/event-stream',
    format: (frame) => `${frame.event ? `event: ${frame.event}${eol}` : ''}data: ${frame.data}${eol}${eol}`,
    end: done === undefined ? '' : `data: ${done}${eol}${eol}`,
  };
}

/** Gemini's framing without alt=sse: one JSON array, streamed element by element. */
export const JSON_ARRAY_FRAMING = Object.freeze({
  contentType: 'application/json; charset=UTF-8',
  format: (frame, index) => `${index === 0 ? '[' : '\r\n,'}${frame.data}`,
  end: ']',
});

/**
 * Streams `frames` ({event?, data}) through `framing`, then `framing.end`. slow-stream pauses before
 * every frame after the first; silent-stream pauses once after the first; cut-stream:N sends the
 * first frame and N more (never the last) and destroys the socket; bad-json ends the stream with
 * the second frame (the first when there is only one) cut in half.
 */
export async function sendStream(ctx, behavior, frames, framing, headers = {}) {
  const { res } = ctx;
  let sent = frames;
  if (behavior.kind === 'cut-stream') sent = frames.slice(0, Math.min(1 + behavior.value, frames.length - 1));
  if (behavior.kind === 'bad-json') {
    const broken = Math.min(1, frames.length - 1);
    const { data } = frames[broken];
    sent = [...frames.slice(0, broken), { ...frames[broken], data: data.slice(0, Math.floor(data.length / 2)) }];
  }
  res.writeHead(200, {
    'Content-Type': framing.contentType,
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
    ...headers,
  });
  res.flushHeaders();
  for (const [index, frame] of sent.entries()) {
    if (!(await pauseBeforeFrame(res, behavior, index))) return;
    if (!(await writeChunk(res, framing.format(frame, index)))) return;
  }
  if (behavior.kind === 'cut-stream') res.destroy();
  else if (!framing.end || (await writeChunk(res, framing.end))) res.end();
}

function pauseBeforeFrame(res, behavior, index) {
  const waits = (behavior.kind === 'slow-stream' && index > 0) || (behavior.kind === 'silent-stream' && index === 1);
  return waits ? pause(res, behavior.value) : Promise.resolve(true);
}
