"""The Model class: one liblfmd handle, completions as dicts, streaming as an iterator."""
from __future__ import annotations

import codecs
import ctypes
import json
import queue
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

from . import _native

Messages = Union[str, Sequence[Dict[str, Any]]]
Tools = Union[None, str, Sequence[Dict[str, Any]]]
# callback(text: bytes, token_id: int) -> truthy to stop; token_id is -1 for text released at the end
TokenCallback = Callable[[bytes, int], Any]


class LfmdError(Exception):
    """A liblfmd call failed; str(e) is the library's error text, e.status its lfmd_status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class RequestError(LfmdError, ValueError):
    """Bad options or request (malformed JSON, an invalid field, a prompt over the context)."""


class ModelError(LfmdError):
    """The model cannot be found, fetched or loaded."""


class ClosedError(LfmdError):
    """The model was closed."""


class BusyError(LfmdError):
    """The scheduler's queue is full; try again."""


class GenerationError(LfmdError):
    """The engine failed while generating."""


_ERRORS = {
    _native.ERR_ARGUMENT: RequestError,
    _native.ERR_REQUEST: RequestError,
    _native.ERR_MODEL: ModelError,
    _native.ERR_CLOSED: ClosedError,
    _native.ERR_BUSY: BusyError,
    _native.ERR_GENERATION: GenerationError,
}


def _raise_for(status: int) -> None:
    message = (_native.lib().lfmd_last_error() or b"").decode("utf-8", "replace")
    raise _ERRORS.get(status, LfmdError)(status, message or f"lfmd error {status}")


def version() -> str:
    """liblfmd's version, e.g. "0.1.0"."""
    return _native.lib().lfmd_version().decode()


def _as_list(value: Union[str, Sequence[Dict[str, Any]]]) -> Any:
    return json.loads(value) if isinstance(value, str) else list(value)


def build_request(
    messages: Messages,
    tools: Tools = None,
    confidence_threshold: Optional[float] = None,
    **fields: Any,
) -> str:
    """The Chat Completions body lfmd_complete takes (messages and tools as lists or JSON text)."""
    body: Dict[str, Any] = {"messages": _as_list(messages)}
    if tools is not None:
        body["tools"] = _as_list(tools)
    if confidence_threshold is not None:
        body["confidence_threshold"] = confidence_threshold
    body.update({k: v for k, v in fields.items() if v is not None})
    return json.dumps(body)


