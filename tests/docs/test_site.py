"""The documentation site (``make docs``): built from the executed notebooks, checked in Chromium.

1. ``docs/build.py`` builds ``build/site/`` with Sphinx ``-W -n``: a missing reference, a docstring
   Sphinx cannot parse or a notebook cell that fails makes the build (and this test) fail.
   Notebooks run through myst-nb's jupyter-cache and the embedding cache, so a second build on
   the same checkout executes nothing.
2. The built pages are checked as files: every public name of ``vecnb`` is in the API reference,
   the guides link into the reference, every local link and asset exists, and nothing is loaded
   from the internet.
3. Every page is opened in headless Debian ``chromium`` (``playwright-core``, ``check_site.cjs``)
   from a static server on 127.0.0.1, with every non-local request blocked: no console errors,
   no page errors, no failed or external requests, every widget view rendered and non-empty,
   every image loaded. Screenshots go to ``build/screenshots/docs/``.

Needs the ``docs`` extra and ``bash tests/browser/setup.sh``; skipped, with the reason, otherwise.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "build" / "site"
SHOTS = ROOT / "build" / "screenshots" / "docs"
NODE_DIR = ROOT / "build" / "browser" / "node"
CHECK = Path(__file__).with_name("check_site.cjs")
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))


def _missing_tools() -> str | None:
    for mod in ("sphinx", "myst_nb", "pydata_sphinx_theme", "numpydoc"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed (pip install -e '.[docs]')"
    return None


def _missing_browser() -> str | None:
    if shutil.which("chromium") is None:
        return "chromium is not installed (run: bash tests/browser/setup.sh)"
    if shutil.which("node") is None:
        return "node is not installed (run: bash tests/browser/setup.sh)"
    if not (NODE_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        return f"playwright-core is not in {NODE_DIR} (run: bash tests/browser/setup.sh)"
    return None


pytestmark = pytest.mark.skipif(_missing_tools() is not None, reason=str(_missing_tools()))


@pytest.fixture(scope="module")
def site() -> Path:
    """Build the site once for this module (incremental: unchanged pages are not rebuilt)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "build.py")], cwd=ROOT, capture_output=True,
                          text=True, timeout=1800, check=False)
    print(f"docs build: {time.perf_counter() - t0:.1f} s\n{proc.stdout[-500:]}")
    assert proc.returncode == 0, f"the docs build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return SITE


def _pages(site: Path) -> list[str]:
    """Every page of the site (``_static/`` holds assets, not pages)."""
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if "_static" not in p.parts)


