#!/usr/bin/env python3
"""Raw-HTTP tests of the wire format: SSE framing, `data: [DONE]`,
`: ping` keep-alives during a long prefill, first delta with the role, the usage chunk with
`choices: []`, streamed tool-call deltas, non-streaming envelope, models/health routes, queue
overflow (429 + Retry-After).

Run: LFMD_BIN=build/lfmd python3 tests/server/test_sse_framing.py
"""

import http.client
import json
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lfmd_server import LfmdServer, RawStream, gen_model, known_bug, user, wait_for  # noqa: E402

# Test hook (--test-hooks): the engine pauses this long (ms) after each forward pass of a request
# that carries it, so a generation outlasts what the test does meanwhile (the tiny model is fast).
STEP_DELAY_MS = 5

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                     "required": ["city"]}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
                                                                         "properties": {"tz": {"type": "string"}}}}},
]
TWO_CALLS = '<|tool_call_start|>[get_weather(city="Paris"), get_time(tz="UTC")]<|tool_call_end|>'


def collect(stream):
    """Reads a whole SSE stream: returns (data payloads as parsed JSON or "[DONE]", pings, raw events)."""
    datas, pings, raw = [], 0, []
    for ev in stream.events():
        raw.append(ev)
        if ev.startswith(":"):
            assert ev == ": ping", f"unexpected comment event {ev!r}"
            pings += 1
            continue
        assert ev.startswith("data: "), f"event is not a data line: {ev!r}"
        assert "\n" not in ev, f"multi-line event: {ev!r}"
        payload = ev[len("data: "):]
        datas.append("[DONE]" if payload == "[DONE]" else json.loads(payload))
    return datas, pings, raw


