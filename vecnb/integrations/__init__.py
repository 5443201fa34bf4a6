"""Hand a tuned vecnb index to application frameworks (the top layer; optional dependencies).

``idx.as_langchain()`` / ``idx.as_retriever(query=q)`` -> :mod:`vecnb.integrations.langchain`
(``pip install "vecnb[langchain]"``). Nothing here is imported by ``import vecnb``: a
``VectorIndex`` reaches these modules by name (``vecnb._core.lazy``), as registries do.
"""
