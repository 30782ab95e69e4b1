#!/usr/bin/python3
"""`lfmd pull` against the local Hub stand-in (fake_hub.py, loopback only): download with a
redirect to a second host, a dropped connection resumed with Range, an earlier interrupted run
resumed, cache reuse, offline use, a corrupted download refused by its SHA-256, a gated repository
with and without HF_TOKEN, a missing quantization, the closest default, a multi-part GGUF, two
pulls of one file at once (the second waits for the first).

usage: test_pull.py LFMD WORK_DIR
"""
import hashlib
import json
import os
import pty
import random
import shutil
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LFMD, WORK = sys.argv[1:3]
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
TOKEN = "hf_test_token_123"
COMMIT = {"tiny": "1" * 40, "gated": "2" * 40, "broken": "3" * 40, "split": "4" * 40, "other": "5" * 40,
          "resume": "6" * 40, "real": "7" * 40, "busy": "8" * 40}
failures = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    if not cond:
        failures.append(msg)


def make_file(name, size, seed):
    p = os.path.join(WORK, "src", name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(random.Random(seed).randbytes(size))
    return p


def spec():
    f = lambda name, size, seed, **kw: {"file": make_file(name, size, seed), **kw}  # noqa: E731
    return {"token": TOKEN, "repos": {
        "LiquidAI/LFM2-Tiny-GGUF": {"commit": COMMIT["tiny"], "files": {
            "LFM2-Tiny-Q4_0.gguf": f("t-q40", 300_000, 1),
            "LFM2-Tiny-Q4_K_M.gguf": f("t-q4km", 2_500_000, 2, drop_after=700_000),
            "LFM2-Tiny-Q8_0.gguf": f("t-q80", 400_000, 3),
            "LFM2-Tiny-Q4_K_M-hip-optimized.gguf": f("t-hip", 200_000, 13),
            "README.md": f("readme", 1000, 4)}},
        "LiquidAI/Gated-GGUF": {"commit": COMMIT["gated"], "gated": True, "files": {
            "Gated-Q4_K_M.gguf": f("g", 200_000, 5)}},
        "LiquidAI/Broken-GGUF": {"commit": COMMIT["broken"], "files": {
            "Broken-Q4_K_M.gguf": f("b", 300_000, 6, corrupt=True)}},
        "LiquidAI/Split-GGUF": {"commit": COMMIT["split"], "files": {
            "Q8_0/Split-Q8_0-00001-of-00002.gguf": f("s1", 500_000, 7),
            "Q8_0/Split-Q8_0-00002-of-00002.gguf": f("s2", 300_000, 8),
            "Split-Q4_0.gguf": f("s3", 100_000, 9)}},
        "LiquidAI/Other-GGUF": {"commit": COMMIT["other"], "files": {
            "Other-Q8_0.gguf": f("o1", 100_000, 10), "Other-Q5_K_M.gguf": f("o2", 120_000, 11)}},
        "LiquidAI/Resume-GGUF": {"commit": COMMIT["resume"], "files": {
            "Resume-Q6_K.gguf": f("r", 600_000, 12)}},
        "LiquidAI/Busy-GGUF": {"commit": COMMIT["busy"], "files": {
            "Busy-Q4_K_M.gguf": f("busy", 900_000, 14, hold_after=300_000)}},
        "LiquidAI/Real-GGUF": {"commit": COMMIT["real"], "files": {
            "Real-Q8_0.gguf": {"file": real_model()}}},
    }}


def real_model():
    out = os.path.join(WORK, "src", "real-q8_0.gguf")
    r = subprocess.run([LFMD, "gen-model", "--preset", "tiny", "--type", "q8_0", "--seed", "2", "--out", out],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return out


def sha(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


class FakeHub:
    def __init__(self, spec_path, tls=()):
        self.p = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_hub.py"), spec_path, *tls],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port, self.storage_port = map(int, self.p.stdout.readline().split())
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def log(self):
        with urllib.request.urlopen(self.url + "/_stats", timeout=30) as r:
            return json.load(r)

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


def hub_env(hub_url, token=None, offline=False):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update({"HF_ENDPOINT": hub_url, "HF_HOME": os.path.join(WORK, "hf-home"), "LFMD_HUB_BACKOFF_MS": "10"})
    if token:
        env["HF_TOKEN"] = token
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return env


def pull(hub_url, ref, token=None, offline=False):
    return subprocess.run([LFMD, "pull", ref], capture_output=True, text=True, timeout=300,
                          env=hub_env(hub_url, token, offline))


def stderr_on_a_terminal(cmd, env):
    """Runs cmd with stderr on a pseudo-terminal; returns (exit code, what it wrote there)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(timeout=300), out.decode("utf-8", "replace")


def repo_dir(repo):
    org, name = repo.split("/")
    return os.path.join(WORK, "hf-home", "hub", f"models--{org}--{name}")


def storage_gets(log, sha256):
    return [e for e in log if e["host"] == "storage" and f"/blob/{sha256}" in e["path"]]


def one_line_error(r):
    return r.returncode == 1 and r.stdout == "" and r.stderr.count("\n") == 1


def main():
    spec_path = os.path.join(WORK, "spec.json")
    s = spec()
    json.dump(s, open(spec_path, "w"))
    hub = FakeHub(spec_path)
    try:
        run_cases(hub, s)
    finally:
        hub.close()
    tls_cases(spec_path)
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print("all pull checks passed")


def run_cases(hub, s):
    tiny = s["repos"]["LiquidAI/LFM2-Tiny-GGUF"]["files"]
    src = tiny["LFM2-Tiny-Q4_K_M.gguf"]["file"]
    h = sha(src)
    # 1. default quantization, redirect to the storage host, a connection dropped mid-file
    r = pull(hub.url, "LiquidAI/LFM2-Tiny-GGUF", token=TOKEN)
    d = repo_dir("LiquidAI/LFM2-Tiny-GGUF")
    want = os.path.join(d, "snapshots", COMMIT["tiny"], "LFM2-Tiny-Q4_K_M.gguf")
    check(r.returncode == 0 and r.stdout.strip() == want, f"pull default -> Q4_K_M at {r.stdout.strip()} {r.stderr.strip()}")
    check(r.stderr == "", "silent when piped (no progress on a pipe)")
    check(os.path.isfile(want) and sha(want) == h, "downloaded file has the source's SHA-256")
    check(os.readlink(want) == f"../../blobs/{h}" and os.path.isfile(os.path.join(d, "blobs", h)),
          "cache layout: snapshots/<commit>/file -> ../../blobs/<sha256>")
    check(open(os.path.join(d, "refs", "main")).read().strip() == COMMIT["tiny"], "refs/main holds the commit")
    gets = storage_gets(hub.log(), h)
    check(len(gets) == 2 and gets[0]["range"] is None and gets[1]["range"] == "bytes=700000-",
          f"dropped connection resumed with Range in the same command: {[g['range'] for g in gets]}")
    check(not any(e["auth"] for e in hub.log() if e["host"] == "storage"),
          "Authorization not sent to the redirect's other host")
    check(any(e["auth"] for e in hub.log() if e["host"] == "hub"), "HF_TOKEN sent to the Hub")
    check(not any(n.endswith(".incomplete") for n in os.listdir(os.path.join(d, "blobs"))), "no .incomplete left")
    check(os.listdir(os.path.join(d, "snapshots", COMMIT["tiny"])) == ["LFM2-Tiny-Q4_K_M.gguf"],
          "only the plain Q4_K_M file (not the -hip-optimized variant)")

    # 2. a second pull reuses the cache (no storage request)
    n_before = len(storage_gets(hub.log(), h))
    r = pull(hub.url, "LiquidAI/LFM2-Tiny-GGUF:q4_k_m")
    check(r.returncode == 0 and r.stdout.strip() == want and len(storage_gets(hub.log(), h)) == n_before,
          "second pull reuses the cached blob")

    # 3. offline: from the cache only, even with the endpoint unreachable
    r = pull("http://127.0.0.1:9", "LiquidAI/LFM2-Tiny-GGUF", offline=True)
    check(r.returncode == 0 and r.stdout.strip() == want, f"HF_HUB_OFFLINE=1 finds the cached file {r.stderr.strip()}")
    r = pull("http://127.0.0.1:9", "LiquidAI/LFM2-Tiny-GGUF")
    check(r.returncode == 0 and r.stdout.strip() == want and r.stderr.count("\n") == 1 and "cached copy" in r.stderr,
          f"Hub unreachable (not offline): the cached copy, with a warning: {r.stderr.strip()}")
    r = pull("http://127.0.0.1:9", "LiquidAI/Other-GGUF")
    check(one_line_error(r) and "cannot reach" in r.stderr, f"Hub unreachable, not cached: {r.stderr.strip()}")
    r = pull("http://127.0.0.1:9", "LiquidAI/LFM2-Tiny-GGUF:Q8_0", offline=True)
    check(one_line_error(r) and "offline" in r.stderr, f"offline, not cached: {r.stderr.strip()}")

    # 4. a missing quantization lists the available ones
    r = pull(hub.url, "LiquidAI/LFM2-Tiny-GGUF:Q3_K_S")
    check(one_line_error(r) and "Q4_0, Q4_K_M, Q8_0" in r.stderr, f"missing quantization: {r.stderr.strip()}")

    # 5. gated repository
    r = pull(hub.url, "LiquidAI/Gated-GGUF")
    check(one_line_error(r) and "HF_TOKEN" in r.stderr, f"gated without HF_TOKEN: {r.stderr.strip()}")
    r = pull(hub.url, "LiquidAI/Gated-GGUF", token="hf_wrong")
    check(one_line_error(r) and "refused the token" in r.stderr, f"gated with a wrong token: {r.stderr.strip()}")
    r = pull(hub.url, "LiquidAI/Gated-GGUF", token=TOKEN)
    g = s["repos"]["LiquidAI/Gated-GGUF"]["files"]["Gated-Q4_K_M.gguf"]["file"]
    check(r.returncode == 0 and sha(r.stdout.strip()) == sha(g), "gated with HF_TOKEN downloads")

    # 6. a corrupted download is refused and leaves nothing behind
    r = pull(hub.url, "LiquidAI/Broken-GGUF")
    bd = repo_dir("LiquidAI/Broken-GGUF")
    left = os.listdir(os.path.join(bd, "blobs")) if os.path.isdir(os.path.join(bd, "blobs")) else []
    check(one_line_error(r) and "SHA-256" in r.stderr and left == [] and
          not os.path.exists(os.path.join(bd, "snapshots")), f"corrupted download refused: {r.stderr.strip()}; left {left}")

    # 7. multi-part GGUF: every part
    r = pull(hub.url, "LiquidAI/Split-GGUF:Q8_0")
    sd = os.path.join(repo_dir("LiquidAI/Split-GGUF"), "snapshots", COMMIT["split"], "Q8_0")
    files = s["repos"]["LiquidAI/Split-GGUF"]["files"]
    ok = r.returncode == 0 and r.stdout.strip() == os.path.join(sd, "Split-Q8_0-00001-of-00002.gguf")
    for part in ("Split-Q8_0-00001-of-00002.gguf", "Split-Q8_0-00002-of-00002.gguf"):
        ok = ok and os.path.isfile(os.path.join(sd, part)) and sha(os.path.join(sd, part)) == sha(files["Q8_0/" + part]["file"])
    check(ok and not os.path.exists(os.path.join(sd, "..", "Split-Q4_0.gguf")), f"multi-part Q8_0 fetched whole {r.stderr.strip()}")

    # 8. default without Q4_K_M: the closest one
    r = pull(hub.url, "LiquidAI/Other-GGUF")
    check(r.returncode == 0 and r.stdout.strip().endswith("Other-Q5_K_M.gguf"), f"closest default: {r.stdout.strip()}")

    # 9. an earlier interrupted run is resumed
    rs = s["repos"]["LiquidAI/Resume-GGUF"]["files"]["Resume-Q6_K.gguf"]["file"]
    rh = sha(rs)
    blobs = os.path.join(repo_dir("LiquidAI/Resume-GGUF"), "blobs")
    os.makedirs(blobs, exist_ok=True)
    with open(os.path.join(blobs, rh + ".incomplete"), "wb") as f:
        f.write(open(rs, "rb").read()[:123_456])
    r = pull(hub.url, "LiquidAI/Resume-GGUF")
    gets = storage_gets(hub.log(), rh)
    check(r.returncode == 0 and sha(r.stdout.strip()) == rh and [g["range"] for g in gets] == ["bytes=123456-"],
          f"interrupted earlier download resumed: {[g['range'] for g in gets]}")

    # 10. --model ORG/NAME:QUANT on a model command pulls and loads it; offline it comes from the cache
    real = s["repos"]["LiquidAI/Real-GGUF"]["files"]["Real-Q8_0.gguf"]["file"]
    cmd = [LFMD, "complete", "--model", "LiquidAI/Real-GGUF:Q8_0", "--prompt", "Hello", "-n", "4", "--threads", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=hub_env(hub.url))
    check(r.returncode == 0 and "Real-Q8_0.gguf" in r.stderr and "loaded" in r.stderr,
          f"complete --model ORG/NAME:QUANT pulls and loads: {r.stderr.strip()[-200:]}")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=hub_env("http://127.0.0.1:9", offline=True))
    check(r.returncode == 0 and "loaded" in r.stderr, "complete --model ORG/NAME:QUANT offline from the cache")
    check(sha(os.path.join(repo_dir("LiquidAI/Real-GGUF"), "snapshots", COMMIT["real"], "Real-Q8_0.gguf")) == sha(real),
          "the pulled model is the served file")

    n_log = len(hub.log())
    r = subprocess.run([LFMD, "complete", "--model", "models/missing.gguf", "--prompt", "x"], capture_output=True,
                       text=True, timeout=300, env=hub_env(hub.url))
    check(one_line_error(r) and "cannot open" in r.stderr and len(hub.log()) == n_log + 1,
          f"a missing *.gguf path is not taken for a repository: {r.stderr.strip()}")

    # 11. progress on a terminal: bytes, rate, ETA
    code, text = stderr_on_a_terminal([LFMD, "pull", "LiquidAI/LFM2-Tiny-GGUF:Q8_0"], hub_env(hub.url))
    check(code == 0 and "100%" in text and "/s" in text and "ETA" in text and "KiB" in text,
          f"progress on a terminal: {text.strip().splitlines()[-1] if text.strip() else ''!r}")

    # 12. two pulls of one file at once: the second waits for the first's download, then uses it
    busy_src = s["repos"]["LiquidAI/Busy-GGUF"]["files"]["Busy-Q4_K_M.gguf"]["file"]
    two_pulls_at_once(hub, sha(busy_src))

    # 13. unknown repository
    r = pull(hub.url, "LiquidAI/Nope-GGUF")
    check(one_line_error(r) and "not found" in r.stderr, f"unknown repository: {r.stderr.strip()}")


def two_pulls_at_once(hub, bh):
    first = subprocess.Popen([LFMD, "pull", "LiquidAI/Busy-GGUF"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=hub_env(hub.url))
    second = None
    try:
        # The stand-in holds the first's response after 300,000 bytes; /_held returns once it does.
        with urllib.request.urlopen(hub.url + "/_held", timeout=300) as r:
            held = json.load(r)["held"]
        check(held and len(storage_gets(hub.log(), bh)) == 1 and first.poll() is None, "first pull is downloading (held)")
        second = subprocess.Popen([LFMD, "pull", "LiquidAI/Busy-GGUF"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=hub_env(hub.url))
        line = second.stderr.readline()  # blocks until the second says it waits (or exits)
        check("another process is downloading Busy-Q4_K_M.gguf" in line, f"second pull waits: {line.strip()!r}")
    finally:
        urllib.request.urlopen(hub.url + "/_release", timeout=30).read()
        out1, err1 = first.communicate(timeout=300)
        out2, err2 = second.communicate(timeout=300) if second else ("", "")
    want = os.path.join(repo_dir("LiquidAI/Busy-GGUF"), "snapshots", COMMIT["busy"], "Busy-Q4_K_M.gguf")
    check(first.returncode == 0 and out1.strip() == want and sha(want) == bh, f"first pull completes: {err1.strip()}")
    check(second is not None and second.returncode == 0 and out2.strip() == want, f"second pull completes: {err2.strip()}")
    check(len(storage_gets(hub.log(), bh)) == 1, f"one download for both: {[g['range'] for g in storage_gets(hub.log(), bh)]}")
    blobs = os.listdir(os.path.join(repo_dir("LiquidAI/Busy-GGUF"), "blobs"))
    check(blobs == [bh], f"only the blob is left (no .incomplete or .lock): {blobs}")


def tls_cases(spec_path):
    """An https:// Hub: its certificate is verified, and its redirect to plain http is refused."""
    cert, key = os.path.join(WORK, "cert.pem"), os.path.join(WORK, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    hub = FakeHub(spec_path, (cert, key))
    try:
        shutil.rmtree(os.path.join(WORK, "hf-home"), ignore_errors=True)
        r = pull(hub.url, "LiquidAI/LFM2-Tiny-GGUF:Q4_0")
        check(one_line_error(r) and "certificate verification failed" in r.stderr,
              f"https Hub with an untrusted certificate refused: {r.stderr.strip()}")
        env = hub_env(hub.url)
        env["SSL_CERT_FILE"] = cert  # OpenSSL's default verify paths: now the certificate is trusted
        r = subprocess.run([LFMD, "pull", "LiquidAI/LFM2-Tiny-GGUF:Q4_0"], capture_output=True, text=True,
                           timeout=300, env=env)
        blobs = os.path.join(repo_dir("LiquidAI/LFM2-Tiny-GGUF"), "blobs")
        check(one_line_error(r) and "http://" in r.stderr and
              not any(not n.endswith(".incomplete") for n in (os.listdir(blobs) if os.path.isdir(blobs) else [])),
              f"trusted https Hub; its redirect to plain http refused: {r.stderr.strip()}")
    finally:
        hub.close()


if __name__ == "__main__":
    main()
