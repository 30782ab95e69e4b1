#!/bin/sh
# Runs one libFuzzer harness for SECONDS on a fresh corpus made from the committed seeds (plus
# generated ones: the chat templates for jinja, a small generated GGUF for gguf).
#   sh run.sh HARNESS_EXE NAME SECONDS [LFMD_BIN]
# Exit status: libFuzzer's (non-zero when it found a crash, a leak or a timeout); the crashing
# input is left in the build tree's fuzz-artifacts/ folder.
set -eu
exe=$1 name=$2 seconds=$3 lfmd=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" fuzz-artifacts
if [ -d "$here/seeds/$name" ]; then cp "$here/seeds/$name"/* "$work/corpus/"; fi
case $name in
  jinja)
    # Template, NUL, context: the real LFM2 templates with a tool conversation.
    ctx='{"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"},{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"f","arguments":{"a":1}}}]},{"role":"tool","content":"ok"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"add_generation_prompt":true,"bos_token":"<|startoftext|>"}'
    for t in "$here"/../data/chat_templates/*.jinja "$here"/../data/chat_templates/extra/*.jinja; do
      { cat "$t"; printf '\0%s' "$ctx"; } > "$work/corpus/$(basename "$t").bin"
    done ;;
  gguf)
    if [ -n "$lfmd" ]; then
      "$lfmd" gen-model --preset tiny --type q8_0 --seed 1 --out "$work/corpus/tiny.gguf" >/dev/null 2>&1
    fi ;;
esac
# -timeout: one input taking longer is a finding (a hang); -rss_limit_mb: so is runaway memory.
exec "$exe" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 -max_len=65536 \
     -print_final_stats=1 -artifact_prefix=fuzz-artifacts/"$name"- "$work/corpus"
