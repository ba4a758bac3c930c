"""A tenant's stored data as the frames training reads (same columns as the CSVs)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import ColumnElement, Engine, select

from introrank.model.dataset import Dataset
from introrank.service.store.engine import find_tenant
from introrank.service.store.tables import Contact, Event, Owner


def _frame(engine: Engine, columns: list, *where: ColumnElement[bool]) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).where(*where)).all()
    return pd.DataFrame(rows, columns=[c.key for c in columns])


def load_dataset(engine: Engine, tenant: str) -> Dataset:
    with engine.connect() as conn:
        tenant_id = find_tenant(conn, tenant)
    if tenant_id is None:
        raise LookupError(f"tenant {tenant!r} has no data; import some with `introrank import`")
    owners = _frame(engine, [Owner.owner_id, Owner.career_stage, Owner.industry, Owner.goal, Owner.target_industries,
                             Owner.target_companies, Owner.title], Owner.tenant_id == tenant_id)
    contacts = _frame(engine, [Contact.owner_id, Contact.contact_id, Contact.company, Contact.industry,
                               Contact.title, Contact.career_stage, Contact.mutual_connections,
                               Contact.do_not_recommend], Contact.tenant_id == tenant_id)
    events = _frame(engine, [Event.event_id, Event.owner_id, Event.contact_id, Event.occurred_at, Event.type,
                             Event.direction, Event.useful], Event.tenant_id == tenant_id)
    return Dataset(owners, contacts, events)


def load_tenants_dataset(engine: Engine, tenants: list[str]) -> Dataset:
    """Several tenants' data as one network (a base model's training data).

    Owner ids are scoped by tenant, so with more than one tenant each becomes
    ``<tenant>/<owner_id>`` and two tenants' owners never merge.
    """
    if len(tenants) == 1:
        return load_dataset(engine, tenants[0])
    parts = []
    for tenant in tenants:
        data = load_dataset(engine, tenant)
        parts.append([frame.assign(owner_id=tenant + "/" + frame["owner_id"].astype(str))
                      for frame in (data.owners, data.contacts, data.events)])
    owners, contacts, events = (pd.concat(frames, ignore_index=True) for frames in zip(*parts, strict=True))
    return Dataset(owners, contacts, events)
