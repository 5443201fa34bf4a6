"""Print a short summary of an executed quickstart notebook (used by ``make demo``).

Cells tagged ``summary`` in the notebook print ``key: value`` lines; this module shows them
together with where the executed notebook and its HTML rendering were written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def summarize(path: str | Path) -> str:
    """The summary lines printed by the notebook's ``summary`` cells, plus output locations.

    Examples
    --------
    >>> import json
    >>> cell = {"cell_type": "code", "metadata": {"tags": ["summary"]},
    ...         "outputs": [{"output_type": "stream", "text": ["top-1: doc 42"]}]}
    >>> _ = open("demo.ipynb", "w").write(json.dumps({"cells": [cell]}))
    >>> print(summarize("demo.ipynb"))
    vecnb demo — quickstart on CISI
    ----------------------------------------
    top-1: doc 42
    ----------------------------------------
    executed notebook: demo.ipynb
    """
    path = Path(path)
    nb = json.loads(path.read_text())
    lines: list[str] = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if "summary" not in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                lines.append("".join(out.get("text", "")).rstrip())
            elif out.get("output_type") == "error":
                lines.append(f"ERROR: {out.get('ename')}: {out.get('evalue')}")
    html = path.with_suffix(".html")
    body = "\n".join(lines) if lines else "(the notebook printed no summary)"
    return (
        "vecnb demo — quickstart on CISI\n"
        + "-" * 40 + "\n" + body + "\n" + "-" * 40 + "\n"
        + f"executed notebook: {path}\n"
        + (f"HTML rendering:    {html}\n" if html.exists() else "")
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m vecnb.demo EXECUTED_NOTEBOOK.ipynb", file=sys.stderr)
        return 2
    print(summarize(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
