// POST /v1/responses end to end with the real clients (node --test): the openai SDK (create,
// stream, parse), @openai/agents and @ai-sdk/openai (Codex: codex.test.mjs). The server runs with
// --test-hooks: "lfmd_forced_output" in a body makes the model emit exactly that text; a
// --test-script file picks the output by what the rendered prompt contains (agents' later turns).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { startServer } from '../server/lib/server.mjs';

const S = '<|tool_call_start|>';
const E = '<|tool_call_end|>';
const WEATHER = {
  type: 'function',
  name: 'get_weather',
  description: 'Weather of a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: false,
};

// The output items reduced to what a client acts on.
const summary = (r) =>
  r.output.map((it) =>
    it.type === 'message' ? ['message', it.content.map((c) => c.text).join('')]
    : it.type === 'function_call' ? ['function_call', it.name, JSON.parse(it.arguments)]
    : it.type === 'reasoning' ? ['reasoning', it.content.map((c) => c.text).join('')]
    : [it.type]);

function tempDir() {
  return mkdtempSync(path.join(tmpdir(), 'lfmd-responses-'));
}

describe('openai SDK: client.responses', () => {
  let server, client;
  before(async () => {
    server = await startServer({ args: ['--test-hooks'] });
    client = new OpenAI({ baseURL: server.baseURL, apiKey: 'unused' });
  });
  after(async () => server?.stop());

  it('create: text, non-streaming and streaming give the same answer', async () => {
    const params = { model: 'lfmd', input: 'Say hello.', lfmd_forced_output: 'Hello there!' };
    const r = await client.responses.create(params);
    assert.equal(r.object, 'response');
    assert.match(r.id, /^resp_/);
    assert.equal(r.status, 'completed');
    assert.equal(r.output_text, 'Hello there!');
    assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
    assert.equal(typeof r.usage.input_tokens_details.cached_tokens, 'number');
    assert.equal(r.usage.output_tokens_details.reasoning_tokens, 0);

    const events = [];
    const stream = await client.responses.create({ ...params, stream: true });
    for await (const ev of stream) events.push(ev);
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
    const deltas = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    assert.equal(deltas, 'Hello there!');
    const done = events.at(-1).response;
    assert.deepEqual(summary(done), summary(r));
  });

  it('responses.stream: finalResponse of a function call matches create', async () => {
    const params = {
      model: 'lfmd',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris?' }] }],
      tools: [WEATHER, { type: 'web_search' }],
      lfmd_forced_output: `${S}[get_weather(city="Paris")]${E}`,
    };
    const stream = client.responses.stream(params);
    let args = '';
    stream.on('response.function_call_arguments.delta', (e) => { args += e.delta; });
    const fin = await stream.finalResponse();
    assert.deepEqual(summary(fin), [['function_call', 'get_weather', { city: 'Paris' }]]);
    assert.deepEqual(JSON.parse(args), { city: 'Paris' });
    const call = fin.output[0];
    assert.match(call.call_id, /^call_/);
    assert.match(call.id, /^fc_/);
    const r = await client.responses.create(params);
    assert.deepEqual(summary(r), summary(fin));
  });

  it('function call round trip through function_call_output; the second turn hits the cache', async () => {
    const input = [{ role: 'user', content: 'Weather in Paris?' }];
    const first = await client.responses.create({
      model: 'lfmd', input, tools: [WEATHER], lfmd_forced_output: `${S}[get_weather(city="Paris")]${E}`,
    });
    const call = first.output.find((o) => o.type === 'function_call');
    assert.ok(call, JSON.stringify(first.output));
    const second = await client.responses.create({
      model: 'lfmd',
      input: [...input, call, { type: 'function_call_output', call_id: call.call_id, output: '{"temp": 21}' }],
      tools: [WEATHER],
      lfmd_forced_output: 'It is 21 degrees in Paris.',
    });
    assert.equal(second.output_text, 'It is 21 degrees in Paris.');
    assert.ok(second.usage.input_tokens > first.usage.input_tokens);
    assert.ok(second.usage.input_tokens_details.cached_tokens > 0, JSON.stringify(second.usage));
  });

  it('responses.parse with a zod text format', async () => {
    const Person = z.object({ name: z.string(), age: z.number() });
    const r = await client.responses.parse({
      model: 'lfmd',
      input: 'Who?',
      text: { format: zodTextFormat(Person, 'person') },
      lfmd_forced_output: '{"name": "Ada", "age": 36}',
    });
    assert.deepEqual(r.output_parsed, { name: 'Ada', age: 36 });
    assert.equal(r.text.format.type, 'json_schema');
  });

  // LFM2.5 thinking (<think>...</think> at the start of the answer) lands in a reasoning item.
  const THINKING = [
    { name: 'thinking then text', forced: '<think>Plan it.</think>The answer.',
      want: [['reasoning', 'Plan it.'], ['message', 'The answer.']] },
    { name: 'thinking then a tool call', forced: `<think>Need weather.</think>${S}[get_weather(city="Oslo")]${E}`,
      want: [['reasoning', 'Need weather.'], ['function_call', 'get_weather', { city: 'Oslo' }]] },
    { name: 'thinking only', forced: '<think>Just thinking.</think>', want: [['reasoning', 'Just thinking.']] },
    { name: 'unterminated thinking cut by max_output_tokens', forced: '<think>This goes on and on and on', max: 12,
      status: 'incomplete' },
  ];
  for (const c of THINKING) {
    it(`reasoning items: ${c.name}, streamed and not`, async () => {
      const params = { model: 'lfmd', input: 'Think first.', tools: [WEATHER], lfmd_forced_output: c.forced };
      if (c.max) params.max_output_tokens = c.max;
      const r = await client.responses.create(params);
      const events = [];
      for await (const ev of await client.responses.create({ ...params, stream: true })) events.push(ev);
      const streamed = events.at(-1).response;
      assert.deepEqual(summary(streamed), summary(r));
      assert.equal(r.status, c.status ?? 'completed');
      assert.equal(streamed.status, r.status);
      if (c.want) assert.deepEqual(summary(r), c.want);
      if (c.status === 'incomplete') {
        assert.deepEqual(r.output.map((o) => o.type), ['reasoning']);
        assert.match(r.output[0].content[0].text, /^This goes/);  // "<think>" is several tokens here
        assert.equal(events.at(-1).type, 'response.incomplete');
      }
      assert.ok(r.usage.output_tokens_details.reasoning_tokens > 0, JSON.stringify(r.usage));
      const deltas = events.filter((e) => e.type === 'response.reasoning_text.delta').map((e) => e.delta).join('');
      assert.equal(deltas, r.output[0].content[0].text);
      assert.ok(!events.some((e) => e.type === 'response.output_text.delta' && e.delta.includes('think')));
    });
  }

  it('max_output_tokens ends incomplete; a bad body is a 400 with a param', async () => {
    // Forced text longer than three tokens: the random-weight model's own sampling (random seed)
    // could end its turn within three tokens.
    const r = await client.responses.create({
      model: 'lfmd', input: 'Go on.', max_output_tokens: 3, lfmd_forced_output: 'one two three four five six',
    });
    assert.equal(r.status, 'incomplete');
    assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(r.usage.output_tokens, 3);
    await assert.rejects(client.responses.create({ model: 'lfmd', input: 'x', previous_response_id: 'resp_1' }),
      (e) => e.status === 400 && e.param === 'previous_response_id' && /send the whole conversation/.test(e.message));
    await assert.rejects(client.responses.create({ model: 'lfmd', input: [{ type: 'message', role: 'robot', content: 'x' }] }),
      (e) => e.status === 400 && e.param === 'input[0].role');
  });
});

