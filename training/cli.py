"""The ``introrank`` command line: thin Typer commands over the stage modules.

Heavy imports happen inside each command so ``introrank --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from model.constants import DEFAULT_TENANT

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
    from training.simulate import simulate_network, write_network

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
) -> None:
    """Load CRM export CSVs into the store (idempotent; a bad row aborts its file)."""
    from service.csv_import import CsvImportError, import_csvs
    from service.db import get_engine
    from service.settings import get_settings

    if not any((owners, contacts, events)):
        _fail("give at least one of --owners, --contacts, --events")
    engine = get_engine(get_settings())
    try:
        report = import_csvs(
            engine, tenant=tenant, owners=owners, contacts=contacts, events=events, mapping=mapping
        )
    except CsvImportError as exc:
        _fail(str(exc))
    typer.echo(report.summary())


if __name__ == "__main__":  # pragma: no cover
    app()
