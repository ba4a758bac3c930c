"""Alembic environment for introrank.

Two ways in:
- programmatic (the normal one): ``introrank.service.store.engine`` opens a connection, puts it in
  ``config.attributes["connection"]`` and calls ``command.upgrade``; the migration
  runs inside that connection's transaction, in whatever schema its search_path
  names (tests use one PostgreSQL schema each).
- the ``alembic`` command line with ``alembic.ini`` beside this file: the URL is
  ``sqlalchemy.url`` from the ini when set, else introrank's settings.

Every ``*.py`` in ``versions/`` is a revision; a new file with the right
``down_revision`` is picked up with no other change.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from introrank.service.store.tables import Base

# ``tables`` is the one module that declares tables, so its metadata is the whole schema.
config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER on SQLite
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from introrank.service.settings import get_settings

    return get_settings().resolved_database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    from introrank.service.store.engine import make_engine

    engine = make_engine(_url(), migrate=False)
    try:
        with engine.connect() as conn:
            _configure_and_run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
