"""The ``introrank`` command line: thin Typer commands over the stage modules.

Heavy imports happen inside each command so ``introrank --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from introrank.model.constants import DEFAULT_TENANT

app = typer.Typer(help="introrank: who should I contact next?", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@app.command()
def simulate(
    owners: Annotated[int, typer.Option(help="Number of owners to simulate.")] = 20,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same bytes.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for the CSVs.")] = Path("data/sim"),
    months: Annotated[int, typer.Option(help="Months of history.")] = 12,
) -> None:
    """Write owners.csv, contacts.csv, events.csv and oracle.csv for a synthetic population."""
    from introrank.training.simulate import simulate_network, write_network

    network = simulate_network(n_owners=owners, seed=seed, months=months, progress=True)
    paths = write_network(network, out)
    for path in paths:
        typer.echo(f"wrote {path}")


@app.command("import")
def import_(
    owners: Annotated[Path | None, typer.Option(help="owners.csv")] = None,
    contacts: Annotated[Path | None, typer.Option(help="contacts.csv")] = None,
    events: Annotated[Path | None, typer.Option(help="events.csv")] = None,
    tenant: Annotated[str, typer.Option(help="Tenant to import into.")] = DEFAULT_TENANT,
    mapping: Annotated[Path | None, typer.Option(help="Column mapping for a foreign CRM export.")] = None,
    linkedin: Annotated[Path | None, typer.Option(help="A LinkedIn data export: the folder or the ZIP of "
                                                  "'Get a copy of your data'. Needs --owner-id.")] = None,
    owner_id: Annotated[str | None, typer.Option(help="With --linkedin: the owner whose archive it is.")] = None,
    owner_url: Annotated[str | None, typer.Option(help="With --linkedin: your own profile URL, which tells the "
                                                  "messages you sent (found in the archive when not given).")] = None,
    goal: Annotated[str, typer.Option(help="With --linkedin: the owner's goal (job_search, skill_building, "
                                      "business_growth, career_support).")] = "job_search",
    career_stage: Annotated[int | None, typer.Option(
        min=1, max=7, help="With --linkedin: the owner's career stage, 1 student .. 7 executive "
        "(kept as stored if not given).")] = None,
    industry: Annotated[str | None, typer.Option(help="With --linkedin: the owner's industry.")] = None,
) -> None:
    """Load CRM export CSVs, or a LinkedIn archive, into the store (idempotent; a bad row aborts the import)."""
    from introrank.service.settings import get_settings
    from introrank.service.store.csv_import import CsvImportError, import_csvs
    from introrank.service.store.engine import get_engine

    if linkedin is not None:
        if any((owners, contacts, events, mapping)):
            _fail("--linkedin reads the whole archive: give it without --owners, --contacts, --events, --mapping")
        if owner_id is None:
            _fail("--linkedin needs --owner-id: the owner whose archive it is")
    elif not any((owners, contacts, events)):
        _fail("give at least one of --owners, --contacts, --events (or --linkedin DIR --owner-id ME)")
    engine = get_engine(get_settings())
    try:
        if linkedin is not None:
            from introrank.service.store.csv_import.linkedin import import_linkedin

            report = import_linkedin(engine, tenant, linkedin, owner_id, owner_url=owner_url, goal=goal,
                                     career_stage=career_stage, industry=industry)
        else:
            report = import_csvs(
                engine, tenant=tenant, owners=owners, contacts=contacts, events=events, mapping=mapping
            )
    except CsvImportError as exc:
        _fail(str(exc))
    typer.echo(report.summary())


@app.command()
def recommend(
    owner_id: Annotated[str, typer.Option(help="The owner whose list to show.")],
    tenant: Annotated[str, typer.Option(help="Tenant of the owner.")] = DEFAULT_TENANT,
    k: Annotated[int, typer.Option(min=1, max=100, help="Contacts in the list.")] = 10,
    goal: Annotated[str | None, typer.Option(help="Rank for this goal instead of the owner's.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """Print the owner's ranked list from the store, as the service would serve it (nothing is logged as shown).

    The tenant's champion ranks it, else the base model, else the heuristic (model_version says which).
    """
    import json

    from introrank.service.serving.model_holder import load_served_model
    from introrank.service.serving.recommend import recommend as rank_owner
    from introrank.service.settings import get_settings
    from introrank.service.store.engine import find_tenant, get_engine

    settings = get_settings()
    engine = get_engine(settings)
    with engine.connect() as conn:
        tenant_id = find_tenant(conn, tenant)
        if tenant_id is None:
            _fail(f"unknown tenant {tenant!r}")
        try:
            result = rank_owner(conn, tenant_id, owner_id, load_served_model(settings, tenant), k, goal)
        except LookupError as exc:
            _fail(str(exc.args[0]) if exc.args else str(exc))
    items = [{"rank": it.rank, "contact_id": it.contact_id, "probability": round(it.probability, 4),
              "action": it.action_type, "reasons": it.reasons} for it in result.items]
    if json_out:
        typer.echo(json.dumps({"owner_id": owner_id, "model_version": result.model_version, "goal": result.goal,
                               "recommendations": items}))
        return
    typer.echo(f"owner {owner_id} (goal {result.goal}), ranked by model {result.model_version}")
    for it in items:
        typer.echo(f"{it['rank']:>3}  {it['contact_id']:<32} p={it['probability']:.3f}  {it['action']:<10} "
                   f"{'; '.join(it['reasons'])}")


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _load_dataset(data: Path | None, db: str | None, tenants: list[str], oracle: Path | None):
    from introrank.training.datasets import load_csv_dir, load_oracle

    if data is not None and db is not None:
        _fail("give --data or --db, not both")
    if data is not None:
        dataset = load_csv_dir(data)
    else:
        from introrank.service.settings import get_settings
        from introrank.service.store.engine import get_engine, make_engine
        from introrank.service.store.frames import load_tenants_dataset

        engine = make_engine(db) if db else get_engine(get_settings())
        try:
            dataset = load_tenants_dataset(engine, tenants)
        except LookupError as exc:
            _fail(str(exc))
    if oracle is not None:
        from dataclasses import replace

        dataset = replace(dataset, oracle=load_oracle(oracle))
    return dataset


DataOpt = Annotated[Path | None, typer.Option(help="Folder with owners/contacts/events CSVs.")]
DbOpt = Annotated[str | None, typer.Option(help="Database URL to read (default: the configured store).")]
TenantOpt = Annotated[str, typer.Option(help="Tenant whose data to use.")]
TenantsOpt = Annotated[list[str] | None, typer.Option(
    "--tenant", help="Tenant whose data to train on and whose model to register (default: the default tenant); "
    "repeat it with --base.")]
BaseOpt = Annotated[bool, typer.Option("--base", help="Register the operator's base model (served to tenants "
                                                     "without a model of their own), trained on every --tenant.")]
OracleOpt = Annotated[Path | None, typer.Option(help="oracle.csv from the simulator, for the ceiling.")]
PositiveOpt = Annotated[str, typer.Option(help="Outcome events, e.g. intro,referral or message:in.")]
HorizonOpt = Annotated[int, typer.Option(help="Label horizon H in days.")]
CutOpt = Annotated[int, typer.Option(help="Days between snapshot cuts.")]


def _snapshot_config(positive: str, horizon_days: int, cut_every_days: int):
    from introrank.training.snapshots import SnapshotConfig, parse_positive

    try:
        return SnapshotConfig(cut_every_days, horizon_days, parse_positive(positive))
    except ValueError as exc:
        _fail(str(exc))


def _run_training(data: Path | None, db: str | None, tenants: list[str], oracle: Path | None, positive: str,
                  horizon_days: int, cut_every_days: int, register: bool, dask_scheduler: str | None = None,
                  base: bool = False):
    """What `train` and `evaluate` share: load, (optionally) connect to Dask, train, evaluate.

    The model is registered as the one tenant's, or with ``base`` as the base model
    trained on every tenant named.
    """
    from introrank.service.settings import get_settings
    from introrank.training.pipeline import run_training

    if not base and len(tenants) != 1:
        _fail("a tenant's model trains on that tenant's data: give one --tenant, or --base for a base model")
    if data is not None and len(tenants) != 1:
        _fail("--data is one network: give one --tenant with it")
    dataset = _load_dataset(data, db, tenants, oracle)
    config = _snapshot_config(positive, horizon_days, cut_every_days)
    client = None
    if dask_scheduler:
        from introrank.training.distributed import connect

        client = connect(dask_scheduler)
    try:
        return run_training(dataset, get_settings(), config, register=register, console=_console(),
                            dask_client=client, tenant=None if base else tenants[0], trained_on=tenants)
    except ValueError as exc:
        _fail(str(exc))
    finally:
        if client is not None:
            client.close()


JsonOpt = Annotated[bool, typer.Option("--json", help="Print the results as JSON.")]


@app.command()
def train(
    data: DataOpt = None,
    db: DbOpt = None,
    tenant: TenantsOpt = None,
    base: BaseOpt = False,
    oracle: OracleOpt = None,
    positive: PositiveOpt = "intro,referral",
    horizon_days: HorizonOpt = 90,
    cut_every_days: CutOpt = 30,
    json_out: JsonOpt = False,
    dask_scheduler: Annotated[str | None, typer.Option(help=(
        "Dask scheduler address: snapshots and training run on that cluster. Every local candidate "
        "(lambdarank and binary, each at every recency-prior strength) is grown with lightgbm.dask and "
        "picked by the same validation NDCG@10; lightgbm.dask has no early stopping, so each booster "
        "grows all its trees and is cut back where early stopping would have stopped it."))] = None,
) -> None:
    """Train, evaluate, log to MLflow, register, and promote only if better than the champion.

    The version goes to the tenant's own model (introrank-<tenant>), or with --base to the base model.
    """
    from rich.console import Console

    from introrank.training.pipeline import print_outcome

    outcome = _run_training(data, db, tenant or [DEFAULT_TENANT], oracle, positive, horizon_days, cut_every_days,
                            True, dask_scheduler, base)
    if json_out:
        typer.echo(outcome.to_json())
    else:
        print_outcome(outcome, Console(width=200))


@app.command()
def evaluate(
    data: DataOpt = None,
    db: DbOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    oracle: OracleOpt = None,
    positive: PositiveOpt = "intro,referral",
    horizon_days: HorizonOpt = 90,
    cut_every_days: CutOpt = 30,
    json_out: JsonOpt = False,
) -> None:
    """Train and evaluate every ranker on the test cuts without registering anything."""
    from introrank.training.evaluate import format_table

    outcome = _run_training(data, db, [tenant], oracle, positive, horizon_days, cut_every_days, False)
    typer.echo(outcome.to_json() if json_out else format_table(outcome.table))


@app.command()
def retrain(
    tenant: TenantOpt = DEFAULT_TENANT,
    positive: PositiveOpt = "intro,referral",
    horizon_days: HorizonOpt = 90,
    cut_every_days: CutOpt = 30,
    json_out: JsonOpt = False,
) -> None:
    """Retrain on the store's events and feedback; promote only if better on the newest held-out cuts.

    A running service picks a promoted champion up on `POST /v1/admin/reload` or its poll interval.
    """
    from introrank.service.settings import get_settings
    from introrank.service.store.engine import get_engine
    from introrank.training.pipeline import print_outcome
    from introrank.training.retrain import retrain as run_retrain

    settings = get_settings()
    try:
        outcome = run_retrain(get_engine(settings), settings, tenant,
                              _snapshot_config(positive, horizon_days, cut_every_days), console=_console())
    except (ValueError, LookupError) as exc:
        _fail(str(exc))
    if json_out:
        typer.echo(outcome.to_json())
    else:
        from rich.console import Console

        print_outcome(outcome, Console(width=200))


@app.command()
def demo(
    owners: Annotated[int, typer.Option(help="Owners to simulate.")] = 100,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 42,
    host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the model at the end.")] = True,
) -> None:
    """Simulate, import, train, register, and serve the demo model with a ready-to-paste curl."""
    from rich.console import Console

    from introrank.demo import run_demo, with_demo_secret_key
    from introrank.service.settings import get_settings

    console = Console(width=200)
    curl = run_demo(with_demo_secret_key(get_settings()), owners, seed, host, port, console)
    console.print("\nTry it (in another terminal):\n", style="bold")
    typer.echo(curl)
    if serve_after:
        console.print(f"\nserving on http://{host}:{port} (docs: http://{host}:{port}/docs); Ctrl-C stops")
        serve(host=host, port=port, workers=1, worker=True)


@keys_app.command("create")
def keys_create(
    tenant: TenantOpt = DEFAULT_TENANT,
    scope: Annotated[list[str] | None, typer.Option(help="read, write or admin; repeat for several "
                                                        "(default: read and write).")] = None,
    admin: Annotated[bool, typer.Option(help="Shorthand for adding --scope admin.")] = False,
    create_tenant: Annotated[bool, typer.Option(help="Create the tenant if it does not exist yet.")] = False,
) -> None:
    """Create an API key; it is printed once, alone on stdout, and only its hash is stored."""
    from introrank.service.settings import get_settings
    from introrank.service.store.engine import get_engine
    from introrank.service.store.keys import create_api_key

    try:
        key = create_api_key(get_engine(get_settings()), tenant, admin, tuple(scope) if scope else None,
                             create_tenant=create_tenant)
    except (ValueError, LookupError) as exc:
        _fail(str(exc.args[0]) if exc.args else str(exc))
    typer.echo(key)


@keys_app.command("list")
def keys_list(tenant: TenantOpt = DEFAULT_TENANT) -> None:
    """The tenant's keys: prefix, scopes, created, last used (to the minute), revoked."""
    from introrank.service.settings import get_settings
    from introrank.service.store.engine import get_engine
    from introrank.service.store.keys import list_keys

    def when(value) -> str:  # noqa: ANN001
        return value.strftime("%Y-%m-%d %H:%M") if value else "-"

    typer.echo(f"{'prefix':<14}{'scopes':<18}{'created':<18}{'last used':<18}revoked")
    for key in list_keys(get_engine(get_settings()), tenant):
        typer.echo(f"{key.prefix:<14}{','.join(key.scopes):<18}{when(key.created_at):<18}"
                   f"{when(key.last_used_at):<18}{when(key.revoked_at)}")


