"""Throughput of the built-in embedders on real abstracts (not collected by pytest).

Run::

    .venv/bin/python tests/embed/bench_embedders.py [--n 1000] [--models minilm-numpy,minilm-torch,wordllama]

Texts: the first ``n`` CISI documents (title + abstract) from ``$VECNB_CISI`` or
``/work/shared/data/cisi/CISI.ALL`` (records start with ``.I id``; fields ``.T .A .W .X``).
Reports wall time, process CPU time and the load average, since a busy machine skews wall
time. Calls ``emb.embed`` directly: no cache, no de-duplication.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vecnb.embed import get_embedder


def load_cisi(path: str) -> list[str]:
    """Title + abstract of every CISI record, in file order."""
    out: list[str] = []
    cur: dict[str, list[str]] | None = None
    field = None
    with open(path, encoding="latin-1") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith(".I "):
                if cur is not None:
                    out.append((" ".join(cur["T"]) + ". " + " ".join(cur["W"])).strip())
                cur, field = {"T": [], "W": []}, None
            elif re.match(r"^\.[A-Z]\s*$", line):
                field = line[1]
            elif cur is not None and field in ("T", "W"):
                cur[field].append(line.strip())
    if cur is not None:
        out.append((" ".join(cur["T"]) + ". " + " ".join(cur["W"])).strip())
    return out


def bench(label: str, emb, texts: list[str]) -> np.ndarray:
    emb.embed(texts[:8])  # load + warm up
    la = os.getloadavg()[0]
    c0, t0 = time.process_time(), time.perf_counter()
    X = emb.embed(texts)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{label:22s} {len(texts) / wall:8.1f} sentences/s  (wall {wall:6.1f} s, cpu {cpu:6.1f} s, "
          f"load avg before {la:.1f})", flush=True)
    return X


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--models", default="minilm-numpy,minilm-torch,wordllama")
    ap.add_argument("--data", default=os.environ.get("VECNB_CISI", "/work/shared/data/cisi/CISI.ALL"))
    args = ap.parse_args()
    texts = load_cisi(args.data)[: args.n]
    print(f"{len(texts)} CISI abstracts, mean {np.mean([len(t) for t in texts]):.0f} characters; "
          f"{os.cpu_count()} CPUs", flush=True)
    out = {}
    for m in args.models.split(","):
        if m == "minilm-numpy":
            out[m] = bench(m, get_embedder("minilm", backend="numpy"), texts)
        elif m == "minilm-torch":
            try:
                emb = get_embedder("minilm", backend="torch")
            except ImportError as exc:
                print(f"{m}: skipped ({exc})")
                continue
            import torch

            print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads")
            out[m] = bench(m, emb, texts)
        elif m == "wordllama":
            out[m] = bench(m, get_embedder("wordllama"), texts)
        else:
            out[m] = bench(m, get_embedder(m), texts)
    if "minilm-numpy" in out and "minilm-torch" in out:
        print(f"max abs diff numpy vs torch: {np.abs(out['minilm-numpy'] - out['minilm-torch']).max():.2e}")


if __name__ == "__main__":
    main()
