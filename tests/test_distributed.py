"""Training on a (local) Dask cluster: same snapshots as the local path, a ranker that still beats baselines."""

from __future__ import annotations

import pandas as pd
import pytest

from introrank.model.baselines import BASELINES
from introrank.training.distributed import build_snapshots_dask, train_ranker_dask
from introrank.training.evaluate import MODEL, evaluate
from introrank.training.snapshots import build_snapshots


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def test_dask_snapshots_equal_local_snapshots(client, tiny):
    local = build_snapshots(tiny.events, tiny.owners, tiny.contacts)
    remote = build_snapshots_dask(tiny.events, tiny.owners, tiny.contacts, client)
    pd.testing.assert_frame_equal(remote, local)


@pytest.mark.slow
def test_dask_ranker_beats_baselines(client, tiny):
    snapshots = build_snapshots_dask(tiny.events, tiny.owners, tiny.contacts, client)
    result = train_ranker_dask(snapshots, client)
    table = evaluate(result, tiny.oracle)
    assert result.ranker.info["distributed"] is True
    for name in BASELINES:
        assert table.loc[MODEL, "ndcg_at_10"] > table.loc[name, "ndcg_at_10"], name
