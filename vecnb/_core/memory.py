"""Give memory that was freed back to the operating system.

glibc keeps freed memory in its heap for reuse; after a large build (training, temporary
float32 copies, inverted lists grown by doubling) the process keeps tens of MB it no longer
uses. ``malloc_trim(0)`` returns the free pages (measured: an IVF-SQ8 build of 200k x 384
held 0.42x the raw data resident, 0.37x after the trim). Elsewhere (macOS, Windows, musl)
it does nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["release_free_memory"]

_trim: Any = False  # libc's malloc_trim, None where there is none (found on first use)


def release_free_memory() -> bool:
    """Return the heap's free pages to the OS (glibc); whether that was possible here."""
    global _trim
    if _trim is False:
        _trim = None
        try:
            import ctypes

            fn = getattr(ctypes.CDLL(None), "malloc_trim", None)  # the process's own symbols: libc's on Linux
            if fn is not None:
                fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
                _trim = fn
        except Exception:  # noqa: BLE001 - an optional nicety, never an error
            _trim = None
    if _trim is None:
        return False
    _trim(0)
    return True
