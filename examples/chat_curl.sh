#!/usr/bin/env bash
# Talk to a running `lfmd serve` with nothing but curl: list models, a plain chat, a streamed chat
# (Server-Sent Events), and a tool call round trip (streamed tool-call deltas, then the tool's
# result sent back for the final answer).
#
#   lfmd serve &                                   # demo model on http://127.0.0.1:8080
#   examples/chat_curl.sh [BASE_URL]               # default http://127.0.0.1:8080
#
# Environment:
#   LFMD_API_KEY   sent as "Authorization: Bearer ..." (needed when the server runs with --api-key)
#
# TEST-ONLY (CI): the demo model has random weights and never calls a tool by itself. With
#   LFMD_EXAMPLE_FORCE_TOOL_CALL=1, and a server started with --test-hooks, the requests carry
#   "lfmd_forced_output", which makes the model emit exactly the given text. Never use that
#   field or --test-hooks in production; with a real LFM2 model, leave the variable unset.
#
# Exits non-zero when a request fails or an answer is malformed.
set -euo pipefail

BASE=${1:-http://127.0.0.1:8080}
BASE=${BASE%/}
BASE=${BASE%/v1}
FORCE=${LFMD_EXAMPLE_FORCE_TOOL_CALL:-0}
AUTH=(-H "Authorization: Bearer ${LFMD_API_KEY:-none}")

# POST a JSON body to /v1/chat/completions; -N: no buffering, so stream events print as they come.
post() { curl -fsS -N "${AUTH[@]}" -H 'Content-Type: application/json' "$BASE/v1/chat/completions" -d "$1"; }
fail() { echo "chat_curl.sh: $*" >&2; exit 1; }

echo "== GET /v1/models"
models=$(curl -fsS "${AUTH[@]}" "$BASE/v1/models")
echo "$models"
[[ $models == *'"object":"list"'* ]] || fail "unexpected /v1/models answer"

echo
echo "== chat (non-streaming)"
answer=$(post '{
  "model": "lfm2",
  "messages": [{"role": "system", "content": "You are concise."},
               {"role": "user", "content": "Name three rivers in Europe."}],
  "max_tokens": 32, "temperature": 0.7, "seed": 42
}')
echo "$answer"
[[ $answer == *'"object":"chat.completion"'* ]] || fail "not a chat.completion"

echo
echo "== chat (streaming, with a usage chunk at the end)"
stream=$(post '{
  "model": "lfm2",
  "messages": [{"role": "user", "content": "Write one sentence about the sea."}],
  "max_tokens": 12, "seed": 7, "stream": true, "stream_options": {"include_usage": true}
}' | tee /dev/stderr)
grep -q '^data: \[DONE\]$' <<<"$stream" || fail "stream did not end with data: [DONE]"
grep -q '"choices":\[\],"usage":{' <<<"$stream" || fail "no usage chunk"

echo
echo "== tool call (streaming)"
TOOLS='[{"type": "function", "function": {
  "name": "get_weather", "description": "Current weather in a city",
  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]'
forced=""
if [[ $FORCE == 1 ]]; then
  # TEST-ONLY: make the (random-weight) demo model emit an LFM2 tool call.
  forced=', "lfmd_forced_output": "<|tool_call_start|>[get_weather(city=\"Paris\")]<|tool_call_end|>"'
fi
calls=$(post '{
  "model": "lfm2",
  "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
  "tools": '"$TOOLS"', "max_tokens": 64, "seed": 1, "stream": true'"$forced"'
}' | tee /dev/stderr)
grep -q '^data: \[DONE\]$' <<<"$calls" || fail "stream did not end with data: [DONE]"

# The first delta of a call carries its id and name; later deltas carry argument fragments.
call_id=$(grep -o '"id":"call_[A-Za-z0-9_]*"' <<<"$calls" | head -n1 | cut -d'"' -f4 || true)
if [[ -z $call_id ]]; then
  [[ $FORCE == 1 ]] && fail "no tool call in the stream"
  echo "(the model answered without calling the tool)"
  exit 0
fi
grep -q '"finish_reason":"tool_calls"' <<<"$calls" || fail "finish_reason is not tool_calls"
# Join the streamed argument fragments (each a JSON string value) - good enough for a demo.
args=$(grep -o '"function":{"arguments":"[^"\\]*\(\\.[^"\\]*\)*"' <<<"$calls" | sed 's/^"function":{"arguments":"//; s/"$//' | tr -d '\n')
echo
echo "tool call $call_id: get_weather, arguments (JSON-escaped): $args"

echo
echo "== tool result sent back (non-streaming)"
final_forced=""
[[ $FORCE == 1 ]] && final_forced=', "lfmd_forced_output": "It is sunny and 21 degrees in Paris."'  # TEST-ONLY
final=$(post '{
  "model": "lfm2",
  "tools": '"$TOOLS"',
  "messages": [
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "'"$call_id"'", "type": "function",
      "function": {"name": "get_weather", "arguments": "'"$args"'"}}]},
    {"role": "tool", "tool_call_id": "'"$call_id"'", "content": "{\"sky\": \"sunny\", \"celsius\": 21}"}
  ],
  "max_tokens": 48, "seed": 1'"$final_forced"'
}')
echo "$final"
[[ $final == *'"object":"chat.completion"'* ]] || fail "not a chat.completion"
if [[ $FORCE == 1 ]]; then
  [[ $final == *'"content":"It is sunny and 21 degrees in Paris."'* ]] || fail "unexpected final answer"
fi
echo
echo "chat_curl.sh: OK"
