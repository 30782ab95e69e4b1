// The Codex CLI (@openai/codex) against POST /v1/responses (node --test): `lfmd serve
// --test-hooks --test-script` on a generated model scripts the model's turns by what the
// rendered prompt contains.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer } from '../server/lib/server.mjs';

const S = '<|tool_call_start|>';
const E = '<|tool_call_end|>';

// Codex CLI: `codex exec` runs the scripted shell call, and the tool's output (the text "lfmd-42",
// which the command "echo lfmd-$((6*7))" does not contain) selects the final answer.
describe('Codex CLI', () => {
  // The package's own launcher (node_modules/.bin is not always there).
  const codex = path.resolve(import.meta.dirname, 'node_modules', '@openai', 'codex', 'bin', 'codex.js');
  let server, dir;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lfmd-codex-'));
    const script = path.join(dir, 'script.json');
    writeFileSync(script, JSON.stringify([
      { when: '', output: `${S}[exec_command(cmd="echo lfmd-$((6*7))")]${E}` },
      { when: 'lfmd-42', output: 'The tool said 42.' },
    ]));
    // Codex's instructions and tools are ~12k tokens of the tiny test vocabulary.
    server = await startServer({ args: ['--test-hooks', '--test-script', script, '--ctx', '32768', '--parallel', '1'] });
  });
  after(async () => { await server?.stop(); rmSync(dir, { recursive: true, force: true }); });

  it('codex exec: a shell tool call and a final answer', { skip: !existsSync(codex) && 'codex not installed' }, async () => {
    for (const d of ['home', 'codex_home', 'work']) mkdirSync(path.join(dir, d));
    const provider = `model_providers.lfmd={name="lfmd",base_url="${server.baseURL}",wire_api="responses",env_key="LFMD_KEY"}`;
    const args = ['exec', '--skip-git-repo-check', '-c', 'model_provider=lfmd', '-c', provider, '-m', 'lfmd', 'Run the command.'];
    const env = { PATH: process.env.PATH, HOME: path.join(dir, 'home'), CODEX_HOME: path.join(dir, 'codex_home'), LFMD_KEY: 'unused' };
    const child = spawn(process.execPath, [codex, ...args], { cwd: path.join(dir, 'work'), env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 240_000);
    const code = await new Promise((resolve) => child.on('close', (c, sig) => resolve(c ?? sig)));
    clearTimeout(timer);
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* the group is gone */ }
    const log = `exit ${code}\nstdout:\n${out}\nstderr:\n${err.slice(-4000)}\nserver:\n${server.stderr().slice(-2000)}`;
    assert.equal(code, 0, log);
    assert.match(err, /lfmd-42/, log);  // the command ran
    assert.equal(out.trim(), 'The tool said 42.', log);  // its output reached the next request
  });
});
