"""``ddf.vec`` on Dask DataFrames: embed per partition, exact search, parallel ingest into a server store.

::

    import dask.dataframe as dd
    import vecnb                       # registers ddf.vec when dask.dataframe is (or later gets) imported
    ddf = dd.read_parquet("abstracts/")
    ddf = ddf.vec.embed("text", model="minilm")                   # lazy; one model per worker process
    ddf = ddf.vec.persist()                                       # run it now, with a progress bar
    hits = ddf.vec.search("query text", k=10)                     # pandas frame == df.vec.search(...)
    idx = ddf.vec.to_store("pgvector", url=URL, table="big")      # parallel, idempotent, resumable
    idx.ingest_report                                             # rows, seconds, rows/s, retries

Registration: ``import vecnb`` never imports dask. If ``dask.dataframe`` is already imported it
registers ``ddf.vec`` at once, otherwise a tiny import hook registers it when ``dask.dataframe``
is first imported; ``import vecnb.dask`` registers it explicitly.

Decisions
---------
* **Model once per worker.** A model given by name or spec (``"minilm"``, ``{"name": ...}``, a
  name you registered with :func:`vecnb.embed.register` -- the registration travels with the
  task) is built on each worker process the first time a task needs it and kept in a
  per-process cache keyed by the spec. An :class:`~vecnb.embed.Embedder` object or a callable
  is pickled once on the client (a clear error names the fix when it cannot be) and unpickled
  once per worker process (cache keyed by the bytes' digest).
* **Embedding cache per partition.** Each partition goes through :func:`vecnb.embed.embed_texts`
  (de-duplication within the partition + the on-disk cache keyed by model and text), so a re-run
  embeds only texts not embedded before. On a multi-machine cluster pass ``cache="s3://..."``
  (any fsspec URL every worker reaches). Texts repeated across partitions that run at the same
  time may be embedded by both (the cache is shared, not locked).
* **Search** runs ``df.vec.search`` on every partition (k per partition), then merges: the k best
  per query over all partitions, ties kept in row order -- the rows ``df.vec.search`` returns on
  the computed frame.
* **to_store** writes every partition in parallel with keys fixed by (partition, position): each
  partition owns a block of keys, so re-writing it never duplicates a row. A store that bulk-loads
  (pgvector, ``bulk_load`` capability) gets its secondary indexes dropped once before a fresh or
  resumed run (GIN on an empty table) and built once at the end; each partition's block is made
  exactly its rows in one transaction (delete the block, binary COPY straight into the table) -- a
  retried or resumed partition replaces whatever an earlier attempt committed. Other stores, and
  ``mode="sync"``, use the store's idempotent upsert (pgvector: COPY into a staging table, then
  ``INSERT .. ON CONFLICT``). A failed run leaves the indexes built over what it wrote. The client records each
  finished partition in the index record kept beside the vectors (the checkpoint); a run that
  failed or was killed continues with ``mode="resume"``, writing only unrecorded partitions. The
  ANN index is built once at the end. ``mode="replace"`` builds into a staging table swapped in
  at the end (readers see the old index or the new one); ``mode="error"`` refuses an existing one.
  ``mode="sync"`` sends the existing index's (label, key, row hash) once to the workers: rows
  with a known label and unchanged content are skipped, changed ones rewritten under their key,
  new labels get fresh keys past the index's, and once every partition is written the labels no
  partition has are deleted: the index equals the frame. A failed sync deletes nothing and is
  finished by running it again.
* **Threads.** Each embedding task caps its model's native thread pools at ``threads=1`` (see
  ``vecnb.dask.task_threads``): a worker thread is one core, as Dask's nanny assumes for BLAS.
* **Progress.** ``ddf.vec.persist()`` and ``to_store`` show Dask's progress widget in a Jupyter
  kernel and a ``tqdm`` bar of partitions elsewhere, and print the dashboard link when the
  cluster serves one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core.arrow import vector_array
from vecnb._core.html import kv_table
from vecnb._core.threads import Beside
from vecnb.errors import FilterError, InvalidInputError, StoreError, TextColumnError, VecnbError
from vecnb.frame.columns import ColumnInfo, get_info, resolve_column, set_info

__all__ = ["DaskVecAccessor", "IngestReport", "register", "STRIDE"]

STRIDE = 1 << 32
"""Keys of partition ``i`` of a ``to_store`` run are ``base + i * STRIDE + position``."""

_MODELS: dict[str, Any] = {}      # per worker process: model token -> Embedder
_MODELS_LOCK = threading.Lock()
_REGISTERED = False


# --------------------------------------------------------------------------- the model on workers
def _model_payload(model: Any) -> tuple[str, Any]:
    """What to send to workers for ``model``: ("spec", (json, registration)) or ("pickle", (digest, bytes))."""
    from vecnb.embed import get_embedder
    from vecnb.embed.registry import registration

    if isinstance(model, (str, dict)):
        spec = get_embedder(model).spec() if isinstance(model, str) and ":" in model else model
        spec = {"name": spec} if isinstance(spec, str) else dict(spec)
        reg = registration(spec.get("name", ""))
        if reg is not None and isinstance(reg[0], str) and reg[0].startswith("vecnb."):
            reg = None  # built in: every worker has it
        text = json.dumps(spec, sort_keys=True, default=str)
        if reg is not None:
            _pickle(reg, what=f"the factory registered as {spec['name']!r}")
        return "spec", (text, reg)
    data = _pickle(model, what=f"the model {type(model).__name__}")
    return "pickle", (hashlib.sha256(data).hexdigest(), data)


def _pickle(obj: Any, *, what: str) -> bytes:
    import cloudpickle

    try:
        return cloudpickle.dumps(obj)
    except Exception as exc:  # noqa: BLE001 - pickling raises TypeError, PicklingError, AttributeError ...
        raise InvalidInputError(
            f"{what} cannot be sent to the Dask workers: pickling it failed ({type(exc).__name__}: {exc}). "
            "Pass a model name or spec instead (model='minilm', {'name': 'hashing', 'n_features': 256}), or "
            "register a factory that builds it on each worker: vecnb.embed.register('mine', 'mypkg.models:Mine') "
            "in a module the workers can import, then model='mine'.") from None


def worker_model(payload: tuple[str, Any]) -> Any:
    """The Embedder for ``payload`` in this process, built / unpickled once and then reused."""
    kind, body = payload
    key = f"{kind}:{body[0]}"
    with _MODELS_LOCK:
        emb = _MODELS.get(key)
        if emb is not None:
            return emb
        from vecnb.embed import get_embedder, register

        if kind == "spec":
            text, reg = body
            spec = json.loads(text)
            if reg is not None:
                import cloudpickle

                factory, extra = cloudpickle.loads(cloudpickle.dumps(reg))
                register(spec["name"], factory, extra=extra, overwrite=True)
            emb = get_embedder(spec)
        else:
            import cloudpickle

            emb = get_embedder(cloudpickle.loads(body[1]))
        _MODELS[key] = emb
        return emb


# --------------------------------------------------------------------------- threads per task
_POOLS: tuple[int, Any] = (-1, None)


def _threadpools() -> Any:
    """This process's native thread pools (a ``threadpoolctl`` controller), scanned again only when
    modules were imported since (a native library comes with a module; a scan costs ~6 ms per task)."""
    global _POOLS
    if _POOLS[0] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _POOLS = (len(sys.modules), ThreadpoolController())
    return _POOLS[1]


@contextlib.contextmanager
def task_threads(emb: Any, threads: int | None) -> Iterator[None]:
    """Run the block with the model's native thread pools capped at ``threads`` (None: leave them).

    A Dask worker runs one task per worker thread, so a model that also spreads over every core
    (OpenBLAS / MKL / OpenMP, torch's intra-op pool, Hugging Face tokenizers' Rayon pool, MiniLM's
    batch threads) oversubscribes the machine: 2 workers x 2 cores each on 2 cores. Capped here:
    BLAS and OpenMP through ``threadpoolctl``, torch with ``set_num_threads`` (when the worker has
    imported it), tokenizers with ``TOKENIZERS_PARALLELISM=false`` at 1 thread, and an embedder's
    own ``threads`` attribute (MiniLM's numpy backend). Everything is restored afterwards. An ONNX
    Runtime session fixes its thread count when it is created: build it with
    ``intra_op_num_threads`` in your embedder.
    """
    if threads is None:
        yield
        return
    n = int(threads)
    saved_env = os.environ.get("TOKENIZERS_PARALLELISM")
    torch = sys.modules.get("torch")
    saved_torch = torch.get_num_threads() if torch is not None else None
    owners = [o for o in (emb, getattr(emb, "_impl", None)) if type(getattr(o, "threads", None)) is int]
    saved_own = [o.threads for o in owners]
    try:
        if n == 1:
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
        if torch is not None and saved_torch != n:
            torch.set_num_threads(n)
        for o in owners:
            o.threads = min(o.threads, n)
        with _threadpools().limit(limits=n):
            yield
    finally:
        for o, t in zip(owners, saved_own):
            o.threads = t
        if torch is not None and saved_torch != n:
            torch.set_num_threads(saved_torch)
        if n == 1:
            if saved_env is None:
                os.environ.pop("TOKENIZERS_PARALLELISM", None)
            else:
                os.environ["TOKENIZERS_PARALLELISM"] = saved_env


_MALLOC = {"depth": 0, "lock": threading.Lock(), "libc": None}
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


@contextlib.contextmanager
def steady_malloc() -> Iterator[None]:
    """Let glibc keep the heap it grows while a task embeds; give memory back afterwards.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (so freed memory goes back
    to the OS). Setting it also turns off glibc's adaptive mmap threshold: every allocation over
    128 KiB -- a model's batch-sized temporaries -- is then a fresh ``mmap`` whose pages fault in
    zeroed, and an embedding task spends 10-15% more CPU than the same code in a plain process
    (measured here with wordllama: 2.20 vs 1.92 CPU s for 4,000 texts; this context: 1.91-1.99).
    Inside the block the thresholds are those glibc would adapt to (32 MiB mmap, 64 MiB trim); on
    the way out they go back to the nanny's (128 KiB default mmap, the env's trim) and
    ``malloc_trim(0)`` returns the free memory, as Dask intends. Only on glibc, and only when that
    variable is set; concurrent tasks share one setting (the last out restores).
    """
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    libc = _libc() if trim is not None and trim.isdigit() else None
    if libc is None:
        yield
        return
    with _MALLOC["lock"]:
        if _MALLOC["depth"] == 0:
            libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
            libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)
        _MALLOC["depth"] += 1
    try:
        yield
    finally:
        with _MALLOC["lock"]:
            _MALLOC["depth"] -= 1
            if _MALLOC["depth"] == 0:
                libc.mallopt(_M_TRIM_THRESHOLD, int(trim))
                libc.mallopt(_M_MMAP_THRESHOLD, 128 << 10)
                libc.malloc_trim(0)


def _libc() -> Any:
    """glibc through ctypes (None elsewhere: musl, macOS, Windows)."""
    if _MALLOC["libc"] is None:
        lib: Any = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                cand = ctypes.CDLL("libc.so.6")
                if hasattr(cand, "mallopt") and hasattr(cand, "malloc_trim") and hasattr(cand, "gnu_get_libc_version"):
                    lib = cand
            except OSError:
                pass
        _MALLOC["libc"] = lib
    return _MALLOC["libc"] or None


# --------------------------------------------------------------------------- embed
def _with_hashes(previous: pd.DataFrame | None, column: str, name: str) -> pd.DataFrame | None:
    """``previous`` with per-row text hashes for ``name``: a Dask-embedded frame carries none (partitions
    share one ``attrs``, so a concat keeps it), its text column is what its vectors were made from."""
    from vecnb.frame.hashing import hash_texts_encoded

    if previous is None or not isinstance(previous, pd.DataFrame) or name not in previous.columns:
        return previous
    info = get_info(previous, name)
    if info.get("hashes") or info.get("source") != column or column not in previous.columns:
        return previous
    texts = previous[column].tolist()
    if not all(isinstance(t, str) for t in texts):
        return previous
    out = previous.copy(deep=False)
    out.attrs = {**previous.attrs}
    set_info(out, name, {**info, "hashes": hash_texts_encoded(previous.index, texts)})
    return out


def _embed_reusing(emb: Any, texts: list, previous: pd.DataFrame | None, part: pd.DataFrame, column: str,
                   name: str, options: dict) -> np.ndarray:
    """Vectors for ``texts``: rows whose text and model are unchanged in ``previous`` reuse its vectors."""
    from vecnb.embed import embed_texts
    from vecnb.frame.hashing import reusable_rows

    reuse = reusable_rows(part, texts, _with_hashes(previous, column, name), emb.model_id, source=column, name=name)
    if reuse is None:
        return embed_texts(emb, texts, batch_size=options["batch_size"], progress=False, cache=options["cache"])
    have, vectors = reuse
    todo = np.flatnonzero(~have)
    X = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
    X[have] = vectors
    if len(todo):
        X[todo] = embed_texts(emb, [texts[i] for i in todo], batch_size=options["batch_size"], progress=False,
                              cache=options["cache"])
    return X


def _embed_partition(part: pd.DataFrame, column: str, name: str, payload: Any, info: dict, options: dict,
                     previous: pd.DataFrame | None = None, partition_info: dict | None = None) -> pd.DataFrame:
    from vecnb.frame.columns import text_values

    number = (partition_info or {}).get("number", "?")
    out = part.copy(deep=False)
    if len(part):
        try:
            texts = text_values(part, column, missing=options["missing"])
            bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
            if bad:
                raise TextColumnError(
                    f"Text column {column!r} holds non-text values (first at rows {[part.index[i] for i in bad[:5]]}: "
                    f"{type(texts[bad[0]]).__name__}). Convert them (ddf[{column!r}].astype(str)) or drop them.")
            emb = worker_model(payload)
            with task_threads(emb, options.get("threads")), steady_malloc():
                X = _embed_reusing(emb, texts, previous, part, column, name, options)
        except TextColumnError as exc:
            raise TextColumnError(f"partition {number}: {exc}") from None
        if X.shape[1] != info["dim"]:
            raise InvalidInputError(f"partition {number}: the model returned {X.shape[1]}-d vectors, "
                                    f"{info['dim']}-d expected (the model changed between client and worker?).")
        out[name] = vector_array(X)
    else:
        out[name] = vector_array(np.empty((0, info["dim"]), np.float32))
    set_info(out, name, info)
    return out


# --------------------------------------------------------------------------- search
def _search_partition(part: pd.DataFrame, query: Any, options: dict) -> pd.DataFrame | None:
    if not len(part):
        return None
    return part.vec.search(query, **options)


def _converted_dates(exc: FilterError, meta: pd.DataFrame) -> FilterError:
    """``exc`` with the likely cause named when a date filter met a string column: Dask's
    ``from_pandas`` / ``read_parquet`` turn object columns (``datetime.date`` values included) into
    strings (``dataframe.convert-string``), where ``df.vec.search`` on the pandas frame compares dates."""
    msg = str(exc)
    if "does not hold dates" not in msg or not any(pd.api.types.is_string_dtype(t) and t != object
                                                   for t in meta.dtypes):
        return exc
    return FilterError(
        msg + " If the pandas frame held datetime.date values there, Dask converted them to strings when the Dask "
        "frame was made (dataframe.convert-string): convert the column first (df[col] = pd.to_datetime(df[col])), or "
        "make the Dask frame inside dask.config.set({'dataframe.convert-string': False}).")


def _merge_hits(parts: list[pd.DataFrame], k: int) -> pd.DataFrame:
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return None
    hits = pd.concat(parts, sort=False)
    hits["__order"] = np.arange(len(hits))
    keys = ["query"] if "query" in hits.columns else []
    if keys:  # queries in the order asked (the partitions' results keep it)
        qorder = pd.unique(hits["query"])
        hits["__q"] = pd.Categorical(hits["query"], categories=qorder, ordered=True).codes
        keys = ["__q"]
    hits = hits.sort_values([*keys, "score", "__order"], ascending=[True] * len(keys) + [False, True], kind="stable")
    if keys:
        hits = hits.groupby("__q", sort=False).head(k)
        hits["rank"] = hits.groupby("__q", sort=False).cumcount() + 1
    else:
        hits = hits.head(k)
        hits["rank"] = np.arange(1, len(hits) + 1)
    return hits.drop(columns=[c for c in ("__order", "__q") if c in hits.columns])


# --------------------------------------------------------------------------- progress and the dashboard
def _client() -> Any:
    """The distributed Client that Dask computes on now, or None (no client, or a local scheduler chosen
    with ``dask.config.set(scheduler=...)``)."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return None
    import dask.base

    return client if getattr(dask.base.get_scheduler(), "__self__", None) is client else None


