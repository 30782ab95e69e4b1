#!/usr/bin/env bash
# Constrained-decoding overhead benchmark (not part of CI): decode tokens/s of `lfmd serve` with a
# JSON-schema grammar (response_format json_schema) against the same server without one, same
# prompt, same max_tokens, greedy. Prints both rates and their ratio; the target is >= 0.85 (exit
# status 1 below it).
#
#   bash scripts/bench-grammar.sh [-n TOKENS] [-r RUNS] [-t THREADS] [--preset P] [--type T] [--model FILE]
#
# Defaults: 128 tokens, 5 runs, threads = nproc, and a generated random-weight lfm2-8b-a1b q4_0
# model (the LFM2-8B-A1B shape, 65,536-id vocabulary; ~4.7 GB) cached in
# ${LFMD_BENCH_DIR:-/tmp/lfmd-bench}. Binary: $LFMD_BIN, else build/lfmd. A rate is
# (completion_tokens - 1) / (t_last - t_first) over the SSE content events of one request (decode
# only: prefill is before the first token). Runs alternate (plain, grammar, plain, ...) so load
# drifts hit both; the medians are compared. The plain run has EOS suppressed (logit_bias) so it
# always generates the full max_tokens; the grammar run is steered by the grammar to finish within
# max_tokens (its output is checked to be valid JSON) and its rate uses its own token count.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lfmd=${LFMD_BIN:-$root/build/lfmd}
n=128
runs=5
threads=$(nproc)
preset=lfm2-8b-a1b
type=q4_0
model=""
while [[ $# -gt 0 ]]; do
  case $1 in
    -n) n=$2; shift 2 ;;
    -r) runs=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    --preset) preset=$2; shift 2 ;;
    --type) type=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x $lfmd ]] || { echo "no lfmd binary at $lfmd (build it, or set LFMD_BIN)" >&2; exit 2; }
python=/usr/bin/python3
[[ -x $python ]] || python=python3
if [[ -z $model ]]; then
  dir=${LFMD_BENCH_DIR:-/tmp/lfmd-bench}
  mkdir -p "$dir"
  model=$dir/$preset-$type.gguf
  [[ -f $model ]] || "$lfmd" gen-model --preset "$preset" --type "$type" --out "$model" >&2
fi

exec "$python" - "$lfmd" "$model" "$n" "$runs" "$threads" <<'EOF'
import http.client, json, re, statistics, subprocess, sys, time

lfmd, model, n, runs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
SCHEMA = {"type": "object", "properties": {"items": {"type": "array", "minItems": 1, "items": {
    "type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string", "maxLength": 40},
        "tags": {"type": "array", "items": {"enum": ["red", "green", "blue", "urgent"]}, "maxItems": 4},
        "score": {"type": "number"}, "active": {"type": "boolean"},
        "owner": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {
            "email": {"type": "string", "pattern": "^[a-z]{1,12}@[a-z]{1,12}\\.com$"}}, "required": ["email"]}]}},
    "required": ["id", "name", "tags", "score", "active", "owner"]}}}, "required": ["items"]}

proc = subprocess.Popen([lfmd, "serve", "--model", model, "--port", "0", "--threads", threads],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
try:
    host = port = None
    for line in proc.stdout:
        m = re.match(r"listening on http://([^:]+):(\d+)$", line.strip())
        if m:
            host, port = m.group(1), int(m.group(2))
            break
    if port is None:
        sys.exit("lfmd serve did not start")

    def run(constrained):
        body = {"messages": [{"role": "user", "content": "List the open tickets as JSON."}], "stream": True,
                "max_tokens": n, "temperature": 0, "stream_options": {"include_usage": True}}
        if constrained:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "t", "schema": SCHEMA}}
        else:
            body["logit_bias"] = {"7": -100, "2": -100}
        conn = http.client.HTTPConnection(host, port, timeout=600)
        conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        t_first = t_last = None
        text, usage, buf = "", None, b""
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            now = time.perf_counter()
            buf += chunk
            while b"\n\n" in buf:
                ev, buf = buf.split(b"\n\n", 1)
                if not ev.startswith(b"data: ") or ev == b"data: [DONE]":
                    continue
                obj = json.loads(ev[6:])
                if obj.get("usage"):
                    usage = obj["usage"]
                for c in obj.get("choices", []):
                    piece = c["delta"].get("content")
                    if piece:
                        text += piece
                        t_first = t_first or now
                        t_last = now
        conn.close()
        k = usage["completion_tokens"]
        if constrained:
            json.loads(text)  # the grammar's output must be complete, valid JSON
        return (k - 1) / (t_last - t_first), k

    run(False)
    run(True)  # warm-up (and the grammar cache)
    plain, gram = [], []
    for i in range(runs):
        r, k = run(False)
        plain.append(r)
        g, kg = run(True)
        gram.append(g)
        print(f"run {i + 1}: plain {r:.2f} tok/s ({k} tokens), json-schema {g:.2f} tok/s ({kg} tokens)", flush=True)
    p, g = statistics.median(plain), statistics.median(gram)
    print(f"median: plain {p:.2f} tok/s, json-schema {g:.2f} tok/s, ratio {g / p:.3f} (target >= 0.85)")
    sys.exit(0 if g / p >= 0.85 else 1)
finally:
    proc.terminate()
    proc.wait(30)
EOF