class Framing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lfmd-framing-")
        cls.model = gen_model(cls.tmp.name)
        cls.srv = LfmdServer(model=cls.model, workdir=cls.tmp.name,
                             args=["--test-hooks", "--batch", "16", "--keepalive-ms", "50",
                                   "--model-alias", "tiny-moe-test"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()
        cls.tmp.cleanup()

    def tearDown(self):
        if not self.srv.alive():
            self.fail("server died; stderr:\n" + self.srv.stderr_text()[-3000:])

    def stream(self, body, **kw):
        s = RawStream(self.srv, dict(body, stream=True), **kw)
        try:
            self.assertEqual(s.read_head(), 200)
            self.assertEqual(s.headers.get("content-type", "").split(";")[0], "text/event-stream")
            self.assertEqual(s.headers.get("transfer-encoding", "").lower(), "chunked")
            datas, pings, raw = collect(s)
        finally:
            s.close()
        return datas, pings, raw

    def check_chunks(self, datas, include_usage):
        self.assertEqual(datas[-1], "[DONE]")
        self.assertNotIn("[DONE]", datas[:-1])
        chunks = datas[:-1]
        ids = {c["id"] for c in chunks}
        self.assertEqual(len(ids), 1, ids)
        self.assertTrue(next(iter(ids)).startswith("chatcmpl-"))
        for c in chunks:
            self.assertEqual(c["object"], "chat.completion.chunk")
            self.assertIsInstance(c["created"], int)
            self.assertEqual(c["model"], "tiny-moe-test")
        body = chunks[:-1] if include_usage else chunks
        for c in body:
            self.assertEqual(len(c["choices"]), 1, c)
            self.assertEqual(c["choices"][0]["index"], 0)
            if include_usage:
                self.assertIn("usage", c)
                self.assertIsNone(c["usage"], c)
            else:
                self.assertIsNone(c.get("usage"), c)
        first = body[0]["choices"][0]
        self.assertEqual(first["delta"], {"role": "assistant", "content": ""})
        self.assertIsNone(first["finish_reason"])
        for c in body[1:]:
            self.assertNotIn("role", c["choices"][0]["delta"], "role repeated")
        final = body[-1]["choices"][0]
        self.assertEqual(final["delta"], {})
        self.assertIn(final["finish_reason"], ("stop", "length", "tool_calls"))
        for c in body[:-1]:
            self.assertIsNone(c["choices"][0]["finish_reason"])
        if include_usage:
            u = chunks[-1]
            self.assertEqual(u["choices"], [])
            usage = u["usage"]
            self.assertEqual(usage["total_tokens"], usage["prompt_tokens"] + usage["completion_tokens"])
            self.assertIsInstance(usage["prompt_tokens_details"]["cached_tokens"], int)
            return body, usage
        return body, None

    def content_of(self, body):
        return "".join(c["choices"][0]["delta"].get("content") or "" for c in body)

    # ---- tests ----

    def test_stream_framing(self):
        datas, _, raw = self.stream({"messages": [user("Hello")], "max_tokens": 8, "seed": 7})
        self.assertEqual(raw[-1], "data: [DONE]")
        body, _ = self.check_chunks(datas, include_usage=False)
        self.assertEqual(body[-1]["choices"][0]["finish_reason"], "length")

    def test_include_usage(self):
        msgs = [user("Count to three")]
        datas, _, _ = self.stream({"messages": msgs, "max_tokens": 6, "seed": 3,
                                   "stream_options": {"include_usage": True}})
        body, usage = self.check_chunks(datas, include_usage=True)
        self.assertEqual(usage["completion_tokens"], 6)
        status, _, data = self.srv.chat({"messages": msgs, "max_tokens": 6, "seed": 3})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(data)["usage"]["prompt_tokens"], usage["prompt_tokens"])

    def test_include_usage_false(self):
        datas, _, _ = self.stream({"messages": [user("x")], "max_tokens": 3, "seed": 1,
                                   "stream_options": {"include_usage": False}})
        self.check_chunks(datas, include_usage=False)

    def test_stream_equals_non_stream_same_seed(self):
        req = {"messages": [user("Tell me a story")], "max_tokens": 24, "seed": 1234, "temperature": 0.9}
        datas, _, _ = self.stream(req)
        body, _ = self.check_chunks(datas, include_usage=False)
        streamed = self.content_of(body)
        status, _, data = self.srv.chat(req)
        self.assertEqual(status, 200, data[:300])
        doc = json.loads(data)
        self.assertEqual(doc["choices"][0]["message"]["content"], streamed)
        status, _, data2 = self.srv.chat(req)
        self.assertEqual(json.loads(data2)["choices"][0]["message"]["content"], streamed, "same seed, other output")

    def test_pings_during_long_prefill(self):
        # --batch 16 and about 2000 prompt tokens: the prefill runs ~125 forward passes, each held
        # 5 ms by the step-delay test hook, far longer than the 50 ms keep-alive interval. The role
        # chunk is flushed before the prefill, pings follow while it runs, then the first content.
        words = " ".join(f"w{i}" for i in range(650))
        s = RawStream(self.srv, {"messages": [user(words)], "max_tokens": 2, "seed": 1, "stream": True,
                                 "lfmd_step_delay_ms": STEP_DELAY_MS})
        try:
            self.assertEqual(s.read_head(), 200)
            first = s.next_event()
            self.assertTrue(first.startswith("data: "), first)
            self.assertEqual(json.loads(first[6:])["choices"][0]["delta"], {"role": "assistant", "content": ""})
            pings_before_content = 0
            while True:
                ev = s.next_event()
                self.assertIsNotNone(ev, "stream ended before any content")
                if ev == ": ping":
                    pings_before_content += 1
                    continue
                self.assertTrue(ev.startswith("data: "), ev)
                break
            self.assertGreaterEqual(pings_before_content, 1, "no ': ping' while the prompt was processed")
            rest = [first, ev] + list(s.events())
            self.assertEqual(rest[-1], "data: [DONE]")
            datas = [json.loads(e[6:]) if e != "data: [DONE]" else "[DONE]" for e in rest if e.startswith("data: ")]
            self.check_chunks(datas, include_usage=False)
            self.assertTrue(re.search(rb"(^|\n\n): ping\n\n", s.raw_body), "ping not framed as ': ping\\n\\n'")
        finally:
            s.close()

    def test_tool_call_deltas(self):
        forced = "Let me check. " + TWO_CALLS
        datas, _, _ = self.stream({"messages": [user("Weather in Paris and the time?")], "tools": TOOLS,
                                   "lfmd_forced_output": forced, "stream_options": {"include_usage": True}})
        body, usage = self.check_chunks(datas, include_usage=True)
        self.assertEqual(body[-1]["choices"][0]["finish_reason"], "tool_calls")
        content = self.content_of(body)
        self.assertEqual(content.strip(), "Let me check.")
        self.assertNotIn("<|", content)
        seen = {}  # index -> {"id","name","args"}
        order = []
        for c in body:
            for tc in c["choices"][0]["delta"].get("tool_calls") or []:
                i = tc["index"]
                if i not in seen:
                    # The first delta of a call: index, id, type, name and empty arguments.
                    self.assertEqual(set(tc.keys()), {"index", "id", "type", "function"}, tc)
                    self.assertTrue(tc["id"].startswith("call_"), tc)
                    self.assertEqual(tc["type"], "function")
                    self.assertEqual(set(tc["function"].keys()), {"name", "arguments"}, tc)
                    self.assertEqual(tc["function"]["arguments"], "")
                    seen[i] = {"id": tc["id"], "name": tc["function"]["name"], "args": ""}
                    order.append(i)
                else:
                    # Later deltas: only index and an arguments fragment; the name is never repeated.
                    self.assertEqual(set(tc.keys()), {"index", "function"}, tc)
                    self.assertEqual(set(tc["function"].keys()), {"arguments"}, tc)
                    seen[i]["args"] += tc["function"]["arguments"]
        self.assertEqual(order, [0, 1])
        self.assertNotEqual(seen[0]["id"], seen[1]["id"])
        self.assertEqual([seen[0]["name"], seen[1]["name"]], ["get_weather", "get_time"])
        self.assertEqual(json.loads(seen[0]["args"]), {"city": "Paris"})
        self.assertEqual(json.loads(seen[1]["args"]), {"tz": "UTC"})

    def test_non_stream_envelope(self):
        status, hdrs, data = self.srv.chat({"model": "gpt-4o", "messages": [user("hi")], "max_tokens": 4,
                                            "seed": 5})
        self.assertEqual(status, 200)
        self.assertIn("application/json", hdrs["content-type"])
        doc = json.loads(data)
        self.assertTrue(doc["id"].startswith("chatcmpl-"))
        self.assertEqual(doc["object"], "chat.completion")
        self.assertIsInstance(doc["created"], int)
        self.assertEqual(doc["model"], "tiny-moe-test", "the resident model's id is echoed")
        ch = doc["choices"][0]
        self.assertEqual(ch["index"], 0)
        self.assertEqual(ch["message"]["role"], "assistant")
        self.assertIsInstance(ch["message"]["content"], str)
        self.assertEqual(ch["finish_reason"], "length")
        u = doc["usage"]
        self.assertEqual(u["completion_tokens"], 4)
        self.assertEqual(u["total_tokens"], u["prompt_tokens"] + 4)
        self.assertIsInstance(u["prompt_tokens_details"]["cached_tokens"], int)

    def test_non_stream_tool_calls_only(self):
        status, _, data = self.srv.chat({"messages": [user("weather?")], "tools": TOOLS,
                                         "lfmd_forced_output": TWO_CALLS})
        self.assertEqual(status, 200, data[:300])
        ch = json.loads(data)["choices"][0]
        self.assertEqual(ch["finish_reason"], "tool_calls")
        self.assertIsNone(ch["message"]["content"], "content must be null when only tool calls are returned")
        calls = ch["message"]["tool_calls"]
        self.assertEqual([c["function"]["name"] for c in calls], ["get_weather", "get_time"])
        for c in calls:
            self.assertEqual(c["type"], "function")
            self.assertTrue(c["id"].startswith("call_"))
            self.assertIsInstance(c["function"]["arguments"], str)
        self.assertEqual(json.loads(calls[0]["function"]["arguments"]), {"city": "Paris"})

    def test_stop_string_never_streamed(self):
        datas, _, _ = self.stream({"messages": [user("x")], "stop": ["STOP", "zzz"],
                                   "lfmd_forced_output": "Hello STOP world"})
        body, _ = self.check_chunks(datas, include_usage=False)
        self.assertEqual(self.content_of(body), "Hello ")
        self.assertEqual(body[-1]["choices"][0]["finish_reason"], "stop")
        for c in body:
            self.assertNotIn("S", c["choices"][0]["delta"].get("content") or "")

    def test_max_completion_tokens_alias(self):
        status, _, data = self.srv.chat({"messages": [user("x")], "max_completion_tokens": 3, "seed": 2})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(data)["usage"]["completion_tokens"], 3)

    def test_connection_reuse_after_stream(self):
        conn = http.client.HTTPConnection(self.srv.host, self.srv.port, timeout=30)
        try:
            for i in range(2):
                conn.request("POST", "/v1/chat/completions",
                             json.dumps({"messages": [user("x")], "max_tokens": 3, "seed": i, "stream": True}),
                             {"Content-Type": "application/json"})
                r = conn.getresponse()
                self.assertEqual(r.status, 200)
                self.assertTrue(r.read().endswith(b"data: [DONE]\n\n"))
            conn.request("GET", "/v1/models")
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
        finally:
            conn.close()

    def test_models_and_health(self):
        status, _, data = self.srv.request("GET", "/health")
        self.assertEqual((status, json.loads(data)), (200, {"status": "ok"}))
        status, _, data = self.srv.request("GET", "/v1/models")
        self.assertEqual(status, 200)
        doc = json.loads(data)
        self.assertEqual(doc["object"], "list")
        self.assertEqual(len(doc["data"]), 1)
        m = doc["data"][0]
        self.assertEqual((m["id"], m["object"]), ("tiny-moe-test", "model"))
        self.assertIsInstance(m["created"], int)
        self.assertIsInstance(m["owned_by"], str)
        status, _, data = self.srv.request("GET", "/v1/models/tiny-moe-test")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(data)["id"], "tiny-moe-test")

    def test_metrics_text(self):
        status, hdrs, data = self.srv.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain"))
        text = data.decode()
        for name in ("lfmd_generated_tokens_total", "lfmd_prompt_tokens_total", "lfmd_queue_depth",
                     "lfmd_time_to_first_token_seconds_bucket", "lfmd_inter_token_latency_seconds_bucket",
                     "lfmd_client_disconnects_total", "lfmd_cancelled_total"):
            self.assertIn(name, text)