class _Refs(html.parser.HTMLParser):
    """href / src of a page's links, scripts, stylesheets and images."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.assets: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag in ("script", "img", "iframe") and a.get("src"):
            self.assets.append(a["src"])
        elif tag == "link" and a.get("href") and a.get("rel") and {"stylesheet", "preload", "icon"} & set(a["rel"].split()):
            self.assets.append(a["href"])


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Refs:
    p = _Refs()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_every_notebook_is_a_guide_page_with_its_outputs(site):
    pages = _pages(site)
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb}.html" in pages, f"{nb} has no page"
        text = (site / "notebooks" / f"{nb}.html").read_text(encoding="utf-8")
        assert 'class="cell_output' in text, f"{nb}: the page shows no executed output"
    assert "index.html" in pages and "guides.html" in pages and "api/index.html" in pages
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "vector search for pandas DataFrames" in home  # the README is the home page


def test_widget_pages_embed_their_state(site):
    for nb in ("06_compare_metrics", "07_explore_embeddings"):
        text = (site / "notebooks" / f"{nb}.html").read_text(encoding="utf-8")
        assert 'type="application/vnd.jupyter.widget-state+json"' in text, f"{nb}: no widget state"
        assert 'type="application/vnd.jupyter.widget-view+json"' in text, f"{nb}: no widget view"
        assert "_static/widgets/@jupyter-widgets/html-manager/dist/embed-amd.js" in text


def _documented(site: Path) -> set[str]:
    from sphinx.util.inventory import InventoryFile

    with open(site / "objects.inv", "rb") as f:
        inv = InventoryFile.load(f, "", lambda base, uri: uri)
    return {name for entries in inv.data.values() for name in entries} if hasattr(inv, "data") \
        else {name for entries in inv.values() for name in entries}


def test_reference_covers_the_public_api(site):
    import vecnb
    import vecnb.stores

    names = _documented(site)
    missing = []
    for name in vecnb.__all__:
        if name.startswith("__"):  # __version__: shown on every page, not an object
            continue
        obj = getattr(vecnb, name)
        if isinstance(obj, type(vecnb)):  # a module: documented under its own name
            if f"vecnb.{name}" not in names:
                missing.append(f"vecnb.{name}")
        elif f"vecnb.{name}" not in names and f"{obj.__module__}.{obj.__qualname__}" not in names:
            missing.append(f"vecnb.{name}")
    # DESIGN.md's calls, by the object that carries them
    for meth in ("embed", "search", "index", "attach", "keyword", "hybrid", "compare_metrics", "explore", "matrix"):
        if f"vecnb.VecAccessor.{meth}" not in names:
            missing.append(f"df.vec.{meth}")
    for meth in ("search", "run", "save", "sync", "swap", "hybrid"):
        if f"vecnb.VectorIndex.{meth}" not in names:
            missing.append(f"VectorIndex.{meth}")
    for meth in ("hybrid", "rerank", "to_dict", "from_dict"):
        if f"vecnb.Query.{meth}" not in names:
            missing.append(f"Query.{meth}")
    for store in ("numpy", "faiss", "chroma", "sqlite", "pgvector", "elasticsearch"):
        cls = vecnb.stores.get(store)
        if f"{cls.__module__}.{cls.__qualname__}" not in names:
            missing.append(f"store {store!r} ({cls.__qualname__})")
    assert not missing, f"not in the API reference (add them to docs/api/*.rst): {missing}"


def test_guides_link_to_the_reference(site):
    linked = {}
    for nb in NOTEBOOKS:
        refs = _parse(site / "notebooks" / f"{nb}.html")
        linked[nb] = sorted({h for h in refs.links if "../api/" in h and "#vecnb." in h})
    assert sum(len(v) for v in linked.values()) >= 2 * len(NOTEBOOKS), linked
    assert any("vecnb.VecAccessor.embed" in h for h in linked["01_quickstart"]), linked["01_quickstart"]


def test_local_links_and_assets_exist_and_nothing_is_remote(site):
    broken, remote = [], []
    for page in _pages(site):
        path = site / page
        refs = _parse(path)
        for url in refs.assets:
            if urlsplit(url).scheme in ("http", "https") or url.startswith("//"):
                remote.append(f"{page}: {url}")
        for url in refs.links + refs.assets:
            parts = urlsplit(url)
            if parts.scheme or url.startswith(("//", "mailto:", "#")):
                continue
            target = (path.parent / unquote(parts.path)).resolve()
            if parts.path and not target.exists():
                broken.append(f"{page}: {url}")
            elif parts.fragment and target.suffix == ".html" and parts.fragment not in _parse(target).ids:
                broken.append(f"{page}: {url} (no such anchor)")
    for f in site.rglob("*.css"):  # stylesheets: no remote @import or url() outside comments
        text = re.sub(r"/\*.*?\*/", "", f.read_text(encoding="utf-8", errors="replace"), flags=re.S)
        if re.search(r"""(url\(\s*['"]?|@import\s+['"])(https?:)?//""", text):
            remote.append(str(f.relative_to(site)))
    assert not broken, broken[:20]
    assert not remote, remote[:20]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser_report(site):
    why = _missing_browser()
    if why:
        pytest.skip(why)
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    try:
        cmd = ["node", str(CHECK), str(NODE_DIR), str(SHOTS), shutil.which("chromium"),
               f"http://127.0.0.1:{server.server_address[1]}", *_pages(site)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    finally:
        server.shutdown()
        server.server_close()
    lines = proc.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines else {}
    assert proc.returncode == 0 and "pages" in report, \
        f"check_site.cjs failed ({proc.returncode}): {report.get('fatal')}\n{proc.stderr[-3000:]}"
    (SHOTS / "report.json").write_text(json.dumps(report["pages"], indent=1))
    return {r["page"]: r for r in report["pages"]}


def test_every_page_loads_cleanly_in_chromium(site, browser_report):
    assert set(browser_report) == set(_pages(site))
    problems = {}
    for page, r in browser_report.items():
        bad = {k: r[k] for k in ("consoleErrors", "pageErrors", "failedRequests", "externalRequests",
                                 "emptyViews", "brokenImages") if r[k]}
        if "waitError" in r:
            bad["waitError"] = r["waitError"]
        if bad:
            problems[page] = bad
    assert not problems, json.dumps(problems, indent=1)[:6000]
    for page, r in browser_report.items():
        assert (SHOTS / r["screenshot"]).stat().st_size > 5_000, page


def test_widgets_render_in_chromium(browser_report):
    for nb in ("06_compare_metrics", "07_explore_embeddings"):
        r = browser_report[f"notebooks/{nb}.html"]
        assert r["views"] >= 1 and r["rendered"] == r["views"], r
        assert (SHOTS / r["widgetScreenshot"]).stat().st_size > 2_000
