#!/usr/bin/env python3
"""Confidence signals and the cloud handoff (docs/handoff.md), end to end.

- The confidence numbers of a greedy run equal a direct computation (numpy, float64) from the
  logits that `lfmd logits` writes for the same tokens, with the padding/unused mask read from
  the GGUF file by an independent parser (tests/integration/gguf_mini.py).
- A second `lfmd serve` on loopback stands in for the cloud (a different model seed, so its
  answers differ from the local ones): threshold 1.0 proxies every request and the client gets
  the upstream's exact content and tool calls, streamed and not; threshold 0.0 proxies none;
  `flag` never calls the upstream.
- Failures: upstream down, too slow, answering 500, self-signed certificate: the local answer
  comes back with handoff_error, within the configured timeout; the client's key is never
  forwarded, the upstream key is never logged.
- The probe window: a streaming proxy request sends nothing (not even headers) before the
  decision; the extra time to first token of requests that stay local is measured and printed.

Run: LFMD_BIN=build/lfmd /usr/bin/python3 tests/server/test_handoff.py
"""

import http.server
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
from lfmd_server import LfmdServer, RawStream, gen_model, lfmd_bin, user  # noqa: E402

try:
    import numpy as np
except ImportError:  # the oracle test needs numpy (Debian's python3-numpy)
    np = None

CLIENT_KEY = "client-key-for-lfmd-0123456789"
CLOUD_KEY = "cloud-secret-key-9876543210"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]
TOOL_OUTPUT = '<|tool_call_start|>[get_weather(city="Paris")]<|tool_call_end|>'
TIMEOUT_MS = 1500
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}


def body(**kw):
    b = {"messages": [user("Tell me something about the weather.")], "max_tokens": 12, "temperature": 0}
    b.update(kw)
    return b


def stream_all(srv, req, headers=None):
    """Streams a request; returns (headers, chunks as JSON, seconds to the response head)."""
    t0 = time.monotonic()
    s = RawStream(srv, dict(req, stream=True), headers=headers)
    try:
        status = s.read_head()
        t_head = time.monotonic() - t0
        assert status == 200, (status, s.raw_body)
        chunks = []
        for ev in s.events():
            if ev.startswith(":"):
                continue
            assert ev.startswith("data: "), ev
            payload = ev[len("data: "):]
            if payload == "[DONE]":
                chunks.append("[DONE]")
            else:
                chunks.append(json.loads(payload))
    finally:
        s.close()
    assert chunks and chunks[-1] == "[DONE]", chunks[-3:]
    return s.headers, chunks[:-1], t_head


def stream_text(chunks):
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


def stream_tool_calls(chunks):
    """Assembles streamed tool-call deltas as the openai client does."""
    calls = {}
    for c in chunks:
        for ch in c.get("choices", []):
            for tc in ch["delta"].get("tool_calls") or []:
                cur = calls.setdefault(tc["index"], {"id": None, "name": "", "arguments": ""})
                cur["id"] = tc.get("id") or cur["id"]
                fn = tc.get("function") or {}
                cur["name"] += fn.get("name") or ""
                cur["arguments"] += fn.get("arguments") or ""
    return [calls[i] for i in sorted(calls)]


