"""A LightGBM booster compiled to machine code (``lleaves``), used only where it scores bit-identically.

Scoring an owner's 2,000 candidates with LightGBM's own predictor costs ~8 ms (a
few dozen ns per tree and row, plus per-row conversion); the same trees compiled
by LLVM take ~1.5 ms. The compiled forest is one block of trees (``fblocksize`` =
all trees), so it adds the trees' outputs in LightGBM's order and returns the very
same doubles: ``compile_booster`` checks that on probe rows built from the model's
own split thresholds (both sides of every threshold, zeros, NaN) and refuses a
forest that differs on any row, and tests/test_compiled.py holds it on a
simulated network. TreeSHAP contributions always come from LightGBM.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

log = logging.getLogger("introrank.model")

PROBE_ROWS = 4096
# LightGBM's predictor reads a dense row as sparse: a value within this of zero (its kZeroThreshold,
# 1e-35 as a float32) is dropped, i.e. read as 0. The compiled forest is given the same zeros.
ZERO_THRESHOLD = float(np.float32(1e-35))


class CompiledBooster:
    """Raw scores of a compiled forest; ``predict`` takes a C-contiguous float64 matrix."""

    def __init__(self, forest: Any, seconds: float) -> None:
        self._forest = forest
        self.seconds = seconds  # how long compiling (and checking) took

    def predict(self, x: np.ndarray) -> np.ndarray:
        tiny = np.abs(x) <= ZERO_THRESHOLD
        if tiny.any():
            x = np.where(tiny, 0.0, x)
        return np.asarray(self._forest.predict(x, n_jobs=1))


def probe_rows(booster: lgb.Booster, n: int = PROBE_ROWS, seed: int = 0) -> np.ndarray:
    """Rows that reach every side of the model's splits: each feature at, just below or just above
    one of its thresholds, 0, or NaN (missing values take each tree's default direction)."""
    rng = np.random.default_rng(seed)
    n_features = booster.num_feature()
    thresholds: list[list[float]] = [[] for _ in range(n_features)]
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                if isinstance(node["threshold"], int | float):
                    thresholds[node["split_feature"]].append(float(node["threshold"]))
                stack += [node["left_child"], node["right_child"]]
    x = np.zeros((n, n_features))
    for j, values in enumerate(thresholds):
        base = np.asarray(values or [0.0])
        at = base[rng.integers(0, len(base), n)]
        side = rng.integers(0, 3, n)
        x[:, j] = np.where(side == 0, np.nextafter(at, -np.inf), np.where(side == 1, at, np.nextafter(at, np.inf)))
        x[rng.random(n) < 0.1, j] = 0.0
        x[rng.random(n) < 0.1, j] = np.nan
    return x


def compile_booster(booster: lgb.Booster) -> CompiledBooster | None:
    """The booster compiled, or None when lleaves is missing, fails, or differs from LightGBM on a probe row."""
    started = time.perf_counter()
    try:
        import lleaves  # imported here: LLVM is loaded only by a process that compiles

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.txt"
            path.write_text(booster.model_to_string())
            forest = lleaves.Model(model_file=str(path))
            # One block of all trees: the outputs are summed in LightGBM's order, so the doubles agree.
            forest.compile(raw_score=True, fblocksize=max(booster.num_trees(), 1))
    except Exception as exc:  # no LLVM here, or a model lleaves cannot take: LightGBM keeps scoring
        log.warning("model not compiled; LightGBM scores it", extra={"error": type(exc).__name__})
        return None
    compiled = CompiledBooster(forest, 0.0)
    probe = probe_rows(booster)
    if not np.array_equal(compiled.predict(probe), booster.predict(probe, raw_score=True, num_threads=1)):
        log.warning("compiled model differs from LightGBM on probe rows; LightGBM scores it")
        return None
    compiled.seconds = time.perf_counter() - started
    return compiled
