#!/usr/bin/env python3
"""Soak test (issue 15, item 4; not a CI test): runs `lfmd serve` on a generated model for
--minutes with 8 client threads doing a seeded random mix of requests, and reports per minute.

  python3 scripts/soak.py --minutes 60 --report soak.md --json soak.json \
      [--lfmd build/lfmd] [--server-arg=--parallel --server-arg=4] [--seed 1]

Mix: streaming and non-streaming Chat Completions with short, ~500-token and ~2-3k-token prompts,
multi-turn continuations sharing a prefix (prefix cache), cancels (socket closed after a random
number of SSE events), abrupt disconnects before the response, response_format json_schema, tools
(tool_choice "required" / "auto"), /v1/responses and /v1/messages, random max_tokens.
Per request: outcome (ok, cancelled, disconnected, overload = 429, http_4xx/5xx, conn_error,
hang = no byte for --hang-seconds, bad_stream = no final event,
stream_error = an error event), TTFT and inter-token latencies (s).
Every minute: server RSS (/proc/PID/status VmRSS) and the lfmd_* gauges of /metrics.
Exit status 1 on any 5xx, any hang, a stream error or unfinished stream, a server exit code != 0
(SIGTERM at the end), or (runs >= 15 min) RSS growth >= 5 % from the median of minutes 10-14 to
the median of the last 5 minutes (single samples swing with the KV memory in use). Python 3 standard library only.
"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "server"))
from lfmd_server import LfmdServer  # noqa: E402  (start on port 0, stop with SIGTERM)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENTS = 8
WORDS = ("the quick brown fox jumps over a lazy dog while seven wizards quietly pack boxes of "
         "liquor and jugs near river bank under blue sky with tall green trees").split()
SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20},
                                           "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string", "maxLength": 30}},
    "required": ["city"]}}}]
# (kind, weight): the share of each request kind in the mix.
MIX = [("chat", 20), ("chat_stream", 20), ("multi_turn", 12), ("cancel", 10), ("disconnect", 6),
       ("json_schema", 8), ("tools_required", 5), ("tools_auto", 5), ("responses", 7),
       ("messages", 7)]
# Metric names (prefix match) kept from /metrics every minute; histogram series are skipped.
METRICS_KEEP = re.compile(r"^lfmd_\w*(running|queue|kv|cache_bytes|cache_entries|cache_hit|"
                          r"state_bytes|preempt|connections_open|overloaded|timeouts|cancelled|disk_index|disk_entries|"
                          r"disconnects)\w*")


def percentile(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


class Server(LfmdServer):
    """lfmd serve on port 0 (tests/server/lfmd_server.py), plus its resident memory."""

    def rss_mib(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return None


class Client(threading.Thread):
    """One client: a seeded random sequence of requests until `end` (monotonic s)."""

    def __init__(self, idx, args, port, t0, end, results, lock):
        super().__init__(daemon=True)
        self.rng = random.Random(args.seed * 1000 + idx)
        self.args, self.port, self.t0, self.end = args, port, t0, end
        self.results, self.lock = results, lock
        self.convo = []  # the multi-turn conversation: grows, shares its prefix across turns

    def text(self, words):
        return " ".join(self.rng.choice(WORDS) for _ in range(words))

    def prompt_words(self):
        # Short, ~500 tokens, ~2-3k tokens (the tiny models' tokenizer: ~1.9 tokens per word).
        r = self.rng.random()
        if r < 0.5:
            return self.rng.randint(3, 40)
        if r < 0.85:
            return self.rng.randint(220, 300)
        return self.rng.randint(1000, 1500) // self.args.long_divisor

    def body(self, kind):
        mt = self.rng.randint(1, self.args.max_tokens)
        msgs = [{"role": "user", "content": self.text(self.prompt_words())}]
        if kind == "multi_turn":
            if not self.convo or len(self.convo) > 12:  # a new conversation: ~600-token prefix
                self.convo = [{"role": "system", "content": self.text(300)}]
            self.convo.append({"role": "user", "content": self.text(self.rng.randint(5, 60))})
            return "/v1/chat/completions", {"messages": list(self.convo), "max_tokens": mt,
                                            "stream": self.rng.random() < 0.5}
        if kind == "responses":
            return "/v1/responses", {"input": msgs[0]["content"], "max_output_tokens": max(mt, 16),
                                     "stream": self.rng.random() < 0.5}
        if kind == "messages":
            return "/v1/messages", {"model": "lfmd", "messages": msgs, "max_tokens": mt,
                                    "stream": self.rng.random() < 0.5}
        b = {"messages": msgs, "max_tokens": mt, "temperature": self.rng.choice([0, 0.7, 1.0]),
             "seed": self.rng.randint(0, 1 << 30)}
        if kind in ("chat_stream", "cancel", "disconnect"):
            b["stream"] = True
        elif kind == "json_schema":
            b["response_format"] = {"type": "json_schema",
                                    "json_schema": {"name": "p", "schema": SCHEMA, "strict": True}}
            b["max_tokens"] = max(mt, 64)
            b["stream"] = self.rng.random() < 0.5
        elif kind.startswith("tools_"):
            b["tools"] = TOOLS
            b["tool_choice"] = kind[len("tools_"):]
            b["max_tokens"] = max(mt, 64)
            b["stream"] = self.rng.random() < 0.5
        return "/v1/chat/completions", b

    def run(self):
        kinds = [k for k, w in MIX for _ in range(w)]
        while time.monotonic() < self.end:
            kind = self.rng.choice(kinds)
            path, body = self.body(kind)
            rec = {"kind": kind, "route": path, "stream": bool(body.get("stream")),
                   "start": time.monotonic() - self.t0}
            try:
                self.one(kind, path, body, rec)
            except socket.timeout:
                rec["outcome"] = "hang"
            except (OSError, http.client.HTTPException) as e:
                rec["outcome"] = "conn_error"
                rec["error"] = f"{type(e).__name__}: {e}"
            rec["end"] = time.monotonic() - self.t0
            if kind == "multi_turn":  # the next turn continues this one (or starts over)
                if rec.get("outcome") == "ok":
                    self.convo.append({"role": "assistant", "content": self.text(10)})
                else:
                    self.convo = []
            with self.lock:
                self.results.append(rec)

    def one(self, kind, path, body, rec):
        data = json.dumps(body).encode()
        if kind == "disconnect":
            s = socket.create_connection(("127.0.0.1", self.port), timeout=self.args.hang_seconds)
            head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n").encode()
            cut = self.rng.choice([len(data), self.rng.randint(0, len(data))])  # whole or part
            s.sendall(head + data[:cut])
            s.close()
            rec["outcome"] = "disconnected"
            return
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.args.hang_seconds)
        try:
            t = time.monotonic()
            conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            rec["status"] = resp.status
            if resp.status != 200:
                rec["error"] = resp.read()[:300].decode("utf-8", "replace")
                rec["outcome"] = ("overload" if resp.status == 429 else
                                  f"http_{resp.status // 100}xx")
                return
            if not body.get("stream"):
                payload = resp.read()
                rec["ttft"] = time.monotonic() - t  # the whole answer: first token = last
                json.loads(payload)
                rec["outcome"] = "ok"
                return
            self.stream(kind, resp, t, rec)
        finally:
            conn.close()

    def stream(self, kind, resp, t, rec):
        """Reads SSE events; content events give TTFT and inter-token latencies."""
        stop_after = self.rng.randint(1, 12) if kind == "cancel" else None
        buf, events, last, itl = b"", 0, None, []
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf:
                ev, buf = buf.split(b"\n\n", 1)
                kind_of = event_kind(ev)
                if kind_of is None:
                    continue
                events += 1
                now = time.monotonic()
                if kind_of in ("done", "error"):
                    rec["itl"] = itl
                    rec["outcome"] = "ok" if kind_of == "done" else "stream_error"
                    if kind_of == "error":
                        rec["error"] = ev[:300].decode("utf-8", "replace")
                    return
                if kind_of == "content":
                    if last is None:
                        rec["ttft"] = now - t
                    else:
                        itl.append(now - last)
                    last = now
                if stop_after is not None and events >= stop_after:
                    rec["itl"] = itl
                    rec["outcome"] = "cancelled"
                    return  # the caller closes the socket mid-stream
        rec["itl"] = itl
        rec["outcome"] = "bad_stream"  # the stream ended without its final event
        rec["error"] = buf[-300:].decode("utf-8", "replace")


def event_kind(ev):
    """An SSE event's kind: None (comment / blank), "done" (the route's final event), "error",
    "content" (text or tool-call arguments, non-empty) or "other"."""
    data = [ln[5:].strip() for ln in ev.split(b"\n") if ln.startswith(b"data:")]
    if not data:
        return None
    if data[0] == b"[DONE]":
        return "done"
    try:
        e = json.loads(b"\n".join(data))
    except ValueError:
        return "error"
    typ = e.get("type", "") if isinstance(e, dict) else ""
    if typ in ("message_stop", "response.completed", "response.incomplete"):
        return "done"
    if typ in ("error", "response.failed") or (isinstance(e, dict) and "error" in e):
        return "error"
    if typ in ("response.output_text.delta", "response.function_call_arguments.delta"):
        return "content" if e.get("delta") else "other"
    if typ == "content_block_delta":
        d = e.get("delta", {})
        return "content" if d.get("text") or d.get("partial_json") else "other"
    for ch in e.get("choices") or []:
        d = ch.get("delta") or {}
        if d.get("content") or d.get("tool_calls") or d.get("reasoning_content"):
            return "content"
    return "other"


def sample(server, t0, minute):
    """The minute's RSS and lfmd_* gauges of interest (raw lines)."""
    s = {"minute": minute, "t": time.monotonic() - t0, "rss_mib": server.rss_mib(), "metrics": {}}
    try:
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        c.request("GET", "/metrics")
        for line in c.getresponse().read().decode("utf-8", "replace").splitlines():
            if METRICS_KEEP.match(line) and "_bucket" not in line:
                name, _, val = line.rpartition(" ")
                s["metrics"][name] = float(val)
        c.close()
    except (OSError, http.client.HTTPException, ValueError) as e:
        s["metrics_error"] = str(e)
    return s


