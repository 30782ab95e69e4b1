#!/usr/bin/env python3
"""Connections: the server keeps answering with a thousand connections open.

- 1,000 connections at once (scripts/load-test.py): 400 idle keep-alive, 300 slow senders
  (headers and a trickle of a 100 KB body), 300 streaming chat requests (4 run, 16 queue, the
  rest get 429 + Retry-After), with /health and /metrics probed on fresh connections meanwhile:
  nothing hangs, every slow sender gets a 408 at --request-timeout, every stream ends with
  [DONE] or is refused with 429 + Retry-After, every probe answers. (The latency figure itself is
  a benchmark, not asserted tightly here: the bound below only catches a server that stalls.)
- At --max-connections, a further connection gets an immediate 503 with Retry-After, and the
  server serves again once connections close.
- A client that sends part of the headers and stops gets a 408 too.

Run: LFMD_BIN=build/lfmd python3 tests/server/test_connections.py
"""

import asyncio
import importlib.util
import os
import socket
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lfmd_server import LfmdServer, gen_model, wait_for  # noqa: E402

spec = importlib.util.spec_from_file_location(
    "load_test", os.path.join(HERE, "..", "..", "scripts", "load-test.py"))
load_test = importlib.util.module_from_spec(spec)
spec.loader.exec_module(load_test)

REQUEST_TIMEOUT_S = 3
STALL_BOUND_MS = 3000  # a stalled server (the failure this test exists for) takes 10+ s


def read_status(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class Connections(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lfmd-conn-")
        cls.model = gen_model(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_thousand_connections(self):
        srv = LfmdServer(["--test-hooks", "--request-timeout", str(REQUEST_TIMEOUT_S),
                          "--keep-alive-timeout", "300", "--parallel", "4", "--max-queue", "16"],
                         model=self.model)
        with srv:
            args = load_test.parse_args(["--url", f"http://127.0.0.1:{srv.port}",
                                         "--connections", "1000", "--hang-s", "60"])
            report = asyncio.run(load_test.run(args))
            print(report, file=sys.stderr)
            out = report["outcomes"]
            self.assertEqual(report["failures"], 0, out)
            self.assertEqual(out["idle"], {"200": 400})
            self.assertEqual(out["slow"], {"408": 300})
            self.assertEqual(set(out["stream"]) - {"200", "429"}, set(), out["stream"])
            self.assertGreaterEqual(int(out["stream"].get("200", 0)), 4)  # at least --parallel served
            for probe in ("health", "metrics"):
                self.assertEqual(set(out[probe]), {"200"}, out[probe])
                self.assertLess(report[probe + "_ms"]["max"], STALL_BOUND_MS)
            self.assertEqual(srv.metrics().get("lfmd_http_request_timeouts_total"), 300)

    def test_connection_cap_answers_503(self):
        srv = LfmdServer(["--max-connections", "20", "--http-threads", "2",
                          "--keep-alive-timeout", "300"], model=self.model)
        with srv:
            held = []
            try:
                for _ in range(20):  # fill the cap with idle connections (each served once)
                    s = socket.create_connection(("127.0.0.1", srv.port))
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    self.assertIn(b" 200 ", read_status(s, 30))
                    held.append(s)
                extra = socket.create_connection(("127.0.0.1", srv.port))
                reply = read_status(extra, 30)
                extra.close()
                self.assertTrue(reply.startswith(b"HTTP/1.1 503 "), reply)
                self.assertIn(b"Retry-After: 1", reply)
            finally:
                for s in held:
                    s.close()
            # Served again once the held connections are gone (their threads notice the close).
            wait_for(lambda: srv.request("GET", "/health")[0] == 200, 30, "serving after the cap")

    def test_partial_headers_get_408(self):
        srv = LfmdServer(["--request-timeout", "1"], model=self.model)
        with srv:
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Le")
            reply = read_status(s, 30)
            s.close()
            self.assertTrue(reply.startswith(b"HTTP/1.1 408 "), reply)


if __name__ == "__main__":
    unittest.main(verbosity=2)
