"""Loading liblfmd and declaring its C functions (include/lfmd.h) for ctypes."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import List, Optional

# lfmd_status (include/lfmd.h)
OK = 0
CANCELLED = 1
ERR_ARGUMENT = -1
ERR_REQUEST = -2
ERR_MODEL = -3
ERR_CLOSED = -4
ERR_BUSY = -5
ERR_GENERATION = -6
ERR_INTERNAL = -7

DEMO_MODEL = "lfmd:demo"

# int (*)(const char* text, size_t len, int32_t token_id, void* user_data)
TOKEN_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.c_int32, ctypes.c_void_p
)


def _candidates() -> List[str]:
    """Where liblfmd may be, in the order tried."""
    found: List[str] = []
    env = os.environ.get("LFMD_LIBRARY")
    if env:
        return [env]  # an explicit choice is the only one tried
    repo = Path(__file__).resolve().parent.parent.parent
    for build in ("build", "build-release", "build-asan"):
        found.append(str(repo / build / "liblfmd.so"))
    found += ["liblfmd.so.0", "liblfmd.so"]  # the dynamic loader's search path
    name = ctypes.util.find_library("lfmd")
    if name:
        found.append(name)
    for prefix in ("/usr/local/lib", "/usr/local/lib64", "/usr/lib"):
        found.append(os.path.join(prefix, "liblfmd.so"))
    return found


def load() -> ctypes.CDLL:
    """Loads liblfmd ($LFMD_LIBRARY, the repository's build/, or an installed copy)."""
    errors = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            errors.append(f"{path}: not found")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append(str(e))
            continue
        _declare(lib)
        return lib
    raise OSError(
        "liblfmd not found (set LFMD_LIBRARY to its path, build it with "
        "`cmake --build build --target lfmd_shared`, or install it): " + "; ".join(errors)
    )


def _declare(lib: ctypes.CDLL) -> None:
    handle = ctypes.c_void_p
    lib.lfmd_version.restype = ctypes.c_char_p
    lib.lfmd_version.argtypes = []
    lib.lfmd_last_error.restype = ctypes.c_char_p
    lib.lfmd_last_error.argtypes = []
    lib.lfmd_open.restype = ctypes.c_int
    lib.lfmd_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(handle)]
    lib.lfmd_complete.restype = ctypes.c_int
    lib.lfmd_complete.argtypes = [
        handle,
        ctypes.c_char_p,
        TOKEN_CALLBACK,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_void_p),
    ]
    for name in ("lfmd_cancel", "lfmd_reset", "lfmd_close"):
        getattr(lib, name).restype = ctypes.c_int
        getattr(lib, name).argtypes = [handle]
    lib.lfmd_free_string.restype = None
    lib.lfmd_free_string.argtypes = [ctypes.c_void_p]


_lib: Optional[ctypes.CDLL] = None


def lib() -> ctypes.CDLL:
    """The loaded library (loaded on first use)."""
    global _lib
    if _lib is None:
        _lib = load()
    return _lib
