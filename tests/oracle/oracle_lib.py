"""Helpers for lfmd's oracle tests (run with /usr/bin/python3 + Debian's numpy).

    import sys; sys.path.insert(0, "<repo>/tests/oracle")
    import oracle_lib as ol
    exe = ol.find_oracle()                                  # $LLAMA_ORACLE or a build dir
    ol.run([exe, "logits", model, toks_file, out_file])     # raises OracleError with the output
    ref = ol.read_logits(out_file, n_vocab)                 # float32 [n_tokens, n_vocab]
    err = ol.rel_l2(mine, ref)                              # per position ||a-b|| / ||b||
    agree = ol.top1_agreement(mine, ref)                    # fraction of positions, same argmax

The logits file written by `llama_oracle logits` is raw little-endian float32 [n_tokens][n_vocab].
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

ORACLE_DIR = Path(__file__).resolve().parent
REPO_ROOT = ORACLE_DIR.parent.parent
PYTHON = "/usr/bin/python3"  # the interpreter with Debian's numpy (python3 on PATH may lack it)
MAKE_TINY = ORACLE_DIR / "make_tiny_lfm2.py"


class OracleError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------
# locating and running things

def find_oracle(build_dir: str | os.PathLike[str] | None = None) -> str:
    """Path of the built llama_oracle: $LLAMA_ORACLE, else <build_dir>/llama_oracle, else the
    newest <repo>/build*/llama_oracle. Raises OracleError with instructions if none exists."""
    env = os.environ.get("LLAMA_ORACLE")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise OracleError(f"LLAMA_ORACLE={env} is not an executable file")
        return env
    candidates: list[Path] = []
    if build_dir is not None:
        candidates.append(Path(build_dir) / "llama_oracle")
    else:
        candidates.extend(sorted(REPO_ROOT.glob("build*/llama_oracle")))
    found = [c for c in candidates if c.is_file() and os.access(c, os.X_OK)]
    if not found:
        raise OracleError(
            "llama_oracle not found (looked at: " + (", ".join(map(str, candidates)) or f"{REPO_ROOT}/build*/") + ").\n"
            "Build it: tests/oracle/install.sh && cmake -S . -B build -DLFMD_ORACLE=ON && "
            "cmake --build build --target llama_oracle   (or set LLAMA_ORACLE=/path/to/llama_oracle)")
    return str(max(found, key=lambda p: p.stat().st_mtime))


def run(cmd: Sequence[str | os.PathLike[str]], timeout: float = 300, check: bool = True,
        cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs a command, capturing stdout/stderr as text. With check=True a non-zero exit or a timeout
    raises OracleError whose message holds the command line, the exit code and both outputs."""
    argv = [str(c) for c in cmd]
    line = shlex.join(argv)
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    except subprocess.TimeoutExpired as e:
        raise OracleError(f"timed out after {timeout:g}s: {line}\n--- stdout ---\n{_text(e.stdout)}"
                          f"\n--- stderr ---\n{_text(e.stderr)}") from None
    except OSError as e:
        raise OracleError(f"cannot run {line}: {e}") from None
    if check and p.returncode != 0:
        raise OracleError(f"exit code {p.returncode}: {line}\n--- stdout ---\n{p.stdout[-8000:]}"
                          f"\n--- stderr ---\n{p.stderr[-8000:]}")
    return p


def _text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------
# files

def write_tokens(path: str | os.PathLike[str], tokens: Iterable[int]) -> None:
    Path(path).write_text(",".join(str(int(t)) for t in tokens) + "\n")


def read_tokens(path: str | os.PathLike[str]) -> list[int]:
    text = Path(path).read_text().replace(",", " ")
    return [int(t) for t in text.split()]


def read_logits(path: str | os.PathLike[str], n_vocab: int) -> np.ndarray:
    """float32 [n_tokens, n_vocab] from a raw little-endian float32 file."""
    data = np.fromfile(path, dtype="<f4")
    if n_vocab <= 0 or data.size % n_vocab != 0:
        raise OracleError(f"{path}: {data.size} floats is not a multiple of n_vocab={n_vocab}")
    return data.reshape(-1, n_vocab)


def write_logits(path: str | os.PathLike[str], logits: np.ndarray) -> None:
    np.ascontiguousarray(logits, dtype="<f4").tofile(path)


def read_json_lines(path: str | os.PathLike[str]) -> list:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def write_json_lines(path: str | os.PathLike[str], items: Iterable) -> None:
    Path(path).write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in items), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# comparisons

