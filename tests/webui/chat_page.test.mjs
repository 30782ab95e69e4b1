// The built-in chat page (GET /) in Debian's headless chromium, driven by puppeteer-core.
// The server runs with --test-hooks and a --test-script (what the model "says" per prompt), and the
// page's "extra request fields" setting adds lfmd_step_delay_ms so that a long answer is slow
// enough to stop. Every request the page makes must go to the server's own origin (others are
// aborted and fail the test). Screenshots: $LFMD_WEBUI_SCREENSHOTS (ctest: the build directory).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { startServer, genModel } from '../server/lib/server.mjs';

const MARKDOWN = 'Hello! Here is **bold**, *italic*, `inline code` and a [link](https://example.com/docs).\n\n' +
  '## A heading\n\n- one\n- two\n\n```js\nconsole.log("hi");\n```\n\n' +
  'Stays text: <img src=x onerror="window.__pwned=1"> [bad](javascript:window.__pwned=2)';
const LONG = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');
const THINK = '<think>Check the weather first.</think><|tool_call_start|>[get_weather(city="Paris")]<|tool_call_end|>';
const TOOLS = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
const EXTRA = JSON.stringify({ lfmd_step_delay_ms: 10, tools: TOOLS });
const KEY = 'webui-test-key';

const shots = process.env.LFMD_WEBUI_SCREENSHOTS || path.resolve('screenshots');
mkdirSync(shots, { recursive: true });
const chromium = process.env.CHROMIUM || (existsSync('/usr/lib/chromium/chromium') ? '/usr/lib/chromium/chromium' : '/usr/bin/chromium');

// A raw GET with any Host header (fetch cannot set Host): -> {status, body}.
function rawGet(url, pathName, host) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: pathName, agent: false, headers: host ? { Host: host } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// A page whose requests may only go to `origin`; `log` collects chat request bodies and headers.
async function openPage(browser, origin) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 760 });
  const log = { foreign: [], errors: [], chats: [] };
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const url = req.url();
    if (url.startsWith('data:')) return req.continue();
    if (new URL(url).origin !== origin) { log.foreign.push(url); return req.abort('blockedbyclient'); }
    if (url.endsWith('/v1/chat/completions')) log.chats.push({ body: JSON.parse(req.postData()), headers: req.headers() });
    return req.continue();
  });
  page.on('pageerror', (e) => log.errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) log.errors.push(m.text());
  });
  return { page, log };
}

const lastAssistant = (page, sel) => page.$eval(`.msg.assistant:last-child ${sel}`, (e) => e.textContent);
const idle = (page) => page.waitForSelector('#stop', { hidden: true });
async function send(page, text) {
  await page.type('#input', text);
  await page.keyboard.press('Enter');
}

