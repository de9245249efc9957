// OpenAI pass-through endpoints of the fake relay (wire-protocols.md §8): images (JSON generations,
// multipart edits), audio (multipart transcriptions in every response_format, binary speech), rerank,
// moderations, video tasks and files. Multipart endpoints echo the SHA-256 of the exact raw request
// body and the parts they received (in the JSON body and in X-Fake-Body-Sha256 / X-Fake-Parts), so
// tests can prove byte-exact forwarding; binary answers come from exported helpers so tests can
// compute the exact expected bytes.

import { createHash } from 'node:crypto';
import { randomKey, sha256Hex, unixNow } from './fake-http.mjs';
import { sendOpenAiError } from './fake-errors.mjs';
import { chargeUsage } from './fake-state.mjs';
import { sendPayload } from './fake-steering.mjs';
import { contentText, countWords } from './fake-reply.mjs';
import { sendRelayJson } from './fake-openai.mjs';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const MP3_FRAME_HEADER = [0xff, 0xfb, 0x90, 0x00];
const SPEECH_TYPES = { mp3: 'audio/mpeg', opus: 'audio/ogg', aac: 'audio/aac', flac: 'audio/flac', wav: 'audio/wav', pcm: 'audio/pcm' };
const FILE_PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'];
const MODERATION_CATEGORIES = ['harassment', 'harassment/threatening', 'hate', 'hate/threatening', 'illicit', 'illicit/violent', 'self-harm', 'self-harm/intent', 'self-harm/instructions', 'sexual', 'sexual/minors', 'violence', 'violence/graphic'];
// A word in the input that flags its category (deterministic stand-in for a classifier).
const MODERATION_TRIGGERS = { hate: 'hate', kill: 'violence', harass: 'harassment' };

// `length` deterministic bytes after `prefix`, expanded from SHA-256 of `seed`.
function derivedBytes(prefix, seed, length) {
  const blocks = [Buffer.from(prefix)];
  for (let index = 0; blocks.length * 32 < length + 32; index += 1) {
    blocks.push(createHash('sha256').update(`${index}:${seed}`).digest());
  }
  return Buffer.concat(blocks).subarray(0, prefix.length + length);
}

/** The audio bytes /v1/audio/speech returns for `input`: an MP3 frame header (0xff, 0x00…) then hash bytes. */
export function speechBytes(input, format = 'mp3') {
  return derivedBytes(MP3_FRAME_HEADER, `${format}:${input}`, 256 + Buffer.byteLength(input) * 8);
}

/** The image bytes returned as image `index` for `prompt` (b64_json): a PNG signature then hash bytes. */
export function imageBytes(prompt, index = 0) {
  return derivedBytes(PNG_SIGNATURE, `${index}:${prompt}`, 512);
}

// What a multipart endpoint saw: the SHA-256 of the whole raw body and every part, as JSON fields
// and as headers (for answers that are not JSON).
function multipartEcho(ctx) {
  const echo = { sha256: sha256Hex(ctx.body), parts: ctx.form.parts };
  const headers = { 'X-Fake-Body-Sha256': echo.sha256, 'X-Fake-Parts': JSON.stringify(echo.parts) };
  return { echo, headers };
}

// ---------------------------------------------------------------- images

function imageOptionsError(prompt, n, responseFormat) {
  if (typeof prompt !== 'string' || prompt === '') return 'prompt is required';
  if (!Number.isInteger(n) || n < 1 || n > 10) return 'n must be an integer between 1 and 10';
  if (!['url', 'b64_json'].includes(responseFormat)) return `Invalid value: '${responseFormat}'. Supported values are: 'url' and 'b64_json'.`;
  return null;
}

export function validateImageGeneration(json) {
  return imageOptionsError(json.prompt, json.n ?? 1, json.response_format ?? 'url');
}

export function validateImageEdit(form) {
  if (!form.files.image && !form.files['image[]']) return 'image is required';
  const n = form.fields.n === undefined ? 1 : Number(form.fields.n);
  return imageOptionsError(form.fields.prompt, n, form.fields.response_format ?? 'url');
}

function imagesPayload(ctx, model, prompt, n, responseFormat) {
  const data = Array.from({ length: n }, (_, index) => {
    if (responseFormat === 'b64_json') return { b64_json: imageBytes(prompt, index).toString('base64'), revised_prompt: prompt };
    return { url: `${ctx.station.url}/fake-images/${sha256Hex(`${index}:${prompt}`).slice(0, 32)}.png`, revised_prompt: prompt };
  });
  const inputTokens = countWords(prompt);
  chargeUsage(ctx, model, inputTokens, n);
  const usage = { input_tokens: inputTokens, input_tokens_details: { text_tokens: inputTokens, image_tokens: 0 }, output_tokens: n, total_tokens: inputTokens + n };
  return { created: unixNow(), model, data, usage };
}

export function generateImages(ctx, behavior) {
  const { json } = ctx;
  return sendRelayJson(ctx, behavior, imagesPayload(ctx, json.model, json.prompt, json.n ?? 1, json.response_format ?? 'url'));
}