def _bokeh_apps(dask_scheduler: Any = None) -> list[str]:
    """Scheduler side: the web applications its HTTP server runs (the dashboard is ``*BokehTornado``)."""
    app = getattr(dask_scheduler, "http_application", None)
    return [type(a).__name__ for a in getattr(app, "applications", ())]


def dashboard_link(client: Any) -> str | None:
    """The Dask dashboard's URL when ``client``'s scheduler serves one, else None.

    The scheduler always runs an HTTP server (listed as its ``"dashboard"`` service, even
    without one); the dashboard itself is served only when ``bokeh`` is installed there and
    the cluster was started with a dashboard address (``vecnb[dask]`` installs bokeh).

    Examples
    --------
    >>> dashboard_link(None) is None
    True
    """
    if client is None:
        return None
    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - a cosmetic line: never fail the job for it
        return None
    try:
        apps = client.run_on_scheduler(_bokeh_apps)
    except Exception:  # noqa: BLE001 - e.g. a remote scheduler without vecnb: it may serve one
        return link
    return link if any("Bokeh" in a for a in apps) else None


def _announce(client: Any) -> None:
    """Print the Dask dashboard's link when the cluster serves one."""
    link = dashboard_link(client)
    if link:
        print(f"Dask dashboard: {link}")


def _in_kernel() -> bool:
    from distributed.utils import is_kernel

    try:
        import ipywidgets  # noqa: F401 - distributed's widget needs it
    except ImportError:
        return False
    return bool(is_kernel())