describe('context limits (--ctx 256)', () => {
  let server, client;
  before(async () => {
    server = await startServer({ args: ['--test-hooks', '--ctx', '256'] });
    client = new OpenAI({ baseURL: server.baseURL, apiKey: 'unused' });
  });
  after(async () => server?.stop());

  it('a prompt that does not fit is context_length_exceeded; a large max_output_tokens is clamped', async () => {
    await assert.rejects(client.responses.create({ model: 'lfmd', input: 'word '.repeat(400) }),
      (e) => e.status === 400 && e.code === 'context_length_exceeded' && e.param === 'input');
    const r = await client.responses.create({
      model: 'lfmd', input: 'hi', max_output_tokens: 100000, lfmd_forced_output: 'ab '.repeat(300),
    });
    assert.equal(r.status, 'incomplete');
    assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(r.usage.total_tokens, 256);
  });
});

// Agents: a first turn that calls the tool, then text once the tool's result is in the prompt.
describe('agent frameworks (scripted turns)', () => {
  let server, dir;
  before(async () => {
    dir = tempDir();
    const script = path.join(dir, 'script.json');
    writeFileSync(script, JSON.stringify([
      { when: '', output: `${S}[get_weather(city="Paris")]${E}` },
      { when: 'sunny in Paris', output: 'Paris is sunny.' },  // the tool's result is in the prompt
    ]));
    server = await startServer({ args: ['--test-hooks', '--test-script', script] });
  });
  after(async () => { await server?.stop(); rmSync(dir, { recursive: true, force: true }); });

  it('@openai/agents: Agent with a function tool (Responses model)', async () => {
    const agents = await import('@openai/agents');
    agents.setTracingDisabled(true);
    agents.setOpenAIAPI('responses');
    agents.setDefaultOpenAIClient(new OpenAI({ baseURL: server.baseURL, apiKey: 'unused' }));
    const calls = [];
    const getWeather = agents.tool({
      name: 'get_weather',
      description: 'Weather of a city',
      parameters: z.object({ city: z.string() }),
      execute: async ({ city }) => { calls.push(city); return `sunny in ${city}`; },
    });
    const agent = new agents.Agent({ name: 'weather', instructions: 'Answer briefly.', model: 'lfmd', tools: [getWeather] });
    const result = await agents.run(agent, 'Weather in Paris?');
    assert.deepEqual(calls, ['Paris']);
    assert.equal(result.finalOutput, 'Paris is sunny.');
  });

  for (const streaming of [false, true]) {
    it(`@ai-sdk/openai (Responses): ${streaming ? 'streamText' : 'generateText'} with a tool`, async () => {
      const { generateText, streamText, tool, stepCountIs } = await import('ai');
      const { createOpenAI } = await import('@ai-sdk/openai');
      const provider = createOpenAI({ baseURL: server.baseURL, apiKey: 'unused' });
      const calls = [];
      const tools = {
        get_weather: tool({
          description: 'Weather of a city',
          inputSchema: z.object({ city: z.string() }),
          execute: async ({ city }) => { calls.push(city); return `sunny in ${city}`; },
        }),
      };
      const opts = { model: provider.responses('lfmd'), prompt: 'Weather in Paris?', tools, stopWhen: stepCountIs(3) };
      let text;
      if (streaming) {
        const r = streamText(opts);
        text = await r.text;
      } else {
        text = (await generateText(opts)).text;
      }
      assert.deepEqual(calls, ['Paris']);
      assert.equal(text, 'Paris is sunny.');
    });
  }
});
