// lfmd's chat page: conversations in localStorage, answers streamed from /v1/chat/completions
// (SSE), a small Markdown renderer that escapes all model text. No dependencies, same origin only.
'use strict';
const $ = (id) => document.getElementById(id);
const store = {
  get(k, d) { try { const v = localStorage.getItem('lfmd.' + k); return v === null ? d : JSON.parse(v); } catch { return d; } },
  set(k, v) { localStorage.setItem('lfmd.' + k, JSON.stringify(v)); },
};
let convs = store.get('convs', []);         // [{id, title, messages: [{role, content, ...}]}]
let currentId = store.get('current', null);
let settings = store.get('settings', {});   // {system, temperature, top_p, max_tokens, seed, extra}
let running = null;                         // {controller, conv, msg} while an answer streams
const NUMERIC = ['temperature', 'top_p', 'max_tokens', 'seed'];

// ---- Markdown (a safe subset): every piece of text is HTML-escaped before tags are added ----
function esc(s) {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
function inline(text) {
  const held = [];  // code spans and links, kept out of the emphasis rules
  const hold = (html) => { held.push(html); return '\u0000' + (held.length - 1) + '\u0000'; };
  let s = text.replace(/\u0000/g, '').replace(/`([^`\n]+)`/g, (_, c) => hold(`<code>${esc(c)}</code>`))
    .replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)]+|mailto:[^\s)]+)\)/g,
      (_, t, u) => hold(`<a href="${esc(u)}" target="_blank" rel="noopener noreferrer">${esc(t)}</a>`));
  s = esc(s)
    .replace(/\*\*([^*\n]+)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^_\w])__([^_\n]+)__(?!\w)/g, '$1<strong>$2</strong>')
    .replace(/(^|[^*\w])\*([^*\n]+)\*(?!\w)/g, '$1<em>$2</em>')
    .replace(/(^|[^_\w])_([^_\n]+)_(?!\w)/g, '$1<em>$2</em>');
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => held[Number(i)]);
}
function markdown(src) {
  const lines = src.replace(/\r\n?/g, '\n').split('\n');
  const out = [];
  let para = [], list = null;
  const flushPara = () => { if (para.length) out.push(`<p>${para.map(inline).join('<br>')}</p>`); para = []; };
  const flushList = () => { if (list) out.push(`<${list.tag}>${list.items.map((i) => `<li>${inline(i)}</li>`).join('')}</${list.tag}>`); list = null; };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*```\s*([\w+#.-]*)/);
    if (fence) {  // a fenced block runs to its closing fence, or to the end while streaming
      flushPara(); flushList();
      const code = [];
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i++) code.push(lines[i]);
      const lang = fence[1] ? ` class="lang-${esc(fence[1])}"` : '';
      out.push(`<pre><button class="copy" type="button">copy</button><code${lang}>${esc(code.join('\n'))}</code></pre>`);
      continue;
    }
    const h = line.match(/^(#{1,6})\s+(.*)$/);
    const item = line.match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
    if (h) { flushPara(); flushList(); out.push(`<h${h[1].length}>${inline(h[2])}</h${h[1].length}>`); }
    else if (item) {
      flushPara();
      const tag = /\d/.test(item[1]) ? 'ol' : 'ul';
      if (list && list.tag !== tag) flushList();
      if (!list) list = { tag, items: [] };
      list.items.push(item[2]);
    } else if (/^\s*>\s?/.test(line)) { flushPara(); flushList(); out.push(`<blockquote>${inline(line.replace(/^\s*>\s?/, ''))}</blockquote>`); }
    else if (!line.trim()) { flushPara(); flushList(); }
    else { flushList(); para.push(line); }
  }
  flushPara(); flushList();
  return out.join('\n');
}

// ---- Conversations ----
const save = () => { store.set('convs', convs); store.set('current', currentId); };
const current = () => convs.find((c) => c.id === currentId);
function newConversation() {
  const c = { id: Date.now().toString(36) + Math.random().toString(36).slice(2, 6), title: 'New chat', messages: [] };
  convs.unshift(c);
  currentId = c.id;
  save();
  return c;
}
function renderList() {
  const ul = $('convs');
  ul.replaceChildren();
  for (const c of convs) {
    const li = document.createElement('li');
    li.className = c.id === currentId ? 'current' : '';
    const t = document.createElement('button');
    t.className = 'title'; t.type = 'button'; t.textContent = c.title; t.title = c.title;
    t.onclick = () => { if (!running) { currentId = c.id; save(); renderAll(); } };
    const d = document.createElement('button');
    d.className = 'delete'; d.type = 'button'; d.textContent = '×'; d.title = 'Delete';
    d.onclick = () => {
      if (running && running.conv === c) return;
      convs = convs.filter((x) => x !== c);
      if (currentId === c.id) currentId = convs.length ? convs[0].id : null;
      save(); renderAll();
    };
    li.append(t, d);
    ul.append(li);
  }
}

// ---- Messages ----
function metaText(m) {
  const s = m.stats || {};
  const parts = [];
  if (s.tokens !== undefined) parts.push(`${s.tokens} tokens`);
  if (s.tps !== undefined) parts.push(`${s.tps.toFixed(1)} tok/s`);
  if (s.ttft !== undefined) parts.push(`first token ${s.ttft} ms`);
  if (s.confidence !== undefined) parts.push(`confidence ${s.confidence.toFixed(2)}`);
  if (s.servedBy === 'cloud') parts.push('answered by the cloud upstream');
  if (s.finish && s.finish !== 'stop') parts.push(`finish: ${s.finish}`);
  if (m.stopped) parts.push('stopped');
  return parts;
}
function fillAssistant(el, m) {
  const r = el.querySelector('details.reasoning');
  r.hidden = !m.reasoning;
  if (m.reasoning) r.querySelector('div').innerHTML = markdown(m.reasoning);
  el.querySelector('.body').innerHTML = markdown(m.content || '');
  const tools = el.querySelector('.tools');
  tools.replaceChildren(...(m.tool_calls || []).map((tc) => {
    const d = document.createElement('div');
    d.className = 'tool-call';
    d.textContent = `tool call: ${tc.name}(${tc.arguments})`;
    return d;
  }));
  const meta = el.querySelector('.meta');
  meta.replaceChildren(...metaText(m).map((t) => Object.assign(document.createElement('span'), { textContent: t })));
  const s = m.stats || {};
  if (s.handoff) {
    const failed = s.handoffError ? ` (upstream failed: ${s.handoffError}; local answer)` : '';
    const h = Object.assign(document.createElement('span'), { className: 'handoff', textContent: '⚑ low confidence: handoff' + failed });
    h.title = 'the confidence score is below the threshold (cloud_handoff)';
    meta.append(h);
  }
  if (m.error) meta.append(Object.assign(document.createElement('span'), { className: 'error', textContent: m.error }));
  const conv = current();
  if (!running && conv && conv.messages[conv.messages.length - 1] === m) {
    const b = Object.assign(document.createElement('button'), { type: 'button', className: 'regenerate', textContent: 'Regenerate' });
    b.onclick = regenerate;
    meta.append(b);
  }
}
function messageElement(m) {
  const el = document.createElement('div');
  el.className = 'msg ' + m.role;
  if (m.role === 'user') { el.textContent = m.content; return el; }
  el.innerHTML = '<details class="reasoning"><summary>Reasoning</summary><div></div></details>' +
    '<div class="body"></div><div class="tools"></div><div class="meta"></div>';
  fillAssistant(el, m);
  return el;
}
function renderMessages() {
  const box = $('messages');
  const conv = current();
  box.replaceChildren(...(conv ? conv.messages.map(messageElement) : []));
  box.scrollTop = box.scrollHeight;
}
function renderAll() {
  renderList();
  renderMessages();
  $('send').hidden = !!running;
  $('stop').hidden = !running;
}

// ---- The API ----
function headers() {
  const h = { 'Content-Type': 'application/json' };
  const key = store.get('apiKey', '');
  if (key) h.Authorization = 'Bearer ' + key;
  return h;
}
let keyWaiters = [];
function askForKey() {  // resolves once the user entered a key, rejects when the dialog is dismissed
  if (!$('key-dialog').open) { $('key-input').value = ''; $('key-dialog').showModal(); }
  return new Promise((resolve, reject) => keyWaiters.push({ resolve, reject }));
}
async function api(path, init = {}) {
  for (;;) {
    const r = await fetch(path, { ...init, headers: headers() });
    if (r.status !== 401) return r;
    await askForKey();
  }
}
function requestBody(conv) {
  const messages = [];
  if (settings.system) messages.push({ role: 'system', content: settings.system });
  for (const m of conv.messages) {
    if (m.role === 'assistant' && !m.content && !(m.tool_calls && m.tool_calls.length)) continue;  // failed or stopped at once
    const out = { role: m.role, content: m.content || '' };
    if (m.tool_calls && m.tool_calls.length) {
      out.tool_calls = m.tool_calls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } }));
    }
    messages.push(out);
  }
  const body = { messages, stream: true, stream_options: { include_usage: true } };
  for (const k of NUMERIC) if (settings[k] !== undefined && settings[k] !== '') body[k] = Number(settings[k]);
  return Object.assign(body, settings.extra ? JSON.parse(settings.extra) : {});
}
// One SSE chunk of Chat Completions into the answer `m`.
function applyChunk(m, c, t) {
  const choice = (c.choices || [])[0];
  if (choice) {
    const d = choice.delta || {};
    if ((d.content || d.reasoning_content || d.tool_calls) && t.first === undefined) t.first = performance.now();
    if (d.content) m.content += d.content;
    if (d.reasoning_content) m.reasoning = (m.reasoning || '') + d.reasoning_content;
    for (const tc of d.tool_calls || []) {
      m.tool_calls = m.tool_calls || [];
      const slot = m.tool_calls[tc.index] || (m.tool_calls[tc.index] = { id: '', name: '', arguments: '' });
      if (tc.id) slot.id = tc.id;
      if (tc.function && tc.function.name) slot.name += tc.function.name;
      if (tc.function && tc.function.arguments) slot.arguments += tc.function.arguments;
    }
    if (choice.finish_reason) { m.stats.finish = choice.finish_reason; t.end = performance.now(); }
  }
  if (c.confidence && typeof c.confidence.score === 'number') m.stats.confidence = c.confidence.score;
  if (c.cloud_handoff) m.stats.handoff = true;
  if (c.handoff_error) m.stats.handoffError = c.handoff_error.reason || 'error';
  if (c.usage) {
    const n = c.usage.completion_tokens;
    m.stats.tokens = n;
    const secs = ((t.end || performance.now()) - (t.first || t.start)) / 1000;
    if (n > 1 && secs > 0) m.stats.tps = (n - 1) / secs;  // decode rate after the first token
  }
  if (c.error) m.error = c.error.message || 'error';
}
async function readStream(resp, m, t, redraw) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      for (const line of frame.split('\n')) {
        if (!line.startsWith('data:')) continue;  // ": ping" keeps a silent stream alive
        const data = line.slice(5).trim();
        if (data === '[DONE]') return;
        try { applyChunk(m, JSON.parse(data), t); } catch { m.error = 'unreadable chunk from the server'; }
      }
      redraw();
    }
  }
}
async function generate(conv) {
  let body;
  try { body = JSON.stringify(requestBody(conv)); } catch (e) { alert('Settings: ' + e.message); return; }
  const m = { role: 'assistant', content: '', stats: {} };
  conv.messages.push(m);
  running = { controller: new AbortController(), conv, msg: m };
  save(); renderAll();
  const el = $('messages').lastElementChild;
  let pending = false;
  const redraw = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      const box = $('messages');
      const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
      fillAssistant(el, m);
      if (atEnd) box.scrollTop = box.scrollHeight;
    });
  };
  const t = { start: performance.now() };
  try {
    const resp = await api('/v1/chat/completions', { method: 'POST', body, signal: running.controller.signal });
    m.stats.servedBy = resp.headers.get('x-lfmd-served-by') || undefined;
    if (!resp.ok) {
      const e = await resp.json().catch(() => ({}));
      m.error = `HTTP ${resp.status}: ${(e.error && e.error.message) || resp.statusText}`;
    } else {
      await readStream(resp, m, t, redraw);
    }
  } catch (e) {
    if (e.name === 'AbortError') m.stopped = true;
    else m.error = String(e.message || e);
  }
  if (t.first !== undefined) m.stats.ttft = Math.round(t.first - t.start);
  running = null;
  save();
  renderAll();
}
function send() {
  const text = $('input').value.trim();
  if (!text || running) return;
  const conv = current() || newConversation();
  if (!conv.messages.length) conv.title = text.slice(0, 48);
  conv.messages.push({ role: 'user', content: text });
  $('input').value = '';
  generate(conv);
}
function regenerate() {
  const conv = current();
  if (running || !conv) return;
  while (conv.messages.length && conv.messages[conv.messages.length - 1].role === 'assistant') conv.messages.pop();
  if (conv.messages.length) generate(conv);
}

