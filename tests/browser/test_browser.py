"""The widget notebooks in a real browser: execute, export to HTML with widget state, load in Chromium.

Steps (each a plain function below, so they can be run by hand too):

1. execute ``notebooks/06_compare_metrics.ipynb`` (07, the live map, is test_lab.py's) with
   nbclient, saving the widget state into the notebook metadata (``store_widget_state``);
2. export each to HTML with nbconvert's ``lab`` template, pointing the widget renderer, the
   AMD loader and MathJax at local files: ``@jupyter-widgets/html-manager`` and
   ``requirejs`` come from the npm registry (``tests/browser/setup.sh`` installs them into
   ``build/browser/node``) because no CDN is reachable; the page must need nothing else
   (the bundle's fonts are served where it looks for them: ``/@jupyter-widgets/...``);
3. serve the pages from a ``http.server`` thread on 127.0.0.1;
4. load them in headless Debian ``chromium`` driven by ``playwright-core`` (node,
   ``tests/browser/check.cjs``), which blocks and records any request leaving 127.0.0.1;
5. assert every widget view rendered, every widget image loaded and every inline SVG plot drawn,
   tables and controls are in the DOM, and there were no console errors, page errors,
   failed or external requests; screenshots go to ``build/screenshots/``.

Skipped, with the reason shown, when chromium, node or the npm packages are missing (run
``bash tests/browser/setup.sh``).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "build" / "browser" / "node"
SITE = ROOT / "build" / "browser" / "site"
SHOTS = ROOT / "build" / "screenshots"
# 07 (the interactive jupyter-scatter map) needs a live kernel: tests/browser/test_lab.py checks it in JupyterLab
NOTEBOOKS = ["06_compare_metrics"]
CHECK = Path(__file__).with_name("check.cjs")


def _missing() -> str | None:
    chromium = shutil.which("chromium")
    if chromium is None:
        return "chromium is not installed (run: bash tests/browser/setup.sh, or apt-get install -y chromium)"
    if shutil.which("node") is None:
        return "node is not installed (run: bash tests/browser/setup.sh)"
    for pkg in ("@jupyter-widgets/html-manager", "requirejs", "playwright-core"):
        if not (NODE_DIR / "node_modules" / pkg / "package.json").is_file():
            return f"npm package {pkg} is not in {NODE_DIR} (run: bash tests/browser/setup.sh)"
    for name in NOTEBOOKS:
        if not (ROOT / "notebooks" / f"{name}.ipynb").is_file():
            return f"notebooks/{name}.ipynb is missing"
    return None


pytestmark = [pytest.mark.browser, pytest.mark.skipif(_missing() is not None, reason=str(_missing()))]


def execute_notebook(path: Path, timeout: int = 600):
    """Run a notebook top to bottom in a fresh kernel; widget state goes into its metadata."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    return nb


def export_html(nb, name: str, site: Path) -> Path:
    """HTML with the widget state embedded, loading only local scripts (``static/...``)."""
    from nbconvert import HTMLExporter

    static = site / "static"
    static.mkdir(parents=True, exist_ok=True)
    # the AMD bundle resolves its assets (Font Awesome for button icons) against the module
    # ids' folders, /@jupyter-widgets/html-manager/dist/ and /@jupyter-widgets/: mirror both
    dist = NODE_DIR / "node_modules" / "@jupyter-widgets" / "html-manager" / "dist"
    hm = site / "@jupyter-widgets" / "html-manager" / "dist"
    if not hm.is_dir():
        shutil.copytree(dist, hm)
        for font in dist.iterdir():
            if font.suffix in (".woff", ".woff2", ".ttf", ".eot", ".svg"):
                shutil.copyfile(font, site / "@jupyter-widgets" / font.name)
    shutil.copyfile(NODE_DIR / "node_modules" / "requirejs" / "require.js", static / "require.js")
    (static / "no-mathjax.js").write_text("/* MathJax is not needed by these pages */\n")
    exporter = HTMLExporter(template_name="lab")
    exporter.widget_renderer_url = "@jupyter-widgets/html-manager/dist/embed-amd.js"
    exporter.require_js_url = "static/require.js"
    exporter.mathjax_url = "static/no-mathjax.js"
    body, _ = exporter.from_notebook_node(nb)
    # nothing may come from outside: any remote script / stylesheet left is a defect of this set-up
    remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', body)
    assert not remote, f"the exported page still loads remote files: {remote}"
    out = site / f"{name}.html"
    out.write_text(body, encoding="utf-8")
    return out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


