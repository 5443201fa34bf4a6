"""Sphinx configuration of the vecnb documentation site (``make docs`` -> ``build/site/``).

``docs/build.py`` stages the sources (this folder, the README as the home page and
``notebooks/*.ipynb`` as the guides) into ``build/docs-src/`` and runs Sphinx there with
``-W --keep-going -n``: every warning, a missing cross-reference included, fails the build.

Nothing on a page may come from the internet: the theme ships its fonts and scripts, MathJax is
not loaded, and the widget JavaScript (``@jupyter-widgets/html-manager`` + ``requirejs`` from
npm, anywidget's AMD module from its Python package) is copied into ``_static/widgets/`` by
``build.py`` before the build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
# the repository (build.py sets it; conf.py itself runs from the staged copy in build/docs-src)
ROOT = Path(os.environ.get("VECNB_DOCS_ROOT") or (HERE.parent if (HERE.parent / "pyproject.toml").is_file() else HERE.parents[1]))

import vecnb  # noqa: E402

project = "vecnb"
author = "the vecnb authors"
copyright = "the vecnb authors"
release = version = vecnb.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "numpydoc",
    "vecnb_docs",
]

root_doc = "index"
exclude_patterns = ["_build", "build.py", "**/.ipynb_checkpoints", "_ext"]
suppress_warnings: list[str] = []

# -- every warning fails; a reference that resolves nowhere is a warning ---------------------
nitpicky = True
# names of other libraries: no inventories can be fetched offline (no intersphinx), so their
# types stay plain text instead of becoming broken links
nitpick_ignore_regex = [
    (r"py:.*", r"(np|numpy|pd|pandas|pa|pyarrow|fsspec|faiss|chromadb|psycopg|apsw|elasticsearch|"
               r"ipywidgets|traitlets|matplotlib|dask|distributed|langchain\w*|llama_index\w*|"
               r"scipy|sklearn|tqdm|functools|atexit|signal|subprocess|tempfile|shutil|socket|logging|warnings|weakref|hashlib|uuid|time|jscatter|anywidget|collections|typing|typing_extensions|os|"
               r"pathlib|datetime|concurrent|json|io|re|sqlite3|threading|contextlib|types|abc)(\..*)?"),
    # builtins and typing words as numpydoc writes them in "Parameters" types
    (r"py:.*", r"(optional|default|array[-_ ]like|callable|iterable|sequence|mapping|scalar|"
               r"str|int|float|bool|bytes|dict|list|tuple|set|None|object|type|Any|Callable|"
               r"Iterable|Iterator|Sequence|Mapping|Literal|Self|ndarray|DataFrame|Series|"
               r"shape|of|or|and|n|d|k|m|\(.*|.*\)|\{.*|.*\}|'.*|\".*|\d.*)"),
]

# -- notebooks (myst-nb) ------------------------------------------------------------------------
# "cache": executed once, kept in a jupyter-cache keyed by the code cells' content; a notebook is
# executed again only when its code changes. The embedding cache ($VECNB_CACHE_DIR) also makes a
# changed notebook quick to execute.
nb_execution_mode = os.environ.get("VECNB_DOCS_EXECUTE", "cache")
nb_execution_cache_path = os.environ.get("VECNB_DOCS_JUPYTER_CACHE", str(ROOT / "build" / "docs-jupyter-cache"))
nb_execution_timeout = int(os.environ.get("VECNB_DOCS_TIMEOUT", "900"))
nb_execution_raise_on_error = True   # a failing notebook fails the build
nb_execution_show_tb = True
nb_merge_streams = True
# the widget manager, served from this site (see build.py), never from a CDN
nb_ipywidgets_js = {
    "widgets/require.js": {},
    "widgets/require-config.js": {},
    "widgets/@jupyter-widgets/html-manager/dist/embed-amd.js": {},
}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- API reference -----------------------------------------------------------------------------
autodoc_typehints = "none"            # numpydoc's "Parameters" sections carry the types
autodoc_member_order = "bysource"
autodoc_default_options: dict = {}   # each directive says :members: where it wants them
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- HTML --------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "vecnb"
html_static_path = ["_static"]
html_css_files = ["vecnb.css"]
html_theme_options = {
    "navbar_end": ["theme-switcher", "navbar-icon-links"],
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
html_copy_source = False
# no MathJax: the pages have no maths, and MathJax would come from a CDN
mathjax_path = "no-mathjax.js"
# the theme's light / dark / auto switch starts from "auto" (left empty it logs a console error)
html_context = {"default_mode": "auto"}
