"""The Dask dashboard link: printed by ``ddf.vec.persist()`` when the cluster serves a dashboard (bokeh
installed, ``vecnb[dask]``), and it answers; nothing printed when the cluster serves none.

A real ``LocalCluster`` on 127.0.0.1 per test (1 worker process; 1 worker thread for the negative case).
"""

from __future__ import annotations

import re
import urllib.request

import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import vecnb  # noqa: E402 - registers ddf.vec
import vecnb.dask  # noqa: E402

LINK = re.compile(r"^Dask dashboard: (\S+)$", re.MULTILINE)


def _frame() -> object:
    df = pd.DataFrame({"text": [f"a short text number {i}" for i in range(40)]})
    return dd.from_pandas(df, npartitions=2).vec.embed("text", model="hashing", cache=False)


def _cluster(dashboard_address: object, processes: bool) -> tuple:
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=processes, host="127.0.0.1",
                                       protocol="tcp://",
                                       dashboard_address=dashboard_address, silence_logs=40)
    return cluster, distributed.Client(cluster)


def test_dashboard_link_printed_and_reachable(capsys):
    pytest.importorskip("bokeh", reason="the dashboard needs bokeh (vecnb[dask] installs it)")
    cluster, client = _cluster("127.0.0.1:0", processes=True)  # a free port: other clusters may hold 8787
    try:
        out = _frame().vec.persist()
        assert len(out.compute()) == 40
        printed = LINK.findall(capsys.readouterr().out)
        assert printed == [client.dashboard_link], printed
        url = printed[0]
        assert re.match(r"^http://127\.0\.0\.1:\d+/status$", url), url
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - a local http URL checked above
            assert resp.status == 200
            page = resp.read()
        assert b"bokeh" in page.lower() or b"dask" in page.lower()
    finally:
        client.close()
        cluster.close()


def test_no_dashboard_no_link(capsys):
    """A cluster started without a dashboard: no link printed (it would point nowhere)."""
    cluster, client = _cluster(None, processes=False)  # a worker thread: quicker, same scheduler
    try:
        assert len(_frame().vec.persist().compute()) == 40
        assert LINK.findall(capsys.readouterr().out) == []
        assert vecnb.dask.dashboard_link(client) is None
    finally:
        client.close()
        cluster.close()