def rel_l2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-position relative L2 error ||a - b|| / ||b|| over the last axis (b = reference), in float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise OracleError(f"shape mismatch: {a.shape} vs {b.shape}")
    num = np.linalg.norm(a - b, axis=-1)
    den = np.linalg.norm(b, axis=-1)
    return num / np.maximum(den, np.finfo(np.float64).tiny)


def top1_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of positions whose argmax (ties -> lowest id) is the same."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise OracleError(f"shape mismatch: {a.shape} vs {b.shape}")
    return float(np.mean(np.argmax(a, axis=-1) == np.argmax(b, axis=-1)))


def summary(a: np.ndarray, b: np.ndarray) -> str:
    """One line for failure messages: max/mean relative L2, worst position, top-1 agreement."""
    r = rel_l2(a, b)
    return (f"rel_l2 max {r.max():.3e} (pos {int(r.argmax())}) mean {r.mean():.3e}, "
            f"top-1 agreement {top1_agreement(a, b) * 100:.1f}% over {r.size} positions")


# ---------------------------------------------------------------------------------------------
# oracle commands as functions

class Oracle:
    """Thin wrapper over the llama_oracle CLI. Every method raises OracleError on failure."""

    def __init__(self, exe: str | None = None, timeout: float = 600, extra: Sequence[str] = ()):
        self.exe = exe or find_oracle()
        self.timeout = timeout
        self.extra = list(extra)  # e.g. ["--cpu-backend", "x64"]

    def _run(self, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess:
        return run([self.exe, *args, *self.extra], timeout=self.timeout)

    def info(self, model: str | os.PathLike[str]) -> dict:
        return json.loads(self._run("info", model, "--json").stdout)

    def logits(self, model, tokens: Sequence[int], workdir, *, one_by_one: bool = False,
               batch: int | None = None, threads: int | None = None, n_vocab: int | None = None) -> np.ndarray:
        workdir = Path(workdir)
        tok = workdir / "oracle_tokens.txt"
        out = workdir / "oracle_logits.bin"
        write_tokens(tok, tokens)
        args: list[str | os.PathLike[str]] = ["logits", model, tok, out]
        if one_by_one:
            args.append("--one-by-one")
        if batch is not None:
            args += ["--batch", str(batch)]
        if threads is not None:
            args += ["--threads", str(threads)]
        self._run(*args)
        if n_vocab is None:
            n_vocab = self.info(model)["n_vocab"]
        x = read_logits(out, n_vocab)
        if x.shape[0] != len(tokens):
            raise OracleError(f"expected {len(tokens)} logit rows, got {x.shape[0]}")
        return x

    def greedy(self, model, tokens: Sequence[int], n: int, workdir, *, one_by_one: bool = False) -> list[int]:
        workdir = Path(workdir)
        tok = workdir / "oracle_prompt.txt"
        out = workdir / "oracle_greedy.txt"
        write_tokens(tok, tokens)
        self._run("greedy", model, tok, str(n), out, *(["--one-by-one"] if one_by_one else []))
        return read_tokens(out)

    def tokenize(self, model, texts: Sequence[str], workdir) -> list[list[int]]:
        workdir = Path(workdir)
        inp = workdir / "oracle_texts.jsonl"
        out = workdir / "oracle_tokens.jsonl"
        write_json_lines(inp, texts)
        self._run("tokenize", model, inp, out)
        res = read_json_lines(out)
        if len(res) != len(texts):
            raise OracleError(f"tokenize: {len(texts)} texts in, {len(res)} lines out")
        return res

    def quantize(self, src, dst, ftype: str, pure: bool = False) -> None:
        self._run("quantize", src, dst, ftype, *(["--pure"] if pure else []))

    def dequant(self, src, dst) -> None:
        self._run("dequant", src, dst)


def make_tiny(out: str | os.PathLike[str], *, moe: bool = False, seed: int = 0, extra: Sequence[str] = (),
              timeout: float = 120) -> str:
    """Writes a tiny random LFM2 / LFM2-MoE GGUF with make_tiny_lfm2.py; returns its path."""
    run([PYTHON, MAKE_TINY, out, "--seed", str(seed), *(["--moe"] if moe else []), *extra], timeout=timeout)
    return str(out)


if __name__ == "__main__":  # tiny self-check of the numeric helpers
    x = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    y = x + np.array([[0.0, 0.0, 0.1], [0.0, 0.0, 0.0]], dtype=np.float32)
    r = rel_l2(y, x)
    assert abs(r[0] - 0.1 / np.sqrt(14)) < 1e-6 and r[1] == 0, r
    assert top1_agreement(x, y) == 1.0
    print("oracle_lib self-check ok", file=sys.stderr)