class _WidgetProgress:
    """Dask's own progress widget (``distributed.progress``) over a job's futures, displayed in the
    notebook: one bar per kind of task (e.g. the embedding and the writing of each partition), updated
    from the scheduler. :meth:`update` is a no-op: the widget follows the tasks by itself."""

    def __init__(self, client: Any, futures: list):
        from distributed.diagnostics.progressbar import MultiProgressWidget

        self.bar = MultiProgressWidget(futures, scheduler=client.scheduler.address, complete=True)
        # listen on the client's event loop (its own thread), not the kernel's: the cell blocks while the
        # job runs, and distributed.progress() listening on the kernel's loop would only draw it at the end
        client.loop.add_callback(self.bar.listen)
        try:
            from IPython.display import display

            display(self.bar.widget)
        except ImportError:  # pragma: no cover - ipywidgets without IPython
            pass

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _WidgetProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_display(client: Any, futures: list | None, desc: str, progress: bool, *,
                     total: int | None = None) -> Any:
    """What shows a job's progress: in a Jupyter kernel Dask's widget over ``futures``; elsewhere (or
    without futures: no client) a ``tqdm`` bar of ``total`` (default ``len(futures)``) partitions that
    the caller updates as each finishes; a silent stand-in when ``progress`` is false."""
    from vecnb._core.progress import progress_bar

    if progress and client is not None and futures is not None and _in_kernel():
        return _WidgetProgress(client, futures)
    return progress_bar(len(futures) if total is None else total, desc, enabled=bool(progress),
                        unit="partitions")


