"""Search: query inputs, BM25 keyword and hybrid search, rerankers, ``Query`` objects, evaluation.

Imports :mod:`vecnb.frame`, :mod:`vecnb._core` and (for query embedding) :mod:`vecnb.embed`; never
the index, the accessor or the package face.
"""
