#!/usr/bin/env python3
"""Captures lfmd's wire output for a fixed set of Chat Completions requests, so that two builds can
be compared byte for byte (a refactor must not change what clients see).

    python3 scripts/wire-capture.py --bin build/lfmd --out /tmp/after.txt
    diff /tmp/before.txt /tmp/after.txt

Each record is the status, content type, the x-lfmd-served-by header and the raw body (SSE
streams whole). Ids (chatcmpl-..., call_...) and creation timestamps are replaced by fixed
placeholders; everything else is compared as sent. Uses the tiny-moe q8_0 test model, greedy
sampling, and the --test-hooks forced outputs for tool calls.
"""

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "server"))
from lfmd_server import LfmdServer, gen_model, user  # noqa: E402

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"]}}}]
CALL = '<|tool_call_start|>[get_weather(city="Paris")]<|tool_call_end|>'


def cases():
    base = {"messages": [user("Say something.")], "temperature": 0, "max_tokens": 12}
    out = []
    for stream in (False, True):
        s = {"stream": stream}
        out += [
            ("plain", {**base, **s}),
            ("usage", {**base, **s, "stream_options": {"include_usage": True}} if stream else {**base, **s}),
            ("logprobs", {**base, **s, "logprobs": True, "top_logprobs": 2}),
            ("stop", {**base, **s, "stop": ["e"]}),
            ("seeded", {**base, **s, "temperature": 1.0, "seed": 42, "top_k": 40}),
            ("tool_forced", {**base, **s, "tools": TOOLS, "lfmd_forced_output": "Sure. " + CALL}),
            ("tool_bad", {**base, **s, "tools": TOOLS, "lfmd_forced_output": "<|tool_call_start|>[x(]<|tool_call_end|>"}),
            ("required", {**base, **s, "tools": TOOLS, "tool_choice": "required", "max_tokens": 60}),
            ("json_object", {**base, **s, "response_format": {"type": "json_object"}, "max_tokens": 30}),
            ("length", {**base, **s, "max_tokens": 1}),
            ("bad_temp", {**base, **s, "temperature": "hot"}),
            ("ctx_overflow", {**base, **s, "messages": [user("w " * 3000)]}),
            ("bad_json", None),
        ]
    return out


def normalise(text):
    text = re.sub(r"chatcmpl-[0-9a-f]+", "chatcmpl-ID", text)
    text = re.sub(r"call_[A-Za-z0-9]+", "call_ID", text)
    return re.sub(r'"created":\d+', '"created":0', text)


def capture(srv, name, body):
    payload = b"{not json" if body is None else json.dumps(body).encode()
    conn_status, headers, data = _post(srv, payload)
    return f"### {name} status={conn_status} type={headers.get('content-type')} " \
           f"served_by={headers.get('x-lfmd-served-by')}\n{normalise(data.decode('utf-8', 'replace'))}\n"


def _post(srv, payload):
    import http.client
    host, port = srv.host, srv.port
    c = http.client.HTTPConnection(host, int(port), timeout=60)
    c.request("POST", "/v1/chat/completions", body=payload, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.environ["LFMD_BIN"] = os.path.abspath(a.bin)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        model = gen_model(tmp)
        with LfmdServer(["--test-hooks", "--ctx", "2048"], model=model) as srv:
            with open(a.out, "w") as f:
                for i, (name, body) in enumerate(cases()):
                    stream = bool(body and body.get("stream"))
                    f.write(capture(srv, f"{i:02d} {name} stream={stream}", body))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
