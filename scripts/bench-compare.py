#!/usr/bin/python3
"""Compare lfmd and llama.cpp speed on the same GGUF, alternating the two engines.

    scripts/bench-compare.py --model M.gguf [--threads 2] [--prompt-tokens 512] [--gen-tokens 64]
        [--rounds 3] [--lfmd build/lfmd] [--oracle build-oracle/llama_oracle]
        [--cpu-backend haswell] [--no-repack] [--kv f16|f32] [--ctx C] [--json-out FILE]

Runs `lfmd bench` and `llama_oracle bench` (llama.cpp v0.5.0 from npm timing llama_decode)
alternately, --rounds times each (one run per process, so both see the same machine load over
time), with the same threads, prompt (token i = (i*7919+13) mod n_vocab), and generation length.
Prints the medians and the lfmd / llama.cpp ratios, plus load averages. Needs a build with
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


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ctx", type=int, default=0, help="lfmd: allocate the KV cache for this context")
    ap.add_argument("--lfmd", default=os.path.join(root, "build", "lfmd"))
    ap.add_argument("--oracle", default=os.path.join(root, "build-oracle", "llama_oracle"))
    ap.add_argument("--cpu-backend", default="", help="llama.cpp CPU variant (haswell = AVX2); default: best for the CPU")
    ap.add_argument("--no-repack", action="store_true", help="llama.cpp without runtime weight repacking")
    ap.add_argument("--kv", default="f16", choices=["f16", "f32"], help="llama.cpp KV cache type (lfmd: f32)")
    ap.add_argument("--skip-llama", action="store_true", help="run lfmd only")
    ap.add_argument("--json-out", default="")
    a = ap.parse_args()
    for exe in [a.lfmd] + ([] if a.skip_llama else [a.oracle]):
        if not os.access(exe, os.X_OK):
            sys.exit(f"bench-compare: {exe} is not an executable (build it, or pass --lfmd / --oracle)")
    if not os.path.isfile(a.model):
        sys.exit(f"bench-compare: no such model file: {a.model}")

    common = ["--threads", str(a.threads), "--prompt-tokens", str(a.prompt_tokens),
              "--gen-tokens", str(a.gen_tokens), "--repeat", "1"]
    lfmd_cmd = [a.lfmd, "bench", "--model", a.model, "--json"] + common
    if a.ctx:
        lfmd_cmd += ["--ctx", str(a.ctx)]
    llama_cmd = [a.oracle, "bench", a.model, "--kv", a.kv] + common
    if a.cpu_backend:
        llama_cmd += ["--cpu-backend", a.cpu_backend]
    if a.no_repack:
        llama_cmd += ["--no-repack"]

    res = {"lfmd": [], "llama": [], "load": []}
    for r in range(a.rounds):
        for name, cmd in [("lfmd", lfmd_cmd)] + ([] if a.skip_llama else [("llama", llama_cmd)]):
            res["load"].append(os.getloadavg()[0])
            out = run_json(cmd)
            res[name].append(out)
            print(f"round {r + 1}/{a.rounds} {name:5s}: prefill {out['prefill_tps']:8.2f} tok/s  "
                  f"decode {out['decode_tps']:7.2f} tok/s  (load avg {res['load'][-1]:.2f})", file=sys.stderr)

    def med(name, key):
        v = [o[key] for o in res[name]]
        return statistics.median(v) if v else float("nan")

    summary = {"model": a.model, "threads": a.threads, "prompt_tokens": a.prompt_tokens,
               "gen_tokens": a.gen_tokens, "rounds": a.rounds,
               "load_avg_median": statistics.median(res["load"]),
               "lfmd": {k: med("lfmd", k) for k in ["prefill_tps", "decode_tps", "ttft_ms",
                                                     "rss_weights_mb", "rss_working_mb", "repacked_weights_mb"]}}
    summary["lfmd"]["isa"] = res["lfmd"][0]["isa"]
    if not a.skip_llama:
        summary["llama"] = {k: med("llama", k) for k in ["prefill_tps", "decode_tps", "ttft_ms",
                                                          "rss_file_mb", "rss_anon_mb"]}
        summary["llama"]["backend"] = res["llama"][0]["backend"]
        summary["llama"]["repack"] = res["llama"][0]["repack"]
        summary["llama"]["kv"] = a.kv
        summary["ratio"] = {k: summary["lfmd"][k] / summary["llama"][k] for k in ["prefill_tps", "decode_tps"]}

    print(f"model {a.model}  threads {a.threads}  prompt {a.prompt_tokens}  gen {a.gen_tokens}  "
          f"rounds {a.rounds}  median load avg {summary['load_avg_median']:.2f}")
    L = summary["lfmd"]
    print(f"  lfmd ({L['isa']}):            prefill {L['prefill_tps']:8.2f} tok/s  decode {L['decode_tps']:7.2f} tok/s  "
          f"weights {L['rss_weights_mb']:.0f} MiB (repacked {L['repacked_weights_mb']:.0f})  working {L['rss_working_mb']:.0f} MiB")
    if not a.skip_llama:
        M = summary["llama"]
        print(f"  llama.cpp ({M['backend']}, repack {'on' if M['repack'] else 'off'}): prefill {M['prefill_tps']:8.2f} tok/s  "
              f"decode {M['decode_tps']:7.2f} tok/s  rss file {M['rss_file_mb']:.0f} MiB  anon {M['rss_anon_mb']:.0f} MiB")
        R = summary["ratio"]
        print(f"  lfmd / llama.cpp:      prefill x{R['prefill_tps']:.2f}   decode x{R['decode_tps']:.2f}")
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"summary": summary, "runs": res}, f, indent=1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