// ---- Settings ----
function openSettings() {
  $('set-system').value = settings.system || '';
  for (const k of NUMERIC) $('set-' + k).value = settings[k] ?? '';
  $('set-extra').value = settings.extra || '';
  $('settings-error').textContent = '';
  $('settings').showModal();
}
function saveSettings(ev) {
  ev.preventDefault();
  const next = { system: $('set-system').value };
  for (const k of NUMERIC) if ($('set-' + k).value !== '') next[k] = Number($('set-' + k).value);
  const extra = $('set-extra').value.trim();
  if (extra) {
    let v;
    try { v = JSON.parse(extra); } catch (e) { $('settings-error').textContent = 'Extra fields: ' + e.message; return; }
    if (!v || typeof v !== 'object' || Array.isArray(v)) { $('settings-error').textContent = 'Extra fields must be a JSON object'; return; }
    next.extra = extra;
  }
  settings = next;
  store.set('settings', settings);
  $('settings').close();
}

// ---- Start ----
$('composer').onsubmit = (ev) => { ev.preventDefault(); send(); };
$('input').onkeydown = (ev) => { if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); send(); } };
$('stop').onclick = () => { if (running) running.controller.abort(); };
$('new-chat').onclick = () => { if (!running) { newConversation(); renderAll(); $('input').focus(); } };
$('open-settings').onclick = openSettings;
$('settings-form').onsubmit = saveSettings;
$('settings-cancel').onclick = () => $('settings').close();
$('key-form').onsubmit = (ev) => {
  ev.preventDefault();
  store.set('apiKey', $('key-input').value.trim());
  $('key-dialog').close();
  const w = keyWaiters; keyWaiters = [];
  w.forEach((k) => k.resolve());
};
$('key-dialog').oncancel = () => {  // Escape: the requests waiting for a key fail
  const w = keyWaiters; keyWaiters = [];
  w.forEach((k) => k.reject(new Error('this server needs an API key')));
};
$('messages').onclick = (ev) => {
  if (!ev.target.classList.contains('copy')) return;
  navigator.clipboard?.writeText(ev.target.parentElement.querySelector('code').textContent);
};
renderAll();
api('/v1/models').then((r) => r.json()).then((j) => {
  const m = j.data && j.data[0];
  if (m) $('model-info').textContent = `${m.id} · context ${m.context_length}`;
}).catch(() => { $('model-info').textContent = '(model list unavailable)'; });
