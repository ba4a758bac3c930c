"""API keys: the ``introrank keys`` commands, scopes over HTTP, and revocation on every replica.

The commands run through Typer's CliRunner against a real store; the HTTP tests
serve the real app. "Every replica" is two live apps, each with its own engine
(its own connection pool, as two processes would have), on one database.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import pytest
from conftest import postgres_test_url
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner, Result

from introrank.cli import app
from introrank.service import settings as settings_module
from introrank.service.errors import AuthError
from introrank.service.settings import Settings
from introrank.service.store.engine import dispose_engines, get_engine, make_engine
from introrank.service.store.keys import KEY_PREFIX, PREFIX_LENGTH, authenticate, create_api_key
from introrank.service.store.tables import ApiKey, Tenant

LIST_ROW = re.compile(r"^(?P<prefix>ir_\S+)\s+(?P<scopes>\S+)\s+(?P<created>\d{4}-\d\d-\d\d \d\d:\d\d)\s+"
                      r"(?P<used>-|\d{4}-\d\d-\d\d \d\d:\d\d)\s+(?P<revoked>-|\d{4}-\d\d-\d\d \d\d:\d\d)$")


def keys(*args: str) -> Result:
    return CliRunner().invoke(app, ["keys", *args])


def listed(tenant: str) -> dict[str, dict[str, str]]:
    """``keys list --tenant`` parsed: prefix -> its columns."""
    result = keys("list", "--tenant", tenant)
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["prefix", "scopes", "created", "last", "used", "revoked"]
    parsed = [LIST_ROW.match(row) for row in rows]
    assert all(parsed), rows
    return {m["prefix"]: m.groupdict() for m in parsed if m}


def count(engine: Engine, table: type) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


# --- the commands -------------------------------------------------------------------


def test_keys_create_refuses_an_unknown_tenant_without_create_tenant(settings: Settings) -> None:
    refused = keys("create", "--tenant", "acme", "--scope", "read")
    assert refused.exit_code == 2
    assert "unknown tenant 'acme'; pass --create-tenant to create it" in refused.stderr
    assert refused.stdout == ""
    engine = get_engine(settings)
    assert (count(engine, Tenant), count(engine, ApiKey)) == (0, 0), "a refused create writes nothing"

    made = keys("create", "--tenant", "acme", "--scope", "read", "--create-tenant")
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert made.stdout == key + "\n" and key.startswith(KEY_PREFIX), "the key, alone on stdout"
    assert authenticate(engine, key).scopes == {"read"}

    again = keys("create", "--tenant", "acme", "--scope", "write", "--admin")  # the tenant exists now
    assert again.exit_code == 0, again.output
    assert authenticate(engine, again.stdout.strip()).scopes == {"write", "admin"}
    assert authenticate(engine, key).tenant == authenticate(engine, again.stdout.strip()).tenant == "acme"

    bogus = keys("create", "--tenant", "acme", "--scope", "superuser")
    assert bogus.exit_code == 2 and "scopes must be some of read, write, admin; got superuser" in bogus.stderr
    base = keys("create", "--tenant", "base", "--create-tenant")
    assert base.exit_code == 2 and "'base' names the base model" in base.stderr
    assert count(engine, ApiKey) == 2


def test_keys_list_shows_prefix_scopes_created_and_last_used_never_the_secret(settings: Settings) -> None:
    engine = get_engine(settings)
    reader = create_api_key(engine, "acme", scopes=("read",), create_tenant=True)
    admin = create_api_key(engine, "acme", scopes=("read", "write", "admin"))
    other = create_api_key(engine, "beta", create_tenant=True)

    result = keys("list", "--tenant", "acme")
    for secret in (reader, admin, other):
        assert secret not in result.output and secret[PREFIX_LENGTH:] not in result.output
    rows = listed("acme")
    assert set(rows) == {reader[:PREFIX_LENGTH], admin[:PREFIX_LENGTH]}, "only acme's keys, by prefix"
    assert rows[reader[:PREFIX_LENGTH]]["scopes"] == "read"
    assert rows[admin[:PREFIX_LENGTH]]["scopes"] == "read,write,admin"
    assert all(r["used"] == "-" and r["revoked"] == "-" for r in rows.values())

    authenticate(engine, reader)  # a request with the key
    rows = listed("acme")
    assert rows[reader[:PREFIX_LENGTH]]["used"] != "-" and rows[admin[:PREFIX_LENGTH]]["used"] == "-"
    assert listed("nobody") == {}


def test_keys_revoke_refuses_the_key_from_the_next_request(settings: Settings) -> None:
    engine = get_engine(settings)
    doomed = create_api_key(engine, "acme", create_tenant=True)
    kept = create_api_key(engine, "acme")
    other = create_api_key(engine, "beta", create_tenant=True)
    prefix = doomed[:PREFIX_LENGTH]

    across = keys("revoke", other[:PREFIX_LENGTH], "--tenant", "acme")  # beta's key, named as acme's
    assert across.exit_code == 2 and "tenant 'acme' has 0 keys with prefix" in across.stderr
    assert "keys list --tenant acme" in across.stderr
    authenticate(engine, other)

    revoked = keys("revoke", prefix, "--tenant", "acme")
    assert revoked.exit_code == 0, revoked.output
    assert revoked.stdout.strip() == f"revoked {prefix}"
    with pytest.raises(AuthError, match="invalid API key"):
        authenticate(engine, doomed)
    authenticate(engine, kept)
    rows = listed("acme")
    assert rows[prefix]["revoked"] != "-" and rows[kept[:PREFIX_LENGTH]]["revoked"] == "-"
    assert keys("revoke", prefix, "--tenant", "acme").exit_code == 0, "revoking twice is harmless"


# --- over HTTP ----------------------------------------------------------------------


def _url_of(engine: Engine) -> str:
    """The URL a second process (a replica, the CLI) would be given for ``engine``'s database."""
    if engine.dialect.name == "sqlite":
        return engine.url.render_as_string(hide_password=False)
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    return f"{postgres_test_url()}?options=-csearch_path%3D{schema}"


