// Gemini v1beta dialect of the fake relay (wire-protocols.md §1, §2.5, §6, §8): generateContent,
// streamGenerateContent (SSE frames with alt=sse, a gradually streamed JSON array without),
// countTokens, embedContent, batchEmbedContents, and the model list / model lookup. Accepts both
// camelCase and snake_case request fields, always answers camelCase.

import { randomKey } from './fake-http.mjs';
import { DIALECT_ERRORS } from './fake-errors.mjs';
import { chargeUsage } from './fake-state.mjs';
import { JSON_ARRAY_FRAMING, sendStream, sseFraming } from './fake-steering.mjs';
import { countWords, planReply, splitText, toolDefinitionTokens } from './fake-reply.mjs';
import { embedText, sendRelayJson } from './fake-openai.mjs';

// Google ends SSE lines with CRLF.
const GEMINI_SSE = sseFraming({ eol: '\r\n' });
const GENERATION_METHODS = ['generateContent', 'streamGenerateContent', 'countTokens'];
const EMBEDDING_METHODS = ['embedContent', 'batchEmbedContents'];
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

// A field under its camelCase or snake_case name.
function field(object, camel) {
  return object?.[camel] ?? object?.[camel.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)];
}

function partsText(content) {
  return (field(content, 'parts') ?? []).map((part) => (typeof part?.text === 'string' ? part.text : '')).filter(Boolean).join(' ');
}

// The request that generateContent would get: countTokens may wrap it in generateContentRequest.
function generateRequest(json) {
  return field(json, 'generateContentRequest') ?? json;
}

export function validateGenerate(json) {
  const contents = generateRequest(json).contents;
  return Array.isArray(contents) && contents.length > 0 ? null : '* GenerateContentRequest.contents: contents is not specified';
}

function requestTools(request) {
  const mode = field(field(field(request, 'toolConfig'), 'functionCallingConfig'), 'mode');
  if (mode === 'NONE' || !Array.isArray(request.tools)) return [];
  return request.tools.flatMap((tool) => field(tool, 'functionDeclarations') ?? []).map((declaration) => ({
    name: declaration.name,
    description: declaration.description,
    schema: declaration.parameters ?? field(declaration, 'parametersJsonSchema'),
  }));
}

function promptTokens(request, tools) {
  const system = countWords(partsText(field(request, 'systemInstruction')));
  return system + request.contents.reduce((sum, content) => sum + countWords(partsText(content)), 0) + toolDefinitionTokens(tools);
}

export function countGeminiTokens(ctx, behavior) {
  const request = generateRequest(ctx.json);
  const total = promptTokens(request, requestTools(request));
  return sendRelayJson(ctx, behavior, { totalTokens: total, promptTokensDetails: [{ modality: 'TEXT', tokenCount: total }] });
}

// Thinking is on when thinkingConfig asks for it (a non-zero budget or a level); thought parts are
// only returned with includeThoughts.
function thinkingOf(request) {
  const config = field(field(request, 'generationConfig'), 'thinkingConfig');
  if (!config) return { thinking: false, includeThoughts: false };
  const budget = field(config, 'thinkingBudget');
  return { thinking: budget !== 0, includeThoughts: field(config, 'includeThoughts') === true };
}

// generateContent and streamGenerateContent: the same answer, whole or as chunks.
function generate(ctx, behavior, stream) {
  const { json, state, params } = ctx;
  const tools = requestTools(json);
  const allowed = field(field(field(json, 'toolConfig'), 'functionCallingConfig'), 'allowedFunctionNames');
  const { thinking, includeThoughts } = thinkingOf(json);
  const plan = planReply({
    lastUserText: partsText(json.contents.findLast((content) => (content?.role ?? 'user') === 'user')),
    tools,
    forcedTool: Array.isArray(allowed) ? allowed[0] : undefined,
    thinking,
    maxTokens: field(field(json, 'generationConfig'), 'maxOutputTokens'),
  });
  const prompt = promptTokens(json, tools);
  const thoughts = plan.thinking ? countWords(plan.thinking) : 0;
  const candidates = plan.outputTokens - thoughts;
  const usageMetadata = {
    promptTokenCount: prompt,
    candidatesTokenCount: candidates,
    totalTokenCount: prompt + candidates + thoughts,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
    ...(thinking && { thoughtsTokenCount: thoughts }),
  };
  chargeUsage(ctx, params.model, prompt, plan.outputTokens);
  const thoughtPart = includeThoughts && plan.thinking ? [{ text: plan.thinking, thought: true }] : [];
  const callPart = plan.toolCall ? [{ functionCall: { name: plan.toolCall.name, args: plan.toolCall.args }, ...(thinking && { thoughtSignature: signatureOf(plan) }) }] : [];
  const ending = { finishReason: plan.truncated ? 'MAX_TOKENS' : 'STOP', usageMetadata };
  const record = { modelVersion: params.model, responseId: randomKey(22) };
  if (!stream) {
    return sendRelayJson(ctx, behavior, { candidates: [candidate([...thoughtPart, { text: plan.text }, ...callPart], ending.finishReason)], usageMetadata, ...record });
  }
  // One chunk per thought / text piece / function call; the last one carries finishReason and usage.
  const chunkParts = [...thoughtPart.map((part) => [part]), ...splitText(plan.text, state.streamChunks).map((text) => [{ text }]), ...callPart.map((part) => [part])];
  const chunks = chunkParts.map((parts, index) => {
    const last = index === chunkParts.length - 1;
    return { candidates: [candidate(parts, last ? ending.finishReason : undefined)], ...(last && { usageMetadata }), ...record };
  });
  const framing = ctx.url.searchParams.get('alt') === 'sse' ? GEMINI_SSE : JSON_ARRAY_FRAMING;
  return sendStream(ctx, behavior, chunks.map((chunk) => ({ data: JSON.stringify(chunk) })), framing);
}