def _local_progress(desc: str, enabled: bool) -> Any:
    """A Dask callback showing a ``tqdm`` bar of tasks while the local (non-distributed) scheduler runs."""
    from dask.callbacks import Callback

    from vecnb._core.progress import NoBar, progress_bar

    class TqdmCallback(Callback):
        bar: Any = NoBar()

        def _start_state(self, dsk: Any, state: dict) -> None:
            done = len(state["finished"])
            total = sum(len(state[k]) for k in ("ready", "waiting", "running")) + done
            self.bar = progress_bar(total, desc, enabled=enabled, unit="tasks", initial=done)

        def _posttask(self, key: Any, result: Any, dsk: Any, state: dict, worker_id: Any) -> None:
            self.bar.update(1)

        def _finish(self, dsk: Any, state: dict, errored: bool) -> None:
            self.bar.close()

    return TqdmCallback()


def persist(ddf: Any, progress: bool = True) -> Any:
    """Compute ``ddf``'s partitions and keep them (in the workers' memory), showing progress; see
    :meth:`DaskVecAccessor.persist`."""
    client = _client()
    if client is None:
        with _local_progress("ddf.vec.persist", progress):
            return ddf.persist()
    from distributed import as_completed, futures_of

    if progress:
        _announce(client)
    out = client.persist(ddf)
    futures = futures_of(out)
    with progress_display(client, futures, "ddf.vec.persist", progress) as bar:
        for fut in as_completed(futures):
            if fut.status == "error":
                client.cancel(futures)
                fut.result()  # raises the partition's error
            bar.update(1)
    return out


# --------------------------------------------------------------------------- to_store
@dataclass
class IngestReport:
    """What a ``ddf.vec.to_store`` run did.

    Examples
    --------
    >>> rep = IngestReport(rows=1000, partitions=4, partitions_skipped=1, seconds=2.0, rows_per_second=500.0,
    ...                    retries=0, build_seconds=0.5, workers=2)
    >>> rep.to_dict()["rows_per_second"], rep.deleted
    (500.0, 0)
    """

    rows: int
    partitions: int
    partitions_skipped: int
    seconds: float
    rows_per_second: float
    retries: int
    build_seconds: float
    workers: int
    deleted: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _repr_html_(self) -> str:
        return kv_table("vecnb ingest", [(k, f"{v:,.2f}" if isinstance(v, float) else f"{v:,}")
                                         for k, v in self.to_dict().items()])


def _write_partition(part: pd.DataFrame, number: int, job: dict) -> tuple:
    """Worker side: write one partition's rows under keys fixed by (partition, position) -- its key block
    made exactly these rows on a bulk-loading store, else upserted in batches.

    Returns ``(rows written, their keys, their row hashes, the partition's labels, its checkpoint)``:
    the labels only for a sync (``None`` otherwise), so the client can delete the labels no
    partition has; the checkpoint is the rows' index-record entries, encoded here (in parallel on
    the workers) for the client to append.
    """
    from vecnb import stores
    from vecnb.index.core import VectorIndex, _metadata, _row_hash
    from vecnb.index.home import encode_rows

    cls = stores.get(job["store"])
    st = cls(dim=job["dim"], metric=job["metric"], kind=job["kind"], **job["options"])
    try:
        idx = VectorIndex(st, column=job["column"], info=job["info"], text=job["text"], kind=job["kind"])
        try:
            rows, X = idx._split(part, f"to_store (partition {number})")
        except VecnbError as exc:
            raise type(exc)(f"partition {number}: {exc}") from None
        keys = job["base"] + number * STRIDE + np.arange(len(rows), dtype=np.int64)
        if job.get("bulk"):
            return _load_partition(st, idx, rows, X, keys, job["base"] + number * STRIDE)
        hashes = _row_hash(rows, X)
        seen = None
        if job.get("existing") is not None:  # mode="sync": known labels keep their key, unchanged rows are skipped
            seen = rows.index
            rows, X, keys, hashes = _sync_rows(job["existing"], rows, X, keys, hashes)
        record = encode_rows(rows, keys, hashes) if len(rows) else []  # before writing: fails on bad labels
        meta, texts = _metadata(rows), idx._texts(rows)
        step = job["batch"]
        for s in range(0, len(rows), step):
            st.upsert(keys[s:s + step], X[s:s + step], None if meta is None else meta.iloc[s:s + step],
                      None if texts is None else texts[s:s + step])
        return rows, keys, hashes, seen, record
    finally:
        st.close()


def _load_partition(st: Any, idx: Any, rows: pd.DataFrame, X: np.ndarray, keys: np.ndarray, lo: int) -> tuple:
    """A bulk-loading store: the partition's key block ``[lo, lo + STRIDE)`` made exactly these rows in
    one transaction, which commits only once the rows' hashes and index-record entries are made (a
    bad label fails it: nothing written) -- made in a thread while the server digests the COPY."""
    from vecnb.index.core import _metadata, _row_hash
    from vecnb.index.home import encode_rows

    def entries() -> tuple[np.ndarray, list[bytes]]:
        hashes = _row_hash(rows, X)
        return hashes, encode_rows(rows, keys, hashes) if len(rows) else []

    side = Beside(entries)
    try:
        st.load_block(keys, X, _metadata(rows), idx._texts(rows), block=(lo, lo + STRIDE), check=side.result)
    finally:
        side.join()
    hashes, record = side.result()
    return rows, keys, hashes, None, record


