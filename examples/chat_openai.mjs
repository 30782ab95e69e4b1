// The official `openai` npm package against a running `lfmd serve`: a plain chat, a streamed
// chat, and tools run by the SDK's runTools() helper (the SDK calls our function and sends its
// result back until the model answers).
//
//   cd examples && npm ci                      # installs the pinned openai package
//   lfmd serve &                               # demo model on http://127.0.0.1:8080
//   node examples/chat_openai.mjs [BASE_URL]   # default http://127.0.0.1:8080
//
// Environment: LFMD_API_KEY when the server runs with --api-key.
//
// TEST-ONLY (CI): the demo model has random weights and never calls a tool by itself. With
// LFMD_EXAMPLE_FORCE_TOOL_CALL=1, and a server started with --test-hooks, each request carries
// "lfmd_forced_output", which makes the model emit exactly that text: a tool call first, then
// a final answer once the tool's result is in the conversation. Never use that field or
// --test-hooks in production; with a real LFM2 model, leave the variable unset.
import OpenAI from 'openai';

const base = (process.argv[2] ?? 'http://127.0.0.1:8080').replace(/\/+$/, '').replace(/\/v1$/, '');
const forceToolCall = process.env.LFMD_EXAMPLE_FORCE_TOOL_CALL === '1';

// TEST-ONLY: a fetch that adds the test hook's field to chat requests (see above).
async function testHookFetch(url, init = {}) {
  if (init.body && String(url).endsWith('/chat/completions')) {
    const body = JSON.parse(init.body);
    const afterTool = body.messages.at(-1)?.role === 'tool';
    body.lfmd_forced_output = afterTool
      ? 'It is sunny and 21 degrees in Paris.'
      : '<|tool_call_start|>[get_weather(city="Paris")]<|tool_call_end|>';
    init = { ...init, body: JSON.stringify(body) };
  }
  return fetch(url, init);
}

const options = {
  baseURL: `${base}/v1`,
  apiKey: process.env.LFMD_API_KEY ?? 'none', // any value works when the server has no --api-key
};
const client = new OpenAI(options);
// TEST-ONLY: the tools part goes through the test hook when asked to (see above).
const toolClient = forceToolCall ? new OpenAI({ ...options, fetch: testHookFetch }) : client;

// lfmd serves one model and accepts any model name; ask it for the resident one's id.
const { data: models } = await client.models.list();
const model = models[0].id;
console.log(`model: ${model}`);

// 1. Plain chat.
const reply = await client.chat.completions.create({
  model,
  messages: [
    { role: 'system', content: 'You are concise.' },
    { role: 'user', content: 'Name three rivers in Europe.' },
  ],
  max_tokens: 32,
  seed: 42,
});
console.log('\n== chat');
console.log(reply.choices[0].message.content);
console.log(`(finish_reason ${reply.choices[0].finish_reason}, ${reply.usage.prompt_tokens} prompt + ${reply.usage.completion_tokens} completion tokens)`);

// 2. Streaming: print the text as it arrives; the last chunk carries the usage.
console.log('\n== streaming');
const stream = await client.chat.completions.create({
  model,
  messages: [{ role: 'user', content: 'Write one sentence about the sea.' }],
  max_tokens: 24,
  seed: 7,
  stream: true,
  stream_options: { include_usage: true },
});
let streamed = '';
let usage;
for await (const chunk of stream) {
  const text = chunk.choices[0]?.delta?.content ?? '';
  streamed += text;
  process.stdout.write(text);
  if (chunk.usage) usage = chunk.usage;
}
console.log(`\n(${usage.completion_tokens} tokens streamed)`);

// 3. Tools: runTools() calls get_weather for each tool call the model makes, sends the result
// back, and repeats until the model answers in text.
console.log('\n== tools (runTools, streaming)');
const calls = [];
const runner = toolClient.chat.completions.runTools({
  model,
  messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
  stream: true,
  max_tokens: 64,
  seed: 1,
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Current weather in a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        parse: JSON.parse, // the arguments arrive as a JSON string
        function: ({ city }) => {
          calls.push(city);
          return { city, sky: 'sunny', celsius: 21 };
        },
      },
    },
  ],
});
runner.on('functionToolCall', (fn) => console.log(`tool call: ${fn.name}(${fn.arguments})`));
runner.on('functionToolCallResult', (result) => console.log(`tool result: ${result}`));
const answer = await runner.finalContent();
console.log(`answer: ${answer}`);

if (forceToolCall) {
  // CI checks (test-only mode): the tool ran once with the right argument, and the answer came.
  if (calls.length !== 1 || calls[0] !== 'Paris') throw new Error(`unexpected tool calls: ${JSON.stringify(calls)}`);
  if (answer !== 'It is sunny and 21 degrees in Paris.') throw new Error(`unexpected answer: ${answer}`);
  if (typeof reply.choices[0].message.content !== 'string' || !streamed) throw new Error('empty chat output');
}
console.log('\nchat_openai.mjs: OK');
