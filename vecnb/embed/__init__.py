"""Embedders: the :class:`Embedder` protocol, a lazy registry, built-in models and a disk cache.

>>> from vecnb.embed import get_embedder, embed_texts
>>> emb = get_embedder("minilm")                        # doctest: +SKIP
>>> X = embed_texts(emb, ["first text", "second text"])  # doctest: +SKIP
>>> X.shape, emb.model_id                               # doctest: +SKIP
((2, 384), 'minilm:all-MiniLM-L6-v2@53aa5117')

Built-in models (all offline; nothing is downloaded at run time):

=============  =====  ==========  ==================================================  ===========
name           dim    normalized  what                                                extra
=============  =====  ==========  ==================================================  ===========
``minilm``     384    yes         all-MiniLM-L6-v2 via sentence-transformers/torch,   ``minilm``
                                  or pure numpy (same vectors, same model_id)
``wordllama``  256    yes         WordLlama l2_supercat static token embeddings       ``wordllama``
``tfidf``      <=256  yes         TF-IDF + truncated SVD (LSA), fitted on first use   ``sklearn``
``hashing``    512    yes         hashed bag of words                                 ``sklearn``
=============  =====  ==========  ==================================================  ===========

Any callable ``f(list[str]) -> array (n, d)`` is accepted wherever a model is; give it a
``model_id`` attribute to let :func:`embed_texts` cache its outputs on disk.

Importing this package imports only numpy: torch, sentence-transformers, tokenizers,
safetensors, wordllama and scikit-learn load when a model that needs them is first built.
"""

from __future__ import annotations

from vecnb.embed.base import CallableEmbedder, Embedder
from vecnb.embed.batch import embed_texts
from vecnb.embed.cache import EmbeddingCache, default_cache_dir
from vecnb.embed.registry import ENTRY_POINT_GROUP, EmbedderLike, clear_instances, get_embedder, names, register

__all__ = [
    "ENTRY_POINT_GROUP",
    "CallableEmbedder",
    "Embedder",
    "EmbedderLike",
    "EmbeddingCache",
    "clear_instances",
    "default_cache_dir",
    "embed_texts",
    "get_embedder",
    "names",
    "register",
]
