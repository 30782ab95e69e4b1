// POST /v1/messages and /v1/messages/count_tokens through the official @anthropic-ai/sdk
// (node --test). The server runs with --test-hooks: a body field "lfmd_forced_output" makes the
// model emit exactly that text (special tokens such as <|tool_call_start|> parsed).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startServer } from '../server/lib/server.mjs';

const KEY = 'test-key-messages';
const S = '<|tool_call_start|>';
const E = '<|tool_call_end|>';
const WEATHER = {
  name: 'get_weather',
  description: 'Current weather of a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
};

let server;
let client;
const base = (extra = {}) => ({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }], ...extra });

// The final message of a raw stream, assembled by hand; also returns the event types in order.
async function assemble(stream) {
  const types = [];
  let msg;
  const json = [];
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'message_start') msg = structuredClone(ev.message);
    else if (ev.type === 'content_block_start') msg.content[ev.index] = structuredClone(ev.content_block);
    else if (ev.type === 'content_block_delta') {
      const b = msg.content[ev.index];
      if (ev.delta.type === 'text_delta') b.text += ev.delta.text;
      else if (ev.delta.type === 'thinking_delta') b.thinking += ev.delta.thinking;
      else if (ev.delta.type === 'signature_delta') b.signature = ev.delta.signature;
      else if (ev.delta.type === 'input_json_delta') json[ev.index] = (json[ev.index] ?? '') + ev.delta.partial_json;
    } else if (ev.type === 'content_block_stop') {
      const b = msg.content[ev.index];
      if (b.type === 'tool_use') b.input = JSON.parse(json[ev.index] || '{}');
    } else if (ev.type === 'message_delta') {
      msg.stop_reason = ev.delta.stop_reason;
      msg.stop_sequence = ev.delta.stop_sequence;
      Object.assign(msg.usage, ev.usage);
    }
  }
  return { msg, types };
}

// What must agree between a streamed and a non-streamed answer.
const essence = (m) => ({ content: m.content, stop_reason: m.stop_reason, stop_sequence: m.stop_sequence,
                          output_tokens: m.usage.output_tokens, model: m.model, role: m.role, type: m.type });

