#!/usr/bin/env python3
"""The KV memory budget (--kv-budget) under more concurrent long requests than fit.

- Every request completes with exactly the text it gives alone (paused sequences resume exactly).
- /metrics counts the waits and preemptions, and the peak KV use stays within the budget.
- The process's peak RSS grows by no more than the budget plus a bounded overhead.
- A prompt the budget can never hold gets 400 context_length_exceeded naming --kv-budget.
- Start-up reports the budget.

Run: LFMD_BIN=build/lfmd python3 tests/server/test_kv_budget.py
"""

import json
import os
import random
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lfmd_server import LfmdServer, gen_model, user  # noqa: E402

BUDGET_MIB = 4
OVERHEAD_MIB = 32  # threads, scratch and allocator slack beyond the budget


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def words(rng, n):
    vocab = ["apple", "river", "stone", "cloud", "green", "light", "house", "music", "table", "water",
             "north", "paper", "glass", "horse", "night", "sugar"]
    return " ".join(rng.choice(vocab) for _ in range(n))


class KvBudget(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lfmd-kv-budget-")
        cls.model = gen_model(cls.tmp.name)
        cls.srv = LfmdServer(["--kv-budget", str(BUDGET_MIB), "--parallel", "4", "--no-disk-cache",
                              "--prefill-chunk", "32"], model=cls.model)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()
        cls.tmp.cleanup()

    def requests(self):
        limit = int(self.srv.metrics()["lfmd_context_limit_tokens"])
        self.assertGreater(limit, 100)
        rng = random.Random(5)
        out = []
        for i in range(5):
            # Prompts of about 30 % of what one request may hold (~1.9 tokens per word) and as
            # many new tokens: three start at once, they cannot all finish together.
            body = {"messages": [user(words(rng, int(limit * 0.15)))], "max_tokens": int(limit * 0.25),
                    "seed": 10 + i, "temperature": 0.0 if i % 2 == 0 else 0.8}
            out.append(body)
        return out

    def ask(self, body):
        status, _, raw = self.srv.chat(body, timeout=300)
        self.assertEqual(status, 200, raw)
        choice = json.loads(raw)["choices"][0]
        return choice["message"]["content"], choice["finish_reason"]

    def test_1_concurrent_requests_resume_exactly_within_the_budget(self):
        pid = self.srv.proc.pid
        idle_rss = status_kib(pid, "VmRSS")
        reqs = self.requests()
        alone = [self.ask(b) for b in reqs]
        got = [None] * len(reqs)

        def run(i):
            got[i] = self.ask(reqs[i])
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(reqs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        self.assertEqual(got, alone)
        m = self.srv.metrics()
        self.assertEqual(m["lfmd_kv_budget_bytes"], BUDGET_MIB << 20)
        self.assertGreater(m["lfmd_preemptions_total"], 0, m)
        self.assertGreater(m["lfmd_memory_waits_total"], 0, m)
        self.assertGreater(m["lfmd_recomputed_tokens_total"], 0, m)
        self.assertLessEqual(m["lfmd_kv_peak_bytes"], BUDGET_MIB << 20)
        self.assertEqual(m["lfmd_requests_paused"], 0)
        peak_growth_mib = (status_kib(pid, "VmHWM") - idle_rss) / 1024
        print(f"kv peak {m['lfmd_kv_peak_bytes']} B of {BUDGET_MIB << 20}; preemptions "
              f"{m['lfmd_preemptions_total']}; RSS idle {idle_rss / 1024:.1f} MiB, peak growth "
              f"{peak_growth_mib:.1f} MiB", file=sys.stderr)
        self.assertLess(peak_growth_mib, BUDGET_MIB + OVERHEAD_MIB)

    def test_2_a_prompt_the_budget_never_holds_is_refused(self):
        limit = int(self.srv.metrics()["lfmd_context_limit_tokens"])
        body = {"messages": [user(words(random.Random(1), limit + 50))], "max_tokens": 4}
        status, _, raw = self.srv.chat(body)
        self.assertEqual(status, 400, raw)
        err = json.loads(raw)["error"]
        self.assertEqual(err["code"], "context_length_exceeded")
        self.assertIn("--kv-budget", err["message"])

    def test_3_start_up_reports_the_budget(self):
        text = self.srv.stderr_text() + "\n".join(self.srv.stdout_lines)
        self.assertIn("kv_budget", text)
        self.assertIn(f"mib={BUDGET_MIB}", text)


if __name__ == "__main__":
    unittest.main()
