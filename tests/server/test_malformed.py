#!/usr/bin/env python3
"""Malformed-request suite: every case gets the right HTTP status and an OpenAI error body
{"error":{"message","type","param","code"}}, the server stays up, and a normal request is served
afterwards. Cases are table-driven (one subTest each).

Run: LFMD_BIN=build/lfmd python3 tests/server/test_malformed.py
"""

import json
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lfmd_server import LfmdServer, gen_model, known_bug, user  # noqa: E402

MAX_BODY = 262144
CTX = 512
API_KEY = "sk-test-0123456789"

OK_MSGS = [user("hi")]
FN = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


def body(**fields):
    b = {"model": "whatever", "messages": OK_MSGS, "max_tokens": 2, "seed": 1}
    b.update(fields)
    return {k: v for k, v in b.items() if v is not DROP}


DROP = object()


def deep(n):
    v = {}
    for _ in range(n):
        v = {"type": "object", "properties": {"x": v}}
    return v


# (name, request body (dict -> JSON, bytes/str -> raw), expected status, expected param or None
#  to skip the check, expected code or None to skip the check)
CASES = [
    # ---- bad JSON ----
    ("empty body", b"", 400, None, None),
    ("truncated object", b'{"messages": [', 400, None, None),
    ("not json", b"hello there", 400, None, None),
    ("top-level array", b"[]", 400, None, None),
    ("top-level string", b'"hi"', 400, None, None),
    ("top-level null", b"null", 400, None, None),
    ("top-level number", b"42", 400, None, None),
    ("trailing garbage", b'{"messages":[{"role":"user","content":"hi"}]} xyz', 400, None, None),
    ("invalid utf-8 in string", b'{"messages":[{"role":"user","content":"\xff\xfe"}]}', 400, None, None),
    ("lone surrogate escape", b'{"messages":[{"role":"user","content":"\\ud800"}]}', 400, None, None),
    ("NaN literal", b'{"messages":[{"role":"user","content":"hi"}],"temperature":NaN}', 400, None, None),
    ("single quotes", b"{'messages': []}", 400, None, None),
    ("depth bomb", b"[" * 100000 + b"]" * 100000, 400, None, None),
    ("number overflow 1e400", b'{"messages":[{"role":"user","content":"hi"}],"temperature":1e400}', 400, None, None),
    # ---- messages ----
    ("messages missing", body(messages=DROP), 400, "messages", "missing_required_parameter"),
    ("messages empty", body(messages=[]), 400, "messages", None),
    ("messages a string", body(messages="hi"), 400, "messages", "invalid_type"),
    ("messages an object", body(messages={"role": "user", "content": "hi"}), 400, "messages", "invalid_type"),
    ("message null", body(messages=[None]), 400, None, None),
    ("message a string", body(messages=["hi"]), 400, None, None),
    ("message without role", body(messages=[{"content": "hi"}]), 400, None, None),
    ("unknown role", body(messages=[{"role": "wizard", "content": "hi"}]), 400, None, None),
    ("role a number", body(messages=[{"role": 1, "content": "hi"}]), 400, None, None),
    ("content a number", body(messages=[{"role": "user", "content": 5}]), 400, None, None),
    ("user content null", body(messages=[{"role": "user", "content": None}]), 400, None, None),
    ("content part image", body(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]), 400, None, None),
    ("content part unknown type", body(messages=[{"role": "user", "content": [{"type": "blob", "text": "x"}]}]),
     400, None, None),
    ("content part text not string", body(messages=[{"role": "user", "content": [{"type": "text", "text": 3}]}]),
     400, None, None),
    ("tool message without tool_call_id", body(messages=[user("hi"), {"role": "tool", "content": "x"}]),
     400, None, None),
    ("assistant null content, no tool_calls", body(messages=[user("hi"), {"role": "assistant", "content": None},
                                                             user("again")]), 400, None, None),
    ("assistant tool_calls not an array", body(messages=[user("hi"), {"role": "assistant", "tool_calls": "x"}]),
     400, None, None),
    ("assistant tool_call arguments not JSON", body(messages=[user("hi"), {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]), 400, None, None),
    ("too many messages", body(messages=[user("x")] * 4097), 400, "messages", None),
    # ---- wrong types / ranges ----
    ("model a number", body(model=5), 400, "model", "invalid_type"),
    ("stream a string", body(stream="yes"), 400, "stream", "invalid_type"),
    ("temperature a string", body(temperature="hot"), 400, "temperature", "invalid_type"),
    ("temperature negative", body(temperature=-1), 400, "temperature", None),
    ("temperature above 2", body(temperature=2.5), 400, "temperature", None),
    ("top_p above 1", body(top_p=1.5), 400, "top_p", None),
    ("top_p negative", body(top_p=-0.1), 400, "top_p", None),
    ("max_tokens negative", body(max_tokens=-1), 400, "max_tokens", None),
    ("max_tokens zero", body(max_tokens=0), 400, "max_tokens", None),
    ("max_tokens decimal", body(max_tokens=2.5), 400, "max_tokens", None),
    ("max_tokens a string", body(max_tokens="10"), 400, "max_tokens", "invalid_type"),
    ("max_tokens 1e30", body(max_tokens=1e30), 400, "max_tokens", None),
    ("max_tokens beyond int64", b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":99999999999999999999999}',
     400, "max_tokens", None),
    ("max_completion_tokens negative", body(max_completion_tokens=-5), 400, "max_completion_tokens", None),
    ("n = 9", body(n=9), 400, "n", None),
    ("n = 0", body(n=0), 400, "n", None),
    ("seed a string", body(seed="abc"), 400, "seed", "invalid_type"),
    ("seed decimal", body(seed=1.5), 400, "seed", None),
    ("seed beyond int64", b'{"messages":[{"role":"user","content":"hi"}],"seed":18446744073709551616}',
     400, "seed", None),
    ("presence_penalty above 2", body(presence_penalty=5), 400, "presence_penalty", None),
    ("frequency_penalty below -2", body(frequency_penalty=-3), 400, "frequency_penalty", None),
    ("top_k negative", body(top_k=-1), 400, "top_k", None),
    ("min_p above 1", body(min_p=2), 400, "min_p", None),
    ("repetition_penalty zero", body(repetition_penalty=0), 400, "repetition_penalty", None),
    ("logit_bias not an object", body(logit_bias=[1, 2]), 400, "logit_bias", None),
    ("logit_bias key not a number", body(logit_bias={"abc": 1}), 400, None, None),
    ("logit_bias id out of vocabulary", body(logit_bias={"99999999": 1}), 400, None, None),
    ("logit_bias id negative", body(logit_bias={"-1": 1}), 400, None, None),
    ("logit_bias value above 100", body(logit_bias={"5": 500}), 400, None, None),
    ("logprobs a string", body(logprobs="true"), 400, "logprobs", "invalid_type"),
    ("top_logprobs above 20", body(logprobs=True, top_logprobs=21), 400, "top_logprobs", None),
    ("top_logprobs without logprobs", body(top_logprobs=5), 400, "top_logprobs", None),
    ("stop a number", body(stop=5), 400, "stop", None),
    ("stop empty string", body(stop=""), 400, "stop", None),
    ("stop array with empty string", body(stop=[""]), 400, None, None),
    ("stop five strings", body(stop=["a", "b", "c", "d", "e"]), 400, "stop", None),
    ("stop string too long", body(stop=["x" * 1000]), 400, None, None),
    ("stream_options without stream", body(stream_options={"include_usage": True}), 400, "stream_options", None),
    ("stream_options a string", body(stream=True, stream_options="x"), 400, "stream_options", None),
    ("response_format unknown type", body(response_format={"type": "xml"}), 400, None, None),
    ("response_format a string", body(response_format="json"), 400, "response_format", None),
    # ---- tool schema garbage ----
    ("tools a string", body(tools="x"), 400, "tools", None),
    ("tools element a number", body(tools=[1]), 400, None, None),
    ("tool type retrieval", body(tools=[{"type": "retrieval"}]), 400, None, None),
    ("tool without function", body(tools=[{"type": "function"}]), 400, None, None),
    ("function without name", body(tools=[{"type": "function", "function": {"parameters": {}}}]), 400, None, None),
    ("function name with spaces", body(tools=[{"type": "function", "function": {"name": "get weather"}}]),
     400, None, None),
    ("function name too long", body(tools=[{"type": "function", "function": {"name": "f" * 65}}]), 400, None, None),
    ("duplicate tool names", body(tools=[FN, FN]), 400, None, None),
    ("parameters a string", body(tools=[{"type": "function", "function": {"name": "f", "parameters": "object"}}]),
     400, None, None),
    ("parameters nested too deep", body(tools=[{"type": "function", "function": {"name": "f",
                                                                                   "parameters": deep(100)}}]),
     400, None, None),
    ("too many tools", body(tools=[{"type": "function", "function": {"name": f"f{i}"}} for i in range(257)]),
     400, "tools", None),
    ("tool_choice unknown string", body(tools=[FN], tool_choice="sometimes"), 400, "tool_choice", None),
    ("tool_choice required without tools", body(tool_choice="required"), 400, "tool_choice", None),
    ("tool_choice names unknown tool", body(tools=[FN], tool_choice={"type": "function",
                                                                     "function": {"name": "nope"}}),
     400, "tool_choice", None),
    ("tool_choice object without function", body(tools=[FN], tool_choice={"type": "function"}), 400, None, None),
    ("parallel_tool_calls a string", body(tools=[FN], parallel_tool_calls="yes"), 400, "parallel_tool_calls",
     "invalid_type"),
]


