// A fake ComfyUI server on 127.0.0.1 speaking the real protocol: /system_stats, /object_info
// (the recorded fixture, minus files a test removes), POST /prompt validated into ComfyUI's
// `node_errors` shape, a sequential queue (/queue GET and delete), /history/{id}, /view with a
// small PNG, /interrupt, and the WebSocket /ws?clientId= (a minimal RFC 6455 server, Node
// built-ins only) sending status, execution_start, executing, progress, a binary preview,
// executed, execution_success / execution_error / execution_interrupted to that client.
// `webSocket: false` refuses /ws (a proxy that does not pass upgrades). A prompt text containing SLOW runs slowly (to cancel it); FAIL makes KSampler fail.

import { createServer } from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const FIXTURE = resolve(import.meta.dirname, '..', 'fixtures', 'comfyui', 'object_info.json');
// A 1×1 PNG.
export const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c63f8cfc0f01f00050001ff89993d1d0000000049454e44ae426082',
  'hex',
);

export async function startFakeComfy({ auth, webSocket = true } = {}) {
  const objectInfo = JSON.parse(readFileSync(FIXTURE, 'utf8'));
  const state = {
    prompts: [], // bodies of accepted POST /prompt
    interrupts: 0,
    deleted: [], // prompt ids deleted from the queue
    sockets: new Map(), // clientId -> Set(socket)
    queue: [], // {id, number, prompt, clientId}
    running: null,
    history: {},
    files: new Set(),
    number: 0,
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (auth && req.headers[auth[0].toLowerCase()] !== auth[1]) return json(res, 401, { error: 'unauthorized' });
    const body = await read(req);
    const path = url.pathname.replace(/^\/api\//, '/');
    if (req.method === 'GET' && path === '/system_stats') {
      return json(res, 200, {
        system: { os: 'posix', ram_total: 67108864000, ram_free: 50000000000, comfyui_version: '0.3.66', python_version: '3.12.3', pytorch_version: '2.8.0+cu128', embedded_python: false, argv: ['main.py', '--listen'] },
        devices: [{ name: 'cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync', type: 'cuda', index: 0, vram_total: 25393692672, vram_free: 24000000000, torch_vram_total: 0, torch_vram_free: 0 }],
      });
    }
    if (req.method === 'GET' && path === '/object_info') return json(res, 200, objectInfo);
    if (req.method === 'POST' && path === '/prompt') return queuePrompt(res, JSON.parse(body || '{}'));
    if (req.method === 'GET' && path === '/queue') {
      const entry = (q) => [q.number, q.id, q.prompt, { client_id: q.clientId }, []];
      return json(res, 200, {
        queue_running: state.running ? [entry(state.running)] : [],
        queue_pending: state.queue.map(entry),
      });
    }
    if (req.method === 'POST' && path === '/queue') {
      const ids = JSON.parse(body || '{}').delete ?? [];
      state.deleted.push(...ids);
      state.queue = state.queue.filter((q) => !ids.includes(q.id));
      return json(res, 200, {});
    }
    if (req.method === 'POST' && path === '/interrupt') {
      state.interrupts += 1;
      if (state.running) state.running.interrupted = true;
      return json(res, 200, {});
    }
    const history = path.match(/^\/history\/([^/]+)$/);
    if (req.method === 'GET' && history) {
      const entry = state.history[history[1]];
      return json(res, 200, entry ? { [history[1]]: entry } : {});
    }
    if (req.method === 'GET' && path === '/view') {
      const key = `${url.searchParams.get('type')}/${url.searchParams.get('subfolder')}/${url.searchParams.get('filename')}`;
      if (!state.files.has(key)) return json(res, 404, { error: 'not found' });
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length });
      return res.end(PNG);
    }
    json(res, 404, { error: `no route ${req.method} ${path}` });
  });

  server.on('upgrade', (req, socket) => {
    const url = new URL(req.url, 'http://x');
    if (!webSocket || url.pathname !== '/ws' || (auth && req.headers[auth[0].toLowerCase()] !== auth[1])) {
      socket.end(webSocket ? 'HTTP/1.1 401 Unauthorized\r\n\r\n' : 'HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const clientId = url.searchParams.get('clientId') ?? randomUUID();
    if (!state.sockets.has(clientId)) state.sockets.set(clientId, new Set());
    state.sockets.get(clientId).add(socket);
    const drop = () => state.sockets.get(clientId)?.delete(socket);
    socket.on('data', (data) => {
      if ((data[0] & 0x0f) === 0x8) {
        socket.end(Buffer.from([0x88, 0x00]));
        drop();
      }
    });
    socket.on('close', drop);
    socket.on('error', drop);
    send(socket, 0x1, JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: state.queue.length + (state.running ? 1 : 0) } }, sid: clientId } }));
  });

  function queuePrompt(res, body) {
    const prompt = body.prompt ?? {};
    const nodeErrors = {};
    for (const [id, node] of Object.entries(prompt)) {
      const spec = objectInfo[node.class_type];
      if (!spec) {
        return json(res, 400, { error: { type: 'invalid_prompt', message: `Cannot execute because node ${node.class_type} does not exist.`, details: `Node ID '#${id}'`, extra_info: {} }, node_errors: {} });
      }
      for (const [name, value] of Object.entries(node.inputs ?? {})) {
        const declared = spec.input.required[name] ?? spec.input.optional?.[name];
        if (declared && Array.isArray(declared[0]) && !declared[0].includes(value)) {
          nodeErrors[id] ??= { errors: [], dependent_outputs: [], class_type: node.class_type };
          nodeErrors[id].errors.push({ type: 'value_not_in_list', message: 'Value not in list', details: `${name}: '${value}' not in ${JSON.stringify(declared[0])}`, extra_info: { input_name: name } });
        }
      }
    }
    if (Object.keys(nodeErrors).length) {
      return json(res, 400, { error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} }, node_errors: nodeErrors });
    }
    const entry = { id: randomUUID(), number: state.number++, prompt, clientId: body.client_id };
    state.prompts.push(body);
    state.queue.push(entry);
    json(res, 200, { prompt_id: entry.id, number: entry.number, node_errors: {} });
    setTimeout(pump, 150);
  }

  const emit = (clientId, type, data) => {
    for (const socket of state.sockets.get(clientId) ?? []) send(socket, 0x1, JSON.stringify({ type, data }));
  };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function pump() {
    if (state.running || state.queue.length === 0) return;
    const job = state.queue.shift();
    state.running = job;
    const texts = Object.values(job.prompt).filter((n) => n.class_type === 'CLIPTextEncode').map((n) => n.inputs.text).join(' ');
    const slow = texts.includes('SLOW');
    const fail = texts.includes('FAIL');
    const steps = slow ? 40 : 4;
    const pid = job.id;
    const messages = [['execution_start', { prompt_id: pid, timestamp: Date.now() }]];
    emit(job.clientId, 'status', { status: { exec_info: { queue_remaining: state.queue.length + 1 } } });
    emit(job.clientId, 'execution_start', { prompt_id: pid, timestamp: Date.now() });
    const outputs = {};
    let outcome = 'success';
    for (const [id, node] of Object.entries(job.prompt)) {
      emit(job.clientId, 'executing', { node: id, display_node: id, prompt_id: pid });
      if (node.class_type === 'KSampler') {
        if (fail) {
          const error = { prompt_id: pid, node_id: id, node_type: 'KSampler', executed: [], exception_message: 'CUDA out of memory. Tried to allocate 2.00 GiB', exception_type: 'torch.OutOfMemoryError', traceback: ['...'], current_inputs: {}, current_outputs: {} };
          emit(job.clientId, 'execution_error', error);
          messages.push(['execution_error', error]);
          outcome = 'error';
          break;
        }
        for (let value = 1; value <= steps; value++) {
          await sleep(slow ? 100 : 20);
          if (job.interrupted) break;
          emit(job.clientId, 'progress', { value, max: steps, prompt_id: pid, node: id });
          if (value === steps) {
            const frame = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 2]), PNG]);
            for (const socket of state.sockets.get(job.clientId) ?? []) send(socket, 0x2, frame);
          }
        }
        if (job.interrupted) {
          const data = { prompt_id: pid, node_id: id, node_type: 'KSampler', executed: [] };
          emit(job.clientId, 'execution_interrupted', data);
          messages.push(['execution_interrupted', data]);
          outcome = 'error';
          break;
        }
      }
      if (['SaveImage', 'SaveAnimatedWEBP'].includes(node.class_type)) {
        const ext = node.class_type === 'SaveImage' ? 'png' : 'webp';
        const prefix = String(node.inputs.filename_prefix ?? 'ComfyUI');
        const [subfolder, name] = prefix.includes('/') ? prefix.split('/', 2) : ['', prefix];
        const image = { filename: `${name}_${String(job.number).padStart(5, '0')}_.${ext}`, subfolder, type: 'output' };
        state.files.add(`output/${subfolder}/${image.filename}`);
        outputs[id] = { images: [image], ...(ext === 'webp' ? { animated: [true] } : {}) };
        emit(job.clientId, 'executed', { node: id, display_node: id, output: outputs[id], prompt_id: pid });
      }
    }
    if (outcome === 'success') {
      emit(job.clientId, 'execution_success', { prompt_id: pid, timestamp: Date.now() });
      messages.push(['execution_success', { prompt_id: pid, timestamp: Date.now() }]);
      emit(job.clientId, 'executing', { node: null, prompt_id: pid });
    }
    state.history[pid] = { prompt: [job.number, pid, job.prompt, { client_id: job.clientId }, Object.keys(outputs)], outputs, status: { status_str: outcome, completed: outcome === 'success', messages }, meta: {} };
    state.running = null;
    emit(job.clientId, 'status', { status: { exec_info: { queue_remaining: state.queue.length } } });
    setTimeout(pump, 10);
  }

  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    state,
    objectInfo,
    /** Removes a model file from the catalogue (and so from what /prompt accepts). */
    removeFile(className, input, file) {
      const spec = objectInfo[className].input.required[input];
      spec[0] = spec[0].filter((f) => f !== file);
    },
    async close() {
      for (const set of state.sockets.values()) for (const socket of set) socket.destroy();
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
}

function send(socket, opcode, payload) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  let head;
  if (data.length < 126) head = Buffer.from([0x80 | opcode, data.length]);
  else if (data.length < 65536) head = Buffer.from([0x80 | opcode, 126, data.length >> 8, data.length & 0xff]);
  else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(data.length), 2);
  }
  if (!socket.destroyed) socket.write(Buffer.concat([head, data]));
}

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function read(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
