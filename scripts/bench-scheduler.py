#!/usr/bin/python3
"""Scheduler benchmark: starts `lfmd serve` on a model and measures, in one run,
  1. aggregate decode tokens/s with 1, 2, 4, 8 concurrent streams,
  2. an agent turn: a ~4,096-token history, then the same history + the reply + ~100 new tokens:
     time to first token of turn 2 / turn 1 (the prefix cache at work),
  3. fairness: one client streams while another prefills ~4,096 tokens: the streaming client's
     inter-token latency p99 / median during that prefill (and its median before it).

usage: scripts/bench-scheduler.py --model M.gguf [--threads 2] [--lfmd build/lfmd] [--gen 64]
       [--history 4096] [--repeat 3] [--json out.json]
Prints one table and, with --json, writes all raw figures. Stop tokens are banned with
logit_bias so every stream runs to max_tokens (random-weight models end early otherwise).
"""
import argparse
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Server:
    def __init__(self, lfmd, model, threads, extra):
        cmd = [lfmd, "serve", "--model", model, "--threads", str(threads), "--port", "0"] + extra
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr = []
        threading.Thread(target=self._drain, daemon=True).start()
        line = self.proc.stdout.readline()
        m = re.match(r"listening on http://([^:]+):(\d+)", line)
        if not m:
            self.proc.kill()
            raise SystemExit("lfmd serve did not start:\n" + "".join(self.stderr[-20:]))
        self.host, self.port = m.group(1), int(m.group(2))

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def stream(self, body, on_token=None):
        """Streams a chat completion; returns (send time, [arrival time of each content delta], usage)."""
        body = dict(body, stream=True, stream_options={"include_usage": True})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=3600)
        t0 = time.monotonic()
        conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:300]!r}")
        times, usage, text = [], None, []
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            d = json.loads(line[6:])
            if d.get("usage"):
                usage = d["usage"]
            for c in d.get("choices", []):
                if c["delta"].get("content"):
                    now = time.monotonic()
                    times.append(now)
                    text.append(c["delta"]["content"])
                    if on_token:
                        on_token(now)
        conn.close()
        return t0, times, usage, "".join(text)


def token_id(lfmd, model, text):
    out = subprocess.run([lfmd, "tokenize", "--model", model, "--text", text, "--no-bos"],
                         capture_output=True, text=True, check=True).stdout
    ids = json.loads(out)
    return ids[0] if len(ids) == 1 else None


def filler(lfmd, model, n_tokens, seed):
    """Random English-like text of about n_tokens tokens (calibrated with the model's tokenizer)."""
    rng = random.Random(seed)
    words = ("the of and to in is was for on are with as his they at be this from have or by one had not "
             "but what all were when we there can an your which their said if do will each about how up out "
             "them then she many some so these would other into has more her two like him see time could "
             "no make than first been its who now people my made over did down only way find use may water "
             "long little very after words called just where most know get through back much before go good "
             "new write our used me man too any day same right look think also around another came come work "
             "three word must because does part even place well such here take why things help put years "
             "different away again off went old number great tell men say small every found still between name "
             "should home big give air line set own under read last never us left end along while might next "
             "sound below saw something thought both few those always looked show large often together asked "
             "house world going want school important until form food keep children feet land side without boy "
             "once animals life enough took sometimes four head above kind began almost live page got earth need "
             "far hand high year mother light parts country father let night following picture being study second "
             "eyes soon times story boys since white days ever paper hard near sentence better best across during "
             "today others however sure means knew its try told young miles sun ways thing whole hear example heard "
             "several change answer room sea against top turned learn point city play toward five using himself "
             "usually").split()
    sample = " ".join(rng.choice(words) for _ in range(2000))
    n_sample = len(json.loads(subprocess.run([lfmd, "tokenize", "--model", model, "--text", sample, "--no-bos"],
                                             capture_output=True, text=True, check=True).stdout))
    n_words = int(2000 * n_tokens / n_sample)
    return " ".join(rng.choice(words) for _ in range(n_words))


def aggregate_decode(srv, n_streams, gen, bias, seed):
    results = [None] * n_streams

    def run(i):
        body = {"messages": [{"role": "user", "content": f"Stream {i} seed {seed}: tell a story."}],
                "max_tokens": gen, "temperature": 0.8, "seed": seed + i, "logit_bias": bias}
        results[i] = srv.stream(body)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Steady state: from when every stream has its first token until the first stream ends.
    start = max(r[1][0] for r in results)
    end = min(r[1][-1] for r in results)
    n = sum(sum(1 for t in r[1] if start < t <= end) for r in results)
    return n / (end - start) if end > start else float("nan")


