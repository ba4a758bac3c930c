"""A LightGBM booster compiled to machine code (``lleaves``), used only where it scores bit-identically.

Scoring an owner's 2,000 candidates with LightGBM's own predictor costs ~8 ms (a
few dozen ns per tree and row, plus per-row conversion); the same trees compiled
by LLVM take ~1.5 ms. The compiled forest is one block of trees (``fblocksize`` =
all trees), so it adds the trees' outputs in LightGBM's order and returns the very
same doubles: ``compile_booster`` checks that on probe rows built from the model's
own split thresholds (both sides of every threshold, zeros, NaN) and refuses a
forest that differs on any row, and tests/test_cold_path.py holds it on a
simulated network. TreeSHAP contributions always come from LightGBM.

Compiling costs seconds of CPU (~5 s for 115 trees of 31 leaves), paid by every
process that loads the model: each server worker, each restart, each tenant's
champion. With a ``cache_dir`` the machine code is kept in a file named by a hash
of the model text, the compiler versions and the host CPU, so the first process
compiles and the others load it (under a file lock: two workers starting together
compile once). A loaded file is probed like a fresh compile; one that differs is
deleted and compiled again. The folder is trusted like the rest of the data folder
(its files are machine code this process runs).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
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
        self.loaded = False  # True: the machine code came from the cache folder, not a compile here

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


def compile_booster(booster: lgb.Booster, cache_dir: Path | None = None) -> CompiledBooster | None:
    """The booster compiled, or None when lleaves is missing, fails, or differs from LightGBM on a probe row.

    ``cache_dir``: where compiled forests are kept between processes (module docstring).
    """
    started = time.perf_counter()
    text = booster.model_to_string()
    probe = probe_rows(booster)
    expected = booster.predict(probe, raw_score=True, num_threads=1)
    try:
        import lleaves  # noqa: F401 - imported here: LLVM is loaded only by a process that compiles
    except ImportError as exc:
        log.warning("model not compiled; LightGBM scores it", extra={"error": type(exc).__name__})
        return None
    if cache_dir is None:
        compiled, loaded = _compile(text, booster.num_trees(), None), False
    else:
        cached = Path(cache_dir) / f"{cache_key(text)}.o"
        with _file_lock(cached.with_suffix(".lock")):
            loaded = cached.exists()
            compiled = _compile(text, booster.num_trees(), cached)
            if loaded and compiled is not None and not np.array_equal(compiled.predict(probe), expected):
                log.warning("cached compiled model differs from LightGBM on probe rows; compiling it again")
                cached.unlink(missing_ok=True)
                compiled, loaded = _compile(text, booster.num_trees(), cached), False
    if compiled is None:
        return None
    if not np.array_equal(compiled.predict(probe), expected):
        log.warning("compiled model differs from LightGBM on probe rows; LightGBM scores it")
        return None
    compiled.seconds = time.perf_counter() - started
    compiled.loaded = loaded
    return compiled


def _compile(text: str, num_trees: int, cached: Path | None) -> CompiledBooster | None:
    """lleaves' forest of the model ``text``; with ``cached``, loaded from that file when it exists, else
    compiled and written there (through a temporary name, so no reader sees half a file)."""
    import lleaves

    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.txt"
            path.write_text(text)
            forest = lleaves.Model(model_file=str(path))
            # One block of all trees: the outputs are summed in LightGBM's order, so the doubles agree.
            if cached is not None and cached.exists():
                forest.compile(str(cached), raw_score=True, fblocksize=max(num_trees, 1))
            elif cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                fresh = Path(tmp) / "forest.o"
                forest.compile(str(fresh), raw_score=True, fblocksize=max(num_trees, 1))
                partial = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
                partial.write_bytes(fresh.read_bytes())
                os.replace(partial, cached)
            else:
                forest.compile(raw_score=True, fblocksize=max(num_trees, 1))
    except Exception as exc:  # no LLVM here, or a model lleaves cannot take: LightGBM keeps scoring
        log.warning("model not compiled; LightGBM scores it", extra={"error": type(exc).__name__})
        return None
    return CompiledBooster(forest, 0.0)


def cache_key(text: str) -> str:
    """What the machine code depends on: the model, the compiler's versions, this CPU, the flags used."""
    import llvmlite.binding as llvm

    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # LLVM cannot detect them here; lleaves then compiles for none
        features = ""
    parts = [text, metadata.version("lleaves"), metadata.version("llvmlite"), llvm.get_process_triple(),
             llvm.get_host_cpu_name(), features, "raw_score, one block"]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (and threads: each opens the file itself); none without fcntl."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: two processes may both compile, each writes a whole file
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
