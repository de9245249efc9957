// OpenAI text endpoints of the fake relay: /v1/models (OpenAI shape), /v1/chat/completions (text,
// tool calls, stream with optional usage chunk), /v1/embeddings (float or base64 float32) and
// /v1/responses (non-stream, the real stream event sequence, stored objects for GET). Shapes follow
// wire-protocols.md §2.1, §2.3, §6, §8.

import { createHash } from 'node:crypto';
import { JSON_TYPE, randomKey, unixNow } from './fake-http.mjs';
import { sendOpenAiError } from './fake-errors.mjs';
import { chargeUsage, tokenModels } from './fake-state.mjs';
import { sendPayload, sendStream, sseFraming } from './fake-steering.mjs';
import { contentText, countWords, planReply, splitText, toolDefinitionTokens } from './fake-reply.mjs';

const MODEL_CREATED = 1626777600;
const CHAT_SSE = sseFraming({ done: '[DONE]' });
const RESPONSES_SSE = sseFraming();
const ARGUMENT_PIECES = 3;

/** Deterministic float32 values in [-1, 1] derived from the input text (shared with Gemini). */
export function embedText(text, dimensions) {
  return Array.from({ length: dimensions }, (_, index) => {
    const digest = createHash('sha256').update(`${index}:${text}`).digest();
    return Math.fround((digest.readUInt32LE(0) / 0xffffffff) * 2 - 1);
  });
}

/** Sends `payload` as JSON through the steering writer. */
export function sendRelayJson(ctx, behavior, payload, headers = {}) {
  return sendPayload(ctx, behavior, JSON_TYPE, JSON.stringify(payload), headers);
}

// ---------------------------------------------------------------- models

function endpointTypes(id) {
  if (id.startsWith('claude')) return ['anthropic', 'openai'];
  if (id.startsWith('gemini')) return ['gemini', 'openai'];
  return ['openai'];
}

function ownerOf(id) {
  if (id.startsWith('gpt-') || id.startsWith('text-embedding') || id.startsWith('whisper') || id.startsWith('tts')) return 'openai';
  if (id.startsWith('claude')) return 'anthropic';
  if (id.startsWith('gemini')) return 'google';
  return 'custom';
}

/** New API's OpenAI-shaped model list (it adds `success` and `supported_endpoint_types`). */
export function listOpenAiModels(ctx, behavior) {
  const data = tokenModels(ctx.state, ctx.token).map((id) => ({
    id,
    object: 'model',
    created: MODEL_CREATED,
    owned_by: ownerOf(id),
    supported_endpoint_types: endpointTypes(id),
  }));
  return sendRelayJson(ctx, behavior, { success: true, object: 'list', data });
}

// ---------------------------------------------------------------- chat completions

export function validateChat(json) {
  return Array.isArray(json.messages) && json.messages.length > 0 ? null : 'field messages is required';
}

function chatTools(json) {
  if (json.tool_choice === 'none' || !Array.isArray(json.tools)) return [];
  return json.tools
    .filter((tool) => tool?.type === 'function' && typeof tool.function?.name === 'string')
    .map((tool) => ({ name: tool.function.name, description: tool.function.description, schema: tool.function.parameters }));
}

export function chatCompletions(ctx, behavior) {
  const { json, state } = ctx;
  const tools = chatTools(json);
  const lastUser = json.messages.findLast((message) => message?.role === 'user');
  const plan = planReply({
    lastUserText: contentText(lastUser?.content),
    tools,
    forcedTool: json.tool_choice?.function?.name,
    maxTokens: json.max_completion_tokens ?? json.max_tokens,
  });
  const promptTokens = json.messages.reduce((sum, message) => sum + countWords(contentText(message?.content)), 0) + toolDefinitionTokens(tools);
  const usage = { prompt_tokens: promptTokens, completion_tokens: plan.outputTokens, total_tokens: promptTokens + plan.outputTokens };
  const completion = { id: `chatcmpl-${randomKey(24)}`, created: unixNow(), model: json.model };
  // A test may script the next tool calls (`state.scriptedToolCalls`: [{name, args}], used in order).
  const planned = state.scriptedToolCalls?.shift() ?? plan.toolCall;
  const toolCall = planned && { id: `call_${randomKey(24)}`, name: planned.name, arguments: JSON.stringify(planned.args) };
  const finishReason = plan.truncated ? 'length' : toolCall ? 'tool_calls' : 'stop';
  chargeUsage(ctx, json.model, usage.prompt_tokens, usage.completion_tokens);
  if (json.stream === true) {
    const includeUsage = json.stream_options?.include_usage === true || state.includeUsageAlways;
    const chunks = chatChunks(completion, splitText(plan.text, state.streamChunks), toolCall, finishReason, includeUsage && usage);
    return sendStream(ctx, behavior, chunks.map((chunk) => ({ data: JSON.stringify(chunk) })), CHAT_SSE);
  }
  const message = { role: 'assistant', content: plan.text, refusal: null };
  if (toolCall) message.tool_calls = [{ id: toolCall.id, type: 'function', function: { name: toolCall.name, arguments: toolCall.arguments } }];
  return sendRelayJson(ctx, behavior, {
    ...completion,
    object: 'chat.completion',
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
    usage,
  });
}

