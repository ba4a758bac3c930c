"""Evaluation on the test cuts: every ranker on the same rows, and the plots.

The oracle (the simulator's true probability) is the ceiling on simulated data,
so the model's quality is also reported as a share of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from introrank.model.baselines import BASELINES
from introrank.model.constants import CONTACT_ID, OWNER_ID
from introrank.model.events import to_epoch_seconds
from introrank.model.features import FEATURE_NAMES
from introrank.model.ranker import IntroRanker
from introrank.training.metrics import ndcg_at_k, ndcg_by_query, ranking_report, reliability_curve
from introrank.training.snapshots import CUT, LABEL
from introrank.training.train import TrainResult, query_ids

MODEL, LOGISTIC, ORACLE = "model", "logistic_regression", "oracle"


def attach_oracle(test: pd.DataFrame, oracle: pd.DataFrame | None) -> pd.Series | None:
    """Oracle probability per test row (None when there is no oracle or it misses rows)."""
    if oracle is None or oracle.empty:
        return None
    keyed = oracle.astype({OWNER_ID: str, CONTACT_ID: str})
    keyed[CUT] = to_epoch_seconds(keyed[CUT])  # the simulator's frames hold datetimes, CSVs epoch floats
    joined = test[[OWNER_ID, CONTACT_ID, CUT]].merge(keyed, on=[OWNER_ID, CONTACT_ID, CUT], how="left")
    if joined["probability"].isna().mean() > 0.01:
        return None
    return pd.Series(joined["probability"].fillna(0.0).to_numpy(), index=test.index)


def ranker_scores(result: TrainResult, test: pd.DataFrame,
                  oracle: pd.Series | None) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """(score, probability or None) for every ranker on the test rows."""
    x = test[list(FEATURE_NAMES)]
    proba = result.ranker.predict_proba(x)
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {
        MODEL: (result.ranker.raw_score(x), proba),
        LOGISTIC: (lr := result.logistic.predict_proba(x.to_numpy())[:, 1], lr),
    }
    for name, baseline in BASELINES.items():
        out[name] = (baseline(x), None)
    if oracle is not None:
        out[ORACLE] = (oracle.to_numpy(), oracle.to_numpy())
    return out


def evaluate(result: TrainResult, oracle: pd.DataFrame | None = None) -> pd.DataFrame:
    """Metric table, one row per ranker, plus the model's share of the oracle."""
    test = result.split.test
    q, y = query_ids(test), test[LABEL].to_numpy()
    scores = ranker_scores(result, test, attach_oracle(test, oracle))
    table = pd.DataFrame({name: ranking_report(q, y, s, p) for name, (s, p) in scores.items()}).T
    if ORACLE in table.index:
        table["share_of_oracle_ndcg_at_10"] = table["ndcg_at_10"] / table.loc[ORACLE, "ndcg_at_10"]
    return table


def ndcg_per_test_query(ranker: IntroRanker, test: pd.DataFrame) -> np.ndarray:
    """NDCG@10 of ``ranker`` on each test query with a positive, in one fixed query order (the gate pairs them)."""
    return ndcg_by_query(query_ids(test), test[LABEL].to_numpy(), ranker.raw_score(test[list(FEATURE_NAMES)])
                         ).to_numpy()


def format_table(table: pd.DataFrame) -> str:
    return table.to_string(float_format=lambda v: f"{v:.4f}", na_rep="-")


def save_plots(result: TrainResult, oracle: pd.DataFrame | None, out_dir: Path) -> list[Path]:
    """NDCG@k curves for all rankers, a reliability diagram and feature importance (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    test = result.split.test
    q, y = query_ids(test), test[LABEL].to_numpy()
    scores = ranker_scores(result, test, attach_oracle(test, oracle))
    paths = [out_dir / "ndcg_at_k.png", out_dir / "reliability.png", out_dir / "feature_importance.png"]
    ks = list(range(1, 21))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (score, _) in scores.items():
        ax.plot(ks, [ndcg_at_k(q, y, score, k) for k in ks], marker=".", label=name)
    ax.set(xlabel="k", ylabel="NDCG@k", title="NDCG@k on the test cuts")
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 5))
    model_probability = scores[MODEL][1]
    assert model_probability is not None  # the ranker always has calibrated probabilities
    curve = reliability_curve(y, model_probability)
    ax.plot([0, curve["predicted"].max()], [0, curve["predicted"].max()], "k--", lw=1, label="perfect")
    ax.plot(curve["predicted"], curve["observed"], marker="o", label="model")
    ax.set(xlabel="predicted probability", ylabel="observed rate", title="Reliability (test cuts)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths[1], dpi=110)
    plt.close(fig)
    importance = result.ranker.feature_importance().head(20)[::-1]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.barh(importance.index, importance.to_numpy())
    ax.set(xlabel="total gain", title="Feature importance")
    fig.tight_layout()
    fig.savefig(paths[2], dpi=110)
    plt.close(fig)
    return paths
