"""The README's examples run against the real app, so the docs cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from introrank.service.settings import Settings
from introrank.service.store.keys import create_api_key

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_starts_with_the_two_commands():
    head = README.read_text()[:1500]
    assert "make demo" in head and "make test" in head


def test_readme_has_the_three_integration_examples():
    blocks = python_blocks()
    assert any("IntrorankClient" in b for b in blocks)
    assert any("/v1/score" in b for b in blocks)
    assert any("from standardwebhooks import Webhook" in b and ".verify(" in b for b in blocks)


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_example_runs(index, sqlite_engine, tmp_path, monkeypatch, capsys, live_app):
    key = create_api_key(sqlite_engine, "readme")
    with live_app(Settings(data_dir=tmp_path / "store"), sqlite_engine) as live:
        monkeypatch.setenv("INTRORANK_URL", live.base)
        monkeypatch.setenv("INTRORANK_API_KEY", key)
        exec(compile(python_blocks()[index], f"README.md python block {index}", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    if "print(" in python_blocks()[index]:
        assert out.strip(), "the example printed nothing"
