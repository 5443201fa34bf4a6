"""Notebook widgets over :mod:`vecnb.viz`: compare metrics, explore embeddings, benchmark stores.

>>> w = df.vec.compare_metrics("query text")     # == vecnb.widgets.compare_metrics(df, "query text")
>>> w.k = 5; w.table                              # set inputs, read the DataFrame shown
>>> m = df.vec.explore(color="label", tooltip=["title"])   # interactive WebGL map (jupyter-scatter)
>>> m.search("query text"); m.select(where={"label": "Lab"}); m.selected; m.observe_selection(print)
>>> p = vecnb.widgets.BenchmarkPanel(df); p.run(); p.results

The widgets are ``ipywidgets.VBox`` subclasses: display them in a notebook, or drive them
from code by setting their attributes / widget values and clicking their buttons
(``w.run_button.click()``). Every number they show comes from a :mod:`vecnb.viz` function
and is kept on the widget (``.table``, ``.frame``, ``.selected``, ``.results`` ...).
The explorer's map is a jupyter-scatter WebGL scatter (hover, pan / zoom, lasso; selection
comes back to Python); without jupyter-scatter it falls back to a static picture
(``_static.StaticExplorer``). Other figures are matplotlib drawings rendered to PNG in an
``ipywidgets.Image`` (``.figure`` holds the matplotlib Figure), so they also appear in a
notebook exported to HTML.

The implementation modules are private (``_compare``, ``_explore``, ``_static``, ``_bench``) so that a
submodule never shadows the ``explore`` function on this package.

Needs the ``viz`` extra (ipywidgets, matplotlib, jupyter-scatter; umap-learn for UMAP maps).
"""

from __future__ import annotations


from vecnb._core.lazy import lazy_attributes

__all__ = ["BenchmarkPanel", "CompareMetrics", "Explorer", "compare_metrics", "explore"]

_LAZY = {
    "compare_metrics": "vecnb.widgets._compare:compare_metrics",
    "CompareMetrics": "vecnb.widgets._compare:CompareMetrics",
    "explore": "vecnb.widgets._explore:explore",
    "Explorer": "vecnb.widgets._explore:Explorer",
    "BenchmarkPanel": "vecnb.widgets._bench:BenchmarkPanel",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