class Model:
    """A model opened in-process. Thread-safe: completions from several threads are batched.

    >>> with Model(DEMO_MODEL, ctx=2048) as m:
    ...     m.complete([{"role": "user", "content": "Hi"}], max_tokens=8)["finish_reason"]
    """

    def __init__(self, path_or_repo: str = _native.DEMO_MODEL, **options: Any):
        """Opens a GGUF path, a Hugging Face "org/name[:QUANT]" reference, or DEMO_MODEL.

        options: threads, ctx, batch, parallel, max_queue, prefill_chunk, cache_mb, kv_budget_mb, isa,
        kv_type ("f32" | "f16" | "q8_0"), handoff (dict: mode, threshold, window, upstream_url, ...), test_hooks.
        """
        self._lib = _native.lib()
        handle = ctypes.c_void_p()
        status = self._lib.lfmd_open(
            path_or_repo.encode(), json.dumps(options).encode(), ctypes.byref(handle)
        )
        if status != _native.OK:
            _raise_for(status)
        self._handle: Optional[int] = handle.value

    # ---- completions ----

    def complete(
        self,
        messages: Messages,
        tools: Tools = None,
        *,
        stream: bool = False,
        callback: Optional[TokenCallback] = None,
        confidence_threshold: Optional[float] = None,
        **sampling: Any,
    ) -> Any:
        """Completes the conversation; returns the result dict (see include/lfmd.h): text,
        reasoning, tool_calls (typed arguments), finish_reason, usage, confidence,
        cloud_handoff, time_to_first_token_ms, prefill_tps, decode_tps, ram_usage_mb.

        sampling: any Chat Completions field (max_tokens, temperature, top_p, seed, stop,
        tool_choice, response_format, ...). callback(text_bytes, token_id) is called per
        token; a truthy return stops the generation (finish_reason "cancelled"). An exception
        in the callback stops it too and is raised here. stream=True returns a
        CompletionStream instead: an iterator of text pieces.
        """
        body = build_request(messages, tools, confidence_threshold, **sampling)
        if stream:
            return CompletionStream(self, body)
        return self._run(body, callback)

    def stream(self, messages: Messages, tools: Tools = None, **kw: Any) -> "CompletionStream":
        """complete(..., stream=True)."""
        return self.complete(messages, tools, stream=True, **kw)

    def _run(self, body: str, callback: Optional[TokenCallback]) -> Dict[str, Any]:
        handle = self._live()
        raised: List[BaseException] = []

        def trampoline(text, length, token_id, _user):  # type: ignore[no-untyped-def]
            try:
                return 1 if callback(ctypes.string_at(text, length), token_id) else 0
            except BaseException as e:  # noqa: BLE001 - re-raised after the call returns
                raised.append(e)
                return 1

        c_callback = _native.TOKEN_CALLBACK(trampoline) if callback else _native.TOKEN_CALLBACK()
        out = ctypes.c_void_p()
        status = self._lib.lfmd_complete(handle, body.encode(), c_callback, None, ctypes.byref(out))
        if raised:
            if out.value:
                self._lib.lfmd_free_string(out)
            raise raised[0]
        if status not in (_native.OK, _native.CANCELLED):
            _raise_for(status)
        try:
            return json.loads(ctypes.string_at(out.value).decode("utf-8"))
        finally:
            self._lib.lfmd_free_string(out)

    # ---- control ----

    def cancel(self) -> None:
        """Stops every running completion of this model within one step (from any thread)."""
        status = self._lib.lfmd_cancel(self._live())
        if status != _native.OK:
            _raise_for(status)

    def reset(self) -> None:
        """Cancels running completions and drops the cached prompt prefixes."""
        status = self._lib.lfmd_reset(self._live())
        if status != _native.OK:
            _raise_for(status)

    def close(self) -> None:
        """Frees the model (running completions end cancelled). Idempotent."""
        handle, self._handle = getattr(self, "_handle", None), None
        if handle is not None:
            self._lib.lfmd_close(handle)

    @property
    def closed(self) -> bool:
        return self._handle is None

    def _live(self) -> Optional[int]:
        # A closed Model passes NULL: the library answers LFMD_ERR_CLOSED with its own text.
        return self._handle

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class CompletionStream:
    """An iterator over the text pieces of one completion (run on a background thread).

    After the iteration, `.result` is the result dict. Leaving early (break, an exception,
    close()) cancels the generation and waits for it.
    """

    _END = object()

    def __init__(self, model: Model, body: str):
        self._model = model
        self._queue: "queue.Queue[Any]" = queue.Queue()
        self._stop = threading.Event()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.result: Optional[Dict[str, Any]] = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._work, args=(body,), daemon=True)
        self._thread.start()

    def _on_token(self, text: bytes, token_id: int) -> bool:
        if text:
            self._queue.put(text)
        return self._stop.is_set()

    def _work(self, body: str) -> None:
        try:
            self.result = self._model._run(body, self._on_token)
        except BaseException as e:  # noqa: BLE001 - handed to the iterating thread
            self._error = e
        self._queue.put(self._END)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while True:
            item = self._queue.get()
            if item is self._END:
                self._thread.join()
                tail = self._decoder.decode(b"", final=True)
                if self._error is not None:
                    raise self._error
                if tail:
                    return tail
                raise StopIteration
            piece = self._decoder.decode(item)
            if piece:
                return piece

    @property
    def text(self) -> str:
        """The whole answer's text (after iterating)."""
        return self.result["text"] if self.result else ""

    def close(self) -> None:
        """Stops the generation (if still running) and waits for the background thread."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> "CompletionStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if self._thread.is_alive():
            self._stop.set()
