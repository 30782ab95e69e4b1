#!/usr/bin/env bash
# Streaming overhead benchmark (not part of CI): tokens/s seen by an SSE client of `lfmd serve`
# against the engine's own decode tokens/s (`lfmd complete` timing line) on the same prompt, the
# same number of tokens, greedy sampling, the same threads. Prints both and their ratio; the
# target is >= 0.97 (exit status 1 below it).
#
#   bash scripts/bench-streaming.sh [-n TOKENS] [-r RUNS] [-t THREADS] [--preset P] [--type T] [--model FILE]
#
# Defaults: 256 tokens, 3 runs (best of each side), threads = nproc, and a generated random-weight
# lfm2-350m q8_0 model cached in ${LFMD_BENCH_DIR:-/tmp/lfmd-bench}. Binary: $LFMD_BIN, else
# build/lfmd. The client rate counts from the first content token to the last one:
# (completion_tokens - 1) / (t_last - t_first), read off SSE events as they arrive; the engine's
# rate is the `decode N tokens in S s` of `lfmd complete`. The server's own inter-token latency
# (/metrics) is printed too, to tell engine speed inside the server from SSE overhead: the ratio
# of the client's rate to it, on the same request, is the streaming overhead without the noise
# of separate runs. Runs alternate (engine, client, engine, ...) so that load drifts hit both.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lfmd=${LFMD_BIN:-$root/build/lfmd}
n=256
runs=3
threads=$(nproc)
preset=lfm2-350m
type=q8_0
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
  [[ -f $model ]] || "$lfmd" gen-model --preset "$preset" --type "$type" --out "$model"
fi
prompt="Write a long story about a dragon who learns to cook."
# The same tokens for both sides: what the server's chat template renders for one user message
# (LFM2 format; `lfmd complete` adds the BOS token and parses the special tokens).
chat_prompt=$'<|im_start|>user\n'"$prompt"$'<|im_end|>\n<|im_start|>assistant\n'

echo "model $model, $n tokens, $threads threads, best of $runs"

# ---- the server, and a streaming client of it (one run per call; SSE events timed as they arrive) ----
out=$(mktemp -d)
trap 'kill $srv_pid 2>/dev/null || true; wait $srv_pid 2>/dev/null || true; rm -rf "$out"' EXIT
"$lfmd" serve --model "$model" --host 127.0.0.1 --port 0 --threads "$threads" >"$out/stdout" 2>"$out/stderr" &
srv_pid=$!
url=""
for _ in $(seq 1 600); do  # up to 60 s for the model to load
  url=$(sed -n 's/^listening on \(http:\/\/.*\)$/\1/p' "$out/stdout")
  [[ -n $url ]] && break
  kill -0 $srv_pid 2>/dev/null || { cat "$out/stderr" >&2; exit 2; }
  sleep 0.1
done
[[ -n $url ]] || { echo "server did not start" >&2; exit 2; }

cat >"$out/client.py" <<'EOF'
import http.client, json, sys, time, urllib.parse
url, prompt, n, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
u = urllib.parse.urlparse(url)

def metrics():
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request("GET", "/metrics")
    out = {}
    for line in c.getresponse().read().decode().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    c.close()
    return out

m0 = metrics()
c = http.client.HTTPConnection(u.hostname, u.port)
body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": n, "temperature": 0,
        "stream": True, "stream_options": {"include_usage": True}}
c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
r = c.getresponse()
assert r.status == 200, r.read()
t_first = t_last = None
usage = None
buf = b""
while True:
    data = r.read1(65536)
    if not data:
        break
    now = time.perf_counter()
    buf += data
    while b"\n\n" in buf:
        ev, buf = buf.split(b"\n\n", 1)
        if not ev.startswith(b"data: ") or ev == b"data: [DONE]":
            continue
        chunk = json.loads(ev[6:])
        if chunk.get("usage"):
            usage = chunk["usage"]
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            t_first = t_first or now
            t_last = now
c.close()
m1 = metrics()
k = usage["completion_tokens"]
rate = (k - 1) / (t_last - t_first)
itl_n = m1["lfmd_inter_token_latency_seconds_count"] - m0["lfmd_inter_token_latency_seconds_count"]
itl_s = m1["lfmd_inter_token_latency_seconds_sum"] - m0["lfmd_inter_token_latency_seconds_sum"]
server_rate = itl_n / itl_s if itl_s > 0 else float("nan")
print(f"  client run {run}: prompt {usage['prompt_tokens']} tokens, decode {k} tokens, {rate:.2f} tok/s at the SSE client "
      f"(server's own inter-token rate {server_rate:.2f} tok/s)", file=sys.stderr)
print(f"{rate:.4f} {rate / server_rate:.4f}")
EOF

# ---- interleaved runs: the engine alone, then a streaming client of the server ----
engine_best=0
client_best=0
sse_ratios=()
for ((i = 1; i <= runs; i++)); do
  line=$("$lfmd" complete --model "$model" --prompt "$chat_prompt" -n "$n" --threads "$threads" \
           --temp 0 --min-p 0 --top-k 0 --top-p 1 --repeat-penalty 1 2>&1 >/dev/null | grep 'decode ' || true)
  rate=$(sed -n 's/.*decode \([0-9]*\) tokens in \([0-9.]*\) s (\([0-9.]*\) tok\/s).*/\3/p' <<<"$line")
  [[ -n $rate ]] || { echo "no timing line from lfmd complete: $line" >&2; exit 2; }
  echo "  engine run $i: $line" >&2
  engine_best=$($python -c "print(max($engine_best, $rate))")
  read -r rate sse_ratio < <($python "$out/client.py" "$url" "$prompt" "$n" "$i")
  client_best=$($python -c "print(max($client_best, $rate))")
  sse_ratios+=("$sse_ratio")
done

$python - "$engine_best" "$client_best" "${sse_ratios[@]}" <<'EOF'
import statistics, sys
engine, client = float(sys.argv[1]), float(sys.argv[2])
sse = [float(x) for x in sys.argv[3:]]
print(f"SSE client rate / the server's own decode rate, same request: median {statistics.median(sse):.4f} "
      "(the streaming overhead alone, free of run-to-run noise)")
ratio = client / engine
print(f"engine decode: {engine:.2f} tok/s   SSE client: {client:.2f} tok/s   ratio: {ratio:.3f} "
      f"({'meets' if ratio >= 0.97 else 'BELOW'} the 0.97 target)")
sys.exit(0 if ratio >= 0.97 else 1)
EOF
