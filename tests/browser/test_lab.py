"""The interactive map in a LIVE JupyterLab, in a real browser (headless Debian chromium).

1. start ``jupyter lab`` on 127.0.0.1 (free port, random token) in a temporary folder holding a
   copy of ``notebooks/07_explore_embeddings.ipynb``; the kernel imports this checkout's vecnb;
2. ``tests/browser/lab.cjs`` (playwright-core) opens it with WebGL on SwiftShader, blocks any
   request leaving 127.0.0.1, clicks *Run > Run All Cells* and waits for every cell;
3. on the first map it checks: the WebGL canvas is not blank (pixels), hovering a point shows
   jscatter's tooltip with that row's label and text (the kernel answers it), a Shift + drag
   lasso selects points, then re-runs the notebook's report cell, which reads
   ``len(m.selected)`` in the kernel and compares the rows with the points inside the lasso's
   polygon (as the browser sent it); finally a drag pans the map.

Screenshots: ``build/screenshots/lab-*.png``. Skipped (with the reason) only when chromium,
node or playwright-core are missing: run ``bash tests/browser/setup.sh``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "build" / "browser" / "node"
SHOTS = ROOT / "build" / "screenshots"
NOTEBOOK = ROOT / "notebooks" / "07_explore_embeddings.ipynb"
LAB = Path(__file__).with_name("lab.cjs")


def _missing() -> str | None:
    if shutil.which("chromium") is None:
        return "chromium is not installed (run: bash tests/browser/setup.sh, or apt-get install -y chromium)"
    if shutil.which("node") is None:
        return "node is not installed (run: bash tests/browser/setup.sh)"
    if not (NODE_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        return f"playwright-core is not in {NODE_DIR} (run: bash tests/browser/setup.sh)"
    import importlib.util

    for mod in ("jupyterlab", "jscatter", "ipykernel"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed (pip install 'vecnb[viz,notebooks]')"
    return None


pytestmark = [pytest.mark.browser, pytest.mark.skipif(_missing() is not None, reason=str(_missing()))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(folder: Path):
    """A JupyterLab server on 127.0.0.1 (free port, random token) serving ``folder``; yields (base URL, token)."""
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("VECNB_CACHE_DIR", str(ROOT / "build" / "cache"))
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / "build" / "numba-cache"))
    env.setdefault("MPLBACKEND", "Agg")
    env["JUPYTER_CONFIG_DIR"] = str(folder / ".jupyter")  # no user settings leak in
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(folder / ".workspaces")
    env["JUPYTER_RUNTIME_DIR"] = str(folder / ".runtime")
    log = open(folder / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         "--ServerApp.terminals_enabled=False",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={folder}", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not start: {(folder / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of notebook 07; yields (base URL, token, folder)."""
    folder = tmp_path_factory.mktemp("lab")
    shutil.copyfile(NOTEBOOK, folder / NOTEBOOK.name)
    with jupyter_lab(folder) as (base, token):
        yield base, token, folder


def drive(base: str, token: str, folder: Path, prefix: str = "lab", run_timeout_s: int = 420,
          notebook: str = NOTEBOOK.name) -> dict:
    """Run lab.cjs on ``notebook`` (in ``folder``); returns its JSON report."""
    cfg = {"nodeDir": str(NODE_DIR), "chromium": shutil.which("chromium"), "shots": str(SHOTS), "prefix": prefix,
           "url": f"{base}/lab/tree/{notebook}?token={token}", "mapCell": 'm = df.vec.explore(color="label"',
           "reportCell": "LASSO_REPORT", "runTimeoutMs": run_timeout_s * 1000}
    path = folder / f"{prefix}.json"
    path.write_text(json.dumps(cfg))
    proc = subprocess.run(["node", str(LAB), str(path)], capture_output=True, text=True,
                          timeout=run_timeout_s + 180, check=False)
    lines = proc.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise AssertionError(f"lab.cjs failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")


def painted_fraction(png: Path) -> tuple[float, int]:
    """Share of pixels that differ from the most common (background) colour, and the number of colours."""
    import numpy as np
    from matplotlib.image import imread

    img = (imread(png)[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    colours, counts = np.unique(img, axis=0, return_counts=True)
    return 1.0 - counts.max() / counts.sum(), len(colours)


@pytest.mark.timeout(600)
def test_map_hover_lasso_pan_in_live_jupyterlab(lab):
    base, token, folder = lab
    r = drive(base, token, folder)
    (SHOTS / "lab-report.json").write_text(json.dumps(r, indent=1))
    print(json.dumps({k: r.get(k) for k in ("webgl", "steps", "hover", "report", "pan", "lasso")}, indent=1))
    assert "fatal" not in r, f"{r.get('fatal')}\nsteps: {r.get('steps')}\nlog: {(folder / 'lab.log').read_text()[-2000:]}"
    assert r["cellErrors"] == [], r["cellErrors"]
    assert r["pageErrors"] == [], r["pageErrors"]
    assert r["externalRequests"] == [], r["externalRequests"]
    # 1. the WebGL canvas is painted: points in several colours, not one flat background
    frac, ncol = painted_fraction(Path(r["shots"]["map"]))
    assert frac > 0.01 and ncol > 20, (frac, ncol)
    # 2. the hover tooltip shows that row: its label, and the start of its text (from the kernel)
    rep = r["report"]
    assert r["hover"]["text"], f"no tooltip after {r['hover']['tries']} mouse positions"
    lines = [s.strip() for s in r["hover"]["text"].splitlines()]
    label = lines[lines.index("Row") + 1]  # jscatter shows "Row" then the value
    assert label in rep["hovered"], (label, rep["hovered"])  # the kernel saw that point hovered
    tip = " ".join(r["hover"]["text"].split())
    assert rep["hovered"][label][:30] in tip, (rep["hovered"][label], tip)
    # 3. the lasso selected points, and the kernel holds exactly the rows inside the polygon drawn
    assert rep["source"] == "browser" and rep["selected"] > 0, rep
    assert rep["selected"] == rep["inside_lasso"] and rep["same_rows"], rep
    roundtrip = rep["selection_time"] - r["lasso"]["upAt"]
    print(f"selection round trip (mouse up -> explorer.selected ready): {roundtrip * 1000:.0f} ms")
    assert -1 < roundtrip < 30
    # 4. the map pans
    assert r["pan"]["moved"], r["pan"]
