#!/usr/bin/env python3
"""Cancel on client disconnect: a client that goes away mid-stream,
during a non-streaming request, or during a long prefill makes the server stop generating for it.

Observed through GET /metrics only (lfmd_client_disconnects_total, lfmd_cancelled_total,
lfmd_requests_running, lfmd_generated_tokens_total), polled against deadlines - no sleeps.

"Stops generating": once the engine reports the request finished, the generated-token counter
moves by exactly the tokens of the next request; and the tokens generated between the moment
the socket was closed and the stop are a handful (one decode step plus the time one /metrics
round trip takes), never the thousands the request asked for.

Run: LFMD_BIN=build/lfmd python3 tests/server/test_disconnect.py
"""

import json
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lfmd_server import LfmdServer, RawStream, gen_model, user, wait_for  # noqa: E402

MAX_TOKENS = 3000
# Test hook (--test-hooks): the engine pauses this long after each forward pass of a request, so
# 3000 tokens take >= 15 s (the tiny model alone decodes them in under a second, which a loaded
# CI box can outrun) and a 200-pass prefill takes >= 1 s.
STEP_DELAY_MS = 5
# Tokens the engine may still produce between our close() and its stop: the step in flight,
# plus whatever it decodes while our /metrics snapshot is being taken under a loaded CI box.
SLACK = 24
DEADLINE = 15  # seconds, for every poll
LONG_PROMPT = " ".join(f"w{i}" for i in range(1000))  # ~3200 tokens; with --batch 16, ~200 passes