def check_error_body(tc, status, headers, data, want_status, want_param=None, want_code=None):
    tc.assertEqual(status, want_status, data[:400])
    tc.assertIn("application/json", headers.get("content-type", ""))
    try:
        doc = json.loads(data)
    except ValueError:
        tc.fail(f"error body is not JSON: {data[:200]!r}")
    tc.assertEqual(list(doc.keys()), ["error"], doc)
    err = doc["error"]
    tc.assertEqual(sorted(err.keys()), ["code", "message", "param", "type"], err)
    tc.assertIsInstance(err["message"], str)
    tc.assertTrue(err["message"], "empty message")
    tc.assertIsInstance(err["type"], str)
    tc.assertTrue(err["param"] is None or isinstance(err["param"], str), err)
    tc.assertTrue(err["code"] is None or isinstance(err["code"], str), err)
    expected_type = {400: "invalid_request_error", 401: "authentication_error", 403: "invalid_request_error",
                     404: "invalid_request_error", 413: "invalid_request_error"}.get(want_status)
    if expected_type:
        tc.assertEqual(err["type"], expected_type, err)
    if want_param is not None:
        tc.assertEqual(err["param"], want_param, err)
    if want_code is not None:
        tc.assertEqual(err["code"], want_code, err)
    return err


class Malformed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lfmd-malformed-")
        cls.model = gen_model(cls.tmp.name)
        cls.srv = LfmdServer(model=cls.model, workdir=cls.tmp.name,
                             args=["--ctx", str(CTX), "--max-body", str(MAX_BODY), "--batch", "64"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()
        cls.tmp.cleanup()

    def tearDown(self):
        if not self.srv.alive():
            self.fail("server died; stderr:\n" + self.srv.stderr_text()[-3000:])

    def normal_request_ok(self):
        status, _, data = self.srv.chat(body())
        self.assertEqual(status, 200, data[:300])
        doc = json.loads(data)
        self.assertEqual(doc["object"], "chat.completion")
        self.assertEqual(doc["usage"]["completion_tokens"], 2)

    def test_00_sanity(self):
        self.normal_request_ok()

    def test_cases(self):
        self.assertGreaterEqual(len(CASES), 50)
        for name, b, want_status, want_param, want_code in CASES:
            with self.subTest(case=name):
                status, headers, data = self.srv.chat(b)
                check_error_body(self, status, headers, data, want_status, want_param, want_code)
                self.assertTrue(self.srv.alive(), "server died on case " + name)
        self.normal_request_ok()

    def test_streaming_request_errors_are_plain_json(self):
        # A stream request that fails validation is answered with a JSON error, not an SSE body.
        status, headers, data = self.srv.chat(body(stream=True, temperature=-1))
        check_error_body(self, status, headers, data, 400, "temperature")

    def test_context_overflow_prompt(self):
        words = " ".join(f"w{i}" for i in range(CTX))  # about 3 tokens a word: far beyond CTX
        status, headers, data = self.srv.chat(body(messages=[user(words)], max_tokens=DROP))
        err = check_error_body(self, status, headers, data, 400, "messages", "context_length_exceeded")
        self.assertRegex(err["message"],
                         r"^This model's maximum context length is %d tokens\. However, you requested (\d+) "
                         r"tokens \((\d+) in the messages, (\d+) in the completion\)\." % CTX)

    def test_max_tokens_beyond_the_room_left_is_clamped(self):
        # Agents send large fixed max_tokens (Claude Code 32,000): the answer is bounded by the
        # room the prompt leaves, and ends with "length" there; never refused, never past n_ctx.
        for max_tokens in (CTX, 10 ** 9):
            status, headers, data = self.srv.chat(body(max_tokens=max_tokens, temperature=0))
            self.assertEqual(status, 200, data)
            r = json.loads(data)
            usage, finish = r["usage"], r["choices"][0]["finish_reason"]
            self.assertLessEqual(usage["prompt_tokens"] + usage["completion_tokens"], CTX)
            if finish == "length":
                self.assertEqual(usage["prompt_tokens"] + usage["completion_tokens"], CTX)
            else:
                self.assertEqual(finish, "stop")
        self.normal_request_ok()

    def test_oversized_body_413(self):
        big = body(messages=[user("x" * (MAX_BODY + 10))])
        status, headers, data = self.srv.chat(big)
        check_error_body(self, status, headers, data, 413)
        self.normal_request_ok()

    def test_oversized_chunked_body_413(self):
        b = json.dumps(body(messages=[user("x" * (MAX_BODY + 10))])).encode()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(b[i:i + 8192]), b[i:i + 8192]) for i in range(0, len(b), 8192))
        raw = self.srv.raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n", timeout=10)
        self.assertRegex(raw, rb"^HTTP/1\.1 413 ")
        self.normal_request_ok()

    @known_bug("a declared Content-Length over --max-body (or negative) is answered only after the "
               "30 s read timeout instead of at once")
    def test_declared_oversized_content_length_413_at_once(self):
        for cl in (b"1000000000000", b"-5"):
            with self.subTest(content_length=cl):
                raw = self.srv.raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
                                   b"Content-Type: application/json\r\nContent-Length: " + cl + b"\r\n\r\n", timeout=2)
                self.assertRegex(raw, rb"^HTTP/1\.1 (400|413) ")

    def test_bad_request_line_and_huge_header(self):
        for name, payload in [("garbage request line", b"GARBAGE\r\n\r\n"),
                              ("header over 16 KiB", b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: " +
                               b"a" * 20000 + b"\r\n\r\n")]:
            with self.subTest(case=name):
                raw = self.srv.raw(payload, timeout=10)
                m = re.match(rb"^HTTP/1\.1 (\d+) ", raw)
                self.assertIsNotNone(m, raw[:200])
                self.assertIn(int(m.group(1)), (400, 413, 431))
                doc = json.loads(raw.partition(b"\r\n\r\n")[2])
                self.assertEqual(sorted(doc["error"]), ["code", "message", "param", "type"])
        self.normal_request_ok()

    def test_unknown_route_404(self):
        for method, path in [("GET", "/v1/nope"), ("POST", "/v2/chat/completions"), ("GET", "/v1/chat/completions")]:
            with self.subTest(route=f"{method} {path}"):
                status, headers, data = self.srv.request(method, path, b"{}" if method == "POST" else None)
                check_error_body(self, status, headers, data, 404)

    def test_unknown_model_404(self):
        status, headers, data = self.srv.request("GET", "/v1/models/no-such-model")
        check_error_body(self, status, headers, data, 404, "model", "model_not_found")

    def test_host_not_allowed_403(self):
        for host in ["evil.example", "evil.example:80", "127.0.0.1.evil.example"]:
            with self.subTest(host=host):
                status, headers, data = self.srv.chat(body(), headers={"Host": host})
                check_error_body(self, status, headers, data, 403)
        # Local names are allowed.
        for host in ["localhost", f"localhost:{self.srv.port}", f"127.0.0.1:{self.srv.port}"]:
            with self.subTest(host=host):
                status, _, data = self.srv.chat(body(), headers={"Host": host})
                self.assertEqual(status, 200, data[:200])

    def test_unknown_fields_are_ignored(self):
        status, _, data = self.srv.chat(body(user="u1", metadata={"a": "b"}, store=False, prompt_cache_key="k",
                                             reasoning_effort="low", service_tier="auto", foo={"bar": [1]}))
        self.assertEqual(status, 200, data[:300])

    def test_zz_server_still_serves(self):
        self.normal_request_ok()
        status, _, data = self.srv.request("GET", "/health")
        self.assertEqual((status, json.loads(data)), (200, {"status": "ok"}))


class Auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lfmd-auth-")
        cls.model = gen_model(cls.tmp.name)
        cls.srv = LfmdServer(model=cls.model, workdir=cls.tmp.name,
                             args=["--api-key", API_KEY, "--allowed-hosts", "lfmd.internal"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()
        cls.tmp.cleanup()

    def test_bad_auth_401(self):
        cases = [
            ("no header", {}, "missing_api_key"),
            ("wrong key", {"Authorization": "Bearer sk-wrong"}, "invalid_api_key"),
            ("key prefix", {"Authorization": "Bearer " + API_KEY[:-1]}, "invalid_api_key"),
            ("key with suffix", {"Authorization": "Bearer " + API_KEY + "x"}, "invalid_api_key"),
            ("empty bearer", {"Authorization": "Bearer "}, None),
            ("basic scheme", {"Authorization": "Basic " + API_KEY}, None),
            ("key without scheme", {"Authorization": API_KEY}, None),
        ]
        for name, headers, code in cases:
            for method, path, b in [("POST", "/v1/chat/completions", body()), ("GET", "/v1/models", None),
                                    ("GET", "/metrics", None)]:
                with self.subTest(case=name, route=path):
                    status, hdrs, data = self.srv.request(method, path, b, headers=headers)
                    check_error_body(self, status, hdrs, data, 401, None, code)
                    self.assertNotIn(API_KEY, data.decode(errors="replace"))

    def test_health_stays_open(self):
        status, _, data = self.srv.request("GET", "/health")
        self.assertEqual((status, json.loads(data)), (200, {"status": "ok"}))

    def test_good_key(self):
        h = {"Authorization": "Bearer " + API_KEY}
        status, _, data = self.srv.chat(body(), headers=h)
        self.assertEqual(status, 200, data[:300])
        status, _, data = self.srv.request("GET", "/v1/models", headers=h)
        self.assertEqual(status, 200, data[:300])

    def test_allowed_hosts(self):
        h = {"Authorization": "Bearer " + API_KEY}
        status, _, data = self.srv.request("GET", "/v1/models", headers=dict(h, Host="lfmd.internal:8080"))
        self.assertEqual(status, 200, data[:300])
        status, hdrs, data = self.srv.request("GET", "/v1/models", headers=dict(h, Host="other.internal"))
        check_error_body(self, status, hdrs, data, 403)


if __name__ == "__main__":
    unittest.main(verbosity=2)