def minute_rows(results, samples, minutes):
    """Per-minute figures; requests are counted in the minute they ended."""
    rows = []
    for m in range(1, minutes + 1):
        rs = [r for r in results if m - 1 <= r["end"] / 60.0 < m]
        by = {}
        for r in rs:
            by[r["outcome"]] = by.get(r["outcome"], 0) + 1
        ttft = [r["ttft"] for r in rs if "ttft" in r and r["stream"]]
        itl = [x for r in rs for x in r.get("itl", [])]
        smp = next((s for s in samples if s["minute"] == m), {})
        rows.append({"minute": m, "requests": len(rs), "outcomes": by,
                     "ttft_p50": percentile(ttft, 50), "ttft_p99": percentile(ttft, 99),
                     "itl_p50": percentile(itl, 50), "itl_p99": percentile(itl, 99),
                     "rss_mib": smp.get("rss_mib"), "metrics": smp.get("metrics", {})})
    return rows


def ms(x):
    return "-" if x is None else f"{x * 1000:.0f}"


def markdown(rows, summary):
    out = ["| min | req | ok | cancel | disc | 429 | 4xx | 5xx | conn err | hang "
           "| bad stream / error event | TTFT p50/p99 ms | ITL p50/p99 ms | RSS MiB | running | queued "
           "| seq state MiB | prefix cache MiB | kv/preempt |",
           "|" + "---|" * 19]
    for r in rows:
        o, m = r["outcomes"], r["metrics"]
        extra = ", ".join(f"{k}={v:g}" for k, v in m.items() if "kv" in k or "preempt" in k) or "-"
        mib = lambda k: f"{m[k] / 2**20:.1f}" if k in m else "-"  # noqa: E731
        out.append(
            f"| {r['minute']} | {r['requests']} | {o.get('ok', 0)} | {o.get('cancelled', 0)} "
            f"| {o.get('disconnected', 0)} | {o.get('overload', 0)} | {o.get('http_4xx', 0)} "
            f"| {o.get('http_5xx', 0)} | {o.get('conn_error', 0)} | {o.get('hang', 0)} "
            f"| {o.get('bad_stream', 0) + o.get('stream_error', 0)} "
            f"| {ms(r['ttft_p50'])}/{ms(r['ttft_p99'])} "
            f"| {ms(r['itl_p50'])}/{ms(r['itl_p99'])} "
            f"| {'-' if r['rss_mib'] is None else round(r['rss_mib'], 1)} "
            f"| {m.get('lfmd_requests_running', '-')} | {m.get('lfmd_queue_depth', '-')} "
            f"| {mib('lfmd_sequence_state_bytes')} | {mib('lfmd_prefix_cache_bytes')} | {extra} |")
    out += ["", "**Summary**", ""]
    out += [f"- {k}: {v}" for k, v in summary.items()]
    return "\n".join(out) + "\n"


