#!/usr/bin/env python3
"""Cold vs warm-from-disk time to first token of the on-disk prefix cache (issue 20).

For each model shape and prompt length: an agent-style prompt (a system prompt of tool
definitions of about N tokens, then a user message) is sent to a fresh `lfmd serve` with an empty
--cache-dir (cold); the server stops, which writes its prefix cache to disk; a new server on the
same directory gets the same prefix with another last message (warm from disk); then once more on
that server with a third message (warm from memory). Each request is non-streaming with
max_tokens 1, greedy: its wall time is the time to first token (prefill + one sample + HTTP).
Also reported: cached_tokens, the shutdown time (the write), the entry file's bytes per token.

Models are generated with `lfmd gen-model` (random weights, real shapes) into --models-dir and
reused. Example:
  scripts/bench-disk-cache.py --lfmd build/lfmd --shape lfm2-8b-a1b --tokens 8000
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "server"))
from lfmd_server import LfmdServer, user  # noqa: E402


def model_file(lfmd, models_dir, shape, dtype):
    path = os.path.join(models_dir, f"{shape}-{dtype}-s1.gguf")
    if not os.path.exists(path):
        print(f"generating {path}", file=sys.stderr)
        subprocess.run([lfmd, "gen-model", "--preset", shape, "--type", dtype, "--seed", "1", "--out", path], check=True)
    return path


def count_tokens(lfmd, model, text):
    out = subprocess.run([lfmd, "tokenize", "--model", model, "--text", text, "--no-bos"],
                         check=True, capture_output=True, text=True).stdout
    return len(json.loads(out))


def system_prompt(lfmd, model, n_tokens):
    """Tool definitions, repeated with varying names until about n_tokens."""
    def tool(i):
        return (f"def tool_{i}(path: str, line: int = {i}, dry_run: bool = False) -> dict:\n"
                f"    \"\"\"Step {i} of the workflow: reads the file, applies change #{i}, reports the diff.\"\"\"\n")
    per = count_tokens(lfmd, model, "".join(tool(i) for i in range(100))) / 100
    return "You are a coding agent with these tools:\n" + "".join(tool(i) for i in range(int(n_tokens / per)))


def ask(srv, system, last):
    body = {"messages": [{"role": "system", "content": system}, user(last)], "max_tokens": 1, "temperature": 0}
    t0 = time.monotonic()
    status, _, data = srv.chat(body, timeout=7200)
    dt = time.monotonic() - t0
    if status != 200:
        raise RuntimeError(data[:300])
    usage = json.loads(data)["usage"]
    return dt, usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"]


def run(args, shape, n_tokens):
    model = model_file(args.lfmd, args.models_dir, shape, args.type)
    system = system_prompt(args.lfmd, model, n_tokens)
    with tempfile.TemporaryDirectory(prefix="lfmd-bench-disk-") as tmp:
        cache = os.path.join(tmp, "pc")
        common = ["--cache-dir", cache, "--parallel", "1", "--cache-mb", str(args.cache_mb), "--ctx", str(args.ctx)]
        srv = LfmdServer(common, model=model, threads=args.threads, workdir=tmp).start(timeout=1800)
        cold, n_prompt, _ = ask(srv, system, "Open the README and summarise it.")
        t0 = time.monotonic()
        srv.stop(timeout=1800)
        write_s = time.monotonic() - t0
        files = [os.path.join(cache, f) for f in os.listdir(cache) if f.endswith(".lfpc")]
        size = sum(os.path.getsize(f) for f in files)
        tokens = 0
        for f in files:
            with open(f, "rb") as fh:
                tokens += struct.unpack_from("<Q", fh.read(128), 32)[0]  # FileHeader.n_tokens
        srv = LfmdServer(common, model=model, threads=args.threads, workdir=tmp).start(timeout=1800)
        disk, _, cached_disk = ask(srv, system, "Instead, run the tests.")
        mem, _, cached_mem = ask(srv, system, "Then commit the change.")
        srv.stop(timeout=1800)
    r = {"shape": shape, "type": args.type, "prompt_tokens": n_prompt, "cold_ttft_s": round(cold, 3),
         "disk_ttft_s": round(disk, 3), "disk_ratio": round(disk / cold, 4), "cached_disk": cached_disk,
         "memory_ttft_s": round(mem, 3), "cached_memory": cached_mem, "shutdown_write_s": round(write_s, 2),
         "entry_bytes": size, "entry_tokens": tokens, "bytes_per_token": round(size / max(tokens, 1))}
    print(json.dumps(r), flush=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfmd", default=os.path.join(os.path.dirname(HERE), "build", "lfmd"))
    ap.add_argument("--models-dir", default="/work/models-bench")
    ap.add_argument("--shape", action="append", help="gen-model preset (repeatable); default lfm2-8b-a1b")
    ap.add_argument("--tokens", type=int, action="append", help="prefix length (repeatable); default 8000")
    ap.add_argument("--type", default="q4_0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=32768)
    ap.add_argument("--cache-mb", type=int, default=4096)
    args = ap.parse_args()
    os.environ["LFMD_BIN"] = args.lfmd
    for shape in args.shape or ["lfm2-8b-a1b"]:
        for n in args.tokens or [8000]:
            run(args, shape, n)


if __name__ == "__main__":
    main()
