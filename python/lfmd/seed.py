"""Functions in the seed product's style, for code ported from it: a handle from init(),
complete() returning a JSON string with the seed's key names, reset(), destroy()."""
from __future__ import annotations

import json
from typing import Any, Callable, Optional

from . import _native
from .model import Messages, Model, Tools

# callback(token: bytes, token_id: int, user_data) called per generated token
SeedCallback = Callable[[bytes, int, Any], Any]


def init(model_path: str = _native.DEMO_MODEL, **options: Any) -> Model:
    """Opens a model (GGUF path, "org/name[:QUANT]", or DEMO_MODEL); returns its handle."""
    return Model(model_path, **options)


def complete(
    handle: Model,
    messages: Messages,
    tools: Tools = None,
    callback: Optional[SeedCallback] = None,
    confidence_threshold: Optional[float] = None,
    user_data: Any = None,
    **options: Any,
) -> str:
    """Completes the conversation; returns JSON text:
    {"success", "error", "response", "function_calls": [{"name", "arguments"}],
     "cloud_handoff", "confidence", "finish_reason", "time_to_first_token_ms",
     "total_time_ms", "prefill_tps", "decode_tps", "ram_usage_mb", "prefill_tokens",
     "decode_tokens", "total_tokens"}.
    options: max_tokens, temperature, top_p, top_k, seed, stop, tool_choice, ... (Chat
    Completions fields). Errors raise lfmd.LfmdError with the library's text.
    """
    cb = None
    if callback is not None:
        cb = lambda text, token_id: callback(text, token_id, user_data)  # noqa: E731
    r = handle.complete(
        messages, tools, callback=cb, confidence_threshold=confidence_threshold, **options
    )
    usage = r["usage"]
    return json.dumps(
        {
            "success": True,
            "error": None,
            "response": r["text"],
            "function_calls": [
                {"name": c["name"], "arguments": c["arguments"]} for c in r["tool_calls"]
            ],
            "cloud_handoff": r["cloud_handoff"],
            "confidence": r["confidence"].get("score"),
            "finish_reason": r["finish_reason"],
            "time_to_first_token_ms": r["time_to_first_token_ms"],
            "total_time_ms": r["total_time_ms"],
            "prefill_tps": r["prefill_tps"],
            "decode_tps": r["decode_tps"],
            "ram_usage_mb": r["ram_usage_mb"],
            "prefill_tokens": usage["prompt_tokens"],
            "decode_tokens": usage["completion_tokens"],
            "total_tokens": usage["total_tokens"],
        }
    )


def reset(handle: Model) -> None:
    """Cancels running completions and drops the cached prompt prefixes."""
    handle.reset()


def destroy(handle: Model) -> None:
    """Frees the model; the handle is unusable afterwards."""
    handle.close()