describe('chat page in headless chromium', () => {
  let dir, model, server, keyed, browser;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lfmd-webui-test-'));
    model = genModel(dir);
    const script = path.join(dir, 'script.json');
    writeFileSync(script, JSON.stringify([{ output: MARKDOWN }, { when: 'LONG', output: LONG }, { when: 'THINK', output: THINK }, { when: 'SHORT', output: 'A **short** answer.' }]));
    const hooks = ['--test-hooks', '--test-script', script];
    [server, keyed] = await Promise.all([
      startServer({ model, args: hooks }),
      // Also flags every answer as low-confidence (the random model scores ~0.7): the handoff marker.
      startServer({ model, args: [...hooks, '--api-key', KEY, '--handoff', 'flag', '--confidence-threshold', '0.99'] }),
    ]);
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await keyed?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('chats: streamed Markdown, stop, regenerate, reasoning and tool calls, reload', async () => {
    const { page, log } = await openPage(browser, server.url);
    const resp = await page.goto(server.url + '/', { waitUntil: 'load' });
    assert.equal(resp.status(), 200);
    assert.match(resp.headers()['content-security-policy'], /script-src 'self'/);
    await page.waitForFunction(() => document.querySelector('#model-info').textContent.includes('context'));

    // Settings (kept in localStorage): sampling, a system prompt, and the test's extra fields.
    await page.click('#open-settings');
    await page.type('#set-system', 'You are terse.');
    await page.type('#set-temperature', '0.7');
    await page.type('#set-top_p', '0.9');
    await page.type('#set-max_tokens', '1000');
    await page.type('#set-seed', '7');
    await page.$eval('#set-extra', (e, v) => { e.value = v; }, EXTRA);  // long: typing it is slow
    await page.click('#settings-save');
    await page.waitForSelector('#settings', { hidden: true });

    // 1. A Markdown answer; model text that looks like HTML stays text.
    await send(page, 'hello');
    await page.waitForSelector('.msg.assistant .regenerate');
    const body = await page.$eval('.msg.assistant .body', (e) => e.innerHTML);
    assert.match(body, /<strong>bold<\/strong>/);
    assert.match(body, /<em>italic<\/em>/);
    assert.match(body, /<h2>A heading<\/h2>/);
    assert.match(body, /<ul><li>one<\/li><li>two<\/li><\/ul>/);
    assert.match(body, /<code class="lang-js">console\.log\("hi"\);<\/code>/);
    assert.match(body, /<a href="https:\/\/example\.com\/docs" target="_blank" rel="noopener noreferrer">link<\/a>/);
    assert.match(body, /<p>Stays text: &lt;img src=x onerror="window\.__pwned=1"&gt; \[bad\]\(javascript:window\.__pwned=2\)<\/p>/);
    assert.equal(await page.$$eval('.msg.assistant img', (l) => l.length), 0);
    assert.equal(await page.$$eval('.msg.assistant a[href^="javascript"]', (l) => l.length), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    const meta = await lastAssistant(page, '.meta');
    assert.match(meta, /\d+ tokens/);
    assert.match(meta, /[\d.]+ tok\/s/);
    assert.match(meta, /confidence 0\.\d\d/);
    const sent = log.chats[0].body;
    assert.deepEqual(sent.messages, [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'hello' }]);
    assert.deepEqual([sent.stream, sent.stream_options, sent.temperature, sent.top_p, sent.max_tokens, sent.seed, sent.lfmd_step_delay_ms],
      [true, { include_usage: true }, 0.7, 0.9, 1000, 7, 10]);
    await page.screenshot({ path: path.join(shots, '1-markdown-answer.png') });

    // 2. A long answer: text appears while it streams; Stop ends it early.
    await page.click('#new-chat');
    await send(page, 'write something LONG');
    await page.waitForFunction(() => !document.querySelector('#stop').hidden &&
      (document.querySelector('.msg.assistant:last-child .body')?.textContent.split(' ').length ?? 0) >= 5);
    await page.screenshot({ path: path.join(shots, '2-streaming.png') });
    await page.click('#stop');
    await idle(page);
    const stopped = await lastAssistant(page, '.body');
    assert.ok(LONG.startsWith(stopped.trim()) && stopped.trim().length < LONG.length, `stopped text: ${stopped}`);
    assert.match(await lastAssistant(page, '.meta'), /stopped/);

    // 3. Regenerate replaces it with a whole answer.
    await page.click('.msg.assistant:last-child .regenerate');
    await page.waitForSelector('#stop', { visible: true });
    await idle(page);
    assert.equal((await lastAssistant(page, '.body')).trim(), LONG);
    assert.doesNotMatch(await lastAssistant(page, '.meta'), /stopped/);
    assert.equal(await page.$$eval('.msg', (l) => l.length), 2);
    assert.equal(log.chats.length, 3);
    assert.deepEqual(log.chats[2].body.messages.map((m) => m.role), ['system', 'user']);

    // 4. Reasoning (collapsed) and a tool call.
    await page.click('#new-chat');
    await send(page, 'THINK then call a tool');
    await page.waitForSelector('.msg.assistant .regenerate');
    const reasoning = await page.$eval('details.reasoning', (d) => ({ open: d.open, hidden: d.hidden, text: d.textContent }));
    assert.deepEqual(reasoning, { open: false, hidden: false, text: 'ReasoningCheck the weather first.' });
    await page.click('details.reasoning summary');
    assert.match(await lastAssistant(page, '.tool-call'), /^tool call: get_weather\(\{"city": ?"Paris"\}\)$/);
    assert.match(await lastAssistant(page, '.meta'), /finish: tool_calls/);
    await page.screenshot({ path: path.join(shots, '3-reasoning-tool-call.png') });

    // 5. Reload: the conversations and settings are still there.
    await page.reload({ waitUntil: 'load' });
    const titles = await page.$$eval('#convs .title', (l) => l.map((e) => e.textContent));
    assert.deepEqual(titles, ['THINK then call a tool', 'write something LONG', 'hello']);
    await page.click('#convs li:nth-child(3) .title');
    await page.waitForFunction(() => document.querySelector('.msg.user')?.textContent === 'hello');
    assert.match(await page.$eval('.msg.assistant .body', (e) => e.innerHTML), /<h2>A heading<\/h2>/);
    await page.click('#open-settings');
    assert.equal(await page.$eval('#set-seed', (e) => e.value), '7');
    assert.equal(await page.$eval('#set-system', (e) => e.value), 'You are terse.');
    await page.click('#settings-cancel');
    // Delete a conversation.
    await page.click('#convs li:nth-child(1) .delete');
    assert.equal(await page.$$eval('#convs li', (l) => l.length), 2);
    await page.screenshot({ path: path.join(shots, '4-after-reload.png') });

    assert.deepEqual(log.foreign, [], 'requests to other hosts');
    assert.deepEqual(log.errors, [], 'page errors');
    await page.close();
  });

  it('asks for the API key when the server requires one, then works', async () => {
    const { page, log } = await openPage(browser, keyed.url);
    const resp = await page.goto(keyed.url + '/', { waitUntil: 'load' });
    assert.equal(resp.status(), 200, 'the page itself needs no key');
    await page.waitForSelector('#key-dialog', { visible: true });
    await page.screenshot({ path: path.join(shots, '5-api-key-prompt.png') });
    await page.keyboard.press('Escape');  // dismissed: the model list fails, the page goes on
    await page.waitForFunction(() => document.querySelector('#model-info').textContent === '(model list unavailable)');
    await send(page, 'SHORT please');
    await page.waitForSelector('#key-dialog', { visible: true });  // the chat request asks again
    await page.type('#key-input', 'wrong-key');
    await page.click('#key-save');
    await page.waitForFunction(() => document.querySelector('#key-dialog').open && document.querySelector('#key-input').value === '');
    await page.type('#key-input', KEY);
    await page.click('#key-save');
    await page.waitForSelector('.msg.assistant .regenerate');
    assert.equal(await page.$eval('.msg.assistant .body', (e) => e.innerHTML), '<p>A <strong>short</strong> answer.</p>');
    assert.match(await lastAssistant(page, '.meta .handoff'), /low confidence: handoff/);
    await page.screenshot({ path: path.join(shots, '6-with-key-handoff-flag.png') });
    assert.deepEqual(log.chats.map((c) => c.headers.authorization), [undefined, 'Bearer wrong-key', `Bearer ${KEY}`]);
    assert.equal(await page.evaluate(() => JSON.parse(localStorage.getItem('lfmd.apiKey'))), KEY);
    await page.reload({ waitUntil: 'load' });  // the key is remembered
    await page.waitForFunction(() => document.querySelector('#model-info').textContent.includes('context'));
    assert.equal(await page.$eval('#key-dialog', (d) => d.open), false);
    assert.deepEqual(log.foreign, [], 'requests to other hosts');
    assert.deepEqual(log.errors, [], 'page errors');
    await page.close();
  });

  it('obeys the Host check and the API key outside the page; --no-webui turns it off', async () => {
    for (const p of ['/', '/ui/app.js', '/ui/app.css']) {
      assert.equal((await rawGet(server.url, p)).status, 200, p);
      assert.equal((await rawGet(keyed.url, p)).status, 200, `${p} with --api-key`);
      assert.equal((await rawGet(server.url, p, 'evil.example')).status, 403, `${p}: DNS rebinding`);
    }
    assert.match((await rawGet(server.url, '/ui/app.js')).headers['content-type'], /^text\/javascript/);
    assert.equal((await rawGet(server.url, '/ui/appXjs')).status, 404);
    assert.equal((await rawGet(keyed.url, '/v1/models')).status, 401);
    const off = await startServer({ model, args: ['--no-webui'] });
    try {
      for (const p of ['/', '/ui/app.js']) {
        const r = await rawGet(off.url, p);
        assert.equal(r.status, 404, p);
        assert.equal(JSON.parse(r.body).error.code, 'unknown_url');
      }
    } finally {
      await off.stop();
    }
  });
});
