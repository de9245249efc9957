// Anthropic Messages dialect of the fake relay (wire-protocols.md §2.4, §6): POST /v1/messages
// (content blocks: thinking, text, tool_use; stop_reason; usage with cache fields) and its SSE stream
// (message_start, content_block_start/delta/stop per block, ping, message_delta, message_stop),
// POST /v1/messages/count_tokens, and the Anthropic-shaped model list.

import { randomKey } from './fake-http.mjs';
import { DIALECT_ERRORS } from './fake-errors.mjs';
import { chargeUsage, tokenModels } from './fake-state.mjs';
import { sendStream, sseFraming } from './fake-steering.mjs';
import { contentText, countWords, planReply, splitText, toolDefinitionTokens } from './fake-reply.mjs';
import { sendRelayJson } from './fake-openai.mjs';

const ANTHROPIC_SSE = sseFraming();
const MODEL_CREATED_AT = '2025-09-29T00:00:00Z';
const JSON_PIECES = 3;

/** Like the real API: every call needs an anthropic-version header. */
export function requireAnthropicVersion(ctx) {
  if (ctx.req.headers['anthropic-version']) return true;
  return DIALECT_ERRORS.anthropic.reject(ctx, 400, 'anthropic-version: header is required');
}

export function validateMessages(json) {
  if (!Number.isInteger(json.max_tokens) || json.max_tokens < 1) return 'max_tokens: Field required';
  return Array.isArray(json.messages) && json.messages.length > 0 ? null : 'messages: Field required';
}

export function validateCountTokens(json) {
  return Array.isArray(json.messages) && json.messages.length > 0 ? null : 'messages: Field required';
}

function blocksOf(content) {
  return typeof content === 'string' ? [{ type: 'text', text: content }] : Array.isArray(content) ? content : [];
}

// Input tokens split the Anthropic way: words in blocks marked cache_control count as cache reads,
// the rest (and the tool definitions) as input_tokens.
function promptUsage(json, tools) {
  const blocks = [...blocksOf(json.system), ...json.messages.flatMap((message) => blocksOf(message?.content))];
  const cached = blocks.filter((block) => block?.cache_control);
  const cacheRead = cached.reduce((sum, block) => sum + countWords(contentText([block])), 0);
  const all = blocks.reduce((sum, block) => sum + countWords(contentText([block])), 0);
  return { input_tokens: all - cacheRead + toolDefinitionTokens(tools), cache_creation_input_tokens: 0, cache_read_input_tokens: cacheRead };
}

function requestTools(json) {
  if (json.tool_choice?.type === 'none' || !Array.isArray(json.tools)) return [];
  return json.tools
    .filter((tool) => typeof tool?.name === 'string')
    .map((tool) => ({ name: tool.name, description: tool.description, schema: tool.input_schema }));
}

export function countTokens(ctx, behavior) {
  const usage = promptUsage(ctx.json, requestTools(ctx.json));
  return sendRelayJson(ctx, behavior, { input_tokens: usage.input_tokens + usage.cache_read_input_tokens });
}

export function createMessage(ctx, behavior) {
  const { json, state } = ctx;
  const tools = requestTools(json);
  const lastUser = json.messages.findLast((message) => message?.role === 'user');
  const plan = planReply({
    lastUserText: contentText(blocksOf(lastUser?.content).filter((block) => block?.type === 'text')),
    tools,
    forcedTool: json.tool_choice?.type === 'tool' ? json.tool_choice.name : undefined,
    thinking: json.thinking?.type === 'enabled' || json.thinking?.type === 'adaptive',
    maxTokens: json.max_tokens,
  });
  const promptTokens = promptUsage(json, tools);
  const usage = { ...promptTokens, output_tokens: plan.outputTokens };
  chargeUsage(ctx, json.model, promptTokens.input_tokens + promptTokens.cache_read_input_tokens, plan.outputTokens);
  const blocks = contentBlocks(plan);
  const stopReason = plan.truncated ? 'max_tokens' : plan.toolCall ? 'tool_use' : 'end_turn';
  const message = { id: `msg_${randomKey(24)}`, type: 'message', role: 'assistant', model: json.model };
  if (json.stream !== true) {
    return sendRelayJson(ctx, behavior, { ...message, content: blocks, stop_reason: stopReason, stop_sequence: null, usage });
  }
  const events = [
    { type: 'message_start', message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { ...promptTokens, output_tokens: 1 } } },
    ...blocks.flatMap((block, index) => blockEvents(block, index, state.streamChunks)),
    { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage },
    { type: 'message_stop' },
  ];
  // The real API sends a ping right after the first content_block_start.
  events.splice(2, 0, { type: 'ping' });
  return sendStream(ctx, behavior, events.map((event) => ({ event: event.type, data: JSON.stringify(event) })), ANTHROPIC_SSE);
}

function contentBlocks(plan) {
  const blocks = [];
  if (plan.thinking) blocks.push({ type: 'thinking', thinking: plan.thinking, signature: `sig_${Buffer.from(plan.thinking).toString('base64')}` });
  blocks.push({ type: 'text', text: plan.text });
  if (plan.toolCall) blocks.push({ type: 'tool_use', id: `toolu_${randomKey(24)}`, name: plan.toolCall.name, input: plan.toolCall.args });
  return blocks;
}

// start → deltas → stop for one block; tool input arrives as input_json_delta fragments and a
// thinking block's signature_delta comes last, as the real API streams them.
function blockEvents(block, index, pieces) {
  const delta = (body) => ({ type: 'content_block_delta', index, delta: body });
  let start;
  let deltas;
  if (block.type === 'thinking') {
    start = { type: 'thinking', thinking: '' };
    deltas = [...splitText(block.thinking, pieces).map((thinking) => delta({ type: 'thinking_delta', thinking })), delta({ type: 'signature_delta', signature: block.signature })];
  } else if (block.type === 'tool_use') {
    start = { type: 'tool_use', id: block.id, name: block.name, input: {} };
    deltas = splitText(JSON.stringify(block.input), JSON_PIECES).map((partial) => delta({ type: 'input_json_delta', partial_json: partial }));
  } else {
    start = { type: 'text', text: '' };
    deltas = splitText(block.text, pieces).map((text) => delta({ type: 'text_delta', text }));
  }
  return [{ type: 'content_block_start', index, content_block: start }, ...deltas, { type: 'content_block_stop', index }];
}

/** GET /v1/models in the Anthropic shape (chosen when x-api-key and anthropic-version are sent). */
export function listAnthropicModels(ctx, behavior) {
  const data = tokenModels(ctx.state, ctx.token).map((id) => ({ type: 'model', id, display_name: id, created_at: MODEL_CREATED_AT }));
  return sendRelayJson(ctx, behavior, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
}