export function editImages(ctx, behavior) {
  const { fields } = ctx.form;
  const { echo, headers } = multipartEcho(ctx);
  const n = fields.n === undefined ? 1 : Number(fields.n);
  const payload = imagesPayload(ctx, fields.model, fields.prompt, n, fields.response_format ?? 'url');
  return sendRelayJson(ctx, behavior, { ...payload, ...echo }, headers);
}

// ---------------------------------------------------------------- audio

const TRANSCRIPTION_FORMATS = ['json', 'text', 'srt', 'vtt', 'verbose_json'];

export function validateTranscription(form) {
  if (!form.files.file) return 'file is required';
  if (!form.fields.model) return 'model is required';
  const format = form.fields.response_format ?? 'json';
  return TRANSCRIPTION_FORMATS.includes(format) ? null : `Invalid response_format '${format}'; expected one of ${TRANSCRIPTION_FORMATS.join(', ')}`;
}

function timestamp(seconds, separator) {
  const whole = new Date(seconds * 1000).toISOString().slice(11, 19);
  return `${whole}${separator}000`;
}

// The transcription body and its Content-Type for each response_format.
function transcriptionAnswer(format, text, duration, usage, echo) {
  const cue = (separator) => `${timestamp(0, separator)} --> ${timestamp(duration, separator)}`;
  switch (format) {
    case 'text':
      return ['text/plain; charset=utf-8', `${text}\n`];
    case 'srt':
      return ['application/x-subrip', `1\n${cue(',')}\n${text}\n\n`];
    case 'vtt':
      return ['text/vtt', `WEBVTT\n\n${cue('.')}\n${text}\n\n`];
    case 'verbose_json': {
      const segment = { id: 0, seek: 0, start: 0, end: duration, text, tokens: [], temperature: 0, avg_logprob: -0.1, compression_ratio: 1, no_speech_prob: 0 };
      return ['application/json', JSON.stringify({ task: 'transcribe', language: 'english', duration, text, segments: [segment], usage, ...echo })];
    }
    default:
      return ['application/json', JSON.stringify({ text, usage, ...echo })];
  }
}

export function transcribe(ctx, behavior) {
  const { fields, files } = ctx.form;
  const { echo, headers } = multipartEcho(ctx);
  const { filename, data } = files.file;
  const text = `transcript of ${filename} (${data.length} bytes, sha256 ${sha256Hex(data).slice(0, 16)})`;
  const duration = Math.max(1, Math.ceil(data.length / 1024));
  chargeUsage(ctx, fields.model, duration);
  const [contentType, body] = transcriptionAnswer(fields.response_format ?? 'json', text, duration, { type: 'duration', seconds: duration }, echo);
  return sendPayload(ctx, behavior, contentType, body, headers);
}

export function validateSpeech(json) {
  if (typeof json.input !== 'string' || json.input === '') return 'input is required';
  if (typeof json.voice !== 'string' || json.voice === '') return 'voice is required';
  const format = json.response_format ?? 'mp3';
  return SPEECH_TYPES[format] ? null : `Invalid response_format '${format}'`;
}

export function speak(ctx, behavior) {
  const { json } = ctx;
  const format = json.response_format ?? 'mp3';
  chargeUsage(ctx, json.model, countWords(json.input));
  return sendPayload(ctx, behavior, SPEECH_TYPES[format], speechBytes(json.input, format));
}

// ---------------------------------------------------------------- rerank and moderations

function documentText(document) {
  return typeof document === 'string' ? document : contentText([document]);
}

export function validateRerank(json) {
  if (typeof json.query !== 'string' || json.query === '') return 'query is required';
  return Array.isArray(json.documents) && json.documents.length > 0 ? null : 'documents is required';
}

// Relevance: the share of query words found in the document, plus a tiny hash-derived tie-breaker.
function relevance(query, text) {
  const queryWords = new Set(query.toLowerCase().split(/\s+/).filter(Boolean));
  const documentWords = new Set(text.toLowerCase().split(/\s+/).filter(Boolean));
  const overlap = [...queryWords].filter((word) => documentWords.has(word)).length;
  const tieBreaker = createHash('sha256').update(`${query}\n${text}`).digest().readUInt16LE(0) / 0xffff / 100;
  return Math.round((0.9 * (overlap / queryWords.size) + tieBreaker) * 1e6) / 1e6;
}

/** Jina/Cohere-style rerank as New API relays it: results sorted by relevance_score, top_n kept. */
export function rerank(ctx, behavior) {
  const { json } = ctx;
  const texts = json.documents.map(documentText);
  const ranked = texts
    .map((text, index) => ({ index, relevance_score: relevance(json.query, text), ...(json.return_documents !== false && { document: { text } }) }))
    .sort((a, b) => b.relevance_score - a.relevance_score)
    .slice(0, Number.isInteger(json.top_n) && json.top_n > 0 ? json.top_n : texts.length);
  const tokens = countWords(json.query) * texts.length + texts.reduce((sum, text) => sum + countWords(text), 0);
  chargeUsage(ctx, json.model, tokens);
  return sendRelayJson(ctx, behavior, { id: `rerank-${randomKey(24)}`, model: json.model, results: ranked, usage: { prompt_tokens: tokens, total_tokens: tokens } });
}

