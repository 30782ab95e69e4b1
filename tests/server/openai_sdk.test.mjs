// The official `openai` npm package against `lfmd serve` (node --test).
// Chat, streaming, stream_options.include_usage, the .stream() and .runTools() helpers (plain and
// streaming) finalising without errors, abort = server-side cancel, and the SDK's error classes.
//
// Tool calls come from the server's test hook: with --test-hooks a request may carry
// "lfmd_forced_output" and the model then emits exactly that text's tokens (test-only).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, waitFor, scriptedFetch } from './lib/server.mjs';

const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
  {
    type: 'function',
    function: { name: 'get_time', description: 'Time in a time zone', parameters: { type: 'object', properties: { tz: { type: 'string' } } } },
  },
];
const TWO_CALLS = '<|tool_call_start|>[get_weather(city="Paris"), get_time(tz="UTC")]<|tool_call_end|>';
const msgs = (text) => [{ role: 'user', content: text }];

describe('openai SDK against lfmd serve', () => {
  let srv;
  let client;
  const sdk = (opts = {}) => new OpenAI({ baseURL: srv.baseURL, apiKey: 'sk-anything', maxRetries: 0, timeout: 60_000, ...opts });

  before(async () => {
    srv = await startServer({ args: ['--test-hooks', '--model-alias', 'lfmd-test'] });
    client = sdk();
  });
  after(async () => {
    const alive = srv?.alive();
    await srv?.stop();
    assert.ok(alive, 'the server died during the tests');
  });

  it('lists and retrieves the model', async () => {
    const page = await client.models.list();
    assert.equal(page.data.length, 1);
    assert.equal(page.data[0].id, 'lfmd-test');
    assert.equal(page.data[0].object, 'model');
    const m = await client.models.retrieve('lfmd-test');
    assert.equal(m.id, 'lfmd-test');
  });

  it('chat (non-streaming)', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: msgs('Hello'), max_tokens: 8, seed: 42 });
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, 'lfmd-test');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(typeof r.choices[0].message.content, 'string');
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 8);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 8);
  });

  it('streaming gives the same text as non-streaming for the same seed', async () => {
    const req = { model: 'x', messages: msgs('Tell me a story'), max_tokens: 20, seed: 7, temperature: 0.8 };
    const full = await client.chat.completions.create(req);
    const stream = await client.chat.completions.create({ ...req, stream: true });
    let text = '';
    let first = true;
    let finish = null;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (first) {
        assert.equal(chunk.choices[0].delta.role, 'assistant');
        first = false;
      }
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, full.choices[0].message.content);
    assert.equal(finish, 'length');
  });

  it('stream_options.include_usage: a last chunk with choices [] and usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'x', messages: msgs('Count'), max_tokens: 5, seed: 1, stream: true, stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.completion_tokens, 5);
    assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + 5);
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
  });

  it('.stream() helper finalises (content, usage)', async () => {
    const runner = client.chat.completions.stream({
      model: 'x', messages: msgs('Hi'), max_tokens: 6, seed: 3, stream_options: { include_usage: true },
    });
    let deltas = '';
    runner.on('content', (d) => { deltas += d; });
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices[0].message.content, deltas);
    assert.equal(final.choices[0].finish_reason, 'length');
    assert.equal(final.usage.completion_tokens, 6);
    assert.equal(await runner.finalContent(), deltas);
  });

  it('streamed tool calls assemble into the exact calls (raw create + manual assembly)', async () => {
    const stream = await client.chat.completions.create({
      model: 'x', messages: msgs('Weather in Paris and time in UTC?'), tools: TOOLS, stream: true,
      lfmd_forced_output: TWO_CALLS,
    });
    const calls = [];
    let content = '';
    let finish;
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta ?? {};
      content += d.content ?? '';
      for (const tc of d.tool_calls ?? []) {
        if (!calls[tc.index]) {
          assert.equal(typeof tc.id, 'string', 'first delta of a call carries its id');
          assert.equal(tc.type, 'function');
          calls[tc.index] = { id: tc.id, name: tc.function.name, arguments: tc.function.arguments ?? '' };
        } else {
          assert.equal(tc.function?.name, undefined, 'name repeated in a later delta');
          calls[tc.index].arguments += tc.function?.arguments ?? '';
        }
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(content, '');
    assert.deepEqual(calls.map((c) => [c.name, JSON.parse(c.arguments)]), [
      ['get_weather', { city: 'Paris' }],
      ['get_time', { tz: 'UTC' }],
    ]);
    assert.notEqual(calls[0].id, calls[1].id);
  });

  it('.stream() helper with tool calls: events and finalMessage', async () => {
    const runner = client.chat.completions.stream({
      model: 'x', messages: msgs('Weather?'), tools: TOOLS, lfmd_forced_output: TWO_CALLS,
    });
    const done = [];
    runner.on('tool_calls.function.arguments.done', (e) => done.push([e.index, e.name, e.arguments]));
    const msg = await runner.finalMessage();
    assert.equal(msg.content, null);
    assert.deepEqual(msg.tool_calls.map((t) => [t.function.name, t.function.arguments]), [
      ['get_weather', '{"city":"Paris"}'],
      ['get_time', '{"tz":"UTC"}'],
    ]);
    assert.deepEqual(done, [
      [0, 'get_weather', '{"city":"Paris"}'],
      [1, 'get_time', '{"tz":"UTC"}'],
    ]);
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
  });

  for (const stream of [false, true]) {
    it(`runTools (${stream ? 'streaming' : 'non-streaming'}) runs both tools and finalises`, async () => {
      const seen = [];
      const c = sdk({ fetch: scriptedFetch([`Checking. ${TWO_CALLS}`, 'It is sunny in Paris and 12:00 UTC.'], seen) });
      const invoked = [];
      const runner = c.chat.completions.runTools({
        model: 'x',
        messages: msgs('Weather in Paris and the time in UTC?'),
        stream,
        tools: [
          { type: 'function', function: { name: 'get_weather', parameters: TOOLS[0].function.parameters, parse: JSON.parse,
            function: (args) => { invoked.push(['get_weather', args]); return { city: args.city, sky: 'sunny' }; } } },
          { type: 'function', function: { name: 'get_time', parameters: TOOLS[1].function.parameters, parse: JSON.parse,
            function: (args) => { invoked.push(['get_time', args]); return '12:00'; } } },
        ],
      });
      let streamedContent = '';
      if (stream) runner.on('content', (d) => { streamedContent += d; });
      const content = await runner.finalContent();
      assert.equal(content, 'It is sunny in Paris and 12:00 UTC.');
      if (stream) assert.equal(streamedContent, 'Checking. It is sunny in Paris and 12:00 UTC.');
      assert.deepEqual(invoked, [['get_weather', { city: 'Paris' }], ['get_time', { tz: 'UTC' }]]);
      const roles = runner.messages.map((m) => m.role);
      assert.deepEqual(roles, ['user', 'assistant', 'tool', 'tool', 'assistant']);
      const asst = runner.messages[1];
      assert.equal(asst.tool_calls.length, 2);
      assert.equal(runner.messages[2].tool_call_id, asst.tool_calls[0].id);
      assert.equal(runner.messages[3].tool_call_id, asst.tool_calls[1].id);
      assert.equal(runner.messages[2].content, '{"city":"Paris","sky":"sunny"}');
      // The second request carried the whole conversation back, tool calls included.
      assert.equal(seen.length, 2);
      assert.deepEqual(seen[1].messages.map((m) => m.role), ['user', 'assistant', 'tool', 'tool']);
      const final = await runner.finalChatCompletion();
      assert.equal(final.choices[0].finish_reason, 'stop');
      assert.equal((await runner.finalFunctionToolCall()).name, 'get_time');
      assert.equal(await runner.finalFunctionToolCallResult(), '12:00');
    });
  }

  it('aborting a stream makes the server cancel the generation', async () => {
    const before = await srv.metrics();
    const ac = new AbortController();
    const stream = await client.chat.completions.create(
      // lfmd_step_delay_ms (test hook): 3000 tokens take >= 15 s, so the generation cannot end
      // before the abort (the tiny model alone needs under a second, which a loaded CI box outruns).
      { model: 'x', messages: msgs('Go on forever'), max_tokens: 3000, seed: 9, stream: true, lfmd_step_delay_ms: 5 },
      { signal: ac.signal },
    );
    let n = 0;
    // The SDK ends the iteration quietly when its signal aborts (or throws an abort error).
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta?.content && ++n === 5) ac.abort();
      }
    } catch (e) {
      assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', String(e));
    }
    assert.ok(n >= 5, `only ${n} content chunks before the abort`);
    const afterM = await waitFor(async () => {
      const m = await srv.metrics();
      return m.lfmd_client_disconnects_total > before.lfmd_client_disconnects_total &&
        m.lfmd_cancelled_total > before.lfmd_cancelled_total && m.lfmd_requests_running === 0 ? m : null;
    }, 'the server to cancel the aborted stream');
    assert.ok(afterM.lfmd_generated_tokens_total - before.lfmd_generated_tokens_total < 3000);
  });

  describe('errors map to the SDK error classes', () => {
    const bad = async (params, Cls, status, check = () => {}) => {
      await assert.rejects(client.chat.completions.create({ model: 'x', messages: msgs('hi'), max_tokens: 2, ...params }), (e) => {
        assert.ok(e instanceof Cls, `expected ${Cls.name}, got ${e?.constructor?.name}: ${e?.message}`);
        assert.equal(e.status, status);
        assert.equal(typeof e.error?.message, 'string');
        check(e);
        return true;
      });
    };
    it('400 for a bad parameter, with param and code', () => bad({ temperature: -1 }, OpenAI.BadRequestError, 400, (e) => {
      assert.equal(e.param, 'temperature');
      assert.equal(e.type, 'invalid_request_error');
    }));
    it('400 for n=9', () => bad({ n: 9 }, OpenAI.BadRequestError, 400, (e) => assert.equal(e.param, 'n')));
    it('400 for an empty messages array', () => bad({ messages: [] }, OpenAI.BadRequestError, 400));
    it('400 context_length_exceeded in OpenAI wording', () => bad({ messages: msgs('w '.repeat(5000)) }, OpenAI.BadRequestError, 400, (e) => {
      // the prompt alone overflows the model's 4096-token context
      assert.equal(e.code, 'context_length_exceeded');
      assert.match(e.message, /This model's maximum context length is 4096 tokens\. However, you requested \d+ tokens \(\d+ in the messages, 2 in the completion\)/);
    }));
    it('max_tokens beyond the room left in the context is clamped, not refused', async () => {
      const r = await client.chat.completions.create({ model: 'x', messages: msgs('hi'), max_tokens: 100_000, temperature: 0 });
      assert.ok(['length', 'stop'].includes(r.choices[0].finish_reason), r.choices[0].finish_reason);
      assert.ok(r.usage.total_tokens <= 4096, `total ${r.usage.total_tokens}`);
      if (r.choices[0].finish_reason === 'length') assert.equal(r.usage.total_tokens, 4096);
    });
    it('400 also for a streaming request', () => bad({ stream: true, top_p: 7 }, OpenAI.BadRequestError, 400));
    it('404 for an unknown model id', async () => {
      await assert.rejects(client.models.retrieve('no-such-model'), (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
    });
    it('still serves normal requests afterwards', async () => {
      const r = await client.chat.completions.create({ model: 'x', messages: msgs('ok?'), max_tokens: 2 });
      assert.equal(r.usage.completion_tokens, 2);
    });
  });
});

describe('openai SDK with --api-key', () => {
  let srv;
  before(async () => { srv = await startServer({ args: ['--api-key', 'sk-right'] }); });
  after(async () => { await srv?.stop(); });

  it('401 AuthenticationError with a wrong key; the right key works', async () => {
    const wrong = new OpenAI({ baseURL: srv.baseURL, apiKey: 'sk-wrong', maxRetries: 0 });
    await assert.rejects(wrong.chat.completions.create({ model: 'x', messages: msgs('hi'), max_tokens: 2 }),
      (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === 'invalid_api_key');
    await assert.rejects(wrong.models.list(), OpenAI.AuthenticationError);
    const right = new OpenAI({ baseURL: srv.baseURL, apiKey: 'sk-right', maxRetries: 0 });
    const r = await right.chat.completions.create({ model: 'x', messages: msgs('hi'), max_tokens: 2 });
    assert.equal(r.choices.length, 1);
    const health = await fetch(`${srv.url}/health`);
    assert.equal(health.status, 200, '/health needs no key');
  });
});
