// Starts `lfmd serve --port 0` on a generated model for the Node tests, and stops it again.
// The binary comes from $LFMD_BIN (ctest sets it), else build/lfmd in the source tree.
// No sleeps: waits are bounded by deadlines and decided by conditions.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');

export function lfmdBin() {
  const p = process.env.LFMD_BIN || path.join(repoRoot, 'build', 'lfmd');
  if (!existsSync(p)) throw new Error(`lfmd binary not found at ${p} (set LFMD_BIN)`);
  return p;
}

export function genModel(dir, { preset = 'tiny-moe', type = 'q8_0', seed = 1 } = {}) {
  const out = path.join(dir, `${preset}-${type}-s${seed}.gguf`);
  if (!existsSync(out)) {
    execFileSync(lfmdBin(), ['gen-model', '--preset', preset, '--type', type, '--seed', String(seed), '--out', out], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 120_000,
    });
  }
  return out;
}

const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

// Starts a server. Options: args (extra flags), model (path; default: a generated tiny-moe),
// demo (true: no --model, LFMD_CACHE_DIR in the temp dir), threads, timeoutMs.
export async function startServer({ args = [], model, demo = false, threads = 2, timeoutMs = 60_000 } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'lfmd-node-test-'));
  const env = { ...process.env, LFMD_CACHE_DIR: path.join(dir, 'cache') };
  for (const k of ['LFMD_API_KEY', 'LFMD_CONFIG', 'LFMD_HOST', 'LFMD_PORT', 'LFMD_MODEL']) delete env[k];
  const cmd = ['serve', '--host', '127.0.0.1', '--port', '0', '--threads', String(threads)];
  if (!demo) cmd.push('--model', model ?? genModel(dir));
  cmd.push(...args);
  const stderrPath = path.join(dir, 'server.stderr');
  const errFd = openSync(stderrPath, 'w');
  // setpriv --pdeathsig: the server gets SIGKILL if this test process dies without cleaning up
  // (e.g. killed by a ctest timeout), so no server outlives its test.
  const setpriv = existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', lfmdBin(), ...cmd]] : null;
  const proc = setpriv
    ? spawn(setpriv[0], setpriv[1], { env, stdio: ['ignore', 'pipe', errFd] })
    : spawn(lfmdBin(), cmd, { env, stdio: ['ignore', 'pipe', errFd] });
  closeSync(errFd);
  live.add(proc);
  const stderr = () => { try { return readFileSync(stderrPath, 'utf8'); } catch { return ''; } };

  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => { live.delete(proc); resolve({ code, signal }); }));
  let buf = '';  // all of stdout (the listening lines)
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'listening on' line within ${timeoutMs} ms; stderr:\n${stderr()}`)), timeoutMs);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/^listening on (http:\/\/\S+)$/m);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`lfmd serve exited (${code ?? signal}); stderr:\n${stderr()}`)); });
  });

  const server = {
    url,
    baseURL: `${url}/v1`,
    proc,
    stderr,
    stdout: () => buf,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    async stop() {
      if (server.alive()) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
    // Prometheus text -> { name: number }
    async metrics(headers = {}) {
      const r = await fetch(`${url}/metrics`, { headers });
      if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
      const out = {};
      for (const line of (await r.text()).split('\n')) {
        if (!line || line.startsWith('#')) continue;
        const i = line.lastIndexOf(' ');
        out[line.slice(0, i)] = Number(line.slice(i + 1));
      }
      return out;
    },
  };
  return server;
}

// Polls `fn` until it returns a truthy value (returned), or throws after `timeoutMs`.
export async function waitFor(fn, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 10)); // poll interval, not synchronisation
  }
}

// A fetch for the openai client that adds `lfmd_forced_output` (test hook; the server must run
// with --test-hooks) to each chat request in turn: outputs[0] to the first request, [1] to the
// second... (the last one repeats). `seen` collects the request bodies as sent.
export function scriptedFetch(outputs, seen = []) {
  let i = 0;
  return async (url, init = {}) => {
    if (init.body && String(url).endsWith('/chat/completions')) {
      const body = JSON.parse(init.body);
      body.lfmd_forced_output = outputs[Math.min(i, outputs.length - 1)];
      i += 1;
      seen.push(body);
      init = { ...init, body: JSON.stringify(body) };
    }
    return fetch(url, init);
  };
}
