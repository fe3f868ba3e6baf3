// Heed's MCP contract through the official TypeScript SDK's client, over stdio (heed mcp) and Streamable HTTP (heed serve):
// every tool with valid arguments (the SDK's client validates each structuredContent against the tool's outputSchema
// itself and throws when it does not match), every tool with bad arguments (the error must name the field), every
// resource template read, the prompt got, and the protocol errors.
//
// Run: node --test (from this folder, after npm ci and a Release build of Heed.Cli). HEED_DLL overrides the heed.dll path;
// HEED_SHARED the shared folder (default ../shared beside the repository), whose stories260K is the generative test model.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { CallToolResultSchema, ErrorCode, McpError, ProgressNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const heedDll = process.env.HEED_DLL ?? path.resolve(here, '../../src/Heed.Cli/bin/Release/net10.0/heed.dll');

const shared = process.env.HEED_SHARED ?? path.resolve(here, '../../../shared');
const stories = path.join(shared, 'models', 'stories260K');

const expectedTools = [
  'attention', 'cancel_run', 'cancel_training', 'delete_run', 'embed', 'explain', 'explain_run_head', 'generate', 'get_attention_weights', 'get_run', 'get_run_picture', 'get_run_report', 'get_training', 'list_models', 'lookup', 'model_config',
  'multi_head_attention', 'resume_training', 'run_model', 'train', 'workspace_analyse', 'workspace_create', 'workspace_delete', 'workspace_get', 'workspace_list', 'workspace_update',
];
const expectedTemplates = [
  'heed://runs/{id}/layers/{layer}/heads/{head}', 'heed://runs/{id}/pictures/{file}{?layer,head}', 'heed://runs/{id}/report', 'heed://runs/{id}/report.html', 'heed://workspace/{name}',
];

const eye = { shape: [1, 1, 2, 2], dtype: 'float64', data: [1, 0, 0, 1] };
const eye2 = { shape: [2, 2], dtype: 'float64', data: [1, 0, 0, 1] };
const w = Math.E / (Math.E + 1);
const pngMagic = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function isPng(base64) {
  return Buffer.from(base64, 'base64').subarray(0, 8).equals(pngMagic);
}

// A random BERT (1 layer, 2 heads, width 4) as a Hugging Face folder: config.json, model.safetensors (F32), vocab.txt.
const bertVocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'the', 'cat', 'sat', 'mat'];
function writeTinyBert(folder) {
  mkdirSync(folder);
  const width = 4, inner = 8, positions = 8;
  const shapes = {
    'embeddings.word_embeddings.weight': [bertVocab.length, width], 'embeddings.position_embeddings.weight': [positions, width],
    'embeddings.token_type_embeddings.weight': [2, width], 'embeddings.LayerNorm.weight': [width], 'embeddings.LayerNorm.bias': [width],
  };
  for (const dense of ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense']) {
    shapes[`encoder.layer.0.${dense}.weight`] = [width, width];
    shapes[`encoder.layer.0.${dense}.bias`] = [width];
  }
  Object.assign(shapes, {
    'encoder.layer.0.intermediate.dense.weight': [inner, width], 'encoder.layer.0.intermediate.dense.bias': [inner],
    'encoder.layer.0.output.dense.weight': [width, inner], 'encoder.layer.0.output.dense.bias': [width],
    'encoder.layer.0.attention.output.LayerNorm.weight': [width], 'encoder.layer.0.attention.output.LayerNorm.bias': [width],
    'encoder.layer.0.output.LayerNorm.weight': [width], 'encoder.layer.0.output.LayerNorm.bias': [width],
  });
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const header = {};
  const chunks = [];
  let offset = 0;
  for (const [name, shape] of Object.entries(shapes)) {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (name.endsWith('LayerNorm.weight') ? 1 : random()));
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    chunks.push(Buffer.from(data.buffer));
    offset += data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path.join(folder, 'model.safetensors'), Buffer.concat([length, json, ...chunks]));
  writeFileSync(path.join(folder, 'config.json'), JSON.stringify({
    model_type: 'bert', vocab_size: bertVocab.length, hidden_size: width, num_hidden_layers: 1, num_attention_heads: 2,
    intermediate_size: inner, max_position_embeddings: positions, type_vocab_size: 2, layer_norm_eps: 1e-12, hidden_act: 'gelu',
  }));
  writeFileSync(path.join(folder, 'vocab.txt'), bertVocab.join('\n') + '\n');
}

