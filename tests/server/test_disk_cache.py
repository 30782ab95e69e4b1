#!/usr/bin/env python3
"""The prefix cache on disk (issue 20), end to end.

- Restart: a server answers a ~3,900-token agent-style prompt (system prompt + tool
  definitions) and stops; a new server on the same --cache-dir answers the same prefix with a new
  last message from the entry on disk: cached_tokens >= 95 % of the prompt, and content and
  logprobs are identical to a server without any cache (--no-disk-cache --cache-mb 0).
- Fallbacks, each on a copy of that cache directory: another model file (other seed), another
  quantization, another KV type (header patched, checksums recomputed by an independent Python
  implementation of the format's checksum), a corrupted entry, a truncated entry, a disk budget
  smaller than the entry, --no-disk-cache. Each computes the prompt (cached_tokens 0), answers
  exactly what the cache-less server answers, and the server says why on stderr / in /metrics.

Timing is not asserted (tiny model, shared CI machine): scripts/bench-disk-cache.py measures TTFT.
Run: LFMD_BIN=build/lfmd /usr/bin/python3 tests/server/test_disk_cache.py
"""

import glob
import json
import os
import shutil
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lfmd_server import LfmdServer, gen_model, user  # noqa: E402

TOOLS = [{"type": "function", "function": {
    "name": f"tool_{i}", "description": f"Runs step {i} of the workflow on the given file and reports what changed.",
    "parameters": {"type": "object", "properties": {"path": {"type": "string", "description": "file to work on"},
                                                    "dry_run": {"type": "boolean"}}, "required": ["path"]}}}
         for i in range(17)]
SYSTEM = "You are a coding agent. " + " ".join(f"Rule {i}: keep edits small and explain them." for i in range(70))


def body(last):
    return {"messages": [{"role": "system", "content": SYSTEM}, user("First, list the files."),
                         {"role": "assistant", "content": "Here they are."}, user(last)],
            "tools": TOOLS, "max_tokens": 16, "temperature": 0, "logprobs": True, "top_logprobs": 2}


FIRST = body("Now open the README and summarise it.")
SECOND = body("Instead, run the tests.")

# The format's checksum (engine/disk_format.cpp), written again from its description.
P1, P2, M = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, (1 << 64) - 1


def _mix(x):
    x ^= x >> 33
    x = (x * P2) & M
    x ^= x >> 29
    x = (x * P1) & M
    return x ^ (x >> 32)


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M


def checksum64(data, seed):
    h = [_mix((seed + P1 * (i + 1)) & M) for i in range(4)]
    padded = data + b"\0" * (-len(data) % 32)
    for off in range(0, len(padded), 32):
        for i in range(4):
            w = int.from_bytes(padded[off + 8 * i:off + 8 * i + 8], "little")
            h[i] = (_rotl(h[i] ^ ((w * P1) & M), 29) * P2) & M
    x = _mix(len(data) ^ P2)
    for i in range(4):
        x = (_rotl(x ^ _mix(h[i]), 27) * P1) & M
    return _mix(x)