def _sync_rows(existing: tuple, rows: pd.DataFrame, X: np.ndarray, keys: np.ndarray, hashes: np.ndarray) -> tuple:
    """The rows to write for a sync: new labels (their fresh keys) and changed rows (under their old key)."""
    labels, old_keys, old_hash = existing
    pos = labels.get_indexer(rows.index) if len(labels) else np.full(len(rows), -1, np.int64)
    old = pos >= 0
    keys = keys.copy()
    keys[old] = old_keys[pos[old]]
    changed = ~old
    changed[old] = old_hash[pos[old]] != hashes[old]
    return rows[changed], X[changed], keys[changed], hashes[changed]


def _cluster_gone(exc: BaseException, job: dict) -> StoreError:
    return StoreError(
        f"the Dask cluster stopped answering during to_store ({type(exc).__name__}: {exc}). Partitions finished "
        "before that are written and recorded: connect a Client to a running cluster and run the same "
        "to_store(..., mode='resume') to write only the rest.", store=job["store"], operation="to_store")


def _target(store: Any) -> dict[str, str]:
    """Where the workers write: the table (pgvector, sqlite) or index (elasticsearch) this run fills,
    which for ``mode="replace"`` is the staging one swapped in at the end."""
    return {k: v for k in ("table", "index") if isinstance(v := getattr(store, k, None), str)}


def _retry(client: Any, fut: Any) -> None:
    """Re-run an erred future and the erred tasks it depends on.

    ``Future.retry()`` does this on the scheduler, then fails in the client's bookkeeping
    (KeyError) for upstream keys the client holds no future of (distributed 2026.8); this is
    the same call, skipping those keys."""
    keys = client.sync(client.scheduler.retry, keys=[fut.key], client=client.id)
    for key in keys:
        st = client.futures.get(key)
        if st is not None:
            st.retry()


class _Attempts:
    """Failures per partition: which to run again, which gave up, and how many re-runs there were."""

    def __init__(self, todo: list[int], retries: int):
        self.count = dict.fromkeys(todo, 0)
        self.retries = retries
        self.retried = 0
        self.failed: dict[int, BaseException] = {}

    def again(self, i: int, exc: BaseException) -> bool:
        """Record a failure of partition ``i``: True if it is to be run again."""
        self.count[i] += 1
        if self.count[i] <= self.retries and not isinstance(exc, VecnbError):  # bad input fails the same way
            self.retried += 1
            return True
        self.failed[i] = exc
        return False


def _run_local(parts: list, todo: list[int], job: dict, attempts: _Attempts, bar: Any, on_done: Any) -> None:
    """Write partitions ``todo`` one after the other with Dask's local scheduler (no client)."""
    import dask

    for i in todo:
        while True:
            try:
                on_done(i, dask.compute(dask.delayed(_write_partition)(parts[i], i, job))[0])
                break
            except Exception as exc:  # noqa: BLE001 - retried, then reported
                if not attempts.again(i, exc):
                    break
        bar.update(1)


def _run_on_cluster(client: Any, parts: list, todo: list[int], job: dict, attempts: _Attempts, progress: Any,
                    on_done: Any) -> None:
    """Write partitions ``todo`` on the cluster, all submitted at once; ``on_done`` runs in the client
    as each finishes (the checkpoint), failed ones are re-run in place."""
    import dask
    from distributed import as_completed
    from distributed.client import ClosedClientError

    gone = (OSError, TimeoutError, asyncio.CancelledError, ClosedClientError)

    def submit(i: int) -> Any:
        fut = client.compute(dask.delayed(_write_partition, pure=False)(parts[i], i, job))
        fut.vecnb_partition = i
        return fut

    try:
        futures = [submit(i) for i in todo]
    except gone as exc:
        raise _cluster_gone(exc, job) from exc
    bar = progress_display(client, futures, f"to_store -> {job['store']}", progress)
    try:
        pending = as_completed(futures)
        for fut in pending:
            i = fut.vecnb_partition
            try:
                on_done(i, fut.result())
            except gone as exc:
                raise _cluster_gone(exc, job) from exc
            except Exception as exc:  # noqa: BLE001 - retried, then reported
                if attempts.again(i, exc):
                    _retry(client, fut)
                    pending.add(fut)
                    continue
            fut.release()  # forget the partition's tasks: a later run computes them afresh
            bar.update(1)
    finally:
        bar.close()


def _run_partitions(parts: list, todo: list[int], job: dict, *, retries: int, progress: Any,
                    on_done: Any) -> _Attempts:
    """Write partitions ``todo`` (on the cluster when a client is active); ``on_done(i, result)`` in the client."""
    attempts = _Attempts(todo, retries)
    client = _client()
    if client is not None:
        if progress:
            _announce(client)
        _run_on_cluster(client, parts, todo, job, attempts, progress, on_done)
        return attempts
    with progress_display(None, None, f"to_store -> {job['store']}", progress, total=len(todo)) as bar:
        _run_local(parts, todo, job, attempts, bar, on_done)
    return attempts


def _concat_index(indexes: list[pd.Index]) -> pd.Index:
    return indexes[0].append(indexes[1:]) if len(indexes) > 1 else indexes[0]


def _merge_written(idx: Any, results: list[tuple], *, replace_labels: bool) -> None:
    """Add the rows the partitions wrote to the index's row map; with ``replace_labels`` (a sync) a
    row rewritten under a label the index held replaces the old one."""
    results = [r for r in results if len(r[0])]
    if not results:
        return
    keep = np.ones(len(idx._frame), bool)
    if replace_labels and len(idx._frame):
        keep = ~idx._frame.index.isin(_concat_index([r[0].index for r in results]))
    old = idx._frame[keep] if not keep.all() else idx._frame
    frames = [old, *(r[0] for r in results)] if len(old) else [r[0] for r in results]
    idx._set_rows(pd.concat(frames, sort=False), np.concatenate([idx._keys[keep], *(r[1] for r in results)]),
                  np.concatenate([idx._row_hash[keep], *(r[2] for r in results)]))
    idx._next_key = max(idx._next_key, int(idx._keys.max()) + 1)