class StandIn:
    """A tiny OpenAI stand-in over http.server: "500" answers HTTP 500, "slow" never answers
    (until the test ends), "ok" answers a fixed completion. Records each request's headers and
    body. With `tls=(cert, key)` it serves HTTPS."""

    def __init__(self, mode, tls=None):
        self.mode, self.requests, self.release = mode, [], threading.Event()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                outer.requests.append({"path": self.path, "headers": dict(self.headers.items()),
                                       "body": json.loads(self.rfile.read(n) or b"null")})
                if outer.mode == "slow":
                    outer.release.wait(60)  # released by close(); the client must give up first
                    return
                if outer.mode in ("stall_after_head", "stall_after_chunk"):
                    # Headers (and maybe one chunk), then silence: the body runs until close.
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    if outer.mode == "stall_after_chunk":
                        ch = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "standin",
                              "choices": [{"index": 0, "delta": {"role": "assistant", "content": "partial"},
                                           "finish_reason": None}]}
                        self.wfile.write(f"data: {json.dumps(ch)}\n\n".encode())
                    self.wfile.flush()
                    outer.release.wait(60)
                    self.close_connection = True
                    return
                if outer.mode == "500":
                    data, status, ctype = b'{"error":{"message":"boom"}}', 500, "application/json"
                else:
                    data, status, ctype = outer.answer(outer.requests[-1]["body"])
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def answer(self, req):
        msg = {"role": "assistant", "content": "secure cloud answer"}
        if req.get("stream"):
            ch = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "standin",
                  "choices": [{"index": 0, "delta": msg, "finish_reason": "stop"}]}
            return f"data: {json.dumps(ch)}\n\ndata: [DONE]\n\n".encode(), 200, "text/event-stream"
        full = {"id": "x", "object": "chat.completion", "created": 1, "model": "standin",
                "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]}
        return json.dumps(full).encode(), 200, "application/json"

    def close(self):
        self.release.set()
        self.srv.shutdown()
        self.srv.server_close()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Handoff(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lfmd-handoff-")
        cls.local_model = gen_model(cls.tmp.name, seed=1)
        cls.cloud_model = gen_model(cls.tmp.name, seed=2)
        cls.servers, cls.standins = [], []
        cls.cloud = cls.start(model=cls.cloud_model, args=["--model-alias", "cloud-model", "--api-key", CLOUD_KEY])
        cls.cloud_tools = cls.start(model=cls.cloud_model, args=["--model-alias", "cloud-tools", "--api-key", CLOUD_KEY,
                                                                 "--test-hooks", "--test-forced-output", TOOL_OUTPUT])
        cls.env = {"LFMD_TEST_CLOUD_KEY": CLOUD_KEY}

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.cleanup()
        for s in cls.standins:
            s.close()
        cls.tmp.cleanup()

    @classmethod
    def start(cls, model=None, args=(), env=None):
        srv = LfmdServer(model=model or cls.local_model, args=list(args), env=env, workdir=tempfile.mkdtemp(dir=cls.tmp.name)).start()
        cls.servers.append(srv)
        return srv

    def front(self, upstream, mode="proxy", threshold="1.0", extra=()):
        args = ["--api-key", CLIENT_KEY, "--handoff", mode, "--confidence-threshold", threshold,
                "--upstream-url", upstream, "--upstream-api-key-env", "LFMD_TEST_CLOUD_KEY",
                "--upstream-timeout-ms", str(TIMEOUT_MS), "--handoff-probe-tokens", "4", "--test-hooks"] + list(extra)
        return self.start(args=args, env=self.env)

    def cloud_url(self, srv):
        return srv.base_url + "/v1"

    def direct(self, srv, req, key=CLOUD_KEY):
        st, _, data = srv.chat(req, headers={"Authorization": f"Bearer {key}"})
        self.assertEqual(st, 200, data)
        return json.loads(data)

    def local_answer(self, req):
        """What the local model answers (a server with the handoff off)."""
        if not hasattr(type(self), "_plain"):
            type(self)._plain = self.start()
        st, _, data = self._plain.chat(req)
        self.assertEqual(st, 200, data)
        return json.loads(data)

    def requests_seen(self, srv):
        """HTTP requests the server answered before this call (this /metrics call adds one)."""
        m = srv.metrics(headers={"Authorization": f"Bearer {CLOUD_KEY}"})
        return sum(v for k, v in m.items() if k.startswith("lfmd_http_requests_total{"))

    # ---- confidence numbers against the logits ----
    @unittest.skipIf(np is None, "numpy not available")
    def test_confidence_matches_logits(self):
        from gguf_mini import Header
        srv = self.start(args=["--test-hooks", "--confidence-window", "4"])
        req = body(max_tokens=10, repetition_penalty=1.0, lfmd_confidence_trace=True)
        st, _, data = srv.chat(req)
        self.assertEqual(st, 200, data)
        out = json.loads(data)
        conf = out["confidence"]
        self.assertEqual(out["choices"][0]["finish_reason"], "length", "the summary check needs a run without EOS")
        prompt, trace = conf["prompt_ids"], conf["trace"]
        gen = [t["token"] for t in trace]
        self.assertEqual(len(gen), 10)
        ids = prompt + gen[:-1]
        lpath = os.path.join(self.tmp.name, "logits.f32")
        subprocess.run([lfmd_bin(), "logits", "--model", self.local_model, "--tokens", ",".join(map(str, ids)),
                        "--out", lpath, "--threads", "2"], check=True, stderr=subprocess.DEVNULL, timeout=120)
        with open(self.local_model, "rb") as f:
            hdr = Header(f.read())
        n_tok = len(hdr.kv["tokenizer.ggml.tokens"][0])
        types = hdr.kv.get("tokenizer.ggml.token_type", ([],))[0]
        n_vocab = [t for t in hdr.tensors if t["name"] == "token_embd.weight"][0]["ne"][1]
        mask = np.array([i >= n_tok or (i < len(types) and types[i] == 5) for i in range(n_vocab)])
        logits = np.fromfile(lpath, dtype=np.float32).reshape(len(ids), n_vocab).astype(np.float64)
        rows = logits[len(prompt) - 1:]
        V = int((~mask).sum())
        want = []
        for row, tok in zip(rows, gen):
            l = row[~mask]
            z = l - l.max()
            p = np.exp(z) / np.exp(z).sum()
            h = -(p[p > 0] * np.log(p[p > 0])).sum()
            top = np.sort(p)[::-1]
            full = np.full(n_vocab, -np.inf)
            full[~mask] = np.log(p)
            self.assertEqual(tok, int(np.argmax(np.where(mask, -np.inf, row))), "greedy token is not the argmax")
            want.append((1 - h / np.log(V), full[tok], top[0] - top[1]))
        for got, w in zip(trace, want):
            self.assertAlmostEqual(got["entropy"], w[0], delta=1e-4)
            self.assertAlmostEqual(got["logprob"], w[1], delta=1e-3)
            self.assertAlmostEqual(got["margin"], w[2], delta=1e-4)
        for k, name in enumerate(("entropy", "logprob", "margin")):
            xs = [w[k] for w in want]
            self.assertAlmostEqual(conf[name]["mean"], sum(xs) / len(xs), delta=1e-4)
            self.assertAlmostEqual(conf[name]["first"], xs[0], delta=1e-4)
            mins = min(sum(xs[i:i + 4]) / 4 for i in range(len(xs) - 3))
            self.assertAlmostEqual(conf[name]["min_window"], mins, delta=1e-4)
        self.assertEqual(conf["score"], conf["entropy"]["mean"])
        self.assertIs(out["cloud_handoff"], False)

    # ---- a real upstream ----
    def test_proxy_threshold_one_returns_upstream_content(self):
        front = self.front(self.cloud_url(self.cloud))
        req = body()
        want = self.direct(self.cloud, req)["choices"][0]["message"]["content"]
        self.assertNotEqual(want, self.local_answer(req)["choices"][0]["message"]["content"])
        st, h, data = front.chat(req, headers=AUTH)
        self.assertEqual(st, 200, data)
        out = json.loads(data)
        self.assertEqual(h["x-lfmd-served-by"], "cloud")
        self.assertEqual(out["choices"][0]["message"]["content"], want)
        self.assertTrue(out["id"].startswith("chatcmpl-"))
        self.assertIs(out["cloud_handoff"], True)
        self.assertNotIn("handoff_error", out)
        self.assertEqual(out["model"], "cloud-model")
        # Streaming: the same content, re-framed under one id of ours, nothing local before it.
        hdrs, chunks, _ = stream_all(front, req, headers=AUTH)
        self.assertEqual(hdrs["x-lfmd-served-by"], "cloud")
        self.assertEqual(stream_text(chunks), want)
        self.assertEqual(len({c["id"] for c in chunks}), 1)
        self.assertEqual(chunks[0]["choices"][0]["delta"].get("role"), "assistant")
        last = [c for c in chunks if c.get("choices") and c["choices"][0]["finish_reason"]][-1]
        self.assertIs(last["cloud_handoff"], True)
        self.assertEqual(last["confidence"]["decided_on"], 4)
        m = front.metrics(headers=AUTH)
        self.assertEqual(m['lfmd_responses_served_total{by="cloud"}'], 2)
        self.assertEqual(m['lfmd_handoff_decisions_total{mode="proxy",decision="handoff"}'], 2)
        self.assertEqual(m["lfmd_upstream_latency_seconds_count"], 2)
        self.assertNotIn(CLOUD_KEY, front.stderr_text())

    def test_proxy_passes_tool_calls_through(self):
        front = self.front(self.cloud_url(self.cloud_tools))
        req = body(tools=TOOLS, max_tokens=64)
        want = self.direct(self.cloud_tools, req)["choices"][0]["message"]["tool_calls"]
        self.assertEqual(want[0]["function"]["name"], "get_weather")
        st, h, data = front.chat(req, headers=AUTH)
        self.assertEqual(st, 200, data)
        out = json.loads(data)
        self.assertEqual(h["x-lfmd-served-by"], "cloud")
        got = out["choices"][0]["message"]["tool_calls"]
        strip = lambda calls: [(c["type"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]
        self.assertEqual(strip(got), strip(want))
        self.assertEqual(out["choices"][0]["finish_reason"], "tool_calls")
        hdrs, chunks, _ = stream_all(front, req, headers=AUTH)
        self.assertEqual(hdrs["x-lfmd-served-by"], "cloud")
        calls = stream_tool_calls(chunks)
        self.assertEqual([(c["name"], json.loads(c["arguments"])) for c in calls], [("get_weather", {"city": "Paris"})])
        self.assertTrue(all(c["id"] for c in calls))
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "tool_calls")

    def test_threshold_zero_and_flag_mode_never_call_upstream(self):
        up = self.start(model=self.cloud_model, args=["--api-key", CLOUD_KEY])
        req = body()
        local = self.local_answer(req)["choices"][0]["message"]["content"]
        before = self.requests_seen(up)
        for mode, threshold, flagged in (("proxy", "0.0", False), ("flag", "1.0", True), ("flag", "0.0", False)):
            front = self.front(self.cloud_url(up), mode=mode, threshold=threshold)
            st, h, data = front.chat(req, headers=AUTH)
            out = json.loads(data)
            self.assertEqual((st, h["x-lfmd-served-by"]), (200, "local"), data)
            self.assertEqual(out["choices"][0]["message"]["content"], local)
            self.assertIs(out["cloud_handoff"], flagged, (mode, threshold))
            hdrs, chunks, _ = stream_all(front, req, headers=AUTH)
            self.assertEqual(hdrs["x-lfmd-served-by"], "local")
            self.assertEqual(stream_text(chunks), local)
            self.assertIs(chunks[-1]["cloud_handoff"], flagged)
            self.assertIn("score", chunks[-1]["confidence"])
        # Per-request override: flag on a proxy server, threshold from the request.
        front = self.front(self.cloud_url(up), mode="proxy", threshold="0.0")
        st, h, data = front.chat(dict(req, handoff="flag", confidence_threshold=1.0), headers=AUTH)
        self.assertEqual(json.loads(data)["cloud_handoff"], True)
        st, _, data = front.chat(dict(req, handoff="cloud"), headers=AUTH)
        self.assertEqual((st, json.loads(data)["error"]["param"]), (400, "handoff"))
        self.assertEqual(self.requests_seen(up), before + 1, "the upstream was called")

    # ---- failures ----
    def check_fallback(self, upstream_url, reason, extra=(), max_s=None):
        front = self.front(upstream_url, extra=extra)
        req = body()
        local = self.local_answer(req)["choices"][0]["message"]["content"]
        limit = max_s if max_s is not None else TIMEOUT_MS / 1000 + 2.0
        t0 = time.monotonic()
        st, h, data = front.chat(req, headers=AUTH)
        took = time.monotonic() - t0
        out = json.loads(data)
        self.assertEqual((st, h["x-lfmd-served-by"]), (200, "local"), data)
        self.assertEqual(out["choices"][0]["message"]["content"], local)
        self.assertIs(out["cloud_handoff"], True)
        self.assertEqual(out["handoff_error"]["reason"], reason, out["handoff_error"])
        self.assertLess(took, limit)
        t0 = time.monotonic()
        hdrs, chunks, t_head = stream_all(front, req, headers=AUTH)
        self.assertLess(time.monotonic() - t0, limit)
        self.assertEqual(hdrs["x-lfmd-served-by"], "local")
        self.assertEqual(stream_text(chunks), local)
        self.assertEqual(chunks[-1]["handoff_error"]["reason"], reason)
        m = front.metrics(headers=AUTH)
        self.assertEqual(m[f'lfmd_handoff_fallbacks_total{{reason="{reason}"}}'], 2)
        self.assertNotIn(CLOUD_KEY, front.stderr_text())
        return out, t_head

    def test_upstream_down(self):
        self.check_fallback(f"http://127.0.0.1:{closed_port()}/v1", "connect")

    def test_upstream_too_slow(self):
        slow = StandIn("slow")
        self.standins.append(slow)
        out, t_head = self.check_fallback(slow.url, "timeout")
        # The streaming client saw nothing (not even the headers) before the decision.
        self.assertGreaterEqual(t_head, TIMEOUT_MS / 1000 * 0.95)

    def test_upstream_500_and_what_is_forwarded(self):
        bad = StandIn("500")
        self.standins.append(bad)
        out, _ = self.check_fallback(bad.url, "http_status")
        self.assertEqual(out["handoff_error"]["status"], 500)
        self.assertNotIn("boom", json.dumps(out))
        self.assertEqual(len(bad.requests), 2)
        for r, stream in zip(bad.requests, (False, True)):
            self.assertEqual(r["path"], "/v1/chat/completions")
            self.assertEqual(r["headers"].get("Authorization"), f"Bearer {CLOUD_KEY}")
            self.assertNotIn(CLIENT_KEY, json.dumps(r))
            b = r["body"]
            self.assertEqual(b["messages"], body()["messages"])
            self.assertEqual((b["stream"], b["max_tokens"], b["temperature"]), (stream, 12, 0))
            for k in ("handoff", "confidence_threshold", "lfmd_forced_output", "top_k", "min_p"):
                self.assertNotIn(k, b)

    def test_upstream_stalls_after_headers(self):
        stall = StandIn("stall_after_head")
        self.standins.append(stall)
        self.check_fallback(stall.url, "timeout")

    def test_upstream_stream_breaks_after_first_chunk(self):
        """Committed to the cloud answer, a broken upstream stream ends ours with an in-band error
        event within the timeout (the local answer cannot replace tokens already sent)."""
        stall = StandIn("stall_after_chunk")
        self.standins.append(stall)
        front = self.front(stall.url)
        t0 = time.monotonic()
        s = RawStream(front, dict(body(), stream=True), headers=AUTH)
        try:
            self.assertEqual(s.read_head(), 200)
            self.assertEqual(s.headers["x-lfmd-served-by"], "cloud")
            events = [e for e in s.events() if not e.startswith(":")]
        finally:
            s.close()
        self.assertLess(time.monotonic() - t0, TIMEOUT_MS / 1000 + 2.0)
        first = json.loads(events[0][6:])
        self.assertEqual(first["choices"][0]["delta"]["content"], "partial")
        self.assertIn("error", json.loads(events[-1][6:]))
        self.assertNotIn("data: [DONE]", events)
        m = front.metrics(headers=AUTH)
        self.assertEqual(m['lfmd_handoff_fallbacks_total{reason="stream_broken"}'], 1)

    def make_cert(self, name):
        cert, key = os.path.join(self.tmp.name, name + ".pem"), os.path.join(self.tmp.name, name + ".key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        return cert, key

    def test_upstream_self_signed_certificate_is_rejected(self):
        tls = StandIn("ok", tls=self.make_cert("selfsigned"))
        self.standins.append(tls)
        self.check_fallback(tls.url, "tls")
        self.assertEqual(tls.requests, [], "a request went over an unverified connection")

    def test_upstream_https_with_configured_ca(self):
        cert, key = self.make_cert("trusted")
        tls = StandIn("ok", tls=(cert, key))
        self.standins.append(tls)
        front = self.front(tls.url, extra=["--upstream-ca-file", cert])
        st, h, data = front.chat(body(), headers=AUTH)
        out = json.loads(data)
        self.assertEqual((st, h["x-lfmd-served-by"]), (200, "cloud"), data)
        self.assertEqual(out["choices"][0]["message"]["content"], "secure cloud answer")

    # ---- the probe window's cost ----
    def test_probe_window_extra_ttft(self):
        """Time to the first content token, streaming, for requests that stay local: handoff off vs
        proxy with a threshold no answer falls below, probe windows of 4 and 16 tokens. Printed;
        the 16-token window must cost something (it holds back 15 decode steps)."""
        plain = self.start(args=["--test-hooks"])
        fronts = {k: self.front(self.cloud_url(self.cloud), threshold="0.0", extra=["--handoff-probe-tokens", str(k)])
                  for k in (4, 16)}
        # The step delay (test hook, 5 ms per forward pass) makes the 15 held-back steps cost
        # >= 75 ms: the tiny model alone takes ~4 ms for them, within a loaded machine's noise.
        req = body(max_tokens=24, lfmd_step_delay_ms=5)

        def ttft(srv, headers=None):
            t0 = time.monotonic()
            s = RawStream(srv, dict(req, stream=True), headers=headers)
            try:
                for ev in s.events():
                    if ev.startswith("data: {") and json.loads(ev[6:])["choices"][0]["delta"].get("content"):
                        return time.monotonic() - t0
            finally:
                s.close()
            raise AssertionError("no content")

        off = statistics.median([ttft(plain) for _ in range(9)])
        probe = {k: statistics.median([ttft(f, AUTH) for _ in range(9)]) for k, f in fronts.items()}
        print(f"\nTTFT (median of 9, tiny-moe q8_0, 2 threads, 5 ms step delay): handoff off {off * 1000:.1f} ms; proxy staying local: "
              + ", ".join(f"probe {k} tokens {v * 1000:.1f} ms (+{(v - off) * 1000:.1f} ms)" for k, v in probe.items()),
              file=sys.stderr)
        self.assertGreater(probe[16], off)

if __name__ == "__main__":
    unittest.main(verbosity=2)