def percentile(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--lfmd", default=os.path.join(ROOT, "build", "lfmd"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gen", type=int, default=64, help="tokens per stream in the aggregate test")
    ap.add_argument("--history", type=int, default=4096, help="history tokens of the agent turn / long prefill")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the aggregate test (median)")
    ap.add_argument("--extra", default="", help="extra lfmd serve flags, space-separated")
    ap.add_argument("--json", help="write raw figures here")
    a = ap.parse_args()

    bias = {}
    for special in ("<|im_end|>", "<|endoftext|>"):
        tid = token_id(a.lfmd, a.model, special)
        if tid is not None:
            bias[str(tid)] = -100
    ctx = a.history + 1024
    srv = Server(a.lfmd, a.model, a.threads, ["--parallel", "8", "--ctx", str(ctx)] + a.extra.split())
    out = {"model": os.path.basename(a.model), "threads": a.threads, "load": os.getloadavg()}
    try:
        srv.stream({"messages": [{"role": "user", "content": "warm up"}], "max_tokens": 4})
        # 1. Aggregate decode throughput.
        # Rounds of 1, 2, 4, 8 streams alternate so that load changes hit every width alike.
        runs = {n: [] for n in (1, 2, 4, 8)}
        for r in range(a.repeat):
            for n in runs:
                runs[n].append(aggregate_decode(srv, n, a.gen, bias, 1000 * r + 10 * n))
        agg = {}
        for n, xs in runs.items():
            agg[n] = {"median": statistics.median(xs), "runs": xs}
            print(f"decode, {n} streams: {agg[n]['median']:.2f} tok/s aggregate (runs {', '.join(f'{x:.2f}' for x in xs)})",
                  file=sys.stderr, flush=True)
        out["aggregate_decode_tps"] = agg

        # 2. Agent turn.
        history = filler(a.lfmd, a.model, a.history - 40, seed=1)
        msgs = [{"role": "system", "content": "You are a coding agent."},
                {"role": "user", "content": history}]
        t0, times, usage1, reply = srv.stream({"messages": msgs, "max_tokens": 16, "temperature": 0, "logit_bias": bias})
        ttft1 = times[0] - t0
        msgs2 = msgs + [{"role": "assistant", "content": reply},
                        {"role": "user", "content": filler(a.lfmd, a.model, 100, seed=2)}]
        t0, times, usage2, _ = srv.stream({"messages": msgs2, "max_tokens": 16, "temperature": 0, "logit_bias": bias})
        ttft2 = times[0] - t0
        out["agent_turn"] = {"turn1_prompt_tokens": usage1["prompt_tokens"], "turn1_ttft_s": ttft1,
                             "turn2_prompt_tokens": usage2["prompt_tokens"],
                             "turn2_cached_tokens": usage2.get("prompt_tokens_details", {}).get("cached_tokens"),
                             "turn2_ttft_s": ttft2, "ratio": ttft2 / ttft1}
        print(f"agent turn: turn 1 {usage1['prompt_tokens']} prompt tokens, TTFT {ttft1:.2f} s; turn 2 "
              f"{usage2['prompt_tokens']} tokens ({out['agent_turn']['turn2_cached_tokens']} cached), TTFT {ttft2:.3f} s; "
              f"ratio {ttft2 / ttft1:.4f}", file=sys.stderr, flush=True)

        # 3. Fairness: B streams; A prefills a fresh ~4,096-token prompt meanwhile.
        arrivals = []
        b_body = {"messages": [{"role": "user", "content": "Keep talking."}], "max_tokens": ctx - 64,
                  "temperature": 0.8, "seed": 3, "logit_bias": bias}
        b_conn_result = {}
        stop_b = threading.Event()

        def run_b():
            def on_token(t):
                arrivals.append(t)
                if stop_b.is_set():
                    raise StopIteration
            try:
                srv.stream(b_body, on_token)
            except StopIteration:
                pass
            b_conn_result["done"] = True

        tb = threading.Thread(target=run_b, daemon=True)
        tb.start()
        while len(arrivals) < 30:
            time.sleep(0.05)  # benchmark pacing only (not a test)
        a_prompt = filler(a.lfmd, a.model, a.history - 40, seed=4)
        ta0, ta_times, usage_a, _ = srv.stream({"messages": [{"role": "user", "content": a_prompt}], "max_tokens": 1,
                                                "temperature": 0, "logit_bias": bias})
        ta1 = ta_times[0]
        n_before = 20
        stop_b.set()
        tb.join(120)
        before = [arrivals[i + 1] - arrivals[i] for i in range(len(arrivals) - 1) if arrivals[i + 1] <= ta0][-n_before:]
        during = [arrivals[i + 1] - arrivals[i] for i in range(len(arrivals) - 1) if ta0 <= arrivals[i] and arrivals[i + 1] <= ta1]
        med, p99 = statistics.median(during), percentile(during, 99)
        out["fairness"] = {"prefill_tokens": usage_a["prompt_tokens"], "prefill_s": ta1 - ta0,
                           "itl_before_median_s": statistics.median(before), "itl_during_median_s": med,
                           "itl_during_p99_s": p99, "itl_during_max_s": max(during), "n_itl": len(during),
                           "p99_over_median": p99 / med}
        print(f"fairness: {usage_a['prompt_tokens']}-token prefill took {ta1 - ta0:.1f} s; streaming client ITL "
              f"before {statistics.median(before) * 1000:.0f} ms; during: median {med * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
              f"(p99/median {p99 / med:.2f}, {len(during)} intervals)", file=sys.stderr, flush=True)
    finally:
        srv.stop()
    one = out["aggregate_decode_tps"][1]["median"]
    print(json.dumps({"aggregate_8_over_1": out["aggregate_decode_tps"][8]["median"] / one,
                      "agent_turn_ttft_ratio": out["agent_turn"]["ratio"],
                      "fairness_p99_over_median": out["fairness"]["p99_over_median"]}))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
