// The bytes the benchmark sends and expects: the chat request bodies of the load generator and
// the upstream's pre-built answers (an OpenAI chat completion with usage, and the same answer as
// an SSE stream ending in a usage chunk and `data: [DONE]`). Shared so both sides agree exactly.

/** The model the benchmark routes; the fake New API station lists it, so sync creates its route. */
export const BENCH_MODEL = 'gpt-4o-mini';

/**
 * Long streams: the upstream answers this model with the long stream. Clients reach it through
 * LONG_ALIAS, an alias whose only channel sits on an OpenAI-only station, so an Anthropic client's
 * call is converted while a chat client's call passes through — same channel, same upstream bytes.
 */
export const LONG_UPSTREAM_MODEL = 'gpt-4o';
export const LONG_ALIAS = 'bench-long';
/** How the upstream recognises a long-stream request (serde_json and JSON.stringify both emit it). */
export const LONG_MARKER = `"model":"${LONG_UPSTREAM_MODEL}"`;

const PROMPT = 'Summarise the benefits of keeping a gateway on the hot path thin, in one paragraph.';
const ANSWER_WORD = 'thin ';
const CREATED = 1_700_000_000;

/** Request bodies of the two cases; byte-identical on every request. */
export function requestBodies() {
  const messages = [{ role: 'user', content: PROMPT }];
  return {
    'non-stream': Buffer.from(JSON.stringify({ model: BENCH_MODEL, messages })),
    stream: Buffer.from(JSON.stringify({ model: BENCH_MODEL, stream: true, stream_options: { include_usage: true }, messages })),
  };
}

/**
 * Streamed request bodies of the long cases: the chat body as the bare worker and the upstream get
 * it (upstream model), the chat body for the gateway (alias), and the Anthropic Messages body.
 */
export function longRequestBodies() {
  const messages = [{ role: 'user', content: PROMPT }];
  const chat = (model) => Buffer.from(JSON.stringify({ model, stream: true, stream_options: { include_usage: true }, messages }));
  return {
    direct: chat(LONG_UPSTREAM_MODEL),
    gatewayChat: chat(LONG_ALIAS),
    gatewayMessages: Buffer.from(JSON.stringify({ model: LONG_ALIAS, max_tokens: 4096, stream: true, messages })),
  };
}

/**
 * The upstream's answers. `streamChunks` content events, then a finish event, a usage event and
 * `data: [DONE]`; the non-stream completion carries the same text and usage.
 * @param {number} streamChunks
 * @returns {{ completion: Buffer, streamEvents: Buffer[], streamBytes: number }}
 */
export function chatBodies(streamChunks) {
  const id = 'chatcmpl-bench0000000000000000';
  const usage = { prompt_tokens: 17, completion_tokens: streamChunks, total_tokens: 17 + streamChunks };
  const completion = {
    id,
    object: 'chat.completion',
    created: CREATED,
    model: BENCH_MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content: ANSWER_WORD.repeat(streamChunks) }, logprobs: null, finish_reason: 'stop' }],
    usage,
  };
  const chunk = (choices, extra = {}) => ({ id, object: 'chat.completion.chunk', created: CREATED, model: BENCH_MODEL, choices, ...extra });
  const delta = (content, finishReason = null) => [{ index: 0, delta: content, logprobs: null, finish_reason: finishReason }];
  const events = [
    ...Array.from({ length: streamChunks }, (_, i) => chunk(delta(i === 0 ? { role: 'assistant', content: ANSWER_WORD } : { content: ANSWER_WORD }))),
    chunk(delta({}, 'stop')),
    chunk([], { usage }),
  ].map((event) => Buffer.from(`data: ${JSON.stringify(event)}\n\n`));
  events.push(Buffer.from('data: [DONE]\n\n'));
  return {
    completion: Buffer.from(JSON.stringify(completion)),
    streamEvents: events,
    streamBytes: events.reduce((sum, event) => sum + event.length, 0),
  };
}