@pytest.fixture
def cli_on(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Callable[[Engine], None]]:
    """``cli_on(engine)``: the CLI's settings point at ``engine``'s database."""

    def point(engine: Engine) -> None:
        monkeypatch.setenv("INTRORANK_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("INTRORANK_DATABASE_URL", _url_of(engine))
        settings_module.get_settings.cache_clear()

    yield point
    settings_module.get_settings.cache_clear()
    dispose_engines()


def test_a_revoked_key_is_refused_at_once_on_every_replica(engine: Engine, model_store, live_app, cli_on) -> None:
    second = make_engine(_url_of(engine), migrate=False)  # replica 2's own pool
    settings = model_store  # an existing tracking store: the replicas only read it
    try:
        with live_app(settings, engine) as one, live_app(settings, second) as two:
            doomed = create_api_key(engine, "acme", scopes=("read",), create_tenant=True)
            kept = create_api_key(engine, "acme", scopes=("read",))
            for replica in (one, two):  # both have seen (and would have cached) the key
                for _ in range(2):
                    assert replica.client(doomed).get("/v1/model").status_code == 200

            cli_on(engine)
            result = keys("revoke", doomed[:PREFIX_LENGTH], "--tenant", "acme")
            assert result.exit_code == 0, result.output

            for replica in (one, two):
                refused = replica.client(doomed).get("/v1/model")
                assert (refused.status_code, refused.json()) == (401, {"detail": "invalid API key"})
                assert replica.client(doomed).get("/v1/owners/o1/recommendations").status_code == 401
                assert replica.client(kept).get("/v1/model").status_code == 200
    finally:
        second.dispose()


def test_each_scope_opens_only_its_own_endpoints(sqlite_engine: Engine, model_store, live_app) -> None:
    live = live_app(model_store, sqlite_engine)
    read = live.client(create_api_key(sqlite_engine, "acme", scopes=("read",), create_tenant=True))
    write = live.client(create_api_key(sqlite_engine, "acme", scopes=("write",)))
    admin = live.client(create_api_key(sqlite_engine, "acme", scopes=("admin",)))
    owner = {"goal": "job_search"}

    def refused(response, scope: str) -> bool:
        detail = f"this endpoint needs an API key with the '{scope}' scope"
        return response.status_code == 403 and response.json() == {"detail": detail}

    # read: recommendations, the model, keep-warm, score; not data, not admin
    assert read.get("/v1/model").status_code == 200
    assert refused(read.put("/v1/owners/o1", json=owner), "write")
    assert refused(read.delete("/v1/owners/o1"), "write")
    assert refused(read.post("/v1/admin/retrain"), "admin")
    assert refused(read.get("/v1/admin/policy"), "admin")

    # write: owners, contacts, events, erasure; not the admin endpoints (and not reads)
    assert write.put("/v1/owners/o1", json=owner).status_code == 200
    assert refused(write.post("/v1/admin/retrain"), "admin")
    assert refused(write.post("/v1/admin/reload"), "admin")
    assert refused(write.get("/v1/admin/policy"), "admin")
    assert refused(write.put("/v1/webhooks", json={"url": "https://crm.example/hook"}), "admin")
    assert refused(write.get("/v1/owners/o1/recommendations"), "read")
    assert read.get("/v1/owners/o1/recommendations").status_code == 200, "the write landed, read sees it"

    # admin: policy, webhooks, retrain and reload of its own tenant; not data
    assert admin.get("/v1/admin/policy").status_code == 200
    assert admin.post("/v1/admin/reload").status_code == 200
    assert refused(admin.put("/v1/owners/o2", json=owner), "write")
    assert refused(admin.get("/v1/model"), "read")
    assert read.get("/v1/owners/o2/recommendations").status_code == 404, "the refused write left nothing"


@pytest.mark.postgres
def test_last_use_is_stamped_per_store_even_behind_one_url(pg_engine: Engine) -> None:
    """Two stores behind one PostgreSQL URL (two schemas) both number their first key 1: a use in one
    must not count as the other's stamp (it did, which let a later request stamp the other's key
    in the middle of an unrelated transaction's before/after comparison)."""
    url = postgres_test_url()
    schema = f"t_{uuid.uuid4().hex}"
    with pg_engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    other = make_engine(url, schema=schema)
    try:
        first, second = create_api_key(pg_engine, "acme", create_tenant=True), create_api_key(
            other, "acme", create_tenant=True)
        used = select(ApiKey.id, ApiKey.last_used_at)
        with pg_engine.connect() as a, other.connect() as b:
            assert a.execute(used).one()[0] == b.execute(used).one()[0]  # the same key id in both stores
        authenticate(pg_engine, first)
        authenticate(other, second)
        with pg_engine.connect() as a, other.connect() as b:
            assert a.execute(used).one().last_used_at is not None
            assert b.execute(used).one().last_used_at is not None
    finally:
        other.dispose()
        with pg_engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