class Logprobs(unittest.TestCase):
    """logprobs / top_logprobs, streaming and not. Byte-level tokens that are not whole UTF-8
    characters must not break the JSON (the `bytes` field carries the raw bytes). Its own server:
    a crash here must not take the other tests down."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lfmd-logprobs-")
        cls.srv = LfmdServer(model=gen_model(cls.tmp.name), workdir=cls.tmp.name).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()
        cls.tmp.cleanup()

    def assert_alive(self):
        if not self.srv.alive():
            self.fail("server died; stderr:\n" + self.srv.stderr_text()[-3000:])

    def check_entries(self, entries, n, k):
        self.assertEqual(len(entries), n)
        for e in entries:
            self.assertIsInstance(e["token"], str)
            self.assertLessEqual(e["logprob"], 0.0)
            self.assertTrue(all(isinstance(b, int) and 0 <= b < 256 for b in e["bytes"]), e)
            self.assertEqual(len(e["top_logprobs"]), k)

    def test_logprobs_non_stream(self):
        # Seeds 1..4 on this model include byte-level tokens (partial UTF-8 characters).
        for seed in range(1, 5):
            with self.subTest(seed=seed):
                status, _, data = self.srv.chat({"messages": [user("x")], "max_tokens": 6, "seed": seed,
                                                 "logprobs": True, "top_logprobs": 2})
                self.assertEqual(status, 200, data[:300])
                self.check_entries(json.loads(data)["choices"][0]["logprobs"]["content"], 6, 2)
        self.assert_alive()

    def test_logprobs_stream(self):
        for seed in range(1, 5):
            with self.subTest(seed=seed):
                status, _, data = self.srv.chat({"messages": [user("x")], "max_tokens": 6, "seed": seed,
                                                 "logprobs": True, "top_logprobs": 2, "stream": True})
                self.assertEqual(status, 200, data[:300])
                self.assertTrue(data.endswith(b"data: [DONE]\n\n"), data[-300:])
                entries = []
                for ev in data.decode().split("\n\n")[:-2]:
                    if ev.startswith("data: "):
                        c = json.loads(ev[6:])
                        entries += ((c["choices"][0].get("logprobs") or {}).get("content") or [])
                self.check_entries(entries, 6, 2)
        self.assert_alive()


class Cors(unittest.TestCase):
    """--cors-origins: preflight answered for listed origins only; the actual response must carry
    Access-Control-Allow-Origin too, or browsers drop it."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lfmd-cors-")
        cls.srv = LfmdServer(model=gen_model(cls.tmp.name), workdir=cls.tmp.name,
                             args=["--cors-origins", "http://app.example"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()
        cls.tmp.cleanup()

    def test_preflight(self):
        h = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}
        status, hdrs, _ = self.srv.request("OPTIONS", "/v1/chat/completions", headers=h)
        self.assertIn(status, (200, 204))
        self.assertEqual(hdrs.get("access-control-allow-origin"), "http://app.example")
        self.assertNotEqual(hdrs.get("access-control-allow-origin"), "*")
        status, hdrs, _ = self.srv.request("OPTIONS", "/v1/chat/completions",
                                           headers=dict(h, Origin="http://evil.example"))
        self.assertNotIn("access-control-allow-origin", hdrs)

    def test_actual_response_has_allow_origin(self):
        status, hdrs, _ = self.srv.request("GET", "/v1/models", headers={"Origin": "http://app.example"})
        self.assertEqual(status, 200)
        self.assertEqual(hdrs.get("access-control-allow-origin"), "http://app.example")

    def test_other_origin_gets_no_allow_origin(self):
        status, hdrs, _ = self.srv.request("GET", "/v1/models", headers={"Origin": "http://evil.example"})
        self.assertNotIn("access-control-allow-origin", hdrs)


class Shutdown(unittest.TestCase):
    """SIGTERM during a stream: the stream ends with a final chunk and [DONE], the server exits 0."""

    def test_sigterm_ends_streams_cleanly(self):
        import signal
        with tempfile.TemporaryDirectory(prefix="lfmd-shutdown-") as tmp:
            srv = LfmdServer(model=gen_model(tmp), workdir=tmp, args=["--test-hooks"]).start()
            try:
                # The step delay (test hook) keeps the stream running (>= 15 s) when SIGTERM arrives.
                s = RawStream(srv, {"messages": [user("x")], "max_tokens": 3000, "seed": 1, "stream": True,
                                    "stream_options": {"include_usage": True}, "lfmd_step_delay_ms": STEP_DELAY_MS})
                self.assertEqual(s.read_head(), 200)
                for _ in range(3):
                    self.assertIsNotNone(s.next_event())
                srv.proc.send_signal(signal.SIGTERM)
                datas, _, raw = collect(s)
                s.close()
                self.assertEqual(raw[-1], "data: [DONE]")
                finals = [d for d in datas[:-1] if d["choices"] and d["choices"][0]["finish_reason"]]
                self.assertEqual(len(finals), 1)
                self.assertEqual(datas[-2]["choices"], [])  # the usage chunk
                self.assertLess(datas[-2]["usage"]["completion_tokens"], 3000, "the stream was not cut short")
                self.assertEqual(srv.proc.wait(15), 0, srv.stderr_text()[-2000:])
            finally:
                srv.cleanup()


class QueueFull(unittest.TestCase):
    """--max-queue 1: one request running, one waiting, the next is refused with 429 + Retry-After."""

    def test_429_with_retry_after(self):
        with tempfile.TemporaryDirectory(prefix="lfmd-queue-") as tmp:
            with LfmdServer(model=gen_model(tmp), workdir=tmp, args=["--max-queue", "1", "--parallel", "1", "--test-hooks"]) as srv:
                # The step delay (test hook) keeps the first request running (>= 15 s) until the end.
                long_req = {"messages": [user("x")], "max_tokens": 3000, "seed": 1, "stream": True,
                            "lfmd_step_delay_ms": STEP_DELAY_MS}
                before = srv.metrics()
                a = RawStream(srv, long_req)
                b = None
                try:
                    self.assertEqual(a.read_head(), 200)
                    wait_for(lambda: srv.metrics()["lfmd_requests_running"] == 1, 20, "first request running")
                    b = RawStream(srv, long_req)
                    wait_for(lambda: srv.metrics()["lfmd_queue_depth"] == 1, 20, "second request queued")
                    status, hdrs, data = srv.chat({"messages": [user("x")], "max_tokens": 2})
                    self.assertIn(status, (429, 503), data[:300])
                    self.assertRegex(hdrs.get("retry-after", ""), r"^\d+$")
                    err = json.loads(data)["error"]
                    self.assertEqual(sorted(err), ["code", "message", "param", "type"])
                finally:
                    a.close()
                    if b:
                        b.close()
                wait_for(lambda: (lambda m: m["lfmd_requests_running"] == 0 and m["lfmd_queue_depth"] == 0)(
                    srv.metrics()), 20, "both cancelled after disconnect")
                # Cancelled requests release their memory: nothing running, the cache as before.
                after = srv.metrics()
                self.assertEqual(after["lfmd_sequence_state_bytes"], 0)
                self.assertEqual(after["lfmd_prefix_cache_bytes"], before["lfmd_prefix_cache_bytes"])
                status, _, data = srv.chat({"messages": [user("x")], "max_tokens": 2})
                self.assertEqual(status, 200, data[:300])
                # A finished request is kept in the prefix cache (so the check above can fail).
                self.assertGreater(srv.metrics()["lfmd_prefix_cache_bytes"], before["lfmd_prefix_cache_bytes"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