// ---------------------------------------------------------------- legacy completions

export function validateCompletions(json) {
  const prompt = json.prompt;
  return typeof prompt === 'string' || (Array.isArray(prompt) && prompt.length > 0) ? null : 'field prompt is required';
}

/** `POST /v1/completions`: `text_completion` objects; streams end with `data: [DONE]`. */
export function completions(ctx, behavior) {
  const { json, state } = ctx;
  const promptText = Array.isArray(json.prompt) ? json.prompt.join('\n') : json.prompt;
  const plan = planReply({ lastUserText: promptText, maxTokens: json.max_tokens });
  const promptTokens = countWords(promptText);
  const usage = { prompt_tokens: promptTokens, completion_tokens: plan.outputTokens, total_tokens: promptTokens + plan.outputTokens };
  const base = { id: `cmpl-${randomKey(24)}`, object: 'text_completion', created: unixNow(), model: json.model };
  const finishReason = plan.truncated ? 'length' : 'stop';
  chargeUsage(ctx, json.model, usage.prompt_tokens, usage.completion_tokens);
  const choice = (text, reason) => ({ text, index: 0, logprobs: null, finish_reason: reason });
  if (json.stream === true) {
    const pieces = splitText(plan.text, state.streamChunks);
    const chunks = pieces.map((text, i) => ({ ...base, choices: [choice(text, i === pieces.length - 1 ? finishReason : null)] }));
    if (json.stream_options?.include_usage === true || state.includeUsageAlways) chunks.push({ ...base, choices: [], usage });
    return sendStream(ctx, behavior, chunks.map((chunk) => ({ data: JSON.stringify(chunk) })), CHAT_SSE);
  }
  return sendRelayJson(ctx, behavior, { ...base, choices: [choice(plan.text, finishReason)], usage });
}

// Role chunk, one chunk per text piece, the tool call (id and name first, then argument fragments),
// the finish chunk, then the usage chunk when `usage` is given (the others then carry usage: null,
// as OpenAI sends them).
function chatChunks(completion, pieces, toolCall, finishReason, usage) {
  const chunk = (delta, reason = null) => ({
    ...completion,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: reason }],
    ...(usage && { usage: null }),
  });
  const chunks = [chunk({ role: 'assistant', content: '' }), ...pieces.map((content) => chunk({ content }))];
  if (toolCall) {
    const opening = { index: 0, id: toolCall.id, type: 'function', function: { name: toolCall.name, arguments: '' } };
    chunks.push(chunk({ tool_calls: [opening] }));
    for (const fragment of splitText(toolCall.arguments, ARGUMENT_PIECES)) {
      chunks.push(chunk({ tool_calls: [{ index: 0, function: { arguments: fragment } }] }));
    }
  }
  chunks.push(chunk({}, finishReason));
  if (usage) chunks.push({ ...completion, object: 'chat.completion.chunk', choices: [], usage });
  return chunks;
}

// ---------------------------------------------------------------- embeddings

function embeddingInputs(input) {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input) || input.length === 0) return null;
  return input.every((item) => typeof item === 'number') ? [input] : input;
}

export function validateEmbeddings(json) {
  return embeddingInputs(json.input) ? null : 'input is empty';
}

// Little-endian float32 values, base64-encoded: what `encoding_format: "base64"` returns.
function float32Base64(values) {
  const buffer = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => buffer.writeFloatLE(value, index * 4));
  return buffer.toString('base64');
}