class DiskCache(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lfmd-disk-cache-")
        cls.dir = cls.tmp.name
        cls.model = gen_model(cls.dir, "tiny-moe", "q8_0", seed=1)
        cls.refs = {}
        # One entry on disk: the first conversation, written at shutdown.
        cls.seed_dir = os.path.join(cls.dir, "seed-cache")
        out, srv = cls.run_server(cls.model, cls.seed_dir, FIRST)
        cls.first_prompt_tokens = out["usage"]["prompt_tokens"]
        cls.entries = glob.glob(os.path.join(cls.seed_dir, "*.lfpc"))
        assert len(cls.entries) == 1, (os.listdir(cls.seed_dir), srv)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def run_server(cls, model, cache_dir, req, extra=()):
        """Starts a server, sends one request, stops it. Returns (response JSON, stderr, metrics)."""
        args = ["--cache-dir", cache_dir] if cache_dir else []
        with LfmdServer(args + list(extra), model=model) as srv:
            status, _, data = srv.chat(req, timeout=300)
            assert status == 200, data[:300]
            metrics = srv.metrics()
            srv.stop()
            return json.loads(data), (srv.stderr_text(), metrics)

    def reference(self, model):
        """SECOND on a server without any cache."""
        if model not in self.refs:
            out, _ = self.run_server(model, None, SECOND, ["--no-disk-cache", "--cache-mb", "0"])
            self.assertEqual(out["usage"]["prompt_tokens_details"]["cached_tokens"], 0)
            self.refs[model] = out
        return self.refs[model]

    def copy_cache(self, name):
        d = os.path.join(self.dir, name)
        shutil.copytree(self.seed_dir, d)
        return d, os.path.join(d, os.path.basename(self.entries[0]))

    def assert_same_answer(self, out, ref):
        self.assertEqual(out["choices"][0]["message"], ref["choices"][0]["message"])
        self.assertEqual(out["choices"][0]["logprobs"], ref["choices"][0]["logprobs"])
        self.assertEqual(out["choices"][0]["finish_reason"], ref["choices"][0]["finish_reason"])

    def fallback(self, cache_dir, reason, model=None, extra=()):
        """SECOND computes from scratch, answers as the cache-less server, and says `reason`."""
        model = model or self.model
        out, (stderr, metrics) = self.run_server(model, cache_dir, SECOND, extra)
        self.assertEqual(out["usage"]["prompt_tokens_details"]["cached_tokens"], 0)
        self.assert_same_answer(out, self.reference(model))
        self.assertEqual(metrics['lfmd_prefix_cache_hits_total{source="disk"}'], 0)
        if reason:
            self.assertIn(f"({reason})", stderr)
            self.assertEqual(metrics[f'lfmd_prefix_cache_disk_discarded_total{{reason="{reason}"}}'], 1, stderr)
        return stderr, metrics

    def test_restart_resumes_from_disk_exactly(self):
        d, _ = self.copy_cache("restart")
        out, (stderr, metrics) = self.run_server(self.model, d, SECOND)
        usage = out["usage"]
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        print(f"\nrestart: prompt {usage['prompt_tokens']} tokens (first turn {self.first_prompt_tokens}), "
              f"cached {cached} from disk", file=sys.stderr)
        self.assertGreater(usage["prompt_tokens"], 3500)
        self.assertGreaterEqual(cached, 0.95 * usage["prompt_tokens"])
        self.assert_same_answer(out, self.reference(self.model))
        self.assertEqual(metrics['lfmd_prefix_cache_hits_total{source="disk"}'], 1)
        self.assertEqual(metrics['lfmd_prefix_cache_hit_tokens_total{source="disk"}'], cached)
        self.assertEqual(metrics['lfmd_prefix_cache_hits_total{source="memory"}'], 0)
        self.assertEqual(metrics["lfmd_prefix_cache_disk_loads_total"], 1)
        self.assertNotIn("warning", stderr)

    def test_other_model_file(self):
        other = gen_model(self.dir, "tiny-moe", "q8_0", seed=2)
        d, entry = self.copy_cache("other-model")
        self.fallback(d, "model", model=other)
        self.assertTrue(os.path.exists(entry))  # kept for the server of that model

    def test_other_quantization(self):
        q4 = gen_model(self.dir, "tiny-moe", "q4_0", seed=1)
        d, _ = self.copy_cache("other-quant")
        self.fallback(d, "model", model=q4)

    def test_other_kv_type(self):
        d, entry = self.copy_cache("other-kv")
        with open(entry, "r+b") as f:
            head = bytearray(f.read(128))
            self.assertEqual(head[:8], b"LFMDPFXC")
            self.assertEqual(checksum64(bytes(head[:120]), 1), struct.unpack_from("<Q", head, 120)[0])
            kv = struct.unpack_from("<I", head, 12)[0]  # the server's KV type (f32 0, f16 1, q8_0 2)
            struct.pack_into("<I", head, 12, kv ^ 1)  # another one
            struct.pack_into("<Q", head, 120, checksum64(bytes(head[:120]), 1))
            f.seek(0)
            f.write(head)
        self.fallback(d, "kv_type")

    def test_corrupt_entry(self):
        d, entry = self.copy_cache("corrupt")
        size = os.path.getsize(entry)
        with open(entry, "r+b") as f:
            f.seek(size // 2)  # inside the KV rows
            b = f.read(1)
            f.seek(size // 2)
            f.write(bytes([b[0] ^ 0x01]))
        self.fallback(d, "checksum")
        self.assertFalse(os.path.exists(entry))  # deleted once found corrupt

    def test_truncated_entry(self):
        d, entry = self.copy_cache("truncated")
        os.truncate(entry, os.path.getsize(entry) - 4096)
        self.fallback(d, "truncated")
        self.assertFalse(os.path.exists(entry))

    def test_full_disk_budget(self):
        d = os.path.join(self.dir, "tiny-budget")
        _, (stderr, metrics) = self.run_server(self.model, d, FIRST, ["--cache-disk-mb", "1"])
        self.assertIn("(too_large)", stderr)
        self.assertEqual(metrics['lfmd_prefix_cache_disk_discarded_total{reason="too_large"}'], 0)  # at shutdown
        self.assertEqual(glob.glob(os.path.join(d, "*")), [])
        self.fallback(d, None, extra=["--cache-disk-mb", "1"])

    def test_no_disk_cache(self):
        d, entry = self.copy_cache("disabled")
        _, metrics = self.fallback(d, None, extra=["--no-disk-cache"])
        self.assertEqual(metrics["lfmd_prefix_cache_disk_enabled"], 0)
        self.assertEqual(os.listdir(d), [os.path.basename(entry)])  # nothing written


if __name__ == "__main__":
    unittest.main(verbosity=2)
