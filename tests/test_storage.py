"""Storage: migrations, engine configuration, transactions, tenants, cascades.

The product writes through Core connections (``write_connection``); the ORM
classes are read and written here through a plain SQLAlchemy ``Session`` to check
that they map the migrated schema.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session

from introrank.service.settings import Settings
from introrank.service.store.engine import (
    MIGRATIONS_DIR,
    get_engine,
    get_or_create_tenant,
    make_engine,
    normalize_url,
    upgrade_to_head,
    write_connection,
)
from introrank.service.store.tables import ApiKey, Base, Contact, Event, Owner, Tenant

CORE_TABLES = {"tenants", "api_keys", "owners", "contacts", "events"}


def orm(engine: Engine) -> Session:
    """An ORM session whose ``with orm(e) as s, s.begin():`` commits or rolls back."""
    return Session(engine, expire_on_commit=False)


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


@pytest.mark.postgres
def test_migrations_create_all_tables_in_a_fresh_pg_schema(pg_engine: Engine) -> None:
    with pg_engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        tables = set(inspect(conn).get_table_names(schema=schema))
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        in_public = set(inspect(conn).get_table_names(schema="public"))
    assert schema.startswith("t_")
    assert CORE_TABLES | {"alembic_version"} <= tables
    assert version == head_revision()
    assert not (CORE_TABLES & in_public)  # the schema, not public, holds everything


def test_orm_classes_match_the_migrations(engine: Engine) -> None:
    """introrank.service.store.tables and migrations/versions describe the same core schema."""

    def ours(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.name in CORE_TABLES

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": ours}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_migrating_again_is_a_no_op(engine: Engine) -> None:
    upgrade_to_head(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
            (head_revision(),)
        ]


def test_sqlite_is_wal_with_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_get_engine_is_cached_and_lives_under_data_dir(settings: Settings) -> None:
    engine = get_engine(settings)
    assert get_engine(settings) is engine
    assert engine.url.database == str((settings.data_dir / "introrank.db").resolve())
    assert (settings.data_dir / "introrank.db").exists()
    assert CORE_TABLES <= set(inspect(engine).get_table_names())


def test_get_engine_creates_a_missing_data_dir(tmp_path: Path, settings: Settings) -> None:
    nested = tmp_path / "a" / "b"
    engine = get_engine(Settings(data_dir=nested))
    assert (nested / "introrank.db").exists() and engine.url.database.startswith(str(nested))


def test_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.postgres
def test_make_engine_accepts_plain_postgresql_url(pg_engine: Engine) -> None:
    schema = pg_engine.dialect.default_schema_name
    plain = pg_engine.url.render_as_string(hide_password=False).replace("+psycopg", "")
    engine = make_engine(plain, schema=schema)
    try:
        assert engine.dialect.driver == "psycopg"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_schema()")).scalar_one() == schema
    finally:
        engine.dispose()


def test_tenants_are_created_once(engine: Engine) -> None:
    with write_connection(engine) as conn:
        first = get_or_create_tenant(conn, "acme")
        assert get_or_create_tenant(conn, "acme") == first
    with write_connection(engine) as conn:
        assert get_or_create_tenant(conn, "acme") == first
        other = get_or_create_tenant(conn, "globex")
    assert other != first
    with orm(engine) as session:
        tenant = session.get(Tenant, first)
        assert tenant is not None and tenant.created_at.tzinfo == UTC


def test_write_connection_commits_or_rolls_back(engine: Engine) -> None:
    with pytest.raises(RuntimeError):
        with write_connection(engine) as conn:
            get_or_create_tenant(conn, "gone")
            raise RuntimeError("boom")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Tenant)).scalar_one() == 0
    with write_connection(engine) as conn:
        get_or_create_tenant(conn, "kept")
    with engine.connect() as conn:
        assert conn.execute(select(Tenant.name)).scalars().all() == ["kept"]


def _seed(session) -> int:  # noqa: ANN001
    tenant = Tenant(name="acme")
    session.add(tenant)
    session.flush()
    for row in (
        ApiKey(tenant_id=tenant.id, key_hash="0" * 64, prefix="ir_abcde", scopes="read,write,admin"),
        Owner(tenant_id=tenant.id, owner_id="o1", goal="job_search"),
        Contact(tenant_id=tenant.id, owner_id="o1", contact_id="c1"),
    ):
        session.add(row)
        session.flush()  # no relationship() links these, so flush in dependency order
    session.add(
        Event(tenant_id=tenant.id, event_id="e1", owner_id="o1", contact_id="c1",
              occurred_at=1.7e9, type="touch", direction="out")  # fmt: skip
    )
    return tenant.id


def test_deleting_an_owner_cascades_to_contacts_and_events(engine: Engine) -> None:
    with orm(engine) as session, session.begin():
        tenant_id = _seed(session)
    with orm(engine) as session:
        owner = session.get(Owner, (tenant_id, "o1"))
        assert owner is not None and owner.target_companies == [] and owner.updated_at.tzinfo
        contact = session.get(Contact, (tenant_id, "o1", "c1"))
        assert contact is not None and contact.do_not_recommend is False and contact.tags == []
    with write_connection(engine) as conn:
        conn.execute(Owner.__table__.delete())
    with engine.connect() as conn:
        for table in (Contact, Event):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(ApiKey)).scalar_one() == 1


def test_event_needs_a_known_contact(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    with orm(engine) as session, session.begin():
        tenant_id = _seed(session)
    with pytest.raises(IntegrityError):
        with orm(engine) as session, session.begin():
            session.add(
                Event(tenant_id=tenant_id, event_id="e2", owner_id="o1", contact_id="nobody",
                      occurred_at=1.7e9, type="touch", direction="out")  # fmt: skip
            )