export function createEmbeddings(ctx, behavior) {
  const { json, state } = ctx;
  const inputs = embeddingInputs(json.input);
  const dimensions = Number.isInteger(json.dimensions) && json.dimensions > 0 ? json.dimensions : state.embeddingDimensions;
  const data = inputs.map((item, index) => {
    const vector = embedText(typeof item === 'string' ? item : JSON.stringify(item), dimensions);
    const embedding = json.encoding_format === 'base64' ? float32Base64(vector) : vector;
    return { object: 'embedding', index, embedding };
  });
  const promptTokens = inputs.reduce((sum, item) => sum + (typeof item === 'string' ? countWords(item) : item.length), 0);
  chargeUsage(ctx, json.model, promptTokens);
  return sendRelayJson(ctx, behavior, { object: 'list', data, model: json.model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
}

// ---------------------------------------------------------------- responses

// Input items as messages: a string is one user message; function_call_output items count as text.
function responseInputItems(input) {
  if (typeof input === 'string') return [{ role: 'user', text: input }];
  if (!Array.isArray(input)) return [];
  return input.map((item) => ({
    role: item?.role ?? item?.type,
    text: item?.type === 'function_call_output' ? contentText(item.output) : contentText(item?.content),
  }));
}

export function validateResponses(json) {
  return typeof json.input === 'string' || (Array.isArray(json.input) && json.input.length > 0) ? null : "Missing required parameter: 'input'.";
}

function responseTools(json) {
  if (json.tool_choice === 'none' || !Array.isArray(json.tools)) return [];
  return json.tools
    .filter((tool) => tool?.type === 'function' && typeof tool.name === 'string')
    .map((tool) => ({ name: tool.name, description: tool.description, schema: tool.parameters }));
}

export function createResponse(ctx, behavior) {
  const { json, state } = ctx;
  const items = responseInputItems(json.input);
  const tools = responseTools(json);
  const plan = planReply({
    lastUserText: items.findLast((item) => item.role === 'user')?.text ?? '',
    tools,
    forcedTool: json.tool_choice?.name,
    maxTokens: json.max_output_tokens,
  });
  const inputTokens = countWords(json.instructions ?? '') + items.reduce((sum, item) => sum + countWords(item.text), 0) + toolDefinitionTokens(tools);
  chargeUsage(ctx, json.model, inputTokens, plan.outputTokens);
  const base = responseBase(json);
  const message = messageItem(plan.text);
  const call = plan.toolCall && functionCallItem(plan.toolCall);
  const output = call ? [message, call] : [message];
  const status = plan.truncated ? 'incomplete' : 'completed';
  const final = {
    ...base,
    status,
    incomplete_details: plan.truncated ? { reason: 'max_output_tokens' } : null,
    output,
    usage: {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: plan.outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + plan.outputTokens,
    },
  };
  if (final.store) state.responses.set(final.id, final);
  if (json.stream !== true) return sendRelayJson(ctx, behavior, final);
  const events = responseEvents(base, final, splitText(plan.text, state.streamChunks));
  const frames = events.map((event, index) => ({ event: event.type, data: JSON.stringify({ ...event, sequence_number: index }) }));
  return sendStream(ctx, behavior, frames, RESPONSES_SSE);
}

function responseBase(json) {
  return {
    id: `resp_${randomKey(32)}`,
    object: 'response',
    created_at: unixNow(),
    status: 'in_progress',
    error: null,
    incomplete_details: null,
    instructions: json.instructions ?? null,
    max_output_tokens: json.max_output_tokens ?? null,
    model: json.model,
    output: [],
    parallel_tool_calls: json.parallel_tool_calls ?? true,
    previous_response_id: json.previous_response_id ?? null,
    reasoning: { effort: json.reasoning?.effort ?? null, summary: json.reasoning?.summary ?? null },
    store: json.store !== false,
    temperature: json.temperature ?? 1,
    text: json.text ?? { format: { type: 'text' } },
    tool_choice: json.tool_choice ?? 'auto',
    tools: json.tools ?? [],
    top_p: json.top_p ?? 1,
    truncation: json.truncation ?? 'disabled',
    usage: null,
    user: json.user ?? null,
    metadata: json.metadata ?? {},
  };
}

function messageItem(text) {
  return {
    id: `msg_${randomKey(32)}`,
    type: 'message',
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
  };
}

function functionCallItem(toolCall) {
  return {
    id: `fc_${randomKey(32)}`,
    type: 'function_call',
    status: 'completed',
    arguments: JSON.stringify(toolCall.args),
    call_id: `call_${randomKey(24)}`,
    name: toolCall.name,
  };
}

// The documented lifecycle: created, in_progress, then per output item added → (parts, deltas) →
// done, and a terminal response.completed / response.incomplete carrying the full object.
function responseEvents(base, final, pieces) {
  const [message, call] = final.output;
  const text = message.content[0].text;
  const part = { type: 'output_text', text: '', annotations: [], logprobs: [] };
  const at = { item_id: message.id, output_index: 0, content_index: 0 };
  const events = [
    { type: 'response.created', response: base },
    { type: 'response.in_progress', response: base },
    { type: 'response.output_item.added', output_index: 0, item: { ...message, status: 'in_progress', content: [] } },
    { type: 'response.content_part.added', ...at, part },
    ...pieces.map((delta) => ({ type: 'response.output_text.delta', ...at, delta, logprobs: [] })),
    { type: 'response.output_text.done', ...at, text, logprobs: [] },
    { type: 'response.content_part.done', ...at, part: { ...part, text } },
    { type: 'response.output_item.done', output_index: 0, item: message },
  ];
  if (call) {
    const callAt = { item_id: call.id, output_index: 1 };
    events.push(
      { type: 'response.output_item.added', output_index: 1, item: { ...call, status: 'in_progress', arguments: '' } },
      ...splitText(call.arguments, ARGUMENT_PIECES).map((delta) => ({ type: 'response.function_call_arguments.delta', ...callAt, delta })),
      { type: 'response.function_call_arguments.done', ...callAt, arguments: call.arguments },
      { type: 'response.output_item.done', output_index: 1, item: call },
    );
  }
  events.push({ type: final.status === 'completed' ? 'response.completed' : 'response.incomplete', response: final });
  return events;
}

export function getStoredResponse(ctx, behavior) {
  const stored = ctx.state.responses.get(ctx.params.id);
  if (!stored) return sendOpenAiError(ctx, 404, `Response with id '${ctx.params.id}' not found.`, { param: 'response_id' });
  return sendRelayJson(ctx, behavior, stored);
}
