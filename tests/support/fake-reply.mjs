// What the fake "model" answers, independent of the dialect: an echo of the last user text, an
// optional thinking text, an optional tool call whose arguments follow the tool's JSON schema, and
// word-count token numbers — all deterministic functions of the request so tests can assert them.
// Each dialect module turns a plan into its own wire shapes.

/** Tokens, as the fake counts them: whitespace-separated words. */
export function countWords(text) {
  return text.split(/\s+/).filter(Boolean).length;
}

/** Cuts `text` into at most `parts` non-empty pieces of near-equal length. */
export function splitText(text, parts) {
  const chars = Array.from(text);
  const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.floor((i * chars.length) / parts));
  return bounds.slice(1).map((end, i) => chars.slice(bounds[i], end).join('')).filter(Boolean);
}

/** Tokens a tool definition costs in the prompt: 1 for the name plus its description's words. */
export function toolDefinitionTokens(tools) {
  return tools.reduce((sum, tool) => sum + 1 + countWords(tool.description ?? ''), 0);
}

/**
 * The answer to a request, from its normalised parts:
 *   lastUserText: text of the last user turn;
 *   tools: [{name, description?, schema?}]; forcedTool: a tool name the request insists on;
 *   thinking: whether the request asked for reasoning; maxTokens: the output limit, if any.
 * Returns {text, thinking: string|null, toolCall: {name, args}|null, truncated, outputTokens}.
 * `truncated` means the reply was cut at maxTokens words (no tool call is made then).
 */
export function planReply({ lastUserText, tools = [], forcedTool, thinking = false, maxTokens }) {
  const thinkingText = thinking ? `thinking about: ${lastUserText}` : null;
  const words = `echo: ${lastUserText}`.split(/\s+/).filter(Boolean);
  const budget = Number.isInteger(maxTokens) && maxTokens > 0 ? maxTokens : Infinity;
  const truncated = words.length > budget;
  const text = words.slice(0, budget).join(' ');
  const tool = truncated ? undefined : tools.find((candidate) => candidate.name === forcedTool) ?? tools[0];
  const toolCall = tool ? { name: tool.name, args: argumentsFor(tool.schema, lastUserText) } : null;
  const outputTokens = countWords(text) + countWords(thinkingText ?? '') + toolCallTokens(toolCall);
  return { text, thinking: thinkingText, toolCall, truncated, outputTokens };
}

// A tool call costs 1 token for the name plus the words of its argument values.
function toolCallTokens(toolCall) {
  if (!toolCall) return 0;
  return 1 + countWords(Object.values(toolCall.args).map(String).join(' '));
}

// Arguments that satisfy the schema's top-level properties: strings get the user text, numbers its
// word count, booleans true, arrays the words, anything else null.
function argumentsFor(schema, lastUserText) {
  const properties = schema?.properties ?? {};
  const valueFor = (type) => {
    const kind = String(Array.isArray(type) ? type[0] : type).toLowerCase();
    if (kind === 'string') return lastUserText;
    if (kind === 'number' || kind === 'integer') return countWords(lastUserText);
    if (kind === 'boolean') return true;
    if (kind === 'array') return lastUserText.split(/\s+/).filter(Boolean);
    return null;
  };
  return Object.fromEntries(Object.entries(properties).map(([name, property]) => [name, valueFor(property?.type)]));
}

/** Text of OpenAI/Anthropic-style content: a string, or the `text` of its text-bearing parts. */
export function contentText(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => (typeof part?.text === 'string' ? part.text : contentText(part?.content)))
    .filter(Boolean)
    .join(' ');
}
