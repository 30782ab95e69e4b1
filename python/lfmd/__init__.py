"""lfmd: LFM2 inference in-process, over liblfmd (ctypes; no compiler needed).

    import lfmd
    with lfmd.Model(lfmd.DEMO_MODEL) as m:
        print(m.complete([{"role": "user", "content": "Hi"}], max_tokens=16)["text"])
"""
from ._native import DEMO_MODEL
from .model import (
    BusyError,
    ClosedError,
    CompletionStream,
    GenerationError,
    LfmdError,
    Model,
    ModelError,
    RequestError,
    build_request,
    version,
)
from .seed import complete, destroy, init, reset

__all__ = [
    "DEMO_MODEL",
    "Model",
    "CompletionStream",
    "LfmdError",
    "RequestError",
    "ModelError",
    "ClosedError",
    "BusyError",
    "GenerationError",
    "build_request",
    "version",
    "init",
    "complete",
    "reset",
    "destroy",
]
