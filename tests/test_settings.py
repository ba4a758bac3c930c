"""Settings: environment overrides and derived defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from introrank.service.settings import Settings, get_settings


def test_data_dir_from_environment(settings: Settings, tmp_path: Path) -> None:
    assert settings.data_dir == tmp_path


def test_default_sqlite_url_is_under_data_dir(settings: Settings, tmp_path: Path) -> None:
    assert settings.database_url is None
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'introrank.db').resolve()}"


def test_database_url_from_environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRORANK_DATABASE_URL", "postgresql://u@db.example/introrank")
    get_settings.cache_clear()
    assert get_settings().resolved_database_url == "postgresql://u@db.example/introrank"


def test_get_settings_is_cached(settings: Settings) -> None:
    assert get_settings() is settings


def test_require_postgres_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRORANK_REQUIRE_POSTGRES", "1")
    assert Settings().require_postgres is True
    monkeypatch.setenv("INTRORANK_REQUIRE_POSTGRES", "0")
    assert Settings().require_postgres is False


def test_readme_documents_every_setting():
    """The README's settings table names every field of the settings object, so docs and code agree."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [name for name in Settings.model_fields if not re.search(rf"`INTRORANK_{name.upper()}[`=]", readme)]
    assert missing == []
