#!/usr/bin/env python3
"""Holds many connections of mixed kinds against a running lfmd and measures whether it keeps
serving: idle keep-alive connections, slow senders (headers and one byte of a 100 KB body, then a
byte every few seconds), streaming chat requests (more than --parallel + --max-queue, so some are
queued and some refused), while /health and /metrics are probed on fresh connections.

  python3 scripts/load-test.py --url http://127.0.0.1:8080 --connections 1000
  (start the server with --test-hooks for "lfmd_step_delay_ms" to slow the streams down)

Prints a JSON report: outcomes by kind (status codes, 'hung' = no answer within --hang-s),
/health and /metrics latency percentiles (ms). Exit status 1 if any request hung or got a 5xx
other than the documented 503 at the connection cap.
"""
import argparse
import asyncio
import http.client
import json
import resource
import threading
import time
import urllib.parse

CHAT_BODY = {"messages": [{"role": "user", "content": "Tell me a story"}], "max_tokens": 24,
             "stream": True}


def raise_open_files():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def read_response(reader, limit_s):
    """Reads one HTTP/1.1 response (Content-Length or chunked); returns (status, headers, body)."""
    async def go():
        line = await reader.readline()
        if not line:
            return None, {}, b""
        status = int(line.split()[1])
        headers = {}
        while True:
            h = await reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    await reader.readline()
                    break
                body += await reader.readexactly(size)
                await reader.readline()
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        return status, headers, body
    return await asyncio.wait_for(go(), limit_s)


def request_bytes(host, method, path, body=b"", extra=""):
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}"
    if body or method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class Load:
    def __init__(self, args):
        u = urllib.parse.urlparse(args.url)
        self.host, self.port = u.hostname, u.port
        self.hostport = f"{u.hostname}:{u.port}"
        self.args = args
        self.outcomes = {}          # kind -> {outcome: count}
        self.latency = {"health": [], "metrics": []}
        self.stop = asyncio.Event()
        self.step_delay = args.step_delay_ms

    def note(self, kind, outcome):
        d = self.outcomes.setdefault(kind, {})
        d[str(outcome)] = d.get(str(outcome), 0) + 1

    async def connect(self):
        return await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    async def idle(self):
        try:
            r, w = await self.connect()
            w.write(request_bytes(self.hostport, "GET", "/health"))
            status, _, _ = await read_response(r, self.args.hang_s)
            self.note("idle", status)
            await self.stop.wait()  # hold the keep-alive connection open
            w.close()
        except (asyncio.TimeoutError, TimeoutError):
            self.note("idle", "hung")
        except OSError as e:
            self.note("idle", type(e).__name__)

    async def slow(self):
        try:
            r, w = await self.connect()
            head = request_bytes(self.hostport, "POST", "/v1/chat/completions").split(b"Content-Length")[0]
            w.write(head + b"Content-Length: 100000\r\n\r\n{")
            t0 = time.monotonic()
            reader = asyncio.ensure_future(read_response(r, self.args.hang_s))
            while not reader.done():
                await asyncio.wait([reader], timeout=self.args.slow_byte_s)
                if not reader.done():
                    w.write(b" ")  # one more byte: keeps the connection busy, never finishes
            status, _, _ = reader.result()
            self.note("slow", status if status else "closed")
            self.note("slow_seconds", int(time.monotonic() - t0))
            w.close()
        except (asyncio.TimeoutError, TimeoutError):
            self.note("slow", "hung")
        except OSError as e:
            self.note("slow", type(e).__name__)

    async def stream(self):
        body = dict(CHAT_BODY)
        if self.step_delay:
            body["lfmd_step_delay_ms"] = self.step_delay
        data = json.dumps(body).encode()
        try:
            r, w = await self.connect()
            w.write(request_bytes(self.hostport, "POST", "/v1/chat/completions", data))
            status, headers, text = await read_response(r, self.args.hang_s)
            if status == 200 and b"data: [DONE]" not in text:
                status = "200-truncated"
            if status == 429 and "retry-after" not in headers:
                status = "429-no-retry-after"
            self.note("stream", status)
            w.close()
        except (asyncio.TimeoutError, TimeoutError):
            self.note("stream", "hung")
        except OSError as e:
            self.note("stream", type(e).__name__)

    def probe(self, path, key, stop):
        """Runs on a thread of its own (blocking sockets), so the latency measured is the server's,
        not this process's event loop juggling a thousand connections."""
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                c = http.client.HTTPConnection(self.host, self.port, timeout=self.args.hang_s)
                c.request("GET", path, headers={"Connection": "close"})
                resp = c.getresponse()
                resp.read()
                self.latency[key].append((time.monotonic() - t0) * 1000)
                self.note(key, resp.status)
                c.close()
            except TimeoutError:
                self.note(key, "hung")
            except OSError as e:
                self.note(key, type(e).__name__)
            stop.wait(self.args.probe_s)  # the probe's own pace, not synchronisation


def percentile(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p / 100 * len(xs)))], 2)


async def run(args):
    raise_open_files()
    load = Load(args)
    n = args.connections
    n_idle, n_slow = int(n * args.idle_share), int(n * args.slow_share)
    n_stream = n - n_idle - n_slow
    stop_probes = threading.Event()
    probes = [threading.Thread(target=load.probe, args=(p, k, stop_probes)) for p, k in
              (("/health", "health"), ("/metrics", "metrics"))]
    for t in probes:
        t.start()
    idle = [asyncio.ensure_future(load.idle()) for _ in range(n_idle)]
    work = [asyncio.ensure_future(load.slow()) for _ in range(n_slow)]
    work += [asyncio.ensure_future(load.stream()) for _ in range(n_stream)]
    t0 = time.monotonic()
    await asyncio.gather(*work)
    elapsed = time.monotonic() - t0
    load.stop.set()
    stop_probes.set()
    await asyncio.gather(*idle)
    for t in probes:
        t.join()
    bad = sum(v for d in load.outcomes.values() for k, v in d.items()
              if k == "hung" or (k.isdigit() and int(k) >= 500 and k != "503") or "truncated" in k
              or "no-retry" in k)
    return {
        "connections": {"idle": n_idle, "slow": n_slow, "stream": n_stream},
        "seconds": round(elapsed, 1),
        "outcomes": load.outcomes,
        "health_ms": {"n": len(load.latency["health"]), "p50": percentile(load.latency["health"], 50),
                      "p99": percentile(load.latency["health"], 99), "max": percentile(load.latency["health"], 100)},
        "metrics_ms": {"n": len(load.latency["metrics"]), "p50": percentile(load.latency["metrics"], 50),
                       "p99": percentile(load.latency["metrics"], 99), "max": percentile(load.latency["metrics"], 100)},
        "failures": bad,
    }


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--idle-share", type=float, default=0.4)
    ap.add_argument("--slow-share", type=float, default=0.3)
    ap.add_argument("--step-delay-ms", type=int, default=20, help="needs the server's --test-hooks; 0: off")
    ap.add_argument("--slow-byte-s", type=float, default=2.0)
    ap.add_argument("--probe-s", type=float, default=0.05)
    ap.add_argument("--hang-s", type=float, default=120.0, help="no answer within this = hung")
    return ap.parse_args(argv)


def main():
    report = asyncio.run(run(parse_args()))
    print(json.dumps(report, indent=1))
    raise SystemExit(1 if report["failures"] else 0)


if __name__ == "__main__":
    main()
