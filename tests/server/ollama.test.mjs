// Ollama's API through the official `ollama` npm client (node --test): chat streamed and not,
// tools (a scripted tool call and the turn after its result), generate, list, show, ps, version,
// errors, and --ollama-port (a second listener on a free port serving the same routes).
//
// The server runs with --test-hooks --test-script: the model's output is picked by what its
// rendered prompt contains, so every answer (and the tool call) is known in advance.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ollama } from 'ollama';
import { startServer, waitFor } from './lib/server.mjs';

const S = '<|tool_call_start|>';
const E = '<|tool_call_end|>';
const ANSWER = 'Hello from lfmd.';
const SCRIPT = [
  { when: '', output: ANSWER },
  { when: 'WRITE-JSON', output: '{"city": "Paris", "sunny": true}' },
  { when: 'get_weather', output: `${S}[get_weather(city="Paris", days=2)]${E}` },
  { when: '<|tool_response_start|>', output: 'It is sunny in Paris.' },
];
const TOOLS = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
  },
}];

describe('ollama client', () => {
  let server, client, dir, ollamaUrl;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lfmd-ollama-test-'));
    const script = path.join(dir, 'script.json');
    writeFileSync(script, JSON.stringify(SCRIPT));
    server = await startServer({ args: ['--test-hooks', '--test-script', script, '--ctx', '1024', '--ollama-port', '0'] });
    client = new Ollama({ host: server.url });
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the model (/api/tags) and shows it (/api/show)', async () => {
    const { models } = await client.list();
    assert.equal(models.length, 1);
    const m = models[0];
    assert.match(m.name, /:latest$/);
    assert.equal(m.model, m.name);
    assert.equal(m.details.format, 'gguf');
    assert.ok(m.size > 0);
    assert.match(m.digest, /^[0-9a-f]{64}$/);
    assert.ok(!Number.isNaN(Date.parse(m.modified_at)));
    const shown = await client.show({ model: m.name });
    assert.equal(shown.details.family, m.details.family);
    assert.ok(shown.capabilities.includes('tools'));
    assert.ok(shown.template.length > 0);
    assert.ok(Object.keys(shown.model_info).some((k) => k.endsWith('.context_length')));
    await assert.rejects(client.show({ model: 'no-such-model' }), (e) => e.status_code === 404 && /not found/.test(e.error));
  });

  it('answers a chat, not streamed', async () => {
    const r = await client.chat({ model: 'any', messages: [{ role: 'user', content: 'Hi' }], options: { temperature: 0, seed: 1 } });
    assert.equal(r.message.role, 'assistant');
    assert.equal(r.message.content, ANSWER);
    assert.equal(r.done, true);
    assert.equal(r.done_reason, 'stop');
    assert.ok(r.prompt_eval_count > 0 && r.eval_count > 0);
    for (const k of ['total_duration', 'prompt_eval_duration', 'eval_duration']) assert.ok(Number.isInteger(r[k]) && r[k] >= 0, k);
    assert.ok(r.total_duration >= r.eval_duration);
    assert.equal(r.load_duration, 0);
    assert.ok(!Number.isNaN(Date.parse(r.created_at)));
  });

  it('streams a chat as NDJSON deltas ending with done', async () => {
    const parts = [];
    let last;
    for await (const part of await client.chat({ model: 'any', messages: [{ role: 'user', content: 'Hi' }], stream: true })) {
      parts.push(part);
      last = part;
    }
    assert.ok(parts.length >= 3, `${parts.length} parts`);
    assert.equal(parts.slice(0, -1).map((p) => p.message.content).join(''), ANSWER);
    assert.ok(parts.slice(0, -1).every((p) => p.done === false));
    assert.equal(last.done, true);
    assert.equal(last.done_reason, 'stop');
    assert.ok(last.eval_count > 0);
  });

  it('stops at num_predict with done_reason length', async () => {
    const r = await client.chat({ model: 'any', messages: [{ role: 'user', content: 'Hi' }], options: { num_predict: 2 } });
    assert.equal(r.done_reason, 'length');
    assert.equal(r.eval_count, 2);
  });

  it('returns tool calls with object arguments, then answers the tool result', async () => {
    const messages = [{ role: 'user', content: 'Weather in Paris?' }];
    const r = await client.chat({ model: 'any', messages, tools: TOOLS });
    assert.equal(r.message.tool_calls.length, 1);
    const call = r.message.tool_calls[0];
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(call.function.arguments, { city: 'Paris', days: 2 });
    messages.push(r.message, { role: 'tool', content: 'sunny, 24 C', tool_name: 'get_weather' });
    const r2 = await client.chat({ model: 'any', messages, tools: TOOLS });
    assert.equal(r2.message.content, 'It is sunny in Paris.');
    assert.equal(r2.message.tool_calls, undefined);
  });

  it('streams tool calls', async () => {
    const calls = [];
    for await (const part of await client.chat({ model: 'any', messages: [{ role: 'user', content: 'Weather?' }], tools: TOOLS, stream: true })) {
      calls.push(...(part.message.tool_calls ?? []));
    }
    assert.deepEqual(calls.map((c) => [c.function.name, c.function.arguments]), [['get_weather', { city: 'Paris', days: 2 }]]);
  });

  it('maps format: "json" and a schema to constrained output', async () => {
    const r = await client.chat({ model: 'any', messages: [{ role: 'user', content: 'WRITE-JSON' }], format: 'json' });
    assert.deepEqual(JSON.parse(r.message.content), { city: 'Paris', sunny: true });
    const schema = { type: 'object', properties: { city: { type: 'string' }, sunny: { type: 'boolean' } }, required: ['city', 'sunny'] };
    const r2 = await client.chat({ model: 'any', messages: [{ role: 'user', content: 'WRITE-JSON' }], format: schema });
    assert.deepEqual(JSON.parse(r2.message.content), { city: 'Paris', sunny: true });
  });

  it('generates from a prompt, streamed and not, raw and templated', async () => {
    const r = await client.generate({ model: 'any', prompt: 'Hi', system: 'Be brief.' });
    assert.equal(r.response, ANSWER);
    assert.equal(r.done, true);
    assert.ok(r.prompt_eval_count > 0);
    const raw = await client.generate({ model: 'any', prompt: 'Hi', raw: true });
    assert.equal(raw.response, ANSWER);
    assert.ok(raw.prompt_eval_count < r.prompt_eval_count, 'a raw prompt has no template around it');
    let text = '';
    let last;
    for await (const part of await client.generate({ model: 'any', prompt: 'Hi', stream: true })) {
      text += part.response;
      last = part;
    }
    assert.equal(text, ANSWER);
    assert.equal(last.done, true);
  });

  it('loads on an empty prompt (done_reason load), reports ps and version', async () => {
    const r = await client.generate({ model: 'any', prompt: '' });
    assert.equal(r.done_reason, 'load');
    const { models } = await client.ps();
    assert.equal(models.length, 1);
    assert.ok(models[0].context_length > 0);
    assert.ok(!Number.isNaN(Date.parse(models[0].expires_at)));
    const v = await client.version();
    assert.match(v.version, /^\d+\.\d+\.\d+/);
  });

  it('reports errors in Ollama\'s shape', async () => {
    await assert.rejects(client.chat({ model: 'any', messages: 'nope' }), (e) => e.status_code === 400 && /messages/.test(e.error));
    await assert.rejects(client.chat({ model: 'any', messages: [{ role: 'user', content: 'x', images: ['aGk='] }] }),
      (e) => e.status_code === 400 && /images/.test(e.error));
    await assert.rejects(client.generate({ model: 'any', prompt: 'x', options: { num_predict: 0 } }),
      (e) => e.status_code === 400 && /num_predict/.test(e.error));
    const r = await fetch(`${server.url}/api/nothing`);
    assert.equal(r.status, 404);
    assert.equal(typeof (await r.json()).error, 'string');
  });

  it('answers >= 40 malformed bodies with a status and {"error"}, and keeps serving', async () => {
    const msgs = [{ role: 'user', content: 'Hi' }];
    const cases = [
      ['/api/chat', ''], ['/api/chat', 'not json'], ['/api/chat', '[]'], ['/api/chat', 'null'], ['/api/chat', '5'],
      ['/api/chat', '['.repeat(50000) + ']'.repeat(50000)],
      ['/api/chat', { messages: msgs }], ['/api/chat', { model: 5, messages: msgs }], ['/api/chat', { model: '', messages: msgs }],
      ['/api/chat', { model: 'm', messages: {} }], ['/api/chat', { model: 'm', messages: [5] }],
      ['/api/chat', { model: 'm', messages: [{ content: 'x' }] }], ['/api/chat', { model: 'm', messages: [{ role: 'wizard', content: 'x' }] }],
      ['/api/chat', { model: 'm', messages: [{ role: 'user', content: 5 }] }],
      ['/api/chat', { model: 'm', messages: [{ role: 'assistant', content: '', tool_calls: 'x' }] }],
      ['/api/chat', { model: 'm', messages: [{ role: 'assistant', content: '', tool_calls: [5] }] }],
      ['/api/chat', { model: 'm', messages: [{ role: 'assistant', content: '', tool_calls: [{ function: 5 }] }] }],
      ['/api/chat', { model: 'm', messages: [{ role: 'assistant', content: '', tool_calls: [{ function: { name: 5 } }] }] }],
      ['/api/chat', { model: 'm', messages: msgs, tools: 'x' }], ['/api/chat', { model: 'm', messages: msgs, tools: [{ type: 'function' }] }],
      ['/api/chat', { model: 'm', messages: msgs, format: 'yaml' }], ['/api/chat', { model: 'm', messages: msgs, format: 5 }],
      ['/api/chat', { model: 'm', messages: msgs, format: { type: 'nonsense' } }],
      ['/api/chat', { model: 'm', messages: msgs, options: 5 }], ['/api/chat', { model: 'm', messages: msgs, options: { temperature: 'hot' } }],
      ['/api/chat', { model: 'm', messages: msgs, options: { temperature: 9 } }], ['/api/chat', { model: 'm', messages: msgs, options: { top_p: 2 } }],
      ['/api/chat', { model: 'm', messages: msgs, options: { top_k: -1 } }], ['/api/chat', { model: 'm', messages: msgs, options: { seed: 'x' } }],
      ['/api/chat', { model: 'm', messages: msgs, options: { num_predict: 1.5 } }], ['/api/chat', { model: 'm', messages: msgs, options: { num_predict: -3 } }],
      ['/api/chat', { model: 'm', messages: msgs, options: { stop: 5 } }], ['/api/chat', { model: 'm', messages: msgs, think: 5 }],
      ['/api/chat', { model: 'm', messages: [{ role: 'user', content: 'x'.repeat(20000) }] }],
      ['/api/generate', { model: 'm', prompt: 5 }], ['/api/generate', { model: 'm', prompt: 'x', system: 5 }],
      ['/api/generate', { model: 'm', prompt: 'x', suffix: 'y' }], ['/api/generate', { model: 'm', prompt: 'x', template: '{{ .Prompt }}' }],
      ['/api/generate', { model: 'm', prompt: 'x', context: [1, 2] }], ['/api/generate', { model: 'm', prompt: 'x', images: ['aGk='] }],
      ['/api/generate', { model: 'm', prompt: 'x', raw: 'yes' }],
      ['/api/show', ''], ['/api/show', '[]'], ['/api/show', {}], ['/api/show', { model: 5 }],
    ];
    assert.ok(cases.length >= 40);
    for (const [route, body] of cases) {
      const r = await fetch(`${server.url}${route}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
      const what = `${route} ${JSON.stringify(body).slice(0, 120)}`;
      assert.ok(r.status >= 400 && r.status < 500, `${what}: status ${r.status}`);
      const j = await r.json();
      assert.equal(typeof j.error, 'string', what);
      assert.ok(j.error.length > 0, what);
    }
    const ok = await client.chat({ model: 'any', messages: msgs });
    assert.equal(ok.message.content, ANSWER);
  });

  it('serves the same routes on --ollama-port', async () => {
    // The second listener's address is printed on stdout like the main one.
    ollamaUrl = await waitFor(() => server.stdout().match(/^ollama listening on (http:\/\/\S+)$/m)?.[1], 'the ollama listening line');
    assert.ok(ollamaUrl && ollamaUrl !== server.url, `ollama url ${ollamaUrl}`);
    const c2 = new Ollama({ host: ollamaUrl });
    const r = await c2.chat({ model: 'any', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(r.message.content, ANSWER);
    assert.equal((await c2.list()).models.length, 1);
  });
});
