"""The explore map in a static HTML export (no kernel): hovering a point shows that row's tooltip.

A two-cell notebook builds a 1,000-row explore (under ``STATIC_TOOLTIP_ROWS``, so the tooltip
fields travel in the widget state), is executed with nbclient, exported to HTML with the
widget state (``test_browser.export_html``; anywidget's AMD module is served from the
installed ``anywidget`` package, as the docs site does), served on 127.0.0.1 and hovered in
headless chromium (``static_hover.cjs``, WebGL through SwiftShader). Nothing answers from a
kernel: the page is static. The tooltip must name a row and show that row's own text.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_browser import NODE_DIR, ROOT, SHOTS, _missing, execute_notebook, export_html, serve

pytest.importorskip("jscatter")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(_missing() is not None, reason=str(_missing()))]

SITE = ROOT / "build" / "browser" / "static-map"
HOVER = Path(__file__).with_name("static_hover.cjs")
CELLS = [  # one dense blob: PCA centres it, so the first hovers near the middle land on points
    "import numpy as np, pandas as pd\nimport vecnb\n"
    "X = np.random.default_rng(0).standard_normal((1000, 16)).astype('float32')\n"
    "df = pd.DataFrame({'text': [f'static tooltip row {i:04d} of group {i % 3}' for i in range(1000)],\n"
    "                   'label': [f'group {i % 3}' for i in range(1000)]}, index=[f'r{i:04d}' for i in range(1000)])\n"
    "df = df.vec.attach(X, name='emb')",
    "ex = df.vec.explore(color='label', method='pca', text='text', progress=False, cache=False)\nex",
]


@pytest.mark.timeout(600)
def test_hover_shows_the_row_without_a_kernel():
    import anywidget
    import nbformat

    if SITE.exists():
        shutil.rmtree(SITE)
    SITE.mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    path = SITE / "static_map.ipynb"
    nbformat.write(nb, path)
    nb = execute_notebook(path, timeout=300)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any("vecnb_tooltips" in m.get("state", {}) for m in state.values()), "no tooltip table in the state"
    page = export_html(nb, "static_map", SITE)
    # anywidget's front-end module from the installed package (the CDN is not reachable)
    shutil.copyfile(Path(anywidget.__file__).parent / "nbextension" / "index.js", SITE / "static" / "anywidget.js")
    html = page.read_text(encoding="utf-8")
    tag = '<script src="static/require.js"></script>'
    assert tag in html
    html = html.replace(tag, tag + '\n<script>require.config({paths: {anywidget: "static/anywidget"}});</script>', 1)
    page.write_text(html, encoding="utf-8")
    server, base = serve(SITE)
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["node", str(HOVER), str(NODE_DIR), shutil.which("chromium"), f"{base}/static_map.html",
                               str(SHOTS / "static-map-hover.png")], capture_output=True, text=True, timeout=300)
    finally:
        server.shutdown()
        server.server_close()
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(r)[:2000])
    assert "fatal" not in r, r["fatal"]
    assert r["externalRequests"] == [] and r["pageErrors"] == [], r
    m = re.search(r"\br(\d{4})\b", r["text"])
    assert m, f"the tooltip names no row: {r['text']!r}"
    i = int(m.group(1))
    # the row's own text snippet and its label, with no kernel to ask
    assert f"static tooltip row {i:04d} of group {i % 3}" in r["text"] and f"group {i % 3}" in r["text"], r["text"]
