#!/usr/bin/env python3
"""The serve log (spdlog): one access line per request of every protocol, in text and JSON
formats, with its fields; start-up and shutdown lines; size-based rotation of --log-file;
prompt and output text only with --log-prompts; the throughput line while busy.

Every server answers with --test-forced-output, so each protocol's answer is the same known
text. A line is written after its response is complete, so the tests wait (bounded polling) for
the expected number of lines, then check that no extra line came."""

import json
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lfmd_server import LfmdServer, gen_model, wait_for  # noqa: E402

OUTPUT = "OUTPUT-MARKER says hello"
SECRET = "ZEBRA-SECRET-4711"
MSG = [{"role": "user", "content": f"Tell me about {SECRET}"}]

# (method, path, body, protocol, generation?) - one request of each protocol and route kind.
REQUESTS = [
    ("POST", "/v1/chat/completions", {"model": "m", "messages": MSG}, "openai.chat", True),
    ("POST", "/v1/chat/completions", {"model": "m", "messages": MSG, "stream": True}, "openai.chat", True),
    ("POST", "/v1/completions", {"model": "m", "prompt": f"About {SECRET}", "max_tokens": 32}, "openai.completions", True),
    ("POST", "/v1/responses", {"model": "m", "input": f"About {SECRET}"}, "openai.responses", True),
    ("POST", "/v1/messages", {"model": "m", "max_tokens": 32, "messages": MSG}, "anthropic.messages", True),
    ("POST", "/api/chat", {"model": "m", "messages": MSG, "stream": False}, "ollama.chat", True),
    ("POST", "/api/chat", {"model": "m", "messages": MSG}, "ollama.chat", True),
    ("POST", "/api/generate", {"model": "m", "prompt": f"About {SECRET}", "stream": False}, "ollama.generate", True),
    ("GET", "/api/tags", None, "ollama.tags", False),
    ("GET", "/v1/models", None, "openai.models", False),
    ("POST", "/v1/chat/completions", {"model": "m"}, "openai.chat", False),  # 400: no messages
    ("GET", "/nowhere", None, "", False),  # 404
]
TOKEN_FIELDS = ("prompt_tokens", "cached_tokens", "completion_tokens", "ttft_ms", "decode_tps",
                "finish", "handoff", "upstream")


