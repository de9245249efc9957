// The bytes the benchmark sends and expects: the chat request bodies of the load generator and
// the upstream's pre-built answers (an OpenAI chat completion with usage, and the same answer as
// an SSE stream ending in a usage chunk and `data: [DONE]`). Shared so both sides agree exactly.

/** The model the benchmark routes; the fake New API station lists it, so sync creates its route. */
export const BENCH_MODEL = 'gpt-4o-mini';

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
