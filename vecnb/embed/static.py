"""``wordllama``: the static WordLlama model (average of token embeddings), fully offline.

The ``wordllama`` wheel (``vecnb[wordllama]``) carries the ``l2_supercat`` weights
(``wordllama/weights/l2_supercat_256.safetensors``) and its tokenizer
(``wordllama/tokenizers/l2_supercat_tokenizer_config.json``). ``WordLlama.load`` looks for the
tokenizer under ``<package>/tokenizer/`` (singular) and would otherwise *download* it from
the Hugging Face Hub; we call it with ``cache_dir=<package folder>`` -- where it then finds
``tokenizers/...`` -- and ``disable_download=True``, so a missing file raises instead of
reaching the network.

``import wordllama`` calls ``logging.basicConfig(level=INFO)`` on the root logger, which would
make every library's INFO messages appear in a notebook; we undo that change right after the
import.

Output: the mean of the text's token vectors (optionally Matryoshka-truncated to
``dim`` in {64, 128, 256}), L2-normalised. A text with no token (``""``) gives a zero row.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from vecnb.embed._util import file_sha256, require
from vecnb.embed.base import Embedder
from vecnb.errors import InvalidInputError

__all__ = ["WordLlamaEmbedder", "import_wordllama"]

_FEATURE = "the 'wordllama' embedder"
_SHIPPED_DIM = 256


def import_wordllama() -> Any:
    """Import ``wordllama`` without letting it reconfigure the root logger.

    Returns
    -------
    module
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return require("wordllama", _FEATURE, "wordllama")
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)


class WordLlamaEmbedder(Embedder):
    """WordLlama ``l2_supercat`` static embeddings, loaded from the installed wheel.

    Parameters
    ----------
    dim : int
        Output width: 256 (shipped), or 128 / 64 (leading Matryoshka dimensions).
    config : str
        WordLlama configuration; only ``"l2_supercat"`` ships in the wheel.
    batch_size : int
        Texts per tokenizer call (texts are sorted by length first to limit padding).

    Raises
    ------
    MissingDependencyError
        If ``wordllama`` is not installed.
    InvalidInputError
        For a ``dim`` or ``config`` the wheel does not provide.
    """

    name = "wordllama"
    normalized = True

    def __init__(self, dim: int = _SHIPPED_DIM, *, config: str = "l2_supercat", batch_size: int = 256):
        wl = import_wordllama()
        self.package_dir = Path(wl.__file__).resolve().parent
        self.config = config
        self.weights_path = self.package_dir / "weights" / f"{config}_{_SHIPPED_DIM}.safetensors"
        if not self.weights_path.is_file():
            raise InvalidInputError(
                f"wordllama config {config!r} is not shipped in the installed wheel "
                f"({self.weights_path} is missing); use config='l2_supercat'")
        if dim not in (64, 128, 256):
            raise InvalidInputError(f"wordllama dim must be 64, 128 or 256, got {dim!r}")
        if batch_size < 1:
            raise InvalidInputError("batch_size must be positive")
        self._dim = int(dim)
        self.batch_size = int(batch_size)
        self._model: Any = None
        self._model_id: str | None = None
        self._load_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """``"wordllama:l2_supercat_256@<sha8 of weights>"`` (+ ``"/d<dim>"`` when truncated)."""
        if self._model_id is None:
            mid = f"wordllama:{self.config}_{_SHIPPED_DIM}@{file_sha256(self.weights_path)[:8]}"
            if self._dim != _SHIPPED_DIM:
                mid += f"/d{self._dim}"
            self._model_id = mid
        return self._model_id

    @classmethod
    def kwargs_from_model_id(cls, model_id: str) -> dict[str, Any]:
        """Constructor arguments encoded in a ``model_id`` (a ``/d<dim>`` suffix)."""
        head, _, suffix = model_id.rpartition("/d")
        return {"dim": int(suffix)} if head and suffix.isdigit() else {}

    @property
    def dim(self) -> int:
        return self._dim

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": "wordllama"}
        if self._dim != _SHIPPED_DIM:
            out["dim"] = self._dim
        if self.config != "l2_supercat":
            out["config"] = self.config
        return out

    def load(self) -> WordLlamaEmbedder:
        """Load weights and tokenizer now (normally done on the first :meth:`embed`)."""
        with self._load_lock:
            if self._model is None:
                wl = import_wordllama()
                self._model = wl.WordLlama.load(
                    self.config, dim=_SHIPPED_DIM, trunc_dim=None if self._dim == _SHIPPED_DIM else self._dim,
                    cache_dir=self.package_dir, disable_download=True)
        return self

    def _embed(self, texts: list[str]) -> np.ndarray:
        self.load()
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths share a batch
        vecs = self._model.embed([texts[i] for i in order], norm=False, return_np=True,
                                 batch_size=self.batch_size)
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        out[order] = vecs
        norms = np.sqrt(np.einsum("ij,ij->i", out, out))
        out /= np.maximum(norms, np.float32(1e-12))[:, None]  # empty text -> zero row, not NaN
        return out

    def __repr__(self) -> str:
        return f"WordLlamaEmbedder(dim={self._dim}, model_id={self.model_id!r})"
