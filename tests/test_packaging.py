"""The distribution installs one import package, ``introrank``, with its data files.

The wheel is built from a copy of the source tree (links kept as links, as git
checks them out), so the test never writes build output into the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "model", "service", "training", "introrank")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    str(src), "-w", str(out)], check=True, capture_output=True)
    (built,) = out.glob("introrank-*.whl")
    return built


def test_wheel_has_one_top_level_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"introrank", next(t for t in top if t.endswith(".dist-info"))}, top


def test_wheel_carries_migrations_and_mappings(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    store = "introrank/service/store/"
    migrations = {n for n in names if n.startswith(store + "migrations/versions/") and n.endswith(".py")}
    assert len(migrations) == len(list((ROOT / "service/store/migrations/versions").glob("*.py")))
    assert {store + "migrations/env.py", store + "migrations/alembic.ini"} <= names
    assert any(n.endswith("hubspot.toml") for n in names) and any(n.endswith("salesforce.toml") for n in names)
    for package in ("model", "service", "training"):
        assert f"introrank/{package}/__init__.py" in names


def test_installed_wheel_imports_from_itself(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    probe = ("import introrank.server, introrank.service.store.engine as e, introrank.model.features as f;"
             "print(e.MIGRATIONS_DIR.is_dir(), f.__file__)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    is_dir, features_file = result.stdout.split()
    assert is_dir == "True"
    assert Path(features_file).is_relative_to(target)
