#!/usr/bin/python3
"""Compare lfmd and llama.cpp speed on the same GGUF, alternating the two engines.

    scripts/bench-compare.py --model M.gguf [--threads 2] [--prompt-tokens 512,8000,32000]
        [--streams 1,2,4,8] [--gen-tokens 64] [--rounds 3] [--kv f16|f32|q8_0] [--ctx C]
        [--all-pairs] [--long-prompt 2048] [--lfmd build/lfmd] [--oracle build/llama_oracle]
        [--cpu-backend haswell] [--no-repack] [--lfmd-no-repack] [--skip-llama] [--json-out FILE]

Runs `lfmd bench` and `llama_oracle bench` (llama.cpp v0.5.0 from npm timing llama_decode)
alternately, --rounds times each per case (one run per process, so both see the same machine load
over time), with the same file, threads, KV cache type, prompts and generation length.

A case is (prompt length P, streams S): S sequences with distinct P-token prompts (token i of
sequence s = (i*7919+13+s*1009) mod n_vocab) prefilled one after the other, then decoded together,
one token per sequence per forward pass (lfmd bench --streams S, llama_oracle bench --parallel S),
--gen-tokens steps, so decode is measured after the prompt. decode tok/s is the aggregate
(S * steps / time). Cases: every P with every S, except prompts of --long-prompt tokens or more,
which run with 1 stream only unless --all-pairs. Each side gets a context of exactly P + gen
tokens per sequence (or --ctx), so long prompts need no flag.

Prints a markdown table of medians, lfmd / llama.cpp ratios, peak resident memory (VmHWM, load
included) and load averages, then the summary as one JSON line. Needs a build with
-DLFMD_ORACLE=ON for llama_oracle. Timings on a shared machine are noisy: read the ratios.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def run_json(cmd):
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        sys.exit(f"bench-compare: command failed ({p.returncode}): {' '.join(cmd)}")
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit(f"bench-compare: no JSON line from: {' '.join(cmd)}")
    out = json.loads(lines[-1])
    out["_wall_s"] = time.time() - t0
    return out


def int_list(s):
    try:
        v = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got '{s}'")
    if not v or min(v) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got '{s}'")
    return v


def parse_args():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    oracle = os.path.join(root, "build", "llama_oracle")
    if not os.access(oracle, os.X_OK):
        oracle = os.path.join(root, "build-oracle", "llama_oracle")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int_list, default=[512], help="comma-separated prompt lengths")
    ap.add_argument("--streams", type=int_list, default=[1], help="comma-separated parallel sequence counts")
    ap.add_argument("--gen-tokens", type=int, default=64, help="decode steps after the prompt")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--all-pairs", action="store_true", help="also run long prompts with several streams")
    ap.add_argument("--long-prompt", type=int, default=2048, help="prompts this long run with 1 stream only")
    ap.add_argument("--ctx", type=int, default=0, help="context per sequence on both sides (default: prompt + gen)")
    ap.add_argument("--lfmd", default=os.path.join(root, "build", "lfmd"))
    ap.add_argument("--oracle", default=oracle)
    ap.add_argument("--cpu-backend", default="", help="llama.cpp CPU variant (haswell = AVX2); default: best for the CPU")
    ap.add_argument("--no-repack", action="store_true", help="llama.cpp without runtime weight repacking")
    ap.add_argument("--lfmd-no-repack", action="store_true", help="lfmd without load-time weight repacking")
    ap.add_argument("--kv", default="f16", choices=["f16", "f32", "q8_0"], help="KV cache type of both engines")
    ap.add_argument("--skip-llama", action="store_true", help="run lfmd only")
    ap.add_argument("--json-out", default="")
    return ap.parse_args()


def cases(a):
    out = []
    for p in a.prompt_tokens:
        for s in a.streams:
            if s == 1 or a.all_pairs or p < a.long_prompt:
                out.append((p, s))
    if not out:
        sys.exit("bench-compare: no case left (long prompts run with 1 stream only: add 1 to --streams or --all-pairs)")
    return out


def commands(a, p, s):
    ctx = a.ctx if a.ctx else p + a.gen_tokens
    if ctx < p + a.gen_tokens:
        sys.exit(f"bench-compare: --ctx {ctx} is smaller than prompt {p} + gen {a.gen_tokens}")
    common = ["--threads", str(a.threads), "--prompt-tokens", str(p), "--gen-tokens", str(a.gen_tokens),
              "--repeat", "1", "--ctx", str(ctx)]
    lfmd = [a.lfmd, "bench", "--model", a.model, "--json", "--kv-type", a.kv, "--streams", str(s)] + common
    llama = [a.oracle, "bench", a.model, "--kv", a.kv, "--parallel", str(s)] + common
    if a.cpu_backend:
        llama += ["--cpu-backend", a.cpu_backend]
    if a.no_repack:
        llama += ["--no-repack"]
    if a.lfmd_no_repack:
        lfmd += ["--no-repack"]
    return [("lfmd", lfmd)] + ([] if a.skip_llama else [("llama", llama)])


LFMD_KEYS = ["prefill_tps", "decode_tps", "decode_tps_per_stream", "ttft_ms", "rss_weights_mb", "rss_working_mb",
             "rss_peak_mb", "repacked_weights_mb", "repacked_huge_pages_mb"]
LLAMA_KEYS = ["prefill_tps", "decode_tps", "decode_tps_per_stream", "ttft_ms", "rss_file_mb", "rss_anon_mb",
              "rss_peak_mb"]


def run_case(a, p, s):
    """--rounds alternations of the two engines on one (prompt, streams) case; medians per engine."""
    res = {"prompt_tokens": p, "streams": s, "lfmd": [], "llama": [], "load": []}
    for r in range(a.rounds):
        for name, cmd in commands(a, p, s):
            res["load"].append(os.getloadavg()[0])
            out = run_json(cmd)
            res[name].append(out)
            print(f"P {p} S {s} round {r + 1}/{a.rounds} {name:5s}: prefill {out['prefill_tps']:8.2f} tok/s  "
                  f"decode {out['decode_tps']:7.2f} tok/s aggregate  (load avg {res['load'][-1]:.2f})", file=sys.stderr)
    summary = {"prompt_tokens": p, "streams": s, "load_avg_median": statistics.median(res["load"])}
    for name, keys in [("lfmd", LFMD_KEYS), ("llama", LLAMA_KEYS)]:
        if res[name]:
            summary[name] = {k: statistics.median(o[k] for o in res[name]) for k in keys}
    if res["llama"]:
        summary["ratio"] = {k: summary["lfmd"][k] / summary["llama"][k] if summary["llama"][k] else float("nan")
                            for k in ["prefill_tps", "decode_tps"]}
    return summary, res


def table(rows, with_llama):
    if with_llama:
        head = ("| prompt | streams | prefill lfmd | prefill llama.cpp | ratio | decode lfmd (aggr.) | "
                "decode llama.cpp (aggr.) | ratio | decode lfmd / stream | peak RSS lfmd MiB | "
                "peak RSS llama.cpp MiB | load avg |")
    else:
        head = "| prompt | streams | prefill lfmd | decode lfmd (aggr.) | decode lfmd / stream | peak RSS lfmd MiB | load avg |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        L = r["lfmd"]
        if with_llama:
            M, R = r["llama"], r["ratio"]
            lines.append(f"| {r['prompt_tokens']} | {r['streams']} | {L['prefill_tps']:.1f} | {M['prefill_tps']:.1f} | "
                         f"x{R['prefill_tps']:.2f} | {L['decode_tps']:.2f} | {M['decode_tps']:.2f} | "
                         f"x{R['decode_tps']:.2f} | {L['decode_tps_per_stream']:.2f} | {L['rss_peak_mb']:.0f} | "
                         f"{M['rss_peak_mb']:.0f} | {r['load_avg_median']:.2f} |")
        else:
            lines.append(f"| {r['prompt_tokens']} | {r['streams']} | {L['prefill_tps']:.1f} | {L['decode_tps']:.2f} | "
                         f"{L['decode_tps_per_stream']:.2f} | {L['rss_peak_mb']:.0f} | {r['load_avg_median']:.2f} |")
    return "\n".join(lines)


def main():
    a = parse_args()
    for exe in [a.lfmd] + ([] if a.skip_llama else [a.oracle]):
        if not os.access(exe, os.X_OK):
            sys.exit(f"bench-compare: {exe} is not an executable (build it, or pass --lfmd / --oracle)")
    if not os.path.isfile(a.model):
        sys.exit(f"bench-compare: no such model file: {a.model}")
    load_start = os.getloadavg()
    rows, runs = [], []
    for p, s in cases(a):
        summary, res = run_case(a, p, s)
        rows.append(summary)
        runs.append(res)
    load_end = os.getloadavg()
    first = runs[0]
    info = {"model": a.model, "threads": a.threads, "kv": a.kv, "gen_tokens": a.gen_tokens, "rounds": a.rounds,
            "lfmd_isa": first["lfmd"][0]["isa"], "lfmd_repack": not a.lfmd_no_repack,
            "load_avg_start": load_start, "load_avg_end": load_end}
    if not a.skip_llama:
        info["llama_backend"] = first["llama"][0]["backend"]
        info["llama_repack"] = first["llama"][0]["repack"]
    print(f"model {a.model}  threads {a.threads}  KV {a.kv}  gen {a.gen_tokens}  rounds {a.rounds}  "
          f"lfmd isa {info['lfmd_isa']} (repack {'on' if info['lfmd_repack'] else 'off'})" +
          ("" if a.skip_llama else f"  llama.cpp backend {info['llama_backend']} "
                                   f"(repack {'on' if info['llama_repack'] else 'off'})"))
    print("load averages (1/5/15 min): start " + " ".join(f"{x:.2f}" for x in load_start) +
          ", end " + " ".join(f"{x:.2f}" for x in load_end) + "; tok/s are medians over the rounds\n")
    print(table(rows, not a.skip_llama))
    out = {"info": info, "cases": rows}
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"summary": out, "runs": runs}, f, indent=1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
