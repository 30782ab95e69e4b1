#!/usr/bin/python3
"""The benchmark paths on a tiny random model: `lfmd bench --streams`, `llama_oracle bench
--parallel` (when given) and scripts/bench-compare.py. Checks the JSON keys and shapes only, never
speed (timings on shared machines are noise).

    test_bench.py LFMD WORK_DIR [LLAMA_ORACLE]
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Keys both engines' bench JSON carry (scripts/bench-compare.py reads them).
COMMON = ["threads", "kv_type", "prompt_tokens", "gen_tokens", "repeat", "streams", "ctx", "prefill_tps",
          "decode_tps", "decode_tps_per_stream", "ttft_ms", "rss_peak_mb", "load_s", "prefill_tps_runs",
          "decode_tps_runs"]


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {p.returncode}\n{p.stderr}")
    return p.stdout


def bench_json(cmd):
    lines = [l for l in run(cmd).splitlines() if l.startswith("{")]
    if len(lines) != 1:
        sys.exit(f"FAIL: {' '.join(cmd)}: expected one JSON line, got {len(lines)}")
    return json.loads(lines[0])


def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")


def check_bench(j, name, streams, prompt, gen, kv):
    missing = [k for k in COMMON if k not in j]
    check(not missing, f"{name}: JSON has the common keys (missing: {missing})")
    check(j["streams"] == streams and j["prompt_tokens"] == prompt and j["gen_tokens"] == gen,
          f"{name}: streams {streams}, prompt {prompt}, gen {gen}")
    check(j["ctx"] >= prompt + gen, f"{name}: context per sequence {j['ctx']} holds prompt + gen")
    check(j["kv_type"] == kv, f"{name}: KV type {j['kv_type']}")
    check(j["prefill_tps"] > 0 and j["decode_tps"] > 0 and j["rss_peak_mb"] > 0, f"{name}: positive figures")
    check(abs(j["decode_tps_per_stream"] * streams - j["decode_tps"]) <= 1e-6 * j["decode_tps"],
          f"{name}: decode_tps is the aggregate of {streams} streams")


def main():
    lfmd, work = sys.argv[1], sys.argv[2]
    oracle = sys.argv[3] if len(sys.argv) > 3 else ""
    os.makedirs(work, exist_ok=True)
    model = os.path.join(work, "tiny-moe-q4_0.gguf")
    run([lfmd, "gen-model", "--preset", "tiny-moe", "--type", "q4_0", "--seed", "3", "--out", model])
    # 16-token prompts in 8-token chunks, then 4 steps of 2 (or 3) tokens
    shape = ["--prompt-tokens", "16", "--gen-tokens", "4", "--repeat", "1", "--threads", "1"]
    for streams in (1, 2, 3):
        j = bench_json([lfmd, "bench", "--model", model, "--json", "--batch", "8", "--streams", str(streams)] + shape)
        check_bench(j, f"lfmd bench --streams {streams}", streams, 16, 4, "f16")
    j = bench_json([lfmd, "bench", "--model", model, "--batch", "1", "--streams", "2", "--kv-type", "f32"] + shape)
    check_bench(j, "lfmd bench --batch 1 --streams 2 (decode steps wider than the prefill batch)", 2, 16, 4, "f32")
    if oracle:
        for streams in (1, 2):
            j = bench_json([oracle, "bench", model, "--batch", "8", "--parallel", str(streams)] + shape)
            check_bench(j, f"llama_oracle bench --parallel {streams}", streams, 16, 4, "f16")

    # bench-compare: 16- and 40-token prompts, 1 and 2 streams; 40 counts as long (1 stream only)
    out_json = os.path.join(work, "compare.json")
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "bench-compare.py"), "--model", model, "--lfmd", lfmd,
           "--threads", "1", "--prompt-tokens", "16,40", "--streams", "1,2", "--gen-tokens", "2", "--rounds", "1",
           "--long-prompt", "32", "--json-out", out_json]
    cmd += ["--oracle", oracle] if oracle else ["--skip-llama"]
    text = run(cmd)
    rows = [l for l in text.splitlines() if l.startswith("| ") and not l.startswith("| prompt")]
    check([r.split("|")[1:3] for r in rows] == [[" 16 ", " 1 "], [" 16 ", " 2 "], [" 40 ", " 1 "]],
          "bench-compare: one table row per case, the long prompt with 1 stream only")
    with open(out_json) as f:
        summary = json.load(f)["summary"]
    check(len(summary["cases"]) == 3 and all("lfmd" in c for c in summary["cases"]), "bench-compare: --json-out cases")
    if oracle:
        check(all(c["ratio"]["decode_tps"] > 0 for c in summary["cases"]), "bench-compare: ratios")
    print("PASS")


if __name__ == "__main__":
    main()
