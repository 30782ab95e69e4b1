#!/usr/bin/python3
"""A local stand-in for the Hugging Face Hub, for lfmd pull's tests (stdlib only).

Two HTTP servers on 127.0.0.1, both on free ports: the Hub (model info, tree, resolve) and a
"storage" host that resolve/ redirects to (like the Hub's CDN), which serves Range requests.
Prints "HUB_PORT STORAGE_PORT" on one line once both listen, then serves until stdin closes.

    fake_hub.py SPEC.json [CERT.pem KEY.pem]   (with a certificate the Hub itself speaks HTTPS)
SPEC: {"repos": {"org/name": {"gated": false, "commit": "<40 hex>",
                             "files": {"path": {"file": "/local/file", "drop_after": N,
                                                "corrupt": false}}}},
       "token": "hf_secret"}
  drop_after: the first GET of that file sends the full Content-Length but closes after N bytes.
  corrupt: the storage host serves the file with one byte changed (the tree keeps the true hash).
  hold_after: the first GET of that file sends N bytes, then waits for GET /_release on the Hub
  (GET /_held on the Hub returns once such a response is being held).
Control: GET /_stats on the Hub gives request logs (path, range, whether Authorization came).
"""
import hashlib
import json
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

SPEC = json.load(open(sys.argv[1]))
LOCK = threading.Lock()
LOG = []          # {"host": "hub"|"storage", "path", "range", "auth"}
DROPPED = set()   # files whose one dropped connection has happened
HELD = set()      # files whose one held response has started
RELEASE = threading.Event()
HOLDING = threading.Event()
BLOBS = {}        # sha256 -> (repo, path, meta)
STORAGE_PORT = [0]

for repo, r in SPEC["repos"].items():
    for path, meta in r["files"].items():
        data = open(meta["file"], "rb").read()
        meta["size"] = len(data)
        meta["sha256"] = hashlib.sha256(data).hexdigest()
        BLOBS[meta["sha256"]] = (repo, path, meta)


def authorized(headers):
    return headers.get("Authorization") == "Bearer " + SPEC.get("token", "")


class Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    host_name = ""

    def log_message(self, *a):
        pass

    def record(self):
        with LOCK:
            LOG.append({"host": self.host_name, "path": self.path, "range": self.headers.get("Range"),
                        "auth": self.headers.get("Authorization") is not None})

    def send_json(self, status, obj, extra=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


class Hub(Base):
    host_name = "hub"

    def do_GET(self):
        self.record()
        u = urlparse(self.path)
        parts = u.path.strip("/").split("/")
        if u.path == "/_stats":
            with LOCK:
                return self.send_json(200, LOG)
        if u.path == "/_held":
            return self.send_json(200, {"held": HOLDING.wait(timeout=300)})
        if u.path == "/_release":
            RELEASE.set()
            return self.send_json(200, {})
        if parts[:2] == ["api", "models"] and len(parts) >= 5:
            return self.api(parts[2] + "/" + parts[3], parts[4:])
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.resolve(parts[0] + "/" + parts[1], parts[3], "/".join(parts[4:]))
        self.send_json(404, {"error": "not found"})

    def repo_or_error(self, repo):
        r = SPEC["repos"].get(repo)
        if r is None:
            self.send_json(404, {"error": "Repository not found"})
            return None
        if r.get("gated") and not authorized(self.headers):
            self.send_json(401, {"error": "Access to model " + repo + " is restricted."})
            return None
        return r

    def api(self, repo, rest):
        r = self.repo_or_error(repo)
        if r is None:
            return
        if rest[0] == "revision":
            return self.send_json(200, {"id": repo, "sha": r["commit"], "gated": bool(r.get("gated")),
                                        "siblings": [{"rfilename": p} for p in r["files"]]})
        if rest[0] == "tree" and rest[1:2] == [r["commit"]]:
            return self.send_json(200, [{"type": "file", "path": p, "size": 134, "oid": "0" * 40,
                                         "lfs": {"oid": m["sha256"], "size": m["size"], "pointerSize": 134}}
                                        for p, m in r["files"].items()])
        self.send_json(404, {"error": "not found"})

    def resolve(self, repo, rev, path):
        r = self.repo_or_error(repo)
        if r is None:
            return
        meta = r["files"].get(path)
        if meta is None or rev not in (r["commit"], "main"):
            return self.send_json(404, {"error": "Entry not found"})
        loc = f"http://127.0.0.1:{STORAGE_PORT[0]}/blob/{meta['sha256']}?sig=fake"
        self.send_response(302)
        self.send_header("Location", loc)
        self.send_header("ETag", '"' + meta["sha256"] + '"')
        self.send_header("X-Linked-Etag", '"' + meta["sha256"] + '"')
        self.send_header("X-Linked-Size", str(meta["size"]))
        self.send_header("X-Repo-Commit", r["commit"])
        self.send_header("Content-Length", "0")
        self.end_headers()


class Storage(Base):
    host_name = "storage"

    def do_GET(self):
        self.record()
        u = urlparse(self.path)
        parts = u.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "blob" or parts[1] not in BLOBS:
            return self.send_json(404, {"error": "no such blob"})
        repo, path, meta = BLOBS[parts[1]]
        data = bytearray(open(meta["file"], "rb").read())
        if meta.get("corrupt"):
            data[len(data) // 2] ^= 0xFF
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = bytes(data[start:])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"' + meta["sha256"] + '"')
        self.end_headers()
        key = repo + "/" + path
        with LOCK:
            drop = meta.get("drop_after") is not None and key not in DROPPED
            if drop:
                DROPPED.add(key)
        with LOCK:
            hold = meta.get("hold_after") is not None and key not in HELD
            if hold:
                HELD.add(key)
        if hold:
            self.wfile.write(body[:meta["hold_after"]])
            self.wfile.flush()
            HOLDING.set()
            RELEASE.wait(timeout=300)
            self.wfile.write(body[meta["hold_after"]:])
            return
        if drop:
            self.wfile.write(body[:meta["drop_after"]])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


def main():
    hub = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    storage = ThreadingHTTPServer(("127.0.0.1", 0), Storage)
    hub.daemon_threads = storage.daemon_threads = True
    if len(sys.argv) == 4:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        hub.socket = ctx.wrap_socket(hub.socket, server_side=True)
    STORAGE_PORT[0] = storage.server_address[1]
    for s in (hub, storage):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(hub.server_address[1], storage.server_address[1], flush=True)
    sys.stdin.read()  # until the test closes our stdin
    hub.shutdown()
    storage.shutdown()


if __name__ == "__main__":
    main()
