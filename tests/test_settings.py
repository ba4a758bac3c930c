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


def test_the_suites_postgres_switches_are_read_by_the_fixtures_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """``INTRORANK_REQUIRE_POSTGRES`` and ``INTRORANK_TEST_POSTGRES_URL`` configure the tests, not the product."""
    from conftest import DEFAULT_TEST_POSTGRES_URL, postgres_required, postgres_test_url

    assert not {"require_postgres", "test_postgres_url"} & set(Settings.model_fields)
    monkeypatch.setenv("INTRORANK_REQUIRE_POSTGRES", "1")
    assert postgres_required() is True
    monkeypatch.setenv("INTRORANK_REQUIRE_POSTGRES", "0")
    assert postgres_required() is False
    monkeypatch.delenv("INTRORANK_TEST_POSTGRES_URL", raising=False)
    assert postgres_test_url() == DEFAULT_TEST_POSTGRES_URL
    monkeypatch.setenv("INTRORANK_TEST_POSTGRES_URL", "postgresql+psycopg://u@elsewhere:5433/t")
    assert postgres_test_url() == "postgresql+psycopg://u@elsewhere:5433/t"


def test_readme_documents_every_setting():
    """The README's settings table names every field of the settings object, so docs and code agree."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [name for name in Settings.model_fields if not re.search(rf"`INTRORANK_{name.upper()}[`=]", readme)]
    assert missing == []
