// tool_choice "required" and named, enforced by constrained decoding, through the official openai
// client (node --test), streamed and not. The demo model has random weights: every valid call is
// the grammar's doing. Arguments are validated against the tool's schema by an independent
// validator (python3-jsonschema, run as a subprocess); the test is skipped (77) without it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import OpenAI from 'openai';
import { startServer } from './lib/server.mjs';

const PY = '/usr/bin/python3';
try {
  execFileSync(PY, ['-c', 'import jsonschema'], { stdio: 'ignore' });
} catch {
  console.log('SKIP: python3-jsonschema is not installed (scripts/install-deps.sh)');
  process.exit(77);
}

const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'book_flight',
      parameters: {
        type: 'object',
        properties: {
          from: { type: 'string', pattern: '^[A-Z]{3}$' },
          to: { type: 'string', pattern: '^[A-Z]{3}$' },
          passengers: { type: 'integer' },
          class: { enum: ['economy', 'business'] },
          meals: { type: 'array', items: { type: 'string', maxLength: 12 }, maxItems: 3 },
        },
        required: ['from', 'to', 'passengers'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'set_alarm',
      parameters: {
        type: 'object',
        properties: {
          time: { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' },
          repeat: { anyOf: [{ type: 'null' }, { type: 'array', items: { enum: ['mon', 'tue', 'wed'] } }] },
          label: { $ref: '#/$defs/label' },
        },
        required: ['time', 'repeat'],
        $defs: { label: { type: 'string', maxLength: 16 } },
      },
    },
  },
  { type: 'function', function: { name: 'ping', parameters: { type: 'object', properties: {} } } },
];
const SCHEMA = Object.fromEntries(TOOLS.map((t) => [t.function.name, t.function.parameters]));

// [[schema, instance], ...] -> throws with the validator's message on the first invalid one.
function validateAll(pairs) {
  const code = [
    'import json, sys, jsonschema',
    'for s, v in json.load(sys.stdin):',
    '    jsonschema.Draft202012Validator(s).validate(v)',
  ].join('\n');
  execFileSync(PY, ['-c', code], { input: JSON.stringify(pairs), stdio: ['pipe', 'pipe', 'pipe'] });
}

function checkCalls(calls, { names, exactlyOne }) {
  assert.ok(calls.length >= 1, 'at least one call');
  if (exactlyOne) assert.equal(calls.length, 1, JSON.stringify(calls));
  const pairs = [];
  for (const c of calls) {
    assert.equal(c.type, 'function');
    assert.match(c.id, /^call_/);
    if (names) assert.ok(names.includes(c.function.name), c.function.name);
    pairs.push([SCHEMA[c.function.name], JSON.parse(c.function.arguments)]);
  }
  validateAll(pairs);
}

describe('tool_choice required / named (constrained)', () => {
  let srv;
  let client;
  before(async () => {
    srv = await startServer({ demo: true });
    client = new OpenAI({ baseURL: srv.baseURL, apiKey: 'none', maxRetries: 0 });
  });
  after(async () => {
    await srv?.stop();
  });

  const choices = [
    ['required', 'required', null],
    ['named set_alarm', { type: 'function', function: { name: 'set_alarm' } }, ['set_alarm']],
    ['named book_flight', { type: 'function', function: { name: 'book_flight' } }, ['book_flight']],
  ];
  for (const [label, toolChoice, names] of choices) {
    for (const parallel of [true, false]) {
      for (const seed of [1, 2, 3]) {
        const params = {
          model: 'demo',
          messages: [{ role: 'user', content: 'Do it.' }],
          tools: TOOLS,
          tool_choice: toolChoice,
          parallel_tool_calls: parallel,
          temperature: seed === 1 ? 0 : 1,
          seed,
          max_tokens: 200,
        };
        it(`${label}, parallel=${parallel}, seed ${seed}: non-streaming`, async () => {
          const r = await client.chat.completions.create(params);
          assert.equal(r.choices[0].finish_reason, 'tool_calls');
          checkCalls(r.choices[0].message.tool_calls, { names, exactlyOne: !parallel });
        });
        it(`${label}, parallel=${parallel}, seed ${seed}: streamed (SDK helper)`, async () => {
          const stream = client.chat.completions.stream({ ...params, stream: true });
          const r = await stream.finalChatCompletion();
          assert.equal(r.choices[0].finish_reason, 'tool_calls');
          checkCalls(r.choices[0].message.tool_calls, { names, exactlyOne: !parallel });
        });
      }
    }
  }

  it('an unsupported keyword in the tool schema is a 400 naming it', async () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { n: { type: 'number', multipleOf: 2 } } } } }];
    await assert.rejects(
      client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'x' }], tools, tool_choice: 'required' }),
      (e) => e.status === 400 && /multipleOf/.test(e.message),
    );
  });
});