// A home folder for the server, with a models folder: stories260K (llama2.c checkpoint and tokenizer) and tiny-bert.
function home() {
  const folder = mkdtempSync(path.join(tmpdir(), 'heed-mcp-contract-'));
  const env = { ...process.env, HOME: folder, XDG_RUNTIME_DIR: path.join(folder, 'run'), XDG_CONFIG_HOME: path.join(folder, 'config'), DOTNET_NOLOGO: '1' };
  const models = path.join(folder, 'models');
  mkdirSync(path.join(models, 'stories260K'), { recursive: true });
  for (const file of ['stories260K.bin', 'tok512.bin']) copyFileSync(path.join(stories, file), path.join(models, 'stories260K', file));
  writeTinyBert(path.join(models, 'tiny-bert'));
  return { folder, env, models };
}

async function connectStdio() {
  const { folder, env, models } = home();
  const transport = new StdioClientTransport({ command: 'dotnet', args: [heedDll, 'mcp', '--workspace', path.join(folder, 'ws'), '--models', models], env, stderr: 'pipe' });
  transport.stderr?.resume(); // the server's warnings (each refused request) are not this test's output
  const client = new Client({ name: 'heed-contract', version: '1.0.0' });
  await client.connect(transport);
  return { client, close: () => rmSync(folder, { recursive: true, force: true }) };
}

