"""Owners, contacts, events, feedback and erasure: thin routes over ``introrank.service.store.writes``."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path

from introrank.service.api.deps import CachesDep, EngineDep, MetricsDep, ServedLogDep, WriteDep
from introrank.service.schemas import (
    ContactBatch,
    ContactItem,
    ContactUpsert,
    Deleted,
    EventBatch,
    EventBatchResult,
    ExternalId,
    FeedbackIn,
    FeedbackResult,
    OwnerPublic,
    OwnerUpsert,
    UpsertResult,
)
from introrank.service.store import writes as store
from introrank.service.store.concurrency import run_write

router = APIRouter(prefix="/v1", tags=["data"])
log = logging.getLogger("introrank.ingest")
OwnerId = Annotated[ExternalId, Path()]
ContactId = Annotated[ExternalId, Path()]


@router.put("/owners/{owner_id}", response_model=OwnerPublic)
def upsert_owner(owner_id: OwnerId, body: OwnerUpsert, principal: WriteDep, engine: EngineDep) -> OwnerPublic:
    run_write(engine, lambda conn: store.upsert_owner(conn, principal.tenant_id, owner_id, body))
    return OwnerPublic(owner_id=owner_id, **body.model_dump())


@router.put("/owners/{owner_id}/contacts/{contact_id}", response_model=UpsertResult)
def upsert_contact(owner_id: OwnerId, contact_id: ContactId, body: ContactUpsert, principal: WriteDep,
                   engine: EngineDep) -> UpsertResult:
    item = ContactItem(contact_id=contact_id, **body.model_dump())
    return UpsertResult(upserted=run_write(engine, lambda conn: store.upsert_contacts(
        conn, principal.tenant_id, owner_id, [item])))


@router.put("/owners/{owner_id}/contacts", response_model=UpsertResult)
def upsert_contacts(owner_id: OwnerId, body: ContactBatch, principal: WriteDep,
                    engine: EngineDep) -> UpsertResult:
    return UpsertResult(upserted=run_write(engine, lambda conn: store.upsert_contacts(
        conn, principal.tenant_id, owner_id, body.contacts)))


@router.post("/events", response_model=EventBatchResult)
def post_events(body: EventBatch, principal: WriteDep, engine: EngineDep,
                metrics: MetricsDep) -> EventBatchResult:
    """A bad item refuses the whole batch; replaying a batch inserts nothing and reports duplicates.

    An event_id already stored with another payload is listed in ``conflicts``
    (not written, not a duplicate), so a CRM that edited an event hears of it.
    """
    inserted, duplicates, conflicts = run_write(engine, lambda conn: store.insert_events(
        conn, principal.tenant_id, body.events))
    metrics.events.labels(result="inserted").inc(inserted)
    metrics.events.labels(result="duplicate").inc(duplicates)
    metrics.events.labels(result="conflict").inc(len(conflicts))
    log.info("events ingested", extra={"inserted": inserted, "duplicates": duplicates,
                                       "conflicts": len(conflicts), "tenant_id": principal.tenant_id})
    return EventBatchResult(inserted=inserted, duplicates=duplicates, conflicts=conflicts)


@router.post("/feedback", response_model=FeedbackResult, status_code=201)
def post_feedback(body: FeedbackIn, principal: WriteDep, engine: EngineDep,
                  served_log: ServedLogDep) -> FeedbackResult:
    served_log.flush(principal.tenant_id, body.owner_id)  # a list served here, not logged yet: feedback finds it
    return FeedbackResult(feedback_id=run_write(engine, lambda conn: store.add_feedback(
        conn, principal.tenant_id, body)))


@router.delete("/owners/{owner_id}", response_model=Deleted)
def delete_owner(owner_id: OwnerId, principal: WriteDep, engine: EngineDep, caches: CachesDep,
                 served_log: ServedLogDep) -> Deleted:
    """Erasure: the rows go in one transaction, then this process's cached copies of them at once
    (other processes never trust theirs again: the owner's incarnation id is gone with the row)."""
    served_log.flush(principal.tenant_id, owner_id)  # erased means erased: no list of theirs written after it
    run_write(engine, lambda conn: store.delete_owner(conn, principal.tenant_id, owner_id))
    caches.forget_owner(principal.tenant_id, owner_id)
    return Deleted()


@router.delete("/owners/{owner_id}/contacts/{contact_id}", response_model=Deleted)
def delete_contact(owner_id: OwnerId, contact_id: ContactId, principal: WriteDep, engine: EngineDep,
                   caches: CachesDep, served_log: ServedLogDep) -> Deleted:
    """The contact's rows go, and so do this process's cached lists and profiles of its owner."""
    served_log.flush(principal.tenant_id, owner_id)  # erased means erased: no list of theirs written after it
    run_write(engine, lambda conn: store.delete_contact(conn, principal.tenant_id, owner_id, contact_id))
    caches.forget_owner(principal.tenant_id, owner_id)
    return Deleted()
