#!/usr/bin/env bash
# CLI contract: subcommands, --help everywhere, errors are one line with a non-zero exit,
# determinism of the generator and of seeded sampling. usage: test_cli.sh LFMD WORK_DIR
set -u
lfmd=$1 work=$2
mkdir -p "$work"
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }
expect() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

for c in complete chat tokenize logits dequant gen-model pull convert quantize; do
  out=$("$lfmd" "$c" --help 2>&1); rc=$?
  expect "$c --help exits 0 and lists options" '[ $rc -eq 0 ] && grep -q -- "--" <<<"$out"'
done
"$lfmd" frobnicate >/dev/null 2>&1; rc=$?
expect "unknown command exits 2" '[ $rc -eq 2 ]'
err=$("$lfmd" complete --bogus 2>&1); rc=$?
expect "unknown option: exit 2, one line" '[ $rc -eq 2 ] && [ $(wc -l <<<"$err") -eq 1 ]'
err=$("$lfmd" complete --model "$work/missing.gguf" --prompt hi 2>&1); rc=$?
expect "missing model file: exit 1, names the file" '[ $rc -eq 1 ] && grep -q "missing.gguf" <<<"$err" && [ $(wc -l <<<"$err") -eq 1 ]'
err=$("$lfmd" complete -n -5 --prompt hi 2>&1); rc=$?
expect "negative -n refused" '[ $rc -eq 2 ] && grep -q "out of range" <<<"$err"'

# Generator: same seed, same bytes; another seed, other bytes.
"$lfmd" gen-model --preset tiny-moe --type q4_0 --seed 5 --out "$work/a.gguf" 2>/dev/null
"$lfmd" gen-model --preset tiny-moe --type q4_0 --seed 5 --out "$work/b.gguf" 2>/dev/null
"$lfmd" gen-model --preset tiny-moe --type q4_0 --seed 6 --out "$work/c.gguf" 2>/dev/null
expect "generator: same seed, same bytes" 'cmp -s "$work/a.gguf" "$work/b.gguf"'
expect "generator: other seed, other bytes" '! cmp -s "$work/a.gguf" "$work/c.gguf"'

# Demo model: generated into the cache dir once, announced as random.
export LFMD_CACHE_DIR="$work/cache"
err=$("$lfmd" complete --prompt "Hello" -n 8 --seed 1 2>&1 >/dev/null)
expect "demo model is generated and announced as random" 'grep -q "RANDOM" <<<"$err" && ls "$work/cache"/*.gguf >/dev/null'
expect "start-up logs weights and working memory separately" 'grep -q "memory-mapped" <<<"$err" && grep -q "working memory" <<<"$err"'
expect "complete prints a timing line" 'grep -q "prefill .* tok/s); decode .* tok/s" <<<"$err"'
o1=$("$lfmd" complete --prompt "Hello" -n 16 --temp 1 --seed 9 2>/dev/null)
o2=$("$lfmd" complete --prompt "Hello" -n 16 --temp 1 --seed 9 2>/dev/null)
expect "same seed, same sampled output" '[ "$o1" = "$o2" ] && [ -n "$o1" ]'
out=$("$lfmd" tokenize --text "<|im_start|>user" 2>/dev/null)
expect "tokenize parses special tokens (BOS 1, <|im_start|> 6)" 'grep -q "^\[1, 6, " <<<"$out"'
out=$("$lfmd" tokenize --text "hi" --no-bos 2>/dev/null)
expect "tokenize --no-bos" '! grep -q "^\[1," <<<"$out"'
"$lfmd" logits --tokens 1,6,7 --out "$work/l.bin" 2>/dev/null
expect "logits writes n_tokens x n_vocab float32" '[ $(stat -c %s "$work/l.bin") -eq $((3 * 4096 * 4)) ]'
err=$("$lfmd" logits --tokens 1,99999 --out "$work/l.bin" 2>&1); rc=$?
expect "logits refuses an out-of-vocabulary id" '[ $rc -eq 1 ] && grep -q "outside the vocabulary" <<<"$err"'
out=$(printf 'hello\n/exit\n' | "$lfmd" chat -n 8 --seed 1 2>/dev/null); rc=$?
expect "chat answers a turn and exits on /exit" '[ $rc -eq 0 ] && [ -n "$out" ]'
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
