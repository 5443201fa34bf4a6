"""Build the vecnb documentation site: ``python docs/build.py`` (``make docs``) -> ``build/site/``.

1. Stage the sources into ``build/docs-src/``: this folder (``conf.py``, the API reference
   pages, the guides index), ``README.md`` as the home page and ``notebooks/*.ipynb`` as the
   guides. Files are copied only when their content changed, so Sphinx rebuilds only what did.
2. Put the widget JavaScript into ``_static/widgets/``: ``@jupyter-widgets/html-manager`` and
   ``requirejs`` from npm (installed into ``build/browser/node`` at the versions pinned in
   ``tests/browser/setup.sh`` if they are not there yet) and anywidget's AMD module from the
   installed ``anywidget`` Python package (the same version that wrote the widget state). A page
   then needs nothing from the internet to render its widgets.
3. Run Sphinx with ``-W --keep-going -n``: any warning (a missing reference, a notebook cell that
   fails) fails the build. Notebooks are executed through myst-nb's jupyter-cache
   (``build/docs-jupyter-cache``): only notebooks whose code changed run again, and the
   embedding cache (``$VECNB_CACHE_DIR``, default ``build/cache``) makes those quick.

Prints the time taken and the number of pages. Exit status is Sphinx's.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BUILD = ROOT / "build"
SRC = BUILD / "docs-src"
SITE = BUILD / "site"
NODE_DIR = BUILD / "browser" / "node"
SETUP_SH = ROOT / "tests" / "browser" / "setup.sh"
HOME_TOCTREE = """

```{toctree}
:hidden:

guides
api/index
```
"""
REQUIRE_CONFIG = """\
// requirejs finds the widget modules the pages need on this site, never on a CDN.
(function () {
  var here = document.currentScript.src.replace(/[^/]*$/, "");
  require.config({ paths: { anywidget: here + "anywidget/index" } });
})();
"""


def _sync_file(src: Path, dst: Path, wanted: set[Path]) -> None:
    wanted.add(dst)
    if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def _write_text(dst: Path, text: str, wanted: set[Path]) -> None:
    wanted.add(dst)
    if dst.is_file() and dst.read_text(encoding="utf-8") == text:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(text, encoding="utf-8")


def npm_versions() -> dict[str, str]:
    """The npm packages (and pinned versions) the widget pages need, read from setup.sh."""
    text = SETUP_SH.read_text()
    pins = dict(re.findall(r"^(HTML_MANAGER_VERSION|REQUIREJS_VERSION)=(\S+)", text, re.M))
    return {"@jupyter-widgets/html-manager": pins["HTML_MANAGER_VERSION"], "requirejs": pins["REQUIREJS_VERSION"]}


def ensure_widget_js() -> Path:
    """``build/browser/node/node_modules`` with html-manager and requirejs (npm install if missing)."""
    modules = NODE_DIR / "node_modules"
    missing = [f"{name}@{v}" for name, v in npm_versions().items() if not (modules / name / "package.json").is_file()]
    if missing:
        if shutil.which("npm") is None:
            sys.exit(f"docs/build.py: npm is needed once to fetch {missing} (apt-get install -y npm, "
                     "or run: bash tests/browser/setup.sh)")
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        if not (NODE_DIR / "package.json").is_file():
            (NODE_DIR / "package.json").write_text('{"name": "vecnb-browser-check", "private": true}\n')
        subprocess.run(["npm", "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund",
                        "--loglevel=error", *missing], check=True)
    return modules


def stage() -> None:
    """Mirror docs/, README.md, notebooks/ and the widget JavaScript into build/docs-src."""
    wanted: set[Path] = set()
    for src in DOCS.rglob("*"):
        if src.is_file() and "__pycache__" not in src.parts and src.name != "build.py":
            _sync_file(src, SRC / src.relative_to(DOCS), wanted)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    _write_text(SRC / "index.md", readme.rstrip("\n") + HOME_TOCTREE, wanted)
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        _sync_file(nb, SRC / "notebooks" / nb.name, wanted)
    widgets = SRC / "_static" / "widgets"
    modules = ensure_widget_js()
    _sync_file(modules / "requirejs" / "require.js", widgets / "require.js", wanted)
    dist = modules / "@jupyter-widgets" / "html-manager" / "dist"
    for f in dist.iterdir():
        if f.is_file() and not f.name.endswith(".map"):
            _sync_file(f, widgets / "@jupyter-widgets" / "html-manager" / "dist" / f.name, wanted)
    try:  # anywidget's AMD module, for anywidget-based widgets (the jupyter-scatter map)
        import anywidget
    except ImportError:
        anywidget = None
    if anywidget is not None:
        amd = Path(anywidget.__file__).parent / "nbextension" / "index.js"
        _sync_file(amd, widgets / "anywidget" / "index.js", wanted)
    _write_text(widgets / "require-config.js", REQUIRE_CONFIG, wanted)
    for path in sorted(SRC.rglob("*"), reverse=True):  # drop what no longer has a source
        if path.is_file() and path not in wanted and "__pycache__" not in path.parts:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def build_env() -> dict[str, str]:
    """Environment of the Sphinx run and of the notebook kernels it starts."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("VECNB_CACHE_DIR", str(BUILD / "cache"))
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("NUMBA_CACHE_DIR", str(BUILD / "numba-cache"))
    env.update(ANONYMIZED_TELEMETRY="False", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               VECNB_DOCS_ROOT=str(ROOT), PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


def build(out: Path = SITE, *, clean: bool = False, quiet: bool = True) -> int:
    """Stage and run Sphinx; returns its exit status."""
    t0 = time.perf_counter()
    if clean:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(BUILD / "docs-doctrees", ignore_errors=True)
    stage()
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n",
           "-d", str(BUILD / "docs-doctrees"), str(SRC), str(out)]
    if quiet:
        cmd.append("-q")
    rc = subprocess.run(cmd, cwd=ROOT, env=build_env(), check=False).returncode
    pages = sum(1 for p in out.rglob("*.html") if p.name not in ("genindex.html", "search.html", "py-modindex.html"))
    print(f"docs: {'built' if rc == 0 else 'FAILED'} {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} "
          f"({pages} pages) in {time.perf_counter() - t0:.1f} s")
    return rc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=SITE, help="output folder (default build/site)")
    ap.add_argument("--clean", action="store_true", help="rebuild every page (the notebook cache is kept)")
    ap.add_argument("--verbose", action="store_true", help="show Sphinx's progress")
    args = ap.parse_args(argv)
    return build(args.out.resolve(), clean=args.clean, quiet=not args.verbose)


if __name__ == "__main__":
    sys.exit(main())
