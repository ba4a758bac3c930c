"""LightGBM always gets an explicit thread count: training from the idle CPUs, scoring from a setting."""

from __future__ import annotations

import os

import lightgbm as lgb
import numpy as np

from introrank.model.features import FEATURE_NAMES
from introrank.model.ranker import IntroRanker
from introrank.model.threads import idle_cpus, usable_cpus
from introrank.service.settings import Settings
from introrank.training.train import TrainConfig


def test_idle_cpus_leave_the_busy_ones_to_their_owners() -> None:
    assert idle_cpus(cpus=2, load=0.1) == 2
    assert idle_cpus(cpus=2, load=1.0) == 1  # one other process: one thread, not two spinning on one core
    assert idle_cpus(cpus=2, load=17.0) == 1  # never zero
    assert idle_cpus(cpus=8, load=2.6) == 5
    assert 1 <= idle_cpus() <= usable_cpus() <= (os.cpu_count() or 1)


def test_training_and_scoring_threads_are_explicit(tmp_path) -> None:  # noqa: ANN001
    assert TrainConfig().num_threads >= 1  # resolved when the config is made, never LightGBM's 0
    assert Settings(data_dir=tmp_path).resolved_train_threads >= 1
    assert Settings(data_dir=tmp_path, train_threads=3).resolved_train_threads == 3
    assert Settings(data_dir=tmp_path).score_threads == 1


def test_ranker_passes_its_threads_to_every_predict(monkeypatch) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    x = rng.random((200, len(FEATURE_NAMES)))
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1}, lgb.Dataset(x, x[:, 0] > 0.5),
                        num_boost_round=3)
    seen = []
    predict = lgb.Booster.predict

    def spy(self, data, **kwargs):  # noqa: ANN001, ANN003, ANN202
        seen.append(kwargs.get("num_threads"))
        return predict(self, data, **kwargs)

    monkeypatch.setattr(lgb.Booster, "predict", spy)
    ranker = IntroRanker(booster=booster, calibrator=None, objective="binary", num_threads=2)
    ranker.raw_score(x)
    ranker.contributions(x[:5])
    assert seen == [2, 2]