def _delete_missing(idx: Any, results: list[tuple]) -> int:
    """After a complete sync: delete the labels the index holds that no partition has (so it equals the frame)."""
    seen = [r[3] for r in results if r[3] is not None]
    held = idx._frame.index
    gone = held[~held.isin(_concat_index(seen))] if seen else held
    return idx.delete(gone) if len(gone) else 0


def _vector_column(meta: pd.DataFrame, column: str | None) -> tuple[str, int, dict]:
    """The embedding column to write, its width and its metadata, from the Dask frame's meta."""
    col = resolve_column(meta, column)
    dtype = meta[col].dtype
    dim = getattr(getattr(dtype, "pyarrow_dtype", None), "list_size", None) or get_info(meta, col).get("dim")
    if not dim:
        raise InvalidInputError(f"column {col!r} of the Dask frame is not a fixed-size vector column; "
                                "make it with ddf.vec.embed(...).")
    return col, int(dim), {k: v for k, v in get_info(meta, col).items() if k != "hashes"}


class _Ingest:
    """One ``to_store`` run: the frame's partitions, the store they go to, and what the run did.

    The three ways in -- :meth:`fresh` (a new index, also the staging one of ``mode="replace"``),
    :meth:`sync` and :meth:`resume` -- all end in :meth:`write`: one pass over the partitions.
    """

    def __init__(self, ddf: Any, store: str, *, column: str | None, text: str | None, kind: str,
                 retries: int, batch_size: int, progress: Any, options: dict):
        from vecnb import stores
        from vecnb.stores.base import supports

        self.cls = stores.get(store)
        if not supports(self.cls, "home"):
            raise InvalidInputError(f"to_store needs a store that keeps its index (pgvector, sqlite, chroma, "
                                    f"elasticsearch), not {store!r}; for an in-memory index use "
                                    "ddf.compute().vec.index(...).")
        self.store, self.text, self.kind, self.options = store, text, kind, options
        self.meta = ddf._meta
        self.col, self.dim, self.info = _vector_column(self.meta, column)
        self.parts = ddf.to_delayed()
        self.retries, self.batch_size, self.progress = retries, batch_size, progress
        self.skipped = self.retried = self.deleted = 0
        self.build_seconds = 0.0
        self.t0 = time.perf_counter()

    # -- the ways in
    def fresh(self, st: Any, metric: str, first: int = 0) -> Any:
        """Fill the empty store ``st`` (``build_owned``'s callback); keys start at a partition stride past ``first``."""
        from vecnb.index.core import VectorIndex
        from vecnb.index.opening import start_home
        from vecnb.stores.base import supports

        base = -(-first // STRIDE) * STRIDE
        idx = VectorIndex(st, column=self.col, info={**self.info, "dim": self.dim, "dask_run": {
            "base": base, "partitions": len(self.parts)}}, text=self.text, kind=self.kind,
            store_name=getattr(self.cls, "name", self.store))
        idx._next_key = base
        try:
            start_home(idx)
            if supports(st, "bulk_load"):
                st.bulk_begin()  # e.g. pgvector: GIN indexes dropped once, built once at the end
            return self.write(idx, base)
        except BaseException:
            if idx._home is None or not len(idx._frame):
                idx.close()
            raise

    def sync(self, existing: Any) -> Any:
        """Make the existing index equal the frame: changed and new rows written, missing labels deleted."""
        from vecnb.index.core import VectorIndex
        from vecnb.index.opening import open_from

        idx = open_from(existing, VectorIndex)
        if self.dim != idx.dim:
            idx.close()
            raise InvalidInputError(f"mode='sync': the index in {self.store} holds {idx.dim}-d vectors, this "
                                    f"frame's are {self.dim}-d; embed with its model "
                                    f"({idx._info.get('model_id')!r}) or use mode='replace'.")
        base = -(-idx._next_key // STRIDE) * STRIDE
        return self.write(idx, base, existing=(idx._frame.index, idx._keys.copy(), idx._row_hash.copy()))

    def resume(self, existing: Any) -> Any:
        """Continue the run that started the existing index: write only the partitions it has not recorded."""
        from vecnb.index.core import VectorIndex
        from vecnb.index.opening import open_from

        idx = open_from(existing, VectorIndex)
        runinfo = idx._info.get("dask_run") or {}
        if runinfo.get("partitions") != len(self.parts):
            idx.close()
            raise InvalidInputError(
                f"mode='resume': the index in {self.store} was started by a to_store run over "
                f"{runinfo.get('partitions')!r} partitions, this frame has {len(self.parts)}; resume needs the "
                "same frame and partitioning (or use mode='replace').")
        base = int(runinfo["base"])
        return self.write(idx, base, done=set(((idx._keys - base) // STRIDE).tolist()))

    # -- one pass
    def _job(self, idx: Any, base: int, existing: tuple | None) -> dict:
        """What every partition's task needs: the store to open, the column, the keys' base."""
        options = {k: v for k, v in {**self.options, **_target(idx.store)}.items() if k != "recreate"}
        from vecnb.stores.base import supports

        job = {"store": self.store, "dim": self.dim, "metric": idx.metric, "kind": self.kind, "column": self.col,
               "text": self.text, "info": idx._info, "base": base, "batch": self.batch_size, "options": options,
               # a fresh or resumed run owns each partition's key block: written by load_block, not upserts
               "bulk": existing is None and supports(idx.store, "bulk_load")}
        if existing is not None:
            import dask

            job["existing"] = dask.delayed(existing, pure=True)  # one copy in the graph, shared by the partitions
        return job

    def write(self, idx: Any, base: int, *, done: set[int] = frozenset(), existing: tuple | None = None) -> Any:
        """Write every partition not in ``done``, record each as it finishes, then finish the index."""
        results: list[tuple] = []

        def on_done(i: int, res: tuple) -> None:
            if res[4]:
                idx._home.append(res[4])  # the partition's checkpoint
            results.append(res[:4])

        todo = [i for i in range(len(self.parts)) if i not in done]
        self.skipped = len(self.parts) - len(todo)
        try:
            attempts = _run_partitions(self.parts, todo, self._job(idx, base, existing), retries=self.retries,
                                       progress=self.progress, on_done=on_done)
        except Exception:  # not on an interrupt (Ctrl-C): no index build then; the resume's build() makes them
            self._leave_whole(idx)
            raise
        self.retried = attempts.retried
        _merge_written(idx, results, replace_labels=existing is not None)
        if attempts.failed:
            self._leave_whole(idx)
            raise self._failed(attempts.failed)
        if not idx._frame.index.is_unique:
            raise StoreError("the Dask frame's index labels are not unique across partitions; the index identifies "
                             "rows by label (ddf = ddf.reset_index())", store=self.store, operation="to_store")
        if existing is not None:
            self.deleted = _delete_missing(idx, results)
        self._finish(idx)
        return idx

    def _failed(self, failed: dict[int, BaseException]) -> StoreError:
        first = next(iter(failed.values()))
        n = len(self.parts)
        err = StoreError(
            f"{len(failed)} of {n} partitions failed (partitions {sorted(failed)[:10]}; first error: "
            f"{type(first).__name__}: {first}). The {n - len(failed)} other partitions are written and "
            "recorded; fix the cause and run the same to_store(..., mode='resume') to write only the rest "
            "(after a mode='sync' run: the same sync again).", store=self.store, operation="to_store")
        err.__cause__ = first
        return err

    @staticmethod
    def _leave_whole(idx: Any) -> None:
        """After a failed run: build what a bulk load deferred (pgvector's GIN indexes), so the rows
        written so far are fully searchable; a resume then writes the rest. Best effort: the
        run's own error is what the caller sees."""
        from vecnb.stores.base import supports

        if supports(idx.store, "bulk_load"):
            with contextlib.suppress(Exception):
                idx.store.bulk_end()

    def _finish(self, idx: Any) -> None:
        """Build the ANN index once, for all partitions; compact the index record."""
        from vecnb.stores.base import supports

        t = time.perf_counter()
        if supports(idx.store, "build"):
            idx.store.build()
        self.build_seconds = time.perf_counter() - t
        if idx._home is not None:
            idx._home.maybe_compact(idx)

    def report(self, idx: Any) -> IngestReport:
        seconds = time.perf_counter() - self.t0
        client = _client()
        rows = int(len(idx))
        return IngestReport(
            rows=rows, partitions=len(self.parts), partitions_skipped=self.skipped, seconds=round(seconds, 3),
            rows_per_second=round(rows / seconds, 1) if seconds else 0.0, retries=self.retried,
            build_seconds=round(self.build_seconds, 3),
            workers=len(client.scheduler_info().get("workers", {})) if client is not None else 1,
            deleted=self.deleted)


def to_store(ddf: Any, store: str = "pgvector", *, column: str | None = None, text: str | None = None,
             kind: str = "auto", metric: str | None = None, mode: str = "error", retries: int = 2,
             batch_size: int = 20_000, progress: Any = True, **options: Any) -> Any:
    """Write a Dask DataFrame's embedding column into a durable store; see :meth:`DaskVecAccessor.to_store`."""
    from vecnb.index.core import VectorIndex
    from vecnb.index.opening import build_owned, check_mode

    resume = mode == "resume"
    sync = not resume and check_mode(mode) == "sync"
    run = _Ingest(ddf, store, column=column, text=text, kind=kind, retries=retries, batch_size=batch_size,
                  progress=progress, options=options)
    existing = run.cls.open_existing(**options) if resume or sync else None
    if existing is not None and sync and (len(existing) or existing.home_read()):
        idx = run.sync(existing)
    elif existing is not None and resume:
        idx = run.resume(existing)
    else:
        if existing is not None:
            existing.close()
        idx = build_owned(run.cls, run.meta.iloc[:0], build=run.fresh, dim=run.dim, metric=metric, kind=kind,
                          mode="error" if resume else mode, options=dict(options), index_cls=VectorIndex)
    idx.ingest_report = run.report(idx)
    return idx


# --------------------------------------------------------------------------- the accessor
class DaskVecAccessor:
    """``ddf.vec`` on a Dask DataFrame: ``embed`` (lazy), ``search`` (exact), ``to_store`` (parallel ingest).

    Examples
    --------
    ``ddf.vec`` on a Dask DataFrame (here the local synchronous scheduler; a ``LocalCluster`` works the same):

    >>> import dask, dask.dataframe as dd
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble", "blue cheese"]})
    >>> ddf = dd.from_pandas(df, npartitions=2)
    >>> with dask.config.set(scheduler="synchronous"):
    ...     emb = ddf.vec.embed("text", model="hashing")
    ...     print(emb.vec.columns())
    ...     print(emb.vec.search("apple", k=2)[["text", "rank"]])
    ['text_vec']
                text  rank
    2  apple crumble     1
    0  red apple pie     2
    """

    def __init__(self, ddf: Any):
        self._ddf = ddf

    def columns(self) -> list[str]:
        """Names of the embedding columns (from the frame's meta)."""
        from vecnb.frame.columns import embedding_columns

        return embedding_columns(self._ddf._meta)

    def embed(self, column: str, model: Any = "minilm", *, name: str | None = None, batch_size: int = 64,
              cache: Any = True, missing: str = "raise", previous: Any = None, threads: int | None = 1) -> Any:
        """Embed a text column per partition (lazy): a NEW Dask DataFrame with the vectors in ``name``.

        Nothing runs until the frame is computed: ``ddf.vec.persist()`` runs it on the cluster with a
        progress bar (and prints the dashboard link), ``ddf.vec.to_store(...)`` embeds and writes.

        Parameters
        ----------
        column, model, name, batch_size, cache, missing
            As :meth:`vecnb.VecAccessor.embed`. The model is built once per worker process; each
            partition reads and feeds the on-disk cache (use an fsspec URL all workers reach on a
            multi-machine cluster).
        previous : DataFrame or Dask DataFrame, optional
            An earlier embedded version of this frame: rows whose text and model are unchanged
            reuse its vectors, so only new or edited rows are embedded (as ``df.vec.embed``). A
            pandas frame is sent whole to every partition; a Dask frame must have the same number
            of partitions, and partition ``i`` reuses from its partition ``i`` (rows that moved
            to another partition are embedded again -- or found in the on-disk cache).
        threads : int or None, default 1
            Threads each task's model may use (BLAS / OpenMP, torch, tokenizers, MiniLM's batch
            threads; see ``vecnb.dask.task_threads``). Dask runs one task per worker thread, so 1 keeps
            ``n_workers x threads_per_worker`` tasks on as many cores; ``None`` leaves the
            libraries' defaults (each task may spread over every core).

        Returns
        -------
        dask.dataframe.DataFrame
            Partitions carry the same ``fixed_size_list<float32>[d]`` column and column metadata
            (``attrs``) as ``df.vec.embed`` makes.
        """
        from vecnb.embed import get_embedder

        meta = self._ddf._meta
        if column not in meta.columns:
            raise InvalidInputError(f"Text column {column!r} is not in the Dask DataFrame. "
                                    f"Columns: {list(meta.columns)[:20]}.")
        name = name or f"{column}_vec"
        if name == column:
            raise InvalidInputError(f"name={name!r} would overwrite the text column; choose another name.")
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
        payload = _model_payload(model)
        emb = get_embedder(model)  # on the client: the model's id and width for the meta
        if emb.requires_fit and not emb.fitted:
            raise InvalidInputError(f"model {emb.name!r} must be fitted before it is used per partition "
                                    "(each partition would fit its own); fit it on a sample, then pass it.")
        dim = emb.dim or int(np.asarray(emb.embed(["dimension probe"])).shape[1])
        info = ColumnInfo.for_model(emb, dim, column).to_dict()
        out_meta = meta.copy()
        out_meta[name] = vector_array(np.empty((0, int(dim)), np.float32))
        set_info(out_meta, name, info)
        if threads is not None and (not isinstance(threads, (int, np.integer)) or threads < 1):
            raise InvalidInputError(f"threads must be a positive integer or None, got {threads!r}")
        options = {"batch_size": batch_size, "cache": cache, "missing": missing, "threads": threads}
        if previous is not None and not isinstance(previous, pd.DataFrame):
            if not hasattr(previous, "npartitions") or not hasattr(previous, "_meta"):
                raise InvalidInputError(f"previous must be a pandas or Dask DataFrame embedded by vecnb, "
                                        f"got {type(previous).__name__}.")
            if previous.npartitions != self._ddf.npartitions:
                raise InvalidInputError(
                    f"previous has {previous.npartitions} partitions, this frame {self._ddf.npartitions}: "
                    "previous= pairs partitions one to one. Repartition one like the other, or pass "
                    "previous.compute() (a pandas frame, sent to every partition).")
        return self._ddf.map_partitions(_embed_partition, column, name, payload, info, options, previous,
                                        meta=out_meta, align_dataframes=False)

    def search(self, query: Any, k: int = 10, *, metric: str | None = None, where: dict | None = None,
               threshold: float | None = None, column: str | None = None) -> pd.DataFrame:
        """Exact search over every partition, merged: the same rows and scores as ``df.vec.search``.

        Returns a pandas DataFrame (the hits are small): the original rows plus ``score``,
        ``rank`` (and ``query`` for several queries).
        """
        import dask

        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        opts = {"k": int(k), "metric": metric, "where": where, "threshold": threshold, "column": column}
        opts = {a: b for a, b in opts.items() if b is not None}
        tasks = [dask.delayed(_search_partition)(p, query, opts) for p in self._ddf.to_delayed()]
        try:
            hits = _merge_hits(list(dask.compute(*tasks)), int(k))
        except FilterError as exc:
            raise _converted_dates(exc, self._ddf._meta) from None
        if hits is None:  # nothing anywhere: the empty result shape from the meta
            return self._ddf._meta.iloc[:0].assign(score=np.float32(0), rank=0)
        return hits

    def to_store(self, store: str = "pgvector", **options: Any) -> Any:
        """Write the embedding column into a durable store from every partition in parallel.

        Parameters
        ----------
        store : str
            ``"pgvector"`` (also any store that keeps an index record: sqlite, chroma, elasticsearch).
        mode : {"error", "replace", "resume", "sync"}
            ``"error"`` refuses an existing index; ``"replace"`` builds beside it and swaps it in at
            the end; ``"resume"`` continues a run that failed or was killed (same frame and
            partitioning): only partitions not yet recorded are written. ``"sync"`` (alias
            ``"append"``) makes an existing index equal this frame, by label: new labels are
            added, changed rows rewritten under their key, unchanged rows skipped, and labels
            the frame no longer has deleted (once every partition is written).
        column, text, kind, metric
            As ``df.vec.index``.
        retries : int
            Times a failed partition is re-run before the run gives up (default 2).
        batch_size : int
            Rows per store upsert inside a partition (``mode="sync"`` and stores that do not
            bulk-load; a bulk load writes a partition in one COPY stream).
        progress : bool
            Show progress (default): in a Jupyter kernel Dask's widget (one bar per kind of task:
            embedding, writing), elsewhere a ``tqdm`` bar of partitions; the Dask dashboard's link
            is printed when the cluster serves one.
        **options
            Store options (``url=``, ``table=``, ``m=`` ...).

        Returns
        -------
        VectorIndex
            Reopenable later with ``vecnb.open_index``; ``idx.ingest_report`` is an
            :class:`IngestReport` (rows, seconds, rows/s, retries, partitions skipped on resume,
            rows deleted by a sync).
        """
        return to_store(self._ddf, store, **options)

    def persist(self, *, progress: bool = True) -> Any:
        """Compute the frame (e.g. a lazy ``ddf.vec.embed``) and keep its partitions in the workers'
        memory, showing progress; waits until every partition is done.

        Parameters
        ----------
        progress : bool
            In a Jupyter kernel Dask's progress widget (one bar per kind of task), elsewhere a
            ``tqdm`` bar of partitions (of tasks on a local scheduler); the dashboard's link is
            printed when the cluster serves one.

        Returns
        -------
        dask.dataframe.DataFrame
            The persisted frame (as ``ddf.persist()``); a partition's error is raised here.
        """
        return persist(self._ddf, progress=progress)


def register() -> None:
    """Register ``ddf.vec`` with Dask's accessor API (idempotent).

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> register()                              # idempotent: import vecnb already did it
    >>> hasattr(dd.from_pandas(pd.DataFrame({"text": ["a"]}), npartitions=1), "vec")
    True
    """
    global _REGISTERED
    if _REGISTERED:
        return
    import warnings

    from dask.dataframe.extensions import register_dataframe_accessor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "registration overrides an existing attribute" on re-import
        register_dataframe_accessor("vec")(DaskVecAccessor)
    _REGISTERED = True


if "dask.dataframe" in sys.modules:
    register()