def summarize(results, samples, rows, args, server_rc):
    by = {}
    for r in results:
        by[r["outcome"]] = by.get(r["outcome"], 0) + 1
    rss = {s["minute"]: s["rss_mib"] for s in samples if s.get("rss_mib")}
    last = max(rss) if rss else None

    def growth(frm):
        if last is None or frm not in rss or last <= frm:
            return None
        return round(100.0 * (rss[last] - rss[frm]) / rss[frm], 2)

    # RSS holds the KV memory in use, which swings within --kv-budget from one sample to the next:
    # the verdict compares medians of minutes 10-14 and of the last 5 minutes, not two samples.
    kv = {s["minute"]: s.get("metrics", {}).get("lfmd_kv_used_bytes", 0) / 2**20 for s in samples}

    def window_growth(values):
        early = [values[m] for m in range(10, 15) if m in values]
        late = [values[m] for m in sorted(values)[-5:] if m >= 15]
        if not early or not late:
            return None
        a, b = percentile(early, 50), percentile(late, 50)
        return round(100.0 * (b - a) / a, 2)
    rss_less_kv = {m: v - kv.get(m, 0) for m, v in rss.items()}
    ttft = [r["ttft"] for r in results if "ttft" in r and r["stream"]]
    itl = [x for r in results for x in r.get("itl", [])]
    s = {"minutes": args.minutes, "seed": args.seed, "requests": len(results),
         "outcomes": dict(sorted(by.items())),
         "5xx": by.get("http_5xx", 0), "hangs": by.get("hang", 0),
         "status_codes": {str(c): 0 for c in sorted({r.get("status", 0) for r in results}) if c},
         "ttft_ms_p50_p99": [ms(percentile(ttft, 50)), ms(percentile(ttft, 99))],
         "itl_ms_p50_p99": [ms(percentile(itl, 50)), ms(percentile(itl, 99))],
         "rss_mib_first_last": [rss.get(min(rss)) if rss else None, rss.get(last) if rss else None],
         "rss_growth_pct_from_min1": growth(1), "rss_growth_pct_from_min10": growth(10),
         "rss_growth_pct_windowed": window_growth(rss),
         "rss_less_kv_growth_pct_windowed": window_growth(rss_less_kv),
         "server_exit_code": server_rc}
    for r in results:
        if "status" in r:
            s["status_codes"][str(r["status"])] += 1
    errs = sorted({r.get("error", "") for r in results if r["outcome"] == "conn_error"})
    if errs:
        s["conn_errors"] = errs[:10]
    fail = []
    if s["5xx"]:
        fail.append("5xx answers")
    if s["hangs"]:
        fail.append("hangs")
    if by.get("stream_error", 0) + by.get("bad_stream", 0):
        fail.append("streams ended by an error event or without their final event")
    if server_rc != 0:
        fail.append(f"server exit code {server_rc}")
    if args.minutes >= 15 and (window_growth(rss) or 0) >= 5:
        fail.append("RSS growth after minute 10 >= 5 % (median of minutes 10-14 vs the last 5)")
    s["verdict"] = "FAIL: " + ", ".join(fail) if fail else "PASS"
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lfmd", default=os.path.join(REPO, "build", "lfmd"))
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--preset", default="tiny-moe", help="lfmd gen-model preset")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra lfmd serve argument (repeatable; use --server-arg=--flag)")
    ap.add_argument("--hang-seconds", type=float, default=60.0)
    ap.add_argument("--max-tokens", type=int, default=128, help="max_tokens drawn from 1..N")
    ap.add_argument("--long-divisor", type=int, default=1, help="divide long prompts (small --ctx)")
    ap.add_argument("--report", help="Markdown report file")
    ap.add_argument("--json", help="raw figures (JSON)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="lfmd-soak-")
    try:
        model = os.path.join(work, "model.gguf")
        subprocess.run([args.lfmd, "gen-model", "--preset", args.preset, "--type", "q8_0",
                        "--seed", str(args.seed), "--out", model], check=True,
                       stdout=subprocess.DEVNULL)
        os.environ["LFMD_BIN"] = os.path.abspath(args.lfmd)
        server = Server(args.server_arg, model=model, workdir=work, threads=0)
        server.start(timeout=120)
        rc = run(args, server)
        if server.proc.returncode != 0:  # the server's last words
            with open(os.path.join(work, "server.stderr"), errors="replace") as f:
                sys.stderr.write(f.read()[-4000:])
        return rc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args, server):
    results, samples, lock = [], [], threading.Lock()
    t0 = time.monotonic()
    end = t0 + 60.0 * args.minutes
    clients = [Client(i, args, server.port, t0, end, results, lock) for i in range(CLIENTS)]
    for c in clients:
        c.start()
    try:
        for m in range(1, args.minutes + 1):
            # Wait for the minute's end (a deadline, not synchronisation), then sample.
            while time.monotonic() < t0 + 60.0 * m:
                time.sleep(min(1.0, max(0.0, t0 + 60.0 * m - time.monotonic())))
            samples.append(sample(server, t0, m))
            with lock:
                row = minute_rows(list(results), samples, m)[-1]
            print(f"minute {m}: {row['requests']} requests {row['outcomes']} "
                  f"RSS {row['rss_mib']} MiB", file=sys.stderr, flush=True)
            if server.proc.poll() is not None:
                print(f"server exited with {server.proc.returncode}", file=sys.stderr)
                break
        for c in clients:
            c.join(args.hang_seconds + 30)
    finally:
        server_rc = server.stop(60)
    with lock:
        results = list(results)
    rows = minute_rows(results, samples, args.minutes)
    summary = summarize(results, samples, rows, args, server_rc)
    md = markdown(rows, summary)
    sys.stdout.write(md)
    if args.report:
        with open(args.report, "w") as f:
            f.write(f"# lfmd soak: {args.minutes} min, seed {args.seed}, server args "
                    f"{' '.join(args.server_arg) or '(none)'}\n\n" + md)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "minutes": rows, "samples": samples,
                       "requests": results}, f, indent=1)
    return 0 if summary["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