function moderationInputs(input) {
  if (typeof input === 'string') return input === '' ? null : [input];
  if (!Array.isArray(input) || input.length === 0) return null;
  return input.map((item) => (typeof item === 'string' ? item : contentText([item])));
}

export function validateModeration(json) {
  return moderationInputs(json.input) ? null : 'input is required';
}

export function moderate(ctx, behavior) {
  const { json } = ctx;
  const inputs = moderationInputs(json.input);
  const results = inputs.map((text) => {
    const words = text.toLowerCase().split(/\W+/);
    const hits = new Set(Object.entries(MODERATION_TRIGGERS).filter(([word]) => words.includes(word)).map(([, category]) => category));
    const categories = Object.fromEntries(MODERATION_CATEGORIES.map((category) => [category, hits.has(category)]));
    const scores = Object.fromEntries(MODERATION_CATEGORIES.map((category) => [category, hits.has(category) ? 0.97 : 0.0001]));
    return { flagged: hits.size > 0, categories, category_scores: scores };
  });
  chargeUsage(ctx, ctx.model, inputs.reduce((sum, text) => sum + countWords(text), 0));
  return sendRelayJson(ctx, behavior, { id: `modr-${randomKey(24)}`, model: ctx.model, results });
}

// ---------------------------------------------------------------- video tasks

export function validateVideo(json) {
  return typeof json.prompt === 'string' && json.prompt !== '' ? null : 'prompt is required';
}

export function createVideo(ctx, behavior) {
  const { json, state } = ctx;
  const id = `video_${randomKey(24)}`;
  const task = { id, task_id: id, object: 'video', model: json.model, status: 'queued', progress: 0, created_at: unixNow(), prompt: json.prompt };
  state.videos.set(id, { task, polls: 0 });
  chargeUsage(ctx, json.model, countWords(json.prompt));
  return sendRelayJson(ctx, behavior, task);
}

/** Each poll advances the task: in_progress until the state's videoPollsToComplete-th poll, then completed. */
export function getVideo(ctx, behavior) {
  const entry = ctx.state.videos.get(ctx.params.id);
  if (!entry) return sendOpenAiError(ctx, 404, `Video task ${ctx.params.id} not found`, { param: 'id' });
  entry.polls += 1;
  const needed = ctx.state.videoPollsToComplete;
  const done = entry.polls >= needed;
  const progress = done ? 100 : Math.floor((100 * entry.polls) / needed);
  const update = done
    ? { status: 'completed', progress, completed_at: unixNow(), url: `${ctx.station.url}/fake-videos/${entry.task.id}.mp4` }
    : { status: 'in_progress', progress };
  Object.assign(entry.task, update);
  return sendRelayJson(ctx, behavior, entry.task);
}

// ---------------------------------------------------------------- files

export function validateFileUpload(form) {
  if (!form.files.file) return 'file is required';
  const purpose = form.fields.purpose;
  if (!purpose) return 'purpose is required';
  return FILE_PURPOSES.includes(purpose) ? null : `Invalid purpose '${purpose}'; expected one of ${FILE_PURPOSES.join(', ')}`;
}

/** Stores the upload; the id carries this station's port so two fakes never issue the same id. */
export function uploadFile(ctx, behavior) {
  const { fields, files } = ctx.form;
  const { echo, headers } = multipartEcho(ctx);
  const { filename, data } = files.file;
  const meta = {
    id: `file-${ctx.station.port}${randomKey(20)}`,
    object: 'file',
    bytes: data.length,
    created_at: unixNow(),
    filename,
    purpose: fields.purpose,
    status: 'processed',
    expires_at: null,
    status_details: null,
  };
  ctx.state.files.set(meta.id, { meta, data });
  return sendRelayJson(ctx, behavior, { ...meta, ...echo }, headers);
}

export function listFiles(ctx, behavior) {
  const purpose = ctx.url.searchParams.get('purpose');
  const data = [...ctx.state.files.values()].map((file) => file.meta).filter((meta) => !purpose || meta.purpose === purpose);
  return sendRelayJson(ctx, behavior, { object: 'list', data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
}

// The stored file the path names, or undefined after answering OpenAI's 404.
function storedFile(ctx) {
  const file = ctx.state.files.get(ctx.params.id);
  if (!file) sendOpenAiError(ctx, 404, `No such File object: ${ctx.params.id}`, { param: 'id' });
  return file;
}

export function getFile(ctx, behavior) {
  const file = storedFile(ctx);
  return file && sendRelayJson(ctx, behavior, file.meta);
}

export function deleteFile(ctx, behavior) {
  const file = storedFile(ctx);
  if (!file) return false;
  ctx.state.files.delete(file.meta.id);
  return sendRelayJson(ctx, behavior, { id: file.meta.id, object: 'file', deleted: true });
}

export function getFileContent(ctx, behavior) {
  const file = storedFile(ctx);
  return file && sendPayload(ctx, behavior, 'application/octet-stream', file.data);
}