function candidate(parts, finishReason) {
  return { content: { parts, role: 'model' }, ...(finishReason && { finishReason }), index: 0 };
}

function signatureOf(plan) {
  return Buffer.from(`fake-signature:${plan.toolCall.name}`).toString('base64');
}

export function generateContent(ctx, behavior) {
  return generate(ctx, behavior, false);
}

export function streamGenerateContent(ctx, behavior) {
  return generate(ctx, behavior, true);
}

// ---------------------------------------------------------------- embeddings

function embeddingOf(request, fallbackDimensions) {
  const dimensions = field(request, 'outputDimensionality');
  const size = Number.isInteger(dimensions) && dimensions > 0 ? dimensions : fallbackDimensions;
  const text = partsText(request.content);
  return { values: embedText(text, size), tokens: countWords(text) };
}

export function validateEmbedContent(json) {
  return partsText(json.content) ? null : '* EmbedContentRequest.content: contents is not specified';
}

export function validateBatchEmbed(json) {
  const ok = Array.isArray(json.requests) && json.requests.length > 0 && json.requests.every((request) => partsText(request?.content));
  return ok ? null : '* BatchEmbedContentsRequest.requests: requests is not specified';
}

export function embedContent(ctx, behavior) {
  const { values, tokens } = embeddingOf(ctx.json, ctx.state.embeddingDimensions);
  chargeUsage(ctx, ctx.params.model, tokens);
  return sendRelayJson(ctx, behavior, { embedding: { values } });
}

export function batchEmbedContents(ctx, behavior) {
  const embeddings = ctx.json.requests.map((request) => embeddingOf(request, ctx.state.embeddingDimensions));
  chargeUsage(ctx, ctx.params.model, embeddings.reduce((sum, embedding) => sum + embedding.tokens, 0));
  return sendRelayJson(ctx, behavior, { embeddings: embeddings.map(({ values }) => ({ values })) });
}

// ---------------------------------------------------------------- models

function modelResource(id) {
  const embedding = id.includes('embedding');
  return {
    name: `models/${id}`,
    baseModelId: id,
    version: '001',
    displayName: id,
    description: `${id} served by the fake station`,
    inputTokenLimit: 1048576,
    outputTokenLimit: 65536,
    supportedGenerationMethods: embedding ? EMBEDDING_METHODS : GENERATION_METHODS,
    temperature: 1,
    maxTemperature: 2,
    topP: 0.95,
    topK: 64,
    thinking: id.startsWith('gemini-2.5') || id.startsWith('gemini-3'),
  };
}

/** GET /v1beta/models (and /v1/models with a Gemini key): pageSize / pageToken paging. */
export function listGeminiModels(ctx, behavior) {
  const { searchParams } = ctx.url;
  const requested = Number(searchParams.get('pageSize'));
  const size = Number.isInteger(requested) && requested > 0 ? Math.min(requested, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;
  const start = Number(searchParams.get('pageToken') ?? 0) || 0;
  const models = ctx.state.models.slice(start, start + size).map(modelResource);
  const next = start + size < ctx.state.models.length ? { nextPageToken: String(start + size) } : {};
  return sendRelayJson(ctx, behavior, { models, ...next });
}

export function getGeminiModel(ctx, behavior) {
  const id = ctx.params.model;
  if (!ctx.state.models.includes(id)) {
    return DIALECT_ERRORS.gemini.reject(ctx, 404, `models/${id} is not found for API version v1beta, or is not supported for generateContent.`);
  }
  return sendRelayJson(ctx, behavior, modelResource(id));
}