class Disconnect(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lfmd-disconnect-")
        cls.srv = LfmdServer(model=gen_model(cls.tmp.name), workdir=cls.tmp.name,
                             # No prefix cache: the prefill tests resend a prompt they just ran.
                             # One slot: the queued-request test needs a second request to wait.
                             args=["--test-hooks", "--batch", "16", "--keepalive-ms", "100", "--cache-mb", "0", "--parallel", "1"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()
        cls.tmp.cleanup()

    def setUp(self):
        # Every test starts with an idle engine.
        wait_for(lambda: self.idle(self.srv.metrics()), DEADLINE, "idle engine")

    def tearDown(self):
        if not self.srv.alive():
            self.fail("server died; stderr:\n" + self.srv.stderr_text()[-3000:])

    @staticmethod
    def idle(m):
        return m["lfmd_requests_running"] == 0 and m["lfmd_queue_depth"] == 0

    def m(self):
        return self.srv.metrics()

    def wait_cancelled(self, before):
        """Polls until the engine finished the request as cancelled because the client left."""
        def done():
            m = self.m()
            ok = (m["lfmd_client_disconnects_total"] >= before["lfmd_client_disconnects_total"] + 1 and
                  m["lfmd_cancelled_total"] >= before["lfmd_cancelled_total"] + 1 and
                  m["lfmd_generation_requests_total"] >= before["lfmd_generation_requests_total"] + 1 and
                  self.idle(m))
            return m if ok else None
        return wait_for(done, DEADLINE, "the server to notice the disconnect and cancel")

    def assert_stopped_growing(self, after):
        """The cancelled request generates nothing more: a 4-token request moves the counter by 4."""
        status, _, data = self.srv.chat({"messages": [user("x")], "max_tokens": 4, "seed": 1})
        self.assertEqual(status, 200, data[:300])
        self.assertEqual(json.loads(data)["usage"]["completion_tokens"], 4)
        m = self.m()
        self.assertEqual(m["lfmd_generated_tokens_total"], after["lfmd_generated_tokens_total"] + 4,
                         "generated tokens kept growing after the cancel")

    def gen(self, m):
        return m["lfmd_generated_tokens_total"]

    # ---- tests ----

    def _mid_stream(self, rst):
        before = self.m()
        s = RawStream(self.srv, {"messages": [user("Write a long essay")], "max_tokens": MAX_TOKENS,
                                 "seed": 11, "stream": True, "lfmd_step_delay_ms": STEP_DELAY_MS})
        self.assertEqual(s.read_head(), 200)
        deltas = 0
        while deltas < 10:
            ev = s.next_event()
            self.assertIsNotNone(ev, "stream ended early")
            if ev.startswith("data: ") and json.loads(ev[6:])["choices"][0]["delta"].get("content"):
                deltas += 1
        s.close(rst=rst)
        at_close = self.m()
        after = self.wait_cancelled(before)
        produced = self.gen(after) - self.gen(before)
        self.assertLess(produced, MAX_TOKENS)
        self.assertLessEqual(self.gen(after) - self.gen(at_close), SLACK,
                             "kept generating after the client closed the stream")
        self.assert_stopped_growing(after)

    def test_close_mid_stream(self):
        self._mid_stream(rst=False)

    def test_reset_mid_stream(self):
        self._mid_stream(rst=True)

    def test_close_during_non_streaming_decode(self):
        before = self.m()
        s = RawStream(self.srv, {"messages": [user("Write a long essay")], "max_tokens": MAX_TOKENS, "seed": 12,
                                 "lfmd_step_delay_ms": STEP_DELAY_MS})
        wait_for(lambda: self.gen(self.m()) >= self.gen(before) + 10, DEADLINE, "decoding to start")
        s.close()
        at_close = self.m()
        after = self.wait_cancelled(before)
        self.assertLess(self.gen(after) - self.gen(before), MAX_TOKENS)
        self.assertLessEqual(self.gen(after) - self.gen(at_close), SLACK,
                             "kept generating after the client of a non-streaming request left")
        self.assert_stopped_growing(after)

    def _prefill(self, stream):
        # How long a full prefill of LONG_PROMPT takes here (a one-token request).
        t0 = time.monotonic()
        status, _, data = self.srv.chat({"messages": [user(LONG_PROMPT)], "max_tokens": 1, "seed": 1,
                                            "lfmd_step_delay_ms": STEP_DELAY_MS})
        full_prefill = time.monotonic() - t0
        self.assertEqual(status, 200, data[:300])
        n_prompt = json.loads(data)["usage"]["prompt_tokens"]
        self.assertGreater(n_prompt, 2500)
        wait_for(lambda: self.idle(self.m()), DEADLINE, "idle engine")

        before = self.m()
        # max_tokens: the prompt plus it must fit the 4096-token context, or the answer is a 400.
        s = RawStream(self.srv, {"messages": [user(LONG_PROMPT + " again")], "max_tokens": 200, "seed": 1,
                                 "stream": stream, "lfmd_step_delay_ms": STEP_DELAY_MS})
        t_start = time.monotonic()
        wait_for(lambda: self.m()["lfmd_requests_running"] == 1, DEADLINE, "prefill to start")
        s.close()
        t_close = time.monotonic()
        after = self.wait_cancelled(before)
        t_stopped = time.monotonic()
        self.assertEqual(self.gen(after), self.gen(before), "a token was generated: the prefill was not cancelled")
        # The cancel lands between two prefill chunks, not after the whole prompt.
        self.assertLess(t_stopped - t_start, 0.6 * full_prefill,
                        f"stopping took {t_stopped - t_close:.3f}s after close; a full prefill takes {full_prefill:.3f}s")
        if "lfmd_forward_passes_total" in after:
            steps = after["lfmd_forward_passes_total"] - before["lfmd_forward_passes_total"]
            self.assertLess(steps, 0.6 * n_prompt / 16, "most prefill chunks ran after the client left")
        self.assert_stopped_growing(after)

    def test_close_during_streaming_prefill(self):
        self._prefill(stream=True)

    def test_close_during_non_streaming_prefill(self):
        self._prefill(stream=False)

    def test_close_while_queued(self):
        """A request that waits in the queue behind another and whose client leaves never runs."""
        before = self.m()
        a = RawStream(self.srv, {"messages": [user("x")], "max_tokens": MAX_TOKENS, "seed": 1, "stream": True,
                                 "lfmd_step_delay_ms": STEP_DELAY_MS})
        self.assertEqual(a.read_head(), 200)
        wait_for(lambda: self.m()["lfmd_requests_running"] == 1, DEADLINE, "first request running")
        b = RawStream(self.srv, {"messages": [user("y")], "max_tokens": MAX_TOKENS, "seed": 2,
                                 "lfmd_step_delay_ms": STEP_DELAY_MS})
        wait_for(lambda: self.m()["lfmd_queue_depth"] == 1, DEADLINE, "second request queued")
        b.close()
        wait_for(lambda: self.m()["lfmd_client_disconnects_total"] >= before["lfmd_client_disconnects_total"] + 1,
                 DEADLINE, "the queued request's disconnect to be noticed")
        a.close()
        def both_done():
            m = self.m()
            return m if (self.idle(m) and m["lfmd_generation_requests_total"] >=
                         before["lfmd_generation_requests_total"] + 2) else None
        after = wait_for(both_done, DEADLINE, "both requests finished")
        self.assertGreaterEqual(after["lfmd_cancelled_total"], before["lfmd_cancelled_total"] + 2)
        self.assertLess(self.gen(after) - self.gen(before), MAX_TOKENS)
        self.assert_stopped_growing(after)

    def test_zz_server_healthy(self):
        status, _, data = self.srv.request("GET", "/health")
        self.assertEqual(status, 200)
        m = self.m()
        self.assertGreaterEqual(m["lfmd_client_disconnects_total"], 1)
        self.assertTrue(self.idle(m))


if __name__ == "__main__":
    unittest.main(verbosity=2)