async function connectHttp() {
  const { folder, env, models } = home();
  const serve = spawn('dotnet', [heedDll, 'serve', '--port', '0', '--workspace', path.join(folder, 'ws'), '--models', models], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  serve.stderr.resume();
  // heed serve prints its address once the discovery file is written.
  await new Promise((resolve, reject) => {
    serve.stdout.once('data', resolve);
    serve.once('exit', (code) => reject(new Error(`heed serve exited with ${code}`)));
  });
  serve.stdout.resume();
  const info = JSON.parse(readFileSync(path.join(folder, 'run', 'heed', 'server.json'), 'utf8'));
  const transport = new StreamableHTTPClientTransport(new URL(info.mcp), { requestInit: { headers: { Authorization: `Bearer ${info.token}` } } });
  const client = new Client({ name: 'heed-contract', version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    close: async () => {
      const exited = new Promise((resolve) => serve.once('exit', resolve));
      serve.kill('SIGTERM');
      await exited;
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

function contract(transportName, connect) {
  describe(`MCP over ${transportName}`, () => {
    let client;
    let close;
    let tools;
    let runId;
    const ajv = new AjvJsonSchemaValidator();
    // The progress notifications of calls made with our own progress tokens, as they arrive. The SDK routes one to its
    // call's onprogress in a later microtask, and drops it when the call's result came in the same read (it forgets the
    // call first), which a loaded machine makes happen; what the server sent is what these tests check, so they read it
    // here. Notifications for the SDK's own tokens (calls that act on progress while they run) go its way.
    const received = [];
    let calls = 0;

    before(async () => {
      ({ client, close } = await connect());
      client.setNotificationHandler(ProgressNotificationSchema, (notification) => {
        if (String(notification.params.progressToken).startsWith('contract-')) received.push(notification.params);
        else client._onprogress(notification);
      });
      // Listing the tools is also what makes the SDK's client compile each outputSchema and validate every result.
      tools = new Map((await client.listTools()).tools.map((t) => [t.name, t]));
    });

    after(async () => {
      await client?.close();
      await close?.();
    });

    /** Calls a tool with valid arguments: the client validated structuredContent; the text must be the same JSON. */
    async function call(name, args, options) {
      assert.ok(client.getToolOutputValidator(name), `${name}: the client validates its results`);
      const input = ajv.getValidator(tools.get(name).inputSchema)(args);
      assert.ok(input.valid, `${name}: the valid arguments fail its inputSchema: ${input.errorMessage}`);
      // With onprogress, the call carries a progress token of ours, and its notifications are handed to onprogress from
      // `received` once the result is in, in order (a cancelled call's late ones have another token).
      const token = options?.onprogress ? `contract-${++calls}` : undefined;
      const params = token ? { name, arguments: args, _meta: { progressToken: token } } : { name, arguments: args };
      const result = await client.callTool(params, CallToolResultSchema, token ? { ...options, onprogress: undefined } : options);
      for (const { progressToken, ...progress } of received.filter((n) => n.progressToken === token)) options.onprogress(progress);

      assert.notEqual(result.isError, true, `${name}: ${result.content.map((c) => c.text).join(' ')}`);
      assert.ok(result.structuredContent, `${name}: no structuredContent`);
      assert.equal(result.content[0].type, 'text');
      assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent, `${name}: the text is not the JSON of structuredContent`);
      return result;
    }

    it('lists every tool with an output schema, annotations and top-level arguments', () => {
      assert.deepEqual([...tools.keys()].sort(), expectedTools);
      for (const tool of tools.values()) {
        assert.equal(tool.outputSchema?.type, 'object', tool.name);
        assert.equal(typeof tool.annotations?.readOnlyHint, 'boolean', tool.name);
        assert.equal(tool.inputSchema.properties?.request, undefined, `${tool.name} wraps its arguments in 'request'`);
      }

      assert.equal(tools.get('lookup').inputSchema.required, undefined);
      assert.equal(tools.get('explain').inputSchema.required, undefined);
      assert.deepEqual(tools.get('run_model').inputSchema.required, ['prompt']);
    });

    it('attention', async () => {
      const { structuredContent: r } = await call('attention', { q: eye, k: eye, v: eye, scale: 1 });
      assert.ok(Math.abs(r.output.data[0] - w) < 1e-12);
      assert.equal(r.qkMatmulOutput, undefined);
      const { structuredContent: scores } = await call('attention', { q: eye, k: eye, v: eye, qkMatmulOutputMode: 0 });
      assert.deepEqual(scores.qkMatmulOutput.shape, [1, 1, 2, 2]);
    });

    it('multi_head_attention', async () => {
      const { structuredContent: r } = await call('multi_head_attention', { x: eye2, wq: eye2, wk: eye2, wv: eye2, numHeads: 1 });
      assert.deepEqual(r.output.shape, [2, 2]);
      assert.equal(r.weights, undefined);
    });

    it('explain: the seed example with no arguments, and pictures as images after the JSON', async () => {
      const { structuredContent: seed } = await call('explain', {});
      assert.ok(Math.abs(seed.focusOutput[0] - 1.0644) < 1e-4);
      const own = await call('explain', {
        tokens: ['a', 'b'], embeddings: [[1, 0], [0, 1]], wq: [[1, 0], [0, 1]], wk: [[1, 0], [0, 1]], wv: [[1, 0], [0, 1]],
        causal: true, focus: 'b', pictures: ['Heatmap'], pictureFormat: 'Png', report: true,
      });
      assert.equal(own.structuredContent.pictures, undefined);
      const image = own.content.find((c) => c.type === 'image');
      assert.equal(image.mimeType, 'image/png');
      assert.ok(isPng(image.data));
      const html = own.content.find((c) => c.type === 'resource');
      assert.equal(html.resource.mimeType, 'text/html');
      assert.ok(html.resource.text.startsWith('<!DOCTYPE html>'));
    });

    it('lookup: {} is the seed lookup', async () => {
      const { structuredContent: r } = await call('lookup', {});
      assert.deepEqual(r.keys, ['apple', 'banana', 'chair']);
    });

    it('list_models and model_config', async () => {
      const { structuredContent: models } = await call('list_models', {});
      assert.equal(models.models[0].id, 'seed-cat-sat');
      const { structuredContent: config } = await call('model_config', { id: 'seed-cat-sat' });
      assert.equal(config.width, 2);
      assert.equal(config.architecture, 'toy');
      assert.equal(config.numLayers, config.layers.length);
    });

    it('run_model: progress strictly increases with its total; the answer is a few KB of status and links', async () => {
      const progress = [];
      const result = await call('run_model', { prompt: 'The cat sat on the mat' }, { onprogress: (p) => progress.push(p) });
      runId = result.structuredContent.status.id;
      assert.equal(result.structuredContent.status.state, 'Succeeded');
      assert.ok(progress.length > 0, 'no progress notification');
      for (const [i, p] of progress.entries()) {
        assert.ok(p.total > 0, `notification ${i} has no total`);
        if (i > 0) assert.ok(p.progress > progress[i - 1].progress, `progress goes ${progress.map((x) => x.progress).join(', ')}`);
      }

      assert.equal(progress.at(-1).progress, progress.at(-1).total);
      const size = JSON.stringify(result).length;
      assert.ok(size < 6000, `run_model's answer is ${size} bytes`);
      const links = result.content.filter((c) => c.type === 'resource_link').map((c) => c.uri);
      assert.ok(links.includes(`heed://runs/${runId}/report`));
      assert.ok(links.includes(`heed://runs/${runId}/report.html`));
      assert.ok(links.includes(`heed://runs/${runId}/pictures/model-view.png`));
    });

    it('embed: the tokens and one unit vector per text from an encoder', async () => {
      const { structuredContent: r } = await call('embed', { model: 'tiny-bert', texts: ['the cat sat', 'the mat'] });
      assert.equal(r.model, 'tiny-bert');
      assert.equal(r.dimensions, 4);
      assert.equal(r.pooling, 'mean');
      assert.equal(r.normalized, true);
      assert.deepEqual(r.tokens, [['[CLS]', 'the', 'cat', 'sat', '[SEP]'], ['[CLS]', 'the', 'mat', '[SEP]']]);
      for (const e of r.embeddings) assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-5);
      assert.equal(r.hidden_states, undefined);
      const { structuredContent: none } = await call('embed', { model: 'tiny-bert', texts: ['the cat'], pooling: 'none' });
      assert.equal(none.embeddings, undefined);
      assert.equal(none.hidden_states[0].length, 4); // [CLS] the cat [SEP]
      assert.ok(none.hidden_states[0].every((row) => row.length === 4));
    });

    it('generate: llama2.c\'s greedy text, progress per token strictly increasing with total = maxTokens', async () => {
      const progress = [];
      const { structuredContent: r } = await call('generate', { model: 'stories260K', prompt: '', maxTokens: 20 }, { onprogress: (p) => progress.push(p) });
      assert.equal(r.tokens, 20);
      assert.equal(r.finishReason, 'length');
      const golden = readFileSync(path.join(stories, 'expected-empty-prompt-200.txt'), 'utf8');
      assert.ok(r.text.length > 40 && golden.startsWith(r.text), `'${r.text}' is not the start of llama2.c's text`);
      assert.deepEqual(progress.map((p) => p.progress), Array.from({ length: 20 }, (_, i) => i + 1));
      assert.ok(progress.every((p) => p.total === 20));
      assert.equal(progress.map((p) => p.message).join(''), r.text);
      const { structuredContent: chat } = await call('generate', { model: 'stories260K', messages: [{ role: 'user', content: 'Once upon a time' }], maxTokens: 5 });
      assert.equal(chat.chatFormat, 'Plain');
    });

    it('generate: cancelling the call (notifications/cancelled) ends it, and the next call runs', async () => {
      const controller = new AbortController();
      await assert.rejects(client.callTool({ name: 'generate', arguments: { model: 'stories260K', prompt: '', maxTokens: 2048 } }, CallToolResultSchema, {
        signal: controller.signal, onprogress: () => controller.abort(),
      }));
      assert.equal((await call('generate', { model: 'stories260K', prompt: 'Once', maxTokens: 3 })).structuredContent.tokens, 3);
    });

    it('train: a progress notification per step, strictly increasing with total = steps; get_training and cancel_training', async () => {
      const progress = [];
      const args = { task: 'induction', steps: 12, batchSize: 2, layers: 1, heads: 2, width: 8, context: 8, vocab: 4, seed: 9, checkpointEvery: 4 };
      const result = await call('train', args, { onprogress: (p) => progress.push(p) });
      const r = result.structuredContent;
      assert.equal(r.state, 'Succeeded');
      assert.equal(r.losses.length, 12);
      assert.equal(r.model, `trained-${r.id}`);
      assert.deepEqual(progress.map((p) => p.progress), Array.from({ length: 12 }, (_, i) => i + 1));
      assert.ok(progress.every((p) => p.total === 12));
      const images = result.content.filter((c) => c.type === 'image');
      assert.equal(images.length, 2);
      assert.ok(images.every((i) => isPng(i.data)));
      const again = (await call('get_training', { id: r.id })).structuredContent;
      assert.deepEqual(again.losses, r.losses);
      assert.equal((await call('train', args)).structuredContent.losses.join(), r.losses.join(), 'the same seed gives the same losses');
      assert.equal((await call('cancel_training', { id: r.id })).structuredContent.state, 'Succeeded');
    });

    it('resume_training: a new training from the checkpoint, a notification per new step, the losses of the uninterrupted training', async () => {
      const args = { task: 'induction', batchSize: 2, layers: 1, heads: 2, width: 8, context: 8, vocab: 4, seed: 9, checkpointEvery: 4 };
      const first = (await call('train', { ...args, steps: 6 })).structuredContent;
      const progress = [];
      const result = await call('resume_training', { id: first.id, steps: 12 }, { onprogress: (p) => progress.push(p) });
      const r = result.structuredContent;
      assert.equal(r.state, 'Succeeded');
      assert.notEqual(r.id, first.id);
      assert.deepEqual(r.resumedFrom, { training: first.id, step: 6 });
      assert.equal(r.model, `trained-${r.id}`);
      assert.deepEqual(progress.map((p) => p.progress), [7, 8, 9, 10, 11, 12]);
      assert.ok(progress.every((p) => p.total === 12));
      assert.equal(result.content.filter((c) => c.type === 'image').length, 2);
      const whole = (await call('train', { ...args, steps: 12 })).structuredContent;
      assert.equal(r.losses.join(), whole.losses.join(), 'the resumed training has the uninterrupted one\'s losses');
    });

    it('train: cancelling the call (notifications/cancelled) stops the training', async () => {
      const controller = new AbortController();
      await assert.rejects(client.callTool({ name: 'train', arguments: { steps: 2000, checkpointEvery: 1000 } }, CallToolResultSchema, {
        signal: controller.signal, onprogress: () => controller.abort(),
      }));
      assert.equal((await call('train', { steps: 2, batchSize: 2, layers: 1, heads: 1, width: 8, context: 8 })).structuredContent.step, 2);
    });

    it('get_run, get_run_report, get_attention_weights, explain_run_head, cancel_run', async () => {
      assert.equal((await call('get_run', { id: runId })).structuredContent.state, 'Succeeded');
      assert.equal((await call('get_run_report', { id: runId })).structuredContent.explanation.steps.length, 6);
      assert.equal((await call('get_run_report', { id: runId, allLayers: true })).structuredContent.pictures.some((p) => p.name === 'heatmap-layer0'), true);
      assert.equal((await call('get_attention_weights', { id: runId, layer: 0, head: 0 })).structuredContent.weights.length, 6);
      assert.equal((await call('explain_run_head', { id: runId, layer: 0, head: 0, position: 2 })).structuredContent.focusIndex, 2);
      assert.equal((await call('cancel_run', { id: runId })).structuredContent.state, 'Succeeded');
    });

    it('get_run_picture: a PNG image block, or an embedded SVG resource', async () => {
      const png = await call('get_run_picture', { id: runId, picture: 'Heatmap', format: 'Png' });
      assert.equal(png.structuredContent.mediaType, 'image/png');
      assert.ok(isPng(png.content.find((c) => c.type === 'image').data));
      assert.ok(!png.content[0].text.includes('iVBOR'), 'the PNG is inside the JSON text');
      const svg = await call('get_run_picture', { id: runId, picture: 'ModelView' });
      const resource = svg.content.find((c) => c.type === 'resource').resource;
      assert.equal(resource.mimeType, 'image/svg+xml');
      assert.equal(resource.uri, `heed://runs/${runId}/pictures/model-view.svg`);
      assert.ok(resource.text.includes('<svg'));
    });

    it('workspace tools', async () => {
      await call('workspace_create', { name: 'm', values: [[1, 0], [0, 1]] });
      await call('workspace_update', { name: 'm', rowStart: 0, columnStart: 1, values: [[5]] });
      assert.deepEqual((await call('workspace_get', { name: 'm', rowStart: 0, rowCount: 1 })).structuredContent.values, [[1, 5]]);
      assert.equal((await call('workspace_list', {})).structuredContent.matrices.length, 1);
      const analysed = await call('workspace_analyse', { kind: 'Attention', q: 'm', k: 'm', v: 'm', chart: 'Png' });
      assert.equal(analysed.structuredContent.chart, undefined);
      assert.ok(isPng(analysed.content.find((c) => c.type === 'image').data));
      assert.equal((await call('workspace_analyse', { kind: 'Attention', q: 'm', k: 'm', v: 'm', chart: 'None', outputName: 'out' })).structuredContent.outputName, 'out');
      await call('workspace_delete', { name: 'out' });
    });

    it('reads every resource template', async () => {
      const { resourceTemplates } = await client.listResourceTemplates();
      assert.deepEqual(resourceTemplates.map((t) => t.uriTemplate).sort(), expectedTemplates);
      const text = async (uri) => (await client.readResource({ uri })).contents[0];
      assert.ok(JSON.parse((await text(`heed://runs/${runId}/report`)).text).explanation);
      assert.ok((await text(`heed://runs/${runId}/report.html`)).text.startsWith('<!DOCTYPE html>'));
      assert.equal(JSON.parse((await text(`heed://runs/${runId}/layers/0/heads/0`)).text).weights.length, 6);
      const png = await text(`heed://runs/${runId}/pictures/heatmap.png`);
      assert.equal(png.mimeType, 'image/png');
      assert.ok(isPng(png.blob));
      assert.equal((await text(`heed://runs/${runId}/pictures/head-view.svg?layer=0`)).mimeType, 'image/svg+xml');
      assert.deepEqual(JSON.parse((await text('heed://workspace/m')).text).values, [[1, 5], [0, 1]]);
    });

    it('gets the prompt, and refuses it without its required argument (-32602)', async () => {
      const prompt = await client.getPrompt({ name: 'explain_sentence', arguments: { sentence: 'The dog barked' } });
      assert.ok(prompt.messages[0].content.text.includes('The dog barked'));
      await assert.rejects(client.getPrompt({ name: 'explain_sentence', arguments: {} }), (e) => e instanceof McpError && e.code === ErrorCode.InvalidParams && e.message.includes('sentence: required'));
    });

    // Bad input: isError with Heed's one-line message naming the field, for every tool.
    const bad = [
      ['attention', { q: eye }, 'k: required'],
      ['attention', { q: 5 }, 'q: 5; expected an object with the fields shape, dtype, data or npy'],
      ['multi_head_attention', { x: eye2, wq: eye2, wk: eye2, wv: eye2, numHeads: 'two' }, "numHeads: 'two'; expected an integer"],
      ['explain', { pictures: ['Nope'] }, "pictures[0]: 'Nope'; expected one of Heatmap, ModelView, HeadView, Network or Rollout"],
      ['explain', { layer: 'x' }, "layer: 'x'; expected an integer"],
      ['lookup', { colour: 'red' }, 'colour: not an argument of lookup; expected one of query,'],
      ['list_models', { all: true }, 'all: not an argument of list_models; this tool takes no arguments'],
      ['model_config', {}, 'id: required; expected a string'],
      ['run_model', { prompt: 'The cat', allLayers: 'yes' }, "allLayers: 'yes'; expected true or false"],
      ['get_run', { id: 5 }, 'id: 5; expected a string'],
      ['get_run_report', { id: 'nope' }, "run 'nope': no such run"],
      ['get_attention_weights', { id: 'nope', layer: 0 }, 'head: required; expected an integer'],
      ['explain_run_head', { id: 'nope', layer: 0 }, 'head: required; expected an integer'],
      ['cancel_run', {}, 'id: required'],
      ['get_run_picture', { id: 'nope', picture: 'Heatmap', format: 'Gif' }, "format: 'Gif'; expected one of Svg or Png"],
      ['delete_run', { id: 'nope' }, "run 'nope'"],
      ['workspace_list', { name: 'm' }, 'name: not an argument of workspace_list'],
      ['workspace_create', { name: 'x', values: [[1, 'a']] }, "values[0][1]: 'a'; expected a number"],
      ['workspace_get', { name: 'm', rowStart: 3000000000 }, 'rowStart: 3000000000; expected an integer from -2147483648 to 2147483647'],
      ['workspace_update', { values: [[1]] }, 'name: required'],
      ['workspace_delete', { name: 7 }, 'name: 7; expected a string'],
      ['workspace_analyse', { kind: 'Sideways' }, "kind: 'Sideways'; expected one of Attention or Explain"],
      ['train', { steps: 0 }, 'steps: 0; expected 1..2000'],
      ['train', { width: 'wide' }, "width: 'wide'; expected an integer"],
      ['get_training', { id: 'nope' }, "training 'nope': no such training"],
      ['cancel_training', {}, 'id: required'],
      ['resume_training', { id: 'nope' }, "training 'nope': no such training"],
      ['resume_training', { id: 'nope', steps: 'many' }, "steps: 'many'; expected an integer"],
      ['embed', { model: 'tiny-bert' }, 'texts: required'],
      ['embed', { model: 'tiny-bert', texts: ['a'], pooling: 'max' }, "pooling: 'max'; expected one of mean, cls or none"],
      ['embed', { model: 'stories260K', texts: ['a'] }, "model 'stories260K': format llama2c is not an encoder"],
      ['generate', { model: 'stories260K', prompt: 'a', maxTokens: 0 }, 'maxTokens: 0; expected 1 to'],
      ['generate', { model: 'stories260K', prompt: 'a', temperature: 'hot' }, "temperature: 'hot'; expected a number"],
      ['generate', { model: 'tiny-bert', prompt: 'a' }, 'is not a decoder'],
    ];
    it('covers every tool with bad arguments', () => assert.deepEqual([...new Set(bad.map((b) => b[0]))].sort(), expectedTools));
    for (const [name, args, message] of bad) {
      it(`${name} ${JSON.stringify(args).slice(0, 60)}: isError naming the field`, async () => {
        const result = await client.callTool({ name, arguments: args });
        assert.equal(result.isError, true, `no error: ${JSON.stringify(result).slice(0, 200)}`);
        assert.equal(result.content.length, 1);
        assert.ok(result.content[0].text.includes(message), `'${result.content[0].text}' does not say '${message}'`);
      });
    }

    it('protocol errors: arguments not an object and an unknown tool -32602, an unknown resource -32002', async () => {
      await assert.rejects(client.request({ method: 'tools/call', params: { name: 'lookup', arguments: [1, 2] } }, CallToolResultSchema),
        (e) => e instanceof McpError && e.code === ErrorCode.InvalidParams && e.message.includes('arguments: [1,2]; expected an object'));
      await assert.rejects(client.callTool({ name: 'nope', arguments: {} }), (e) => e instanceof McpError && e.code === ErrorCode.InvalidParams);
      await assert.rejects(client.readResource({ uri: 'heed://runs/nope/report' }), (e) => e instanceof McpError && e.code === -32002 && e.message.includes("run 'nope'"));
    });

    it('delete_run, after which its resources are not found', async () => {
      await call('workspace_delete', { name: 'm' });
      assert.equal((await call('delete_run', { id: runId })).structuredContent.what, `run ${runId}`);
      await assert.rejects(client.readResource({ uri: `heed://runs/${runId}/report` }), (e) => e instanceof McpError && e.code === -32002);
    });
  });
}

contract('stdio (heed mcp)', connectStdio);
contract('Streamable HTTP (heed serve)', connectHttp);