def parse_text(line):
    """'TS LEVEL event k=v k="quoted v" ...' -> (ts, level, event, {k: str})."""
    ts, level, event, rest = (line.split(" ", 3) + [""])[:4]
    fields = {}
    for m in re.finditer(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', rest):
        v = m.group(2)
        fields[m.group(1)] = json.loads(v) if v.startswith('"') else v
    return ts, level, event, fields


class LogServer:
    """A server logging to a file; lines() reads that file (and its rotated copies if asked)."""

    def __init__(self, model, workdir, fmt, extra=()):
        self.path = os.path.join(workdir, f"lfmd-{fmt}.log")
        self.srv = LfmdServer(["--test-hooks", "--test-forced-output", OUTPUT, "--ctx", "512",
                               "--log-file", self.path, "--log-format", fmt, *extra], model=model,
                              workdir=workdir)

    def lines(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                return [l for l in f.read().splitlines() if l]
        except FileNotFoundError:
            return []


class LoggingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lfmd-log-test-")
        cls.model = gen_model(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def workdir(self, name):
        d = os.path.join(self.tmp.name, name)
        os.makedirs(d, exist_ok=True)
        return d

    def run_requests(self, ls, parse):
        """Sends REQUESTS; returns the parsed access lines, one per request, in order."""
        records = []
        for i, (method, path, body, _, _) in enumerate(REQUESTS):
            status, _, data = ls.srv.request(method, path, body)
            records.append(status)
            wait_for(lambda: len([l for l in map(parse, ls.lines()) if l[2] == "request"]) >= i + 1,
                     30, f"the access line of {method} {path}")
        access = [l for l in map(parse, ls.lines()) if l[2] == "request"]
        self.assertEqual(len(access), len(REQUESTS), "exactly one line per request")
        return records, access

    def check_access(self, statuses, access, as_int):
        ids = [as_int(a[3]["id"]) for a in access]
        self.assertEqual(len(set(ids)), len(ids), "request ids are unique")
        for (method, path, body, protocol, gen), status, (_, level, _, f) in zip(REQUESTS, statuses, access):
            with self.subTest(path=path, body=body):
                self.assertEqual(level, "info")
                self.assertEqual(f["method"], method)
                self.assertEqual(f["route"], path)
                self.assertEqual(f["protocol"], protocol)
                self.assertEqual(as_int(f["status"]), status)
                self.assertTrue(re.fullmatch(r"127\.0\.0\.1:\d+", f["client"]), f["client"])
                self.assertIn("duration_ms", f)
                if not gen:
                    for k in TOKEN_FIELDS:
                        self.assertNotIn(k, f)
                    continue
                self.assertEqual(status, 200)
                self.assertTrue(f["model"].endswith(".gguf") or f["model"], f)
                self.assertGreater(as_int(f["prompt_tokens"]), 0)
                self.assertGreaterEqual(as_int(f["cached_tokens"]), 0)
                self.assertGreater(as_int(f["completion_tokens"]), 0)
                self.assertGreater(float(f["ttft_ms"]), 0)
                self.assertIn(f["finish"], ("stop", "length"))
                self.assertEqual(f["handoff"], "off")
                self.assertIn(f["upstream"], (None, "null"))
                self.assertNotIn("prompt", f)
                self.assertNotIn("output", f)

    def check_lifecycle(self, ls, parse):
        events = [l[2] for l in map(parse, ls.lines())]
        self.assertIn("scheduler", events)
        self.assertIn("start", events)
        start = next(l for l in map(parse, ls.lines()) if l[2] == "start")
        self.assertEqual(start[3]["url"], ls.srv.base_url)
        self.assertEqual(ls.srv.stop(), 0)
        self.assertEqual([l[2] for l in map(parse, ls.lines())][-2:], ["stopping", "stopped"])

    def test_text_format(self):
        ls = LogServer(self.model, self.workdir("text"), "text")
        with ls.srv:
            statuses, access = self.run_requests(ls, parse_text)
            self.check_access(statuses, access, int)
            # A path with an encoded newline and quote still gives one quoted line.
            self.assertEqual(ls.srv.request("GET", "/evil%0Aline%22%20x")[0], 404)
            last = wait_for(lambda: [l for l in map(parse_text, ls.lines()) if l[2] == "request"][len(REQUESTS):],
                            30, "the access line of the odd path")
            self.assertEqual(last[0][3]["route"], '/evil\nline" x')
            for l in ls.lines():
                self.assertRegex(l, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warning|error) \w+")
                self.assertNotIn(SECRET, l)
                self.assertNotIn("OUTPUT-MARKER", l)
            self.check_lifecycle(ls, parse_text)

    def test_json_format(self):
        def parse(line):
            j = json.loads(line)  # every line is one JSON object
            return j["ts"], j["level"], j["event"], j
        ls = LogServer(self.model, self.workdir("json"), "json")
        with ls.srv:
            statuses, access = self.run_requests(ls, parse)
            self.check_access(statuses, access, lambda v: v)
            for _, _, _, f in access:
                if "prompt_tokens" in f:
                    self.assertIsInstance(f["prompt_tokens"], int)
                    self.assertIsInstance(f["ttft_ms"], float)
            self.assertNotIn(SECRET, "\n".join(ls.lines()))
            self.check_lifecycle(ls, parse)

    def test_log_prompts(self):
        ls = LogServer(self.model, self.workdir("prompts"), "json", ["--log-prompts"])
        with ls.srv:
            for method, path, body, _, gen in REQUESTS:
                if gen:
                    self.assertEqual(ls.srv.request(method, path, body)[0], 200)
            n = sum(1 for r in REQUESTS if r[4])
            wait_for(lambda: len([l for l in ls.lines() if '"event":"request"' in l]) >= n, 30, "access lines")
            for l in ls.lines():
                j = json.loads(l)
                if j["event"] != "request":
                    continue
                with self.subTest(route=j["route"]):
                    self.assertIn(SECRET, j["prompt"])
                    self.assertIn("OUTPUT-MARKER", j["output"])

    def test_rotation(self):
        d = self.workdir("rotate")
        ls = LogServer(self.model, d, "text", ["--log-max-kb", "2", "--log-files", "2"])
        with ls.srv:
            for i in range(40):
                self.assertEqual(ls.srv.request("GET", "/v1/models")[0], 200)
            wait_for(lambda: os.path.exists(os.path.join(d, "lfmd-text.2.log")), 30,
                     "the second rotated file")
        files = sorted(f for f in os.listdir(d) if f.startswith("lfmd-text"))
        # spdlog names rotated files BASE.N.EXT: lfmd-text.log, lfmd-text.1.log, lfmd-text.2.log.
        self.assertEqual(files, ["lfmd-text.1.log", "lfmd-text.2.log", "lfmd-text.log"])
        for f in files:
            self.assertLessEqual(os.path.getsize(os.path.join(d, f)), 2048, f)
        for f in files[:2]:
            self.assertGreater(os.path.getsize(os.path.join(d, f)), 1024, f)

    def test_throughput_line(self):
        ls = LogServer(self.model, self.workdir("busy"), "json", ["--log-stats-ms", "20"])
        with ls.srv:
            slow = {"model": "m", "messages": MSG, "lfmd_step_delay_ms": 10,
                    "lfmd_forced_output": "word " * 40}
            self.assertEqual(ls.srv.request("POST", "/v1/chat/completions", slow)[0], 200)
            lines = wait_for(lambda: [json.loads(l) for l in ls.lines() if '"event":"throughput"' in l],
                             30, "a throughput line")
            t = lines[0]
            for k in ("prompt_tps", "gen_tps", "running", "queued", "kv_mib", "cache_mib", "cache_entries"):
                self.assertIn(k, t)
            self.assertTrue(any(x["gen_tps"] > 0 for x in lines), lines)
            self.assertTrue(any(x["running"] == 1 for x in lines), lines)

    def test_handoff_decision(self):
        """--handoff flag with threshold 1: every answer is below it, and the line says so."""
        ls = LogServer(self.model, self.workdir("handoff"), "json",
                       ["--handoff", "flag", "--confidence-threshold", "1"])
        with ls.srv:
            self.assertEqual(ls.srv.request("POST", "/api/chat", REQUESTS[5][2])[0], 200)
            line = wait_for(lambda: [json.loads(l) for l in ls.lines() if '"event":"request"' in l], 30,
                            "the access line")[0]
            self.assertEqual((line["protocol"], line["handoff"], line["upstream"]), ("ollama.chat", "handoff", None))

    def test_upstream_outcome(self):
        """--handoff proxy to a second lfmd: answers served by it say upstream=cloud (streamed and
        not); with the upstream gone, the fallback's reason (connect)."""
        up = LfmdServer(["--test-hooks", "--test-forced-output", "from the cloud", "--ctx", "512"],
                        model=self.model, workdir=self.workdir("upstream")).start()
        try:
            ls = LogServer(self.model, self.workdir("front"), "json",
                           ["--handoff", "proxy", "--confidence-threshold", "1",
                            "--upstream-url", up.base_url + "/v1", "--upstream-timeout-ms", "5000"])
            with ls.srv:
                body = {"model": "m", "messages": MSG}
                self.assertEqual(ls.srv.request("POST", "/v1/chat/completions", body)[0], 200)
                self.assertEqual(ls.srv.request("POST", "/v1/chat/completions", {**body, "stream": True})[0], 200)
                up.stop()
                self.assertEqual(ls.srv.request("POST", "/v1/chat/completions", body)[0], 200)
                def access():
                    lines = [j for j in map(json.loads, ls.lines()) if j["event"] == "request"]
                    return lines if len(lines) >= 3 else None
                lines = wait_for(access, 30, "3 access lines")
                got = [(j["handoff"], j["upstream"], j["finish"]) for j in lines]
                self.assertEqual(got, [("handoff", "cloud", "cloud"), ("handoff", "cloud", "cloud"),
                                       ("handoff", "connect", "stop")])
        finally:
            up.cleanup()

    def test_bad_options(self):
        not_a_dir = os.path.join(self.workdir("bad"), "a-file")
        open(not_a_dir, "w").close()
        for args, why in ((["--log-format", "xml"], "--log-format"), (["--log-level", "loud"], "--log-level"),
                          (["--log-file", os.path.join(not_a_dir, "lfmd.log")], "--log-file")):
            srv = LfmdServer(args, model=self.model, workdir=self.workdir("bad"))
            with self.subTest(args=args):
                with self.assertRaises(RuntimeError) as e:
                    srv.start(timeout=30)
                self.assertIn(why, str(e.exception))
                srv.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
