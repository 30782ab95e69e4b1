#!/usr/bin/env python3
"""Graceful stop under load: SIGTERM with a running stream and a full queue.

- Queued requests (never started) get 503 server_shutting_down with Retry-After at once
  (a queued stream, whose 200 headers are already out, gets that error as its last event).
- /health answers 503 while draining, so a load balancer stops sending.
- A running stream that finishes within --drain-timeout ends normally (finish_reason "length").
- A running stream still going at the drain timeout ends with a final chunk and [DONE].
- The process exits 0.

Run: LFMD_BIN=build/lfmd python3 tests/server/test_graceful_stop.py
"""

import json
import os
import signal
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lfmd_server import LfmdServer, RawStream, gen_model, user, wait_for  # noqa: E402


def chat_body(max_tokens, delay_ms, stream):
    # Forced text of at least max_tokens tokens: the random-weight model, sampled with a random
    # seed, ends its turn within 40 tokens about one time in fifteen.
    return {"messages": [user("Tell me a story")], "max_tokens": max_tokens, "stream": stream,
            "lfmd_step_delay_ms": delay_ms, "lfmd_forced_output": "story " * max_tokens}


def data_events(stream):
    out = []
    for ev in stream.events():
        if ev.startswith("data: "):
            out.append(ev[len("data: "):])
    return out


class GracefulStop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lfmd-stop-")
        cls.model = gen_model(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_stop(self, drain_s, running_tokens):
        srv = LfmdServer(["--test-hooks", "--parallel", "1", "--max-queue", "3",
                          "--drain-timeout", str(drain_s)], model=self.model)
        srv.start()
        try:
            running = RawStream(srv, chat_body(running_tokens, 20, True), timeout=60)
            self.assertEqual(running.read_head(), 200)
            wait_for(lambda: srv.metrics().get("lfmd_requests_running") == 1, 30, "running")
            queued_stream = RawStream(srv, chat_body(8, 0, True), timeout=60)
            answers = []

            def plain():
                answers.append(srv.chat(chat_body(8, 0, False), timeout=60))
            threads = [threading.Thread(target=plain) for _ in range(2)]
            for t in threads:
                t.start()
            wait_for(lambda: srv.metrics().get("lfmd_queue_depth") == 3, 30, "three queued")
            srv.proc.send_signal(signal.SIGTERM)
            for t in threads:
                t.join(60)
            for status, headers, body in answers:
                self.assertEqual(status, 503, body)
                self.assertEqual(headers.get("retry-after"), "1")
                self.assertEqual(json.loads(body)["error"]["code"], "server_shutting_down")
            queued_events = data_events(queued_stream)
            # The role chunk, then the error event, then the end.
            self.assertEqual(json.loads(queued_events[-1])["error"]["code"], "server_shutting_down")
            self.assertFalse(any(json.loads(e).get("choices", [{}])[0].get("delta", {}).get("content")
                                 for e in queued_events[:-1]), queued_events)
            if srv.proc.poll() is None and drain_s > 1:
                status, _, _ = srv.request("GET", "/health")
                self.assertEqual(status, 503)
            events = data_events(running)
            self.assertEqual(events[-1], "[DONE]")
            finals = [json.loads(e)["choices"][0].get("finish_reason") for e in events[:-1]
                      if json.loads(e).get("choices")]
            self.assertIsNotNone(finals[-1], "the running stream got no final chunk")
            self.assertEqual(srv.proc.wait(drain_s + 30), 0)
            return finals[-1]
        finally:
            srv.cleanup()

    def test_running_stream_finishes_within_the_drain_timeout(self):
        # 40 tokens at 20 ms a step: done in about a second, well within 60 s.
        self.assertEqual(self.run_stop(drain_s=60, running_tokens=40), "length")

    def test_running_stream_ended_at_the_drain_timeout(self):
        # 3,000 tokens at 20 ms a step would take a minute: ended after 1 s with a final chunk.
        self.assertNotEqual(self.run_stop(drain_s=1, running_tokens=3000), "length")


if __name__ == "__main__":
    unittest.main(verbosity=2)