@keys_app.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix, as `keys list` shows it.")],
                tenant: TenantOpt = DEFAULT_TENANT) -> None:
    """Revoke a key: every replica refuses it (401) from the next request on."""
    from introrank.service.settings import get_settings
    from introrank.service.store.engine import get_engine
    from introrank.service.store.keys import revoke_key

    try:
        info = revoke_key(get_engine(get_settings()), tenant, prefix)
    except LookupError as exc:
        _fail(str(exc.args[0]))
    typer.echo(f"revoked {info.prefix}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Uvicorn worker processes.")] = 1,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="Also run a job worker (retrains) as a "
                                         "child process; --no-worker when `introrank worker` runs elsewhere.")] = True,
    http: Annotated[str, typer.Option(help="Uvicorn HTTP parser: auto (httptools when installed), h11, "
                                      "httptools.")] = "auto",
    loop: Annotated[str, typer.Option(help="Uvicorn event loop: auto (uvloop when installed), asyncio, "
                                      "uvloop.")] = "auto",
) -> None:
    """Serve the HTTP API (each tenant's champion, else the base model, else the heuristic)."""
    from introrank.server import serve as run_server

    run_server(host, port, workers, with_worker=worker, http=http, loop=loop)


@app.command("worker")
def worker_command(
    once: Annotated[bool, typer.Option(help="Run the queued jobs, then exit.")] = False,
    poll_seconds: Annotated[float, typer.Option(help="Seconds between looks at an empty queue.")] = 1.0,
) -> None:
    """Run queued retrain jobs from the store (started by `introrank serve`; run it alone in a deployment)."""
    from introrank.service.api.observability import configure_logging
    from introrank.service.settings import get_settings
    from introrank.service.store.engine import get_engine
    from introrank.worker import run_worker

    settings = get_settings()
    configure_logging(settings.log_level)
    try:
        run_worker(get_engine(settings), settings, once=once, poll_seconds=poll_seconds)
    except KeyboardInterrupt:
        pass