def serve(site: Path):
    """A ThreadingHTTPServer on 127.0.0.1 (free port) serving ``site``; returns (server, base URL)."""
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def load_in_chromium(urls: dict[str, str], shots: Path) -> list[dict]:
    """Run check.cjs over ``{name: url}``; returns its per-page reports."""
    cmd = ["node", str(CHECK), str(NODE_DIR), str(shots), shutil.which("chromium")]
    cmd += [f"{url}={name}" for name, url in urls.items()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    try:
        report = json.loads(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "{}")
    except json.JSONDecodeError:
        report = {}
    if proc.returncode != 0 or "pages" not in report:
        raise AssertionError(f"check.cjs failed (exit {proc.returncode}): {report.get('fatal')}\n"
                             f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}")
    return report["pages"]


@pytest.fixture(scope="module")
def pages():
    if SITE.exists():
        shutil.rmtree(SITE)
    (SITE / "static").mkdir(parents=True)
    env_cache = os.environ.setdefault("VECNB_CACHE_DIR", str(ROOT / "build" / "cache"))
    assert env_cache
    urls = {}
    for name in NOTEBOOKS:
        nb = execute_notebook(ROOT / "notebooks" / f"{name}.ipynb")
        state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
        assert state.get("state"), f"{name}: no widget state was saved"
        export_html(nb, name, SITE)
    server, base = serve(SITE)
    try:
        for name in NOTEBOOKS:
            urls[name] = f"{base}/{name}.html"
        reports = load_in_chromium(urls, SHOTS)
    finally:
        server.shutdown()
        server.server_close()
    (SHOTS / "report.json").write_text(json.dumps(reports, indent=1))
    return {r["name"]: r for r in reports}


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_widgets_render_in_chromium(pages, name):
    r = pages[name]
    print(json.dumps({k: r[k] for k in ("views", "rendered", "images", "plots", "tables", "renderMs")}))
    assert "waitError" not in r, f"{name}: widgets did not finish rendering: {r['waitError']}"
    assert r["views"] >= 2 and r["rendered"] >= r["views"], r
    # compare_metrics draws its plots as inline SVG: two widgets x (3 or 2 metrics + norms)
    assert r["imagesLoaded"] == r["images"], r
    assert all(w >= 300 and h >= 150 for w, h in r["imageSizes"]), r["imageSizes"]  # real figures, not icons
    assert r["plots"] >= 6, r
    assert all(w >= 200 and h >= 150 and p >= 2 for w, h, p in r["plotSizes"]), r["plotSizes"]  # drawn charts
    assert r["tables"] >= 1 and r["buttons"] >= 1 and r["sliders"] >= 1 and r["textInputs"] >= 1, r
    assert r["errorBanners"] == 0, r
    assert r["pageErrors"] == [], r["pageErrors"]
    assert r["consoleErrors"] == [], r["consoleErrors"]
    assert r["failedRequests"] == [], r["failedRequests"]
    assert r["externalRequests"] == [], r["externalRequests"]
    assert (SHOTS / f"{name}.png").stat().st_size > 10_000
    assert (SHOTS / f"{name}-widget.png").is_file()


if __name__ == "__main__":  # python tests/browser/test_browser.py -> run just this check
    sys.exit(pytest.main([__file__, "-v", "-s"]))
