"""Benchmark (not a test): the map with many points in a live JupyterLab, in headless chromium.

    python tests/browser/bench_lab.py 100000 384     # selection round trip on 100k points
    python tests/browser/bench_lab.py 1000000 64     # 1M points: renders, hover, lasso, pans

Builds a notebook of ``vecnb.bench.clustered(n, d)`` (clustered synthetic vectors),
``df.vec.explore(color="label", method="pca")`` and the report cell of notebook 07, then drives
it with tests/browser/lab.cjs exactly as test_lab.py does. Prints one JSON object: the
kernel-side build time, each browser step's wall time, the selection round trip (mouse up ->
``explorer.selected`` ready in the kernel), whether the drag panned the map, and the load
average. Screenshots: build/screenshots/big<n>-*.png.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import nbformat  # noqa: E402
from test_lab import drive, jupyter_lab, painted_fraction  # noqa: E402


def notebook(n: int, d: int) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"import json, time\nimport numpy as np\nimport vecnb\nfrom vecnb import viz\n"
                                  f"from vecnb.bench import clustered\ndf = clustered({n}, {d})"),
        nbformat.v4.new_code_cell('t0 = time.perf_counter()\nm = df.vec.explore(color="label", method="pca", cache=False)\n'
                                  'ready = time.perf_counter() - t0\nm'),
        nbformat.v4.new_code_cell(
            'polygon = m.lasso_polygon\nxy = m.frame[["x", "y"]].to_numpy()\n'
            'inside = viz.points_in_polygon(xy, polygon) if polygon is not None else np.zeros(len(xy), bool)\n'
            'report = {"selected": len(m.selected), "inside_lasso": int(inside.sum()), "ready_s": ready,\n'
            '          "same_rows": set(m.selected.index) == set(m.frame.index[inside]),\n'
            '          "source": m.selection_source,\n'
            '          "selection_time": None if np.isnan(m.selection_time) else m.selection_time,\n'
            '          "hovered": {str(k): str(df.loc[k, "label"]) for k in m.hover_history}}\n'
            'print("LASSO_REPORT " + json.dumps(report))'),
    ]
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def main(n: int, d: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        name = f"big{n}.ipynb"
        nbformat.write(notebook(n, d), folder / name)
        with jupyter_lab(folder) as (base, token):
            r = drive(base, token, folder, prefix=f"big{n}", run_timeout_s=900, notebook=name)
    rep = r.get("report") or {}
    out = {"n": n, "dim": d, "load1": os.getloadavg()[0], "webgl": r.get("webgl"), "fatal": r.get("fatal"),
           "steps_ms": {k: v.get("ms") for k, v in r.get("steps", {}).items()},
           "kernel_ready_s": rep.get("ready_s"), "selected": rep.get("selected"), "same_rows": rep.get("same_rows"),
           "roundtrip_ms": None if not rep.get("selection_time") else
           round((rep["selection_time"] - r["lasso"]["upAt"]) * 1000),
           "panned": (r.get("pan") or {}).get("moved"), "tooltip": bool((r.get("hover") or {}).get("text"))}
    if r.get("shots", {}).get("map"):
        out["painted_fraction"] = round(painted_fraction(Path(r["shots"]["map"]))[0], 4)
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]))))