@app.command()
def push(
    tenant: TenantOpt = DEFAULT_TENANT,
    k: Annotated[int | None, typer.Option(min=1, max=100, help="Contacts per list (default: the webhook's k).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per HTTP attempt.")] = 5.0,
    attempts: Annotated[int, typer.Option(min=1, help="Tries per list (5xx, 429 and timeouts are retried).")] = 4,
    base_delay: Annotated[float, typer.Option(help="Backoff: wait base-delay * 2^n before retry n+1.")] = 0.5,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Send each owner's current top-k to the tenant's webhook, signed; unchanged lists are not re-sent.

    Exits 1 when a list could not be delivered (it is tried again on the next push).
    """
    import json

    from introrank.service.integrations.webhooks import NoWebhookError, push_recommendations
    from introrank.service.settings import get_settings
    from introrank.service.store.engine import find_tenant, get_engine
    from introrank.service.store.secret_box import SecretKeyMissing, SecretUnreadable

    settings = get_settings()
    engine = get_engine(settings)
    with engine.connect() as conn:
        tenant_id = find_tenant(conn, tenant)
    if tenant_id is None:
        _fail(f"unknown tenant {tenant!r}")
    try:
        report = push_recommendations(engine, settings, tenant_id, k=k, timeout=timeout, attempts=attempts,
                                      base_delay=base_delay)
    except NoWebhookError:
        _fail(f"tenant {tenant!r} has no webhook; register one with PUT /v1/webhooks")
    except (SecretKeyMissing, SecretUnreadable) as exc:
        _fail(str(exc))
    typer.echo(json.dumps(report.to_dict()) if json_out else report.summary())
    if report.failed:
        raise typer.Exit(code=1)


if __name__ == "__main__":  # pragma: no cover
    app()
