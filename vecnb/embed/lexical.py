"""Lexical baselines on scikit-learn (``vecnb[sklearn]``): ``tfidf`` (LSA) and ``hashing``.

``tfidf`` is a *fitted* embedder: TF-IDF (sublinear tf, English stop words) followed by a
TruncatedSVD to ``n_components`` dimensions (latent semantic analysis), rows L2-normalised.
It learns its vocabulary, idf weights and SVD basis from the texts of its first
:meth:`~TfidfEmbedder.embed` / :meth:`~TfidfEmbedder.fit` call (``embed_texts`` fits it on all
the distinct texts it is given), then saves that state -- as plain arrays in an ``.npz``, never
a pickle -- to ``<cache dir>/fitted/tfidf-<key>.npz``, ``key`` being a hash of the state.
``model_id`` (``"tfidf:lsa256@<key>"``) and ``spec()`` (``{"name": "tfidf", "state": key}``)
carry the key, so ``get_embedder(spec)`` reloads the same state in this or a new process
and embeds queries identically (bit for bit: in both processes vectors are computed by the
same code from the same float32 arrays).

``dim`` is ``min(n_components, vocabulary size, number of fitting texts)`` -- a tiny corpus
gets fewer dimensions -- and is ``None`` until fitted. Texts with no known term embed to a
zero row.

``hashing`` is stateless: scikit-learn's ``HashingVectorizer`` (``n_features`` = 512,
``alternate_sign=False``, L2 norm), densified.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vecnb.embed._util import require
from vecnb.embed.base import Embedder, sha8
from vecnb.embed.cache import _is_url, default_cache_dir
from vecnb.errors import InvalidInputError

__all__ = ["HashingEmbedder", "TfidfEmbedder"]

_STATE_FORMAT = 1
_TFIDF_DEFAULTS: dict[str, Any] = {
    "lowercase": True,
    "strip_accents": None,
    "stop_words": "english",
    "token_pattern": r"(?u)\b\w\w+\b",
    "ngram_range": (1, 1),
    "analyzer": "word",
    "min_df": 1,
    "max_df": 1.0,
    "max_features": 50_000,
    "sublinear_tf": True,
}
_ANALYSIS_KEYS = ("lowercase", "strip_accents", "stop_words", "token_pattern", "ngram_range", "analyzer")


def _sklearn(feature: str) -> Any:
    return require("sklearn", feature, "sklearn")


def _canon(params: dict[str, Any]) -> dict[str, Any]:
    """JSON-stable parameters (tuples as lists, stop-word lists sorted)."""
    out = {}
    for k, v in params.items():
        if isinstance(v, tuple):
            v = list(v)
        if k == "stop_words" and isinstance(v, (list, set, frozenset)):
            v = sorted(v)
        out[k] = v
    return out


def _analysis_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    kw = {k: params[k] for k in _ANALYSIS_KEYS}
    kw["ngram_range"] = tuple(kw["ngram_range"])
    if isinstance(kw["stop_words"], list):
        kw["stop_words"] = list(kw["stop_words"])
    return kw


# ----------------------------------------------------------------------------------------
# state files: local path or fsspec URL, written atomically
# ----------------------------------------------------------------------------------------

def _state_path(state_dir: str | Path, key: str) -> str:
    return f"{str(state_dir).rstrip('/')}/tfidf-{key}.npz"


def _write_bytes(path: str, data: bytes) -> None:
    if _is_url(path):
        import fsspec

        fs, p = fsspec.core.url_to_fs(path)
        fs.pipe_file(p, data)
        return
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _read_bytes(path: str) -> bytes:
    if _is_url(path):
        import fsspec

        with fsspec.open(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def _encode_terms(terms: Sequence[str]) -> np.ndarray:
    joined = "\x00".join(terms)
    if any("\x00" in t for t in terms):  # pragma: no cover - only with exotic analyzers
        raise InvalidInputError("vocabulary terms may not contain NUL characters")
    return np.frombuffer(joined.encode("utf-8", "surrogatepass"), dtype=np.uint8)


def _decode_terms(blob: np.ndarray, n: int) -> list[str]:
    if n == 0:
        return []
    terms = blob.tobytes().decode("utf-8", "surrogatepass").split("\x00")
    if len(terms) != n:
        raise InvalidInputError("corrupt tfidf state: vocabulary size does not match")
    return terms


class _TfidfState:
    """Everything a fitted ``tfidf`` embedder needs, as plain arrays."""

    def __init__(self, params: dict[str, Any], terms: list[str], idf: np.ndarray, components: np.ndarray | None):
        self.params = _canon(params)
        self.terms = terms
        self.idf = np.ascontiguousarray(idf, dtype=np.float32)
        self._cv: Any = None
        if components is None:  # vocabulary and idf only: enough for tfidf() while fitting
            self.components_t = np.zeros((len(terms), 0), np.float32)
            self.key = ""
            return
        self.components_t = np.ascontiguousarray(components.T, dtype=np.float32)  # (f, k)
        self._terms_blob = _encode_terms(terms)
        h = hashlib.sha256()
        h.update(json.dumps({"format": _STATE_FORMAT, **self.params}, sort_keys=True).encode())
        for arr in (self._terms_blob, self.idf, np.ascontiguousarray(components, dtype=np.float32)):
            h.update(np.ascontiguousarray(arr).tobytes())
        self.key = h.hexdigest()[:16]

    @property
    def dim(self) -> int:
        return int(self.components_t.shape[1])

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, format=np.array(_STATE_FORMAT), params=np.array(json.dumps(self.params, sort_keys=True)),
                 n_terms=np.array(len(self.terms)), terms=self._terms_blob, idf=self.idf,
                 components=np.ascontiguousarray(self.components_t.T))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> _TfidfState:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if int(z["format"]) != _STATE_FORMAT:
                raise InvalidInputError(f"tfidf state format {int(z['format'])} is not supported")
            params = json.loads(str(z["params"]))
            terms = _decode_terms(z["terms"], int(z["n_terms"]))
            return cls(params, terms, z["idf"], z["components"])

    def tfidf(self, texts: Sequence[str]) -> Any:
        """Sparse (n, f) float32 TF-IDF rows, L2-normalised."""
        _sklearn("the 'tfidf' embedder")
        from sklearn.preprocessing import normalize

        if self._cv is None:
            from sklearn.feature_extraction.text import CountVectorizer

            self._cv = CountVectorizer(vocabulary=self.terms, dtype=np.float32, **_analysis_kwargs(self.params))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # stop-word consistency notes
            X = self._cv.transform(list(texts)).tocsr()
        if self.params.get("sublinear_tf", True):
            np.log(X.data, out=X.data)
            X.data += np.float32(1.0)
        X.data *= self.idf[X.indices]
        return normalize(X, norm="l2", copy=False)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        Z = np.asarray(self.tfidf(texts) @ self.components_t, dtype=np.float32)
        norms = np.sqrt(np.einsum("ij,ij->i", Z, Z))
        Z /= np.maximum(norms, np.float32(1e-12))[:, None]
        return np.ascontiguousarray(Z)


class TfidfEmbedder(Embedder):
    """TF-IDF + truncated SVD (LSA) embeddings, fitted on the first texts embedded.

    Parameters
    ----------
    n_components : int
        Target dimension (default 256); fewer when the corpus is tiny (see module notes).
    state : str, optional
        Key of a saved fitted state (from :meth:`spec` or ``model_id``); loads it instead of
        starting unfitted.
    state_dir : str or path-like, optional
        Where fitted states are saved and looked up; ``<default_cache_dir()>/fitted`` if not
        given (resolved when needed, so ``VECNB_CACHE_DIR`` set later is honoured).
    random_state : int
        Seed of the randomized SVD.
    lowercase, strip_accents, stop_words, token_pattern, ngram_range, analyzer, min_df, max_df, max_features, sublinear_tf
        As in :class:`sklearn.feature_extraction.text.TfidfVectorizer` (defaults: English stop
        words, sublinear tf, at most 50,000 terms).

    Raises
    ------
    MissingDependencyError
        If scikit-learn is not installed.
    InvalidInputError
        If ``state`` cannot be found or conflicts with other arguments.

    Examples
    --------
    >>> emb = vecnb.embed.get_embedder("tfidf").fit(["red apple pie", "green pear tart", "apple crumble"])
    >>> emb.fitted, emb.dim, emb.embed(["apple"]).shape
    (True, 3, (1, 3))
    >>> emb.model_id.startswith("tfidf")
    True
    """

    name = "tfidf"
    normalized = True
    requires_fit = True

    def __init__(self, n_components: int = 256, *, state: str | None = None,
                 state_dir: str | os.PathLike[str] | None = None, random_state: int = 0, **params: Any):
        _sklearn("the 'tfidf' embedder")
        unknown = set(params) - set(_TFIDF_DEFAULTS)
        if unknown:
            raise InvalidInputError(f"unknown tfidf argument(s) {sorted(unknown)}; known: {sorted(_TFIDF_DEFAULTS)}")
        if int(n_components) < 1:
            raise InvalidInputError("n_components must be positive")
        self.n_components = int(n_components)
        self.random_state = int(random_state)
        self.params = _canon({**_TFIDF_DEFAULTS, **params})
        self._explicit = _canon(params)
        self._state_dir = None if state_dir is None else (state_dir if _is_url(state_dir) else str(Path(state_dir).expanduser()))
        self._state: _TfidfState | None = None
        if state is not None:
            self._state = self._load_state(str(state))
            for k, v in self._explicit.items():
                if self._state.params.get(k) != v:
                    raise InvalidInputError(
                        f"tfidf state {state} was fitted with {k}={self._state.params.get(k)!r}, not {v!r}")
            self.params = dict(self._state.params)

    # -- state -----------------------------------------------------------------------------
    @property
    def state_dir(self) -> str:
        """Folder (or URL) holding fitted states."""
        if self._state_dir is not None:
            return self._state_dir
        root = default_cache_dir()
        return f"{root}/fitted" if isinstance(root, str) else str(Path(root) / "fitted")

    def _load_state(self, key: str) -> _TfidfState:
        path = _state_path(self.state_dir, key)
        try:
            data = _read_bytes(path)
        except FileNotFoundError:
            raise InvalidInputError(
                f"fitted tfidf state {key!r} not found at {path}. It is saved under the cache "
                "directory of the process that fitted it: set VECNB_CACHE_DIR (or pass "
                "state_dir=) to that directory, or fit a new tfidf embedder") from None
        st = _TfidfState.from_bytes(data)
        if st.key != key:
            raise InvalidInputError(f"tfidf state file {path} is corrupt (its content hashes to {st.key})")
        return st

    @classmethod
    def kwargs_from_model_id(cls, model_id: str) -> dict[str, Any]:
        """``{"state": key}`` from ``"tfidf:lsa<k>@<key>"``.

        Examples
        --------
        >>> emb = vecnb.embed.get_embedder("tfidf").fit(["red apple pie", "green pear tart"])
        >>> sorted(type(emb).kwargs_from_model_id(emb.model_id))
        ['state']
        """
        _, _, key = model_id.rpartition("@")
        if not key:
            raise InvalidInputError(f"not a fitted tfidf model_id: {model_id!r}")
        return {"state": key}

    @property
    def fitted(self) -> bool:
        return self._state is not None

    @property
    def model_id(self) -> str | None:
        """``"tfidf:lsa<dim>@<state key>"``, or ``None`` before fitting."""
        if self._state is None:
            return None
        return f"tfidf:lsa{self._state.dim}@{self._state.key}"

    @property
    def dim(self) -> int | None:
        return None if self._state is None else self._state.dim

    def spec(self) -> dict[str, Any]:
        """``{"name": "tfidf", "state": key}`` once fitted, else the constructor arguments."""
        out: dict[str, Any] = {"name": "tfidf"}
        if self._state is not None:
            out["state"] = self._state.key
        else:
            if self.n_components != 256:
                out["n_components"] = self.n_components
            if self.random_state != 0:
                out["random_state"] = self.random_state
            out.update(self._explicit)
        if self._state_dir is not None:
            out["state_dir"] = self._state_dir
        return out

    # -- work ------------------------------------------------------------------------------
    def fit(self, texts: Sequence[str]) -> TfidfEmbedder:
        """Learn vocabulary, idf and the SVD basis from ``texts`` and save the state.

        Parameters
        ----------
        texts : sequence of str

        Returns
        -------
        TfidfEmbedder
            ``self``, now fitted (refitting replaces the state and the ``model_id``).

        Raises
        ------
        InvalidInputError
            If the texts contain no usable term.
        """
        _sklearn("the 'tfidf' embedder")
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = list(dict.fromkeys(texts))  # duplicates would only re-weight the SVD
        vec_kw = {k: self.params[k] for k in _TFIDF_DEFAULTS}
        vec_kw["ngram_range"] = tuple(vec_kw["ngram_range"])
        try:
            tv = TfidfVectorizer(dtype=np.float32, **vec_kw).fit(texts)
        except ValueError as exc:
            raise InvalidInputError(f"cannot fit tfidf on these texts: {exc}") from exc
        terms = [str(t) for t in tv.get_feature_names_out()]
        partial = _TfidfState(self.params, terms, tv.idf_, None)
        X = partial.tfidf(texts)
        k = min(self.n_components, X.shape[1], X.shape[0])
        if X.shape[1] < 2 or k < 1:
            components = np.eye(X.shape[1], dtype=np.float32)
        else:
            svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=5,
                                                random_state=self.random_state)
            svd.fit(X)
            components = svd.components_.astype(np.float32)
        self._state = _TfidfState(self.params, terms, tv.idf_, components)
        path = _state_path(self.state_dir, self._state.key)
        try:
            _write_bytes(path, self._state.to_bytes())
        except OSError as exc:
            warnings.warn(f"could not save the fitted tfidf state to {path} ({exc}); it works in this "
                          "process, but get_embedder(spec) elsewhere will not find it",
                          RuntimeWarning, stacklevel=2)
        return self

    def _embed(self, texts: list[str]) -> np.ndarray:
        assert self._state is not None
        return self._state.transform(texts)

    def __repr__(self) -> str:
        return f"TfidfEmbedder(model_id={self.model_id!r}, dim={self.dim!r})"


class HashingEmbedder(Embedder):
    """Stateless hashed bag-of-words vectors (scikit-learn ``HashingVectorizer``).

    Parameters
    ----------
    n_features : int
        Output dimension (default 512).
    lowercase, stop_words, token_pattern, ngram_range, analyzer, strip_accents
        As in :class:`sklearn.feature_extraction.text.HashingVectorizer`.

    Notes
    -----
    ``alternate_sign=False`` and ``norm="l2"``: vectors are non-negative and unit-norm, except
    for texts without any token, which give a zero row.

    Examples
    --------
    >>> emb = vecnb.embed.get_embedder("hashing")
    >>> X = emb.embed(["red apple", "red apple pie"])
    >>> X.shape, emb.model_id, round(float(X[0] @ X[1]), 3)
    ((2, 512), 'hashing:512@a2fcb20e', 0.816)
    """

    name = "hashing"
    normalized = True

    def __init__(self, n_features: int = 512, *, lowercase: bool = True, stop_words: str | list[str] | None = None,
                 token_pattern: str = r"(?u)\b\w\w+\b", ngram_range: tuple[int, int] = (1, 1),
                 analyzer: str = "word", strip_accents: str | None = None):
        _sklearn("the 'hashing' embedder")
        if int(n_features) < 1:
            raise InvalidInputError("n_features must be positive")
        self.n_features = int(n_features)
        self.params = _canon({"lowercase": lowercase, "stop_words": stop_words, "token_pattern": token_pattern,
                              "ngram_range": tuple(ngram_range), "analyzer": analyzer, "strip_accents": strip_accents})
        self._defaults = _canon({"lowercase": True, "stop_words": None, "token_pattern": r"(?u)\b\w\w+\b",
                                 "ngram_range": (1, 1), "analyzer": "word", "strip_accents": None})
        self._hv: Any = None

    @property
    def model_id(self) -> str:
        """``"hashing:<n_features>@<hash of the analysis parameters>"``."""
        return f"hashing:{self.n_features}@{sha8(json.dumps(self.params, sort_keys=True))}"

    @property
    def dim(self) -> int:
        return self.n_features

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": "hashing"}
        if self.n_features != 512:
            out["n_features"] = self.n_features
        out.update({k: v for k, v in self.params.items() if self._defaults[k] != v})
        return out

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self._hv is None:
            from sklearn.feature_extraction.text import HashingVectorizer

            kw = dict(self.params)
            kw["ngram_range"] = tuple(kw["ngram_range"])
            self._hv = HashingVectorizer(n_features=self.n_features, alternate_sign=False, norm="l2",
                                         dtype=np.float32, **kw)
        return self._hv.transform(texts).toarray()

    def __repr__(self) -> str:
        return f"HashingEmbedder(n_features={self.n_features}, model_id={self.model_id!r})"
