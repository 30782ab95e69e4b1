// Claude Code end to end: `claude -p` pointed at lfmd (ANTHROPIC_BASE_URL, no /v1) on a generated
// model. The server's --test-script makes the first answer a Bash tool call that Claude Code runs;
// the answer after the tool result depends on whether the command's OUTPUT (not its text) reached
// the prompt, so the final line proves the round trip.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../server/lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
// The package's bin target (node_modules/.bin may be missing when node_modules came from git).
const claude = path.join(here, 'node_modules', '@anthropic-ai', 'claude-code', 'bin', 'claude.exe');
const KEY = 'test-key-claude-code';
const S = '<|tool_call_start|>';
const E = '<|tool_call_end|>';
// The last entry whose `when` occurs in the rendered prompt wins.
const SCRIPT = [
  { when: '', output: `${S}[Bash(command="echo lfmd-tool-ran-$((6*7))", description="Print a marker")]${E}` },
  { when: '<|tool_response_start|>', output: 'The tool result did not contain the marker.' },
  { when: 'lfmd-tool-ran-42', output: 'Marker seen: the tool ran.' },
];

function run(cmd, args, { env, cwd, timeoutMs }) {
  return new Promise((resolve) => {
    const setpriv = existsSync('/usr/bin/setpriv');
    const p = setpriv ? spawn('/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', cmd, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
                      : spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out, err }); });
  });
}

describe('Claude Code against lfmd', { skip: !existsSync(claude) && 'claude is not installed' }, () => {
  let server, dir;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lfmd-claude-code-'));
    const script = path.join(dir, 'script.json');
    writeFileSync(script, JSON.stringify(SCRIPT));
    // Claude Code's system prompt and tools are ~22k tokens in the test model's vocabulary.
    server = await startServer({ args: ['--test-hooks', '--test-script', script, '--api-key', KEY, '--ctx', '32768'] });
  });
  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('claude -p runs the scripted Bash call and answers from its output', { timeout: 540_000 }, async () => {
    const env = { PATH: process.env.PATH, HOME: dir, ANTHROPIC_BASE_URL: server.url, ANTHROPIC_API_KEY: KEY,
                  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_TELEMETRY: '1', DISABLE_AUTOUPDATER: '1' };
    const r = await run(claude, ['-p', 'Run the marker command.', '--allowedTools', 'Bash', '--max-turns', '4'],
                        { env, cwd: dir, timeoutMs: 480_000 });
    const why = `exit ${r.code ?? r.signal}\nstdout: ${r.out}\nstderr: ${r.err}\nserver: ${server.stderr().slice(-2000)}`;
    assert.equal(r.code, 0, why);
    assert.match(r.out, /Marker seen: the tool ran\./, why);
  });
});
