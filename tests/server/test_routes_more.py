#!/usr/bin/env python3
"""Routes beyond Chat Completions and the reasoning / LFM2.5 output forms, end to end:
POST /v1/completions (legacy), /tokenize, /detokenize, reasoning (<think>) in Chat Completions
streamed and not, LFM2.5 bare call lists, and >= 30 malformed bodies per new route (status, the
OpenAI error body, the server still serving). Forced outputs use --test-hooks."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lfmd_server import LfmdServer, gen_model, sse_events, user  # noqa: E402

CTX = 1024
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


def payloads(data):
    """The data payloads of an SSE body, comments (: ping) skipped."""
    return [e[len("data: "):] for e in sse_events(data) if e.startswith("data: ")]


def completions_cases():
    ok = {"prompt": "hi", "max_tokens": 2}
    return [
        ("empty body", b""), ("not json", b"hello"), ("array body", b"[]"), ("null body", b"null"),
        ("depth bomb", b"[" * 50000 + b"]" * 50000), ("missing prompt", {"max_tokens": 2}),
        ("prompt null", {"prompt": None}), ("prompt number", {"prompt": 5}),
        ("prompt empty list", {"prompt": []}), ("prompt token ids", {"prompt": [1, 2, 3]}),
        ("prompt list with a number", {"prompt": ["a", 1]}), ("prompt 17 entries", {"prompt": ["a"] * 17}),
        ("suffix", {**ok, "suffix": "x"}), ("max_tokens 0", {**ok, "max_tokens": 0}),
        ("max_tokens string", {**ok, "max_tokens": "5"}), ("max_tokens float", {**ok, "max_tokens": 2.5}),
        ("max_tokens negative", {**ok, "max_tokens": -1}), ("temperature 3", {**ok, "temperature": 3}),
        ("temperature string", {**ok, "temperature": "hot"}), ("top_p 2", {**ok, "top_p": 2}),
        ("n 2", {**ok, "n": 2}), ("best_of 3", {**ok, "best_of": 3}), ("logprobs 6", {**ok, "logprobs": 6}),
        ("logprobs true", {**ok, "logprobs": True}), ("echo string", {**ok, "echo": "yes"}),
        ("stream string", {**ok, "stream": "yes"}), ("stream_options without stream", {**ok, "stream_options": {}}),
        ("stop number", {**ok, "stop": 5}), ("stop empty string", {**ok, "stop": ""}),
        ("stop 5 entries", {**ok, "stop": ["a", "b", "c", "d", "e"]}), ("logit_bias", {**ok, "logit_bias": {"1": 5}}),
        ("presence_penalty 3", {**ok, "presence_penalty": 3}), ("seed string", {**ok, "seed": "1"}),
        ("seed huge", b'{"prompt":"hi","seed":99999999999999999999999}'),
        ("prompt too long", {"prompt": "w " * 3000, "max_tokens": 1}),
    ]


def tokenize_cases():
    """>= 30 malformed bodies for each of /tokenize and /detokenize."""
    common = [b"", b"not json", b"[1]", b"null", b"42", b'"text"', b"{", b'{"content": "a",}',
              b"{'content': 'a'}", b"[" * 50000 + b"]" * 50000, b"{" * 200 + b"}" * 200,
              {}, {"other": 1}]
    tok = [("/tokenize", c) for c in common] + [("/tokenize", b) for b in (
        {"content": 5}, {"content": None}, {"content": []}, {"content": {}}, {"content": True}, {"content": 1.5},
        {"content": ["a"]}, {"content": "a", "add_special": "yes"}, {"content": "a", "add_special": 1},
        {"content": "a", "with_pieces": 1}, {"content": "a", "with_pieces": "true"},
        {"content": "a", "parse_special": []}, {"content": "a", "parse_special": {}},
        {"content": "a", "add_special": [True]}, {"tokens": [1]}, {"content": 10 ** 30},
        {"Content": "a"}, {"content": -1})]
    detok = [("/detokenize", c) for c in common] + [("/detokenize", b) for b in (
        {"tokens": "1 2"}, {"tokens": None}, {"tokens": 5}, {"tokens": {}}, {"tokens": [-1]},
        {"tokens": [10 ** 9]}, {"tokens": [1.5]}, {"tokens": ["a"]}, {"tokens": [None]},
        {"tokens": [[1]]}, {"tokens": [{}]}, {"tokens": [True]}, {"tokens": [1, -5]},
        {"tokens": [2 ** 31]}, {"tokens": [10 ** 30]}, {"content": "a"}, {"Tokens": [1]},
        {"tokens": [1, "2"]})]
    return tok + detok


class RoutesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.srv = LfmdServer(["--test-hooks", "--ctx", str(CTX)], model=gen_model(cls.tmp.name), workdir=cls.tmp.name)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.tmp.cleanup()

    def post(self, path, body):
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, headers, data = self.srv.request("POST", path, payload, {"Content-Type": "application/json"})
        return status, headers, data

    def assert_error(self, status, data, name):
        self.assertEqual(status, 400, f"{name}: {data[:200]!r}")
        err = json.loads(data)["error"]
        self.assertIsInstance(err["message"], str, name)
        self.assertEqual(err["type"], "invalid_request_error", name)

    def serving(self):
        status, _, data = self.post("/v1/completions", {"prompt": "ok", "max_tokens": 1})
        self.assertEqual(status, 200, data)

    # ---- /v1/completions ----
    def test_completions_stream_equals_whole(self):
        req = {"prompt": "Once upon a time", "max_tokens": 12, "temperature": 0, "stop": ["zz"]}
        status, _, data = self.post("/v1/completions", req)
        self.assertEqual(status, 200, data)
        whole = json.loads(data)
        self.assertEqual(whole["object"], "text_completion")
        status, _, data = self.post("/v1/completions", {**req, "stream": True, "stream_options": {"include_usage": True}})
        self.assertEqual(status, 200, data)
        events = [json.loads(e) for e in payloads(data) if e != "[DONE]"]
        text = "".join(c["text"] for e in events for c in e["choices"])
        self.assertEqual(text, whole["choices"][0]["text"])
        self.assertEqual(events[-2]["choices"][0]["finish_reason"], whole["choices"][0]["finish_reason"])
        self.assertEqual(events[-1]["usage"], whole["usage"])

    def test_completions_list_echo_logprobs(self):
        status, _, data = self.post("/v1/completions", {"prompt": ["Hello", "World"], "max_tokens": 3,
                                                        "temperature": 0, "echo": True, "logprobs": 2})
        self.assertEqual(status, 200, data)
        r = json.loads(data)
        self.assertEqual([c["index"] for c in r["choices"]], [0, 1])
        for c, prompt in zip(r["choices"], ["Hello", "World"]):
            self.assertTrue(c["text"].startswith(prompt))
            lp = c["logprobs"]
            self.assertEqual(len(lp["tokens"]), 3)
            self.assertEqual(lp["text_offset"][0], len(prompt))
            self.assertTrue(all(len(t) <= 2 for t in lp["top_logprobs"]))
            self.assertEqual(lp["text_offset"], sorted(lp["text_offset"]))
        self.assertEqual(r["usage"]["completion_tokens"], 6)

    def test_completions_malformed(self):
        cases = completions_cases()
        self.assertGreaterEqual(len(cases), 30)
        for name, body in cases:
            status, _, data = self.post("/v1/completions", body)
            self.assert_error(status, data, name)
        self.serving()

    # ---- /tokenize, /detokenize ----
    def test_tokenize_round_trip(self):
        text = "Hello <|im_start|> world"
        status, _, data = self.post("/tokenize", {"content": text, "with_pieces": True})
        self.assertEqual(status, 200, data)
        pieces = json.loads(data)["tokens"]
        self.assertEqual("".join(p["piece"] for p in pieces), text)
        ids = [p["id"] for p in pieces]
        status, _, data = self.post("/tokenize", {"content": text, "add_special": True})
        self.assertEqual(json.loads(data)["tokens"][1:], ids)  # BOS first
        status, _, data = self.post("/detokenize", {"tokens": ids})
        self.assertEqual(json.loads(data)["content"], text)

    def test_tokenize_malformed(self):
        cases = tokenize_cases()
        for route in ("/tokenize", "/detokenize"):
            self.assertGreaterEqual(sum(1 for p, _ in cases if p == route), 30)
        for path, body in cases:
            status, _, data = self.post(path, body)
            self.assert_error(status, data, f"{path} {body!r:.40}")
        self.serving()

    # ---- reasoning and LFM2.5 tool calls in Chat Completions ----
    def chat_both(self, forced, **extra):
        req = {"messages": [user("hi")], "lfmd_forced_output": forced, **extra}
        status, _, data = self.post("/v1/chat/completions", req)
        self.assertEqual(status, 200, data)
        whole = json.loads(data)
        status, _, data = self.post("/v1/chat/completions", {**req, "stream": True})
        chunks = [json.loads(e) for e in payloads(data) if e != "[DONE]"]
        deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
        streamed = {"reasoning": "".join(d.get("reasoning_content", "") for d in deltas),
                    "content": "".join(d.get("content") or "" for d in deltas),
                    "calls": [t["function"]["name"] for d in deltas for t in d.get("tool_calls", []) if "id" in t],
                    "finish": chunks[-1]["choices"][0]["finish_reason"]}
        return whole, streamed

    def check_reasoning(self, forced, reasoning, content, calls=(), finish="stop", **extra):
        whole, streamed = self.chat_both(forced, **extra)
        msg = whole["choices"][0]["message"]
        self.assertEqual(msg.get("reasoning_content", ""), reasoning, forced)
        self.assertEqual(msg["content"] or "", content, forced)
        self.assertEqual([t["function"]["name"] for t in msg.get("tool_calls", [])], list(calls), forced)
        self.assertEqual(whole["choices"][0]["finish_reason"], finish, forced)
        self.assertEqual(streamed, {"reasoning": reasoning, "content": content, "calls": list(calls), "finish": finish})
        if reasoning:
            self.assertGreater(whole["usage"]["completion_tokens_details"]["reasoning_tokens"], 0)

    def test_reasoning_forms(self):
        call = '<|tool_call_start|>[get_weather(city="Paris")]<|tool_call_end|>'
        self.check_reasoning("<think>plan it</think>\n\nThe answer.", "plan it", "The answer.")
        self.check_reasoning("<think>need weather</think>" + call, "need weather", "", ["get_weather"],
                             "tool_calls", tools=TOOLS)
        self.check_reasoning('<think>bare</think>[get_weather(city="Oslo")]', "bare", "", ["get_weather"],
                             "tool_calls", tools=TOOLS)
        self.check_reasoning("<think>only thinking</think>", "only thinking", "")
        # Unterminated thinking cut by max_tokens: all of it is reasoning, none is content.
        whole, streamed = self.chat_both("<think>" + "long thought " * 20, max_tokens=12)
        msg = whole["choices"][0]["message"]
        self.assertTrue(("long thought " * 20).startswith(msg["reasoning_content"]) and msg["reasoning_content"])
        self.assertEqual(msg["content"], "")
        self.assertEqual(whole["choices"][0]["finish_reason"], "length")
        self.assertEqual(streamed["reasoning"], msg["reasoning_content"])
        self.assertEqual(streamed["content"], "")

    def test_reasoning_raw_and_models_without_thinking(self):
        whole, _ = self.chat_both("<think>x</think>y", reasoning_format="none")
        self.assertEqual(whole["choices"][0]["message"]["content"], "<think>x</think>y")
        self.assertNotIn("reasoning_content", whole["choices"][0]["message"])
        whole, _ = self.chat_both("Just text.")
        self.assertNotIn("reasoning_content", whole["choices"][0]["message"])
        self.assertNotIn("completion_tokens_details", whole["usage"])

    def test_bare_list_only_for_offered_tools(self):
        self.check_reasoning('[get_weather(city="Oslo")]', "", "", ["get_weather"], "tool_calls", tools=TOOLS)
        self.check_reasoning('[other(x=1)]', "", '[other(x=1)]', tools=TOOLS)
        self.check_reasoning('[get_weather(city="Oslo")]', "", '[get_weather(city="Oslo")]')  # no tools offered

    def test_n_choices_share_one_prefill(self):
        words = " ".join(f"word{i}" for i in range(120))
        req = {"messages": [user(words)], "n": 3, "max_tokens": 5, "temperature": 0}
        before = self.srv.metrics()
        status, _, data = self.post("/v1/chat/completions", req)
        self.assertEqual(status, 200, data)
        r = json.loads(data)
        self.assertEqual([c["index"] for c in r["choices"]], [0, 1, 2])
        texts = {c["message"]["content"] for c in r["choices"]}
        self.assertEqual(len(texts), 1)  # greedy: the same answer three times
        self.assertEqual(r["usage"]["completion_tokens"], 15)
        after = self.srv.metrics()
        reused = after["lfmd_prompt_tokens_cached_total"] - before["lfmd_prompt_tokens_cached_total"]
        self.assertGreaterEqual(reused, 2 * (r["usage"]["prompt_tokens"] - 64))  # choices 1, 2 restart from 0's prompt
        status, _, data = self.post("/v1/chat/completions", {**req, "stream": True})
        chunks = [json.loads(e) for e in payloads(data) if e != "[DONE]"]
        for i in range(3):
            mine = [c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["index"] == i]
            self.assertEqual(mine[0]["delta"], {"role": "assistant", "content": ""})
            self.assertEqual("".join(m["delta"].get("content") or "" for m in mine), r["choices"][i]["message"]["content"])
            self.assertEqual(mine[-1]["finish_reason"], r["choices"][i]["finish_reason"])

    def test_models_say_the_context_length(self):
        status, _, data = self.srv.request("GET", "/v1/models")
        self.assertEqual(json.loads(data)["data"][0]["context_length"], CTX)


if __name__ == "__main__":
    unittest.main(verbosity=2)