describe('Anthropic Messages through @anthropic-ai/sdk', () => {
  before(async () => {
    server = await startServer({ args: ['--test-hooks', '--api-key', KEY] });
    client = new Anthropic({ apiKey: KEY, baseURL: server.url, maxRetries: 0 });
  });
  after(async () => { await server?.stop(); });

  it('messages.create: a text answer in the Messages envelope', async () => {
    const m = await client.messages.create(base({ lfmd_forced_output: 'Hello there' }));
    assert.match(m.id, /^msg_/);
    assert.equal(m.type, 'message');
    assert.equal(m.role, 'assistant');
    assert.equal(m.model, 'claude-sonnet-4-5');
    assert.deepEqual(m.content, [{ type: 'text', text: 'Hello there' }]);
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(m.stop_sequence, null);
    assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0);
    assert.equal(m.usage.cache_creation_input_tokens, 0);
    assert.equal(typeof m.usage.cache_read_input_tokens, 'number');
    assert.equal(typeof m.confidence, 'object');  // lfmd's annotation
  });

  it('stream: true, the stream helper and create give the same message', async () => {
    const body = base({ lfmd_forced_output: 'One two three.' });
    const plain = await client.messages.create(body);
    const { msg, types } = await assemble(await client.messages.create({ ...body, stream: true }));
    assert.deepEqual(types.slice(0, 2), ['message_start', 'content_block_start']);
    assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
    assert.ok(types.length > 5 && types.slice(2, -3).every((t) => t === 'content_block_delta'), types.join());
    assert.deepEqual(essence(msg), essence(plain));
    const helper = await client.messages.stream(body).finalMessage();
    assert.deepEqual(essence(helper), essence(plain));
  });

  it('a tool_use -> tool_result round trip (beta route with ?beta=true), cached on the second turn', async () => {
    const first = base({ tools: [WEATHER], lfmd_forced_output: `${S}[get_weather(city="Paris", days=2)]${E}`,
                         messages: [{ role: 'user', content: 'Weather in Paris for two days? Please answer in detail.' }] });
    const m1 = await client.beta.messages.create(first);
    assert.equal(m1.stop_reason, 'tool_use');
    const call = m1.content.find((b) => b.type === 'tool_use');
    assert.match(call.id, /^toolu_/);
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(call.input, { city: 'Paris', days: 2 });
    const streamed = await client.messages.stream(first).finalMessage();
    assert.deepEqual(streamed.content.map((b) => b.type === 'tool_use' ? [b.name, b.input] : b),
                     m1.content.map((b) => b.type === 'tool_use' ? [b.name, b.input] : b));
    const second = {
      ...first,
      lfmd_forced_output: 'Sunny, 21 degrees.',
      messages: [...first.messages, { role: 'assistant', content: m1.content },
                 { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: [{ type: 'text', text: '21C sunny' }] }] }],
    };
    const m2 = await client.messages.create(second);
    assert.deepEqual(m2.content, [{ type: 'text', text: 'Sunny, 21 degrees.' }]);
    assert.equal(m2.stop_reason, 'end_turn');
    assert.ok(m2.usage.cache_read_input_tokens > 0, JSON.stringify(m2.usage));
    const counted = await client.messages.countTokens({ model: second.model, tools: second.tools, messages: second.messages });
    assert.equal(counted.input_tokens, m2.usage.input_tokens + m2.usage.cache_read_input_tokens);
  });

  it('stop_sequences name the one that matched; max_tokens ends with max_tokens and is clamped', async () => {
    const m = await client.messages.create(base({ stop_sequences: ['zzz', 'there'], lfmd_forced_output: 'Hello there you' }));
    assert.equal(m.stop_reason, 'stop_sequence');
    assert.equal(m.stop_sequence, 'there');
    assert.deepEqual(m.content, [{ type: 'text', text: 'Hello ' }]);
    const { msg } = await assemble(await client.messages.create(base({ stream: true, stop_sequences: ['there'], lfmd_forced_output: 'Hello there you' })));
    assert.equal(msg.stop_sequence, 'there');
    const short = await client.messages.create(base({ max_tokens: 2, lfmd_forced_output: 'a b c d e f g h' }));
    assert.equal(short.stop_reason, 'max_tokens');
    assert.equal(short.usage.output_tokens, 2);
    // Claude Code's max_tokens, far beyond the context: clamped, not refused (the SDK wants a stream).
    const huge = await client.messages.stream(base({ max_tokens: 128000, lfmd_forced_output: 'fits' })).finalMessage();
    assert.equal(huge.stop_reason, 'end_turn');
  });

  it('thinking lands in thinking blocks (signed), streamed and not', async () => {
    const cases = [
      { forced: '<think>plan it</think>The answer.', blocks: [['thinking', 'plan it'], ['text', 'The answer.']], stop: 'end_turn' },
      { forced: `<think>need weather</think>${S}[get_weather(city="Oslo")]${E}`, tools: [WEATHER],
        blocks: [['thinking', 'need weather'], ['tool_use', { city: 'Oslo' }]], stop: 'tool_use' },
      { forced: '<think>only thinking</think>', blocks: [['thinking', 'only thinking']], stop: 'end_turn' },
      { forced: '<think>alpha beta gamma delta epsilon zeta eta theta iota kappa lambda', max_tokens: 9, blocks: [['thinking', null]], stop: 'max_tokens' },
    ];
    const shape = (m) => m.content.map((b) => [b.type, b.type === 'thinking' ? b.thinking : b.type === 'text' ? b.text : b.input]);
    for (const c of cases) {
      const body = base({ lfmd_forced_output: c.forced, max_tokens: c.max_tokens ?? 64, thinking: { type: 'enabled', budget_tokens: 1024 },
                          ...(c.tools ? { tools: c.tools } : {}) });
      const plain = await client.messages.create(body);
      const streamed = await client.messages.stream(body).finalMessage();
      const { msg: raw } = await assemble(await client.messages.create({ ...body, stream: true }));
      for (const m of [plain, streamed, raw]) {
        assert.equal(m.stop_reason, c.stop, c.forced);
        const got = shape(m);
        assert.deepEqual(got.map((b) => b[0]), c.blocks.map((b) => b[0]), c.forced);
        c.blocks.forEach((b, i) => { if (b[1] !== null) assert.deepEqual(got[i][1], b[1], c.forced); });
        assert.ok(!JSON.stringify(m.content).includes('<think>'), c.forced);
        const th = m.content.find((b) => b.type === 'thinking');
        assert.equal(th.signature, 'lfmd-unsigned');
      }
      assert.deepEqual(shape(streamed), shape(plain), c.forced);
      assert.deepEqual(shape(raw), shape(plain), c.forced);
    }
  });

  it('errors map to the SDK error classes with Anthropic error bodies', async () => {
    const bad = new Anthropic({ apiKey: 'wrong', baseURL: server.url, maxRetries: 0 });
    await assert.rejects(bad.messages.create(base()), (e) => e instanceof Anthropic.AuthenticationError && e.error.error.type === 'authentication_error');
    await assert.rejects(client.messages.create({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e instanceof Anthropic.BadRequestError && e.error.type === 'error' && /max_tokens/.test(e.error.error.message));
    const image = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } };
    await assert.rejects(client.messages.create(base({ messages: [{ role: 'user', content: [image] }] })),
      (e) => e instanceof Anthropic.BadRequestError && e.error.error.type === 'invalid_request_error');
    await assert.rejects(client.post('/v1/messages/nope', { body: {} }),
      (e) => e instanceof Anthropic.NotFoundError && e.error.error.type === 'not_found_error');
    // This SDK sends its apiKey as Authorization: Bearer; Claude Code sends x-api-key.
    const xkey = (k) => new Anthropic({ apiKey: null, authToken: null, defaultHeaders: { 'x-api-key': k }, baseURL: server.url, maxRetries: 0 });
    const viaHeader = await xkey(KEY).messages.create(base({ lfmd_forced_output: 'ok' }));
    assert.deepEqual(viaHeader.content, [{ type: 'text', text: 'ok' }]);
    await assert.rejects(xkey('nope').messages.create(base()), (e) => e instanceof Anthropic.AuthenticationError);
    const r = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(base({ lfmd_forced_output: 'ok' })) });
    assert.equal(r.status, 200);  // Authorization: Bearer works too
  });

  it('ping events keep a slow stream alive; the SDK skips them', async () => {
    const slow = await startServer({ args: ['--test-hooks', '--keepalive-ms', '20'] });
    try {
      const body = base({ stream: true, lfmd_forced_output: 'slow words here', lfmd_step_delay_ms: 60 });
      const r = await fetch(`${slow.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(r.headers.get('content-type'), 'text/event-stream');
      const text = await r.text();
      assert.ok(text.includes('event: ping\ndata: {"type":"ping"}\n\n'), text);
      assert.ok(text.startsWith('event: message_start\n') && text.endsWith('event: message_stop\ndata: {"type":"message_stop"}\n\n'));
      const sdk = new Anthropic({ apiKey: 'any', baseURL: slow.url, maxRetries: 0 });
      const m = await sdk.messages.stream({ ...body, stream: undefined }).finalMessage();
      assert.deepEqual(m.content, [{ type: 'text', text: 'slow words here' }]);
    } finally {
      await slow.stop();
    }
  });
});
