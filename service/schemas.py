"""Request and response bodies, named by role (XBase, XUpsert, XPublic).

The field names are the CRM-facing interface (SPEC): keep them.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from introrank.model.constants import DEFAULT_K, MAX_STAGE, MIN_STAGE
from introrank.model.grammar import (
    ID_PATTERN,
    MAX_ID_LENGTH,
    MAX_LIST_ITEMS,
    MAX_MUTUAL_CONNECTIONS,
    MAX_TEXT_LENGTH,
    as_of_problem,
    id_problem,
    occurred_at_problem,
    text_problem,
)

GoalName = Literal["job_search", "skill_building", "business_growth", "career_support"]
EventType = Literal["touch", "message", "meeting", "give", "ask", "intro", "referral"]
Direction = Literal["out", "in"]
ActionType = Literal["ask", "give_first", "warm_up"]
Stage = Field(default=None, ge=MIN_STAGE, le=MAX_STAGE, description="1 student ... 7 executive")
MAX_EVENTS_PER_BATCH = 10_000
MAX_CONTACTS_PER_BATCH = 10_000


def _valid_id(value: str) -> str:
    if problem := id_problem(value):
        raise ValueError(problem)
    return value


def _valid_text(value: str) -> str:
    if problem := text_problem(value):
        raise ValueError(problem)
    return value


def _valid_time(value: datetime) -> datetime:
    if problem := occurred_at_problem(value.timestamp()):
        raise ValueError(problem)
    return value


def _valid_as_of(value: datetime) -> datetime:
    if problem := as_of_problem(value.timestamp()):
        raise ValueError(problem)
    return value


# The grammar of model/grammar.py; the JSON schema states it for clients and fuzzers.
ExternalId = Annotated[str, AfterValidator(_valid_id), WithJsonSchema(
    {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": ID_PATTERN})]
Text = Annotated[str, Field(max_length=MAX_TEXT_LENGTH), AfterValidator(_valid_text)]
TextList = Annotated[list[Text], Field(max_length=MAX_LIST_ITEMS)]
EventTime = Annotated[AwareDatetime, AfterValidator(_valid_time)]
AsOfTime = Annotated[AwareDatetime, AfterValidator(_valid_as_of)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OwnerBase(Strict):
    career_stage: int | None = Stage
    title: Text | None = Field(default=None, description="Job title; the career stage is read from it when empty")
    industry: Text | None = None
    goal: GoalName
    target_industries: TextList = Field(default_factory=list)
    target_companies: TextList = Field(default_factory=list)


class OwnerUpsert(OwnerBase):
    pass


class OwnerPublic(OwnerBase):
    owner_id: str


class ContactBase(Strict):
    name: Text | None = Field(default=None, description="PII: stored, never logged")
    company: Text | None = None
    industry: Text | None = None
    title: Text | None = Field(default=None, description="Job title; the career stage is read from it when empty")
    career_stage: int | None = Stage
    tags: TextList = Field(default_factory=list)
    mutual_connections: int | None = Field(default=None, ge=0, le=MAX_MUTUAL_CONNECTIONS)
    do_not_recommend: bool = False


class ContactUpsert(ContactBase):
    pass


class ContactItem(ContactBase):
    contact_id: ExternalId


class ContactBatch(Strict):
    contacts: list[ContactItem] = Field(max_length=MAX_CONTACTS_PER_BATCH)


class UpsertResult(BaseModel):
    upserted: int


class EventIn(Strict):
    event_id: ExternalId
    owner_id: ExternalId
    contact_id: ExternalId
    occurred_at: EventTime
    type: EventType
    direction: Direction
    useful: bool | None = None


class EventBatch(Strict):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class EventConflict(BaseModel):
    index: int = Field(description="Position of the event in the batch")
    event_id: str
    fields: list[str] = Field(description="Where it differs from the stored event (or from the id's first "
                              "occurrence in the batch)")


class EventBatchResult(BaseModel):
    inserted: int
    duplicates: int = Field(description="Events already stored (or earlier in the batch) with the same payload")
    conflicts: list[EventConflict] = Field(
        default_factory=list, description="Events whose event_id is stored (or earlier in the batch) with a "
        "different payload: not written, the stored event stands")


FeedbackOutcome = Literal["contacted", "intro_made", "useful", "not_useful", "ignored"]


class FeedbackIn(Strict):
    recommendation_id: ExternalId | None = None
    owner_id: ExternalId
    contact_id: ExternalId
    outcome: FeedbackOutcome
    occurred_at: EventTime | None = None
    event_id: ExternalId | None = Field(default=None, description="The intro/referral event this judges, if any")


class FeedbackResult(BaseModel):
    feedback_id: int


class ActionPublic(BaseModel):
    type: ActionType
    reason: str


class RecommendationItem(BaseModel):
    recommendation_id: str
    contact_id: str
    rank: int
    probability: float
    reasons: list[str]
    action: ActionPublic


class RecommendationsPublic(BaseModel):
    owner_id: str
    as_of: AwareDatetime
    model_version: str
    goal: GoalName
    recommendations: list[RecommendationItem]


class ModelPublic(BaseModel):
    model_version: str
    heuristic: bool
    trained_at: AwareDatetime | None = None
    run_id: str | None = None
    objective: str | None = None
    feature_schema_version: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    problem: str | None = None


class Deleted(BaseModel):
    deleted: bool = True


MAX_SCORE_CONTACTS = 5_000
MAX_SCORE_EVENTS = 200_000


class ScoreOwner(OwnerBase):
    owner_id: ExternalId = "owner"


class ScoreEvent(Strict):
    contact_id: ExternalId
    occurred_at: EventTime
    type: EventType
    direction: Direction
    useful: bool | None = None
    event_id: ExternalId | None = None


class ScoreRequest(Strict):
    """Everything needed to rank one owner's contacts; nothing of it is stored."""

    owner: ScoreOwner
    contacts: list[ContactItem] = Field(max_length=MAX_SCORE_CONTACTS)
    events: list[ScoreEvent] = Field(max_length=MAX_SCORE_EVENTS)
    k: int = Field(default=10, ge=1, le=100)
    goal: GoalName | None = None
    as_of: AsOfTime | None = None


class KeepWarmItem(BaseModel):
    contact_id: str
    rank: int
    probability_now: float
    probability_if_cold: float = Field(description="The model's score after 60 more days without contact")
    at_stake: float = Field(description="probability_now - probability_if_cold")
    goes_cold_on: AwareDatetime
    touch: str = Field(description="A low-effort touch to send now")


class KeepWarmPublic(BaseModel):
    owner_id: str
    as_of: AwareDatetime
    model_version: str
    keep_warm: list[KeepWarmItem]


class PolicyUpdate(Strict):
    """Fields left out keep their value; null resets one to the product default."""

    impression_decay: float | None = Field(default=None, gt=0, le=1,
                                           description="Score factor per unanswered impression (1 = off)")
    max_per_company: int | None = Field(default=None, ge=1, le=100)
    ask_cooldown_days: float | None = Field(default=None, ge=0, le=365)


class PolicyPublic(BaseModel):
    impression_decay: float
    max_per_company: int
    ask_cooldown_days: float


# --- jobs ---

class JobPublic(BaseModel):
    job_id: str
    kind: str
    state: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: dict[str, Any] = {}
    error: str | None = None


# --- webhooks ---

MAX_URL_LENGTH = 2048  # the width of webhooks.url
WEBHOOK_SECRET_PREFIX = "whsec_"


class WebhookUpsert(Strict):
    url: AnyHttpUrl = Field(description="https URL (http only where the operator allows it) with a public "
                            "address, receiving one signed POST per changed list")
    secret: str | None = Field(
        default=None, max_length=200,
        description="Standard Webhooks signing secret, 'whsec_' + base64 of 24 to 64 random bytes; never returned. "
        "Leave it out to have one generated (returned once, in this response); an existing webhook on the same "
        "URL keeps its secret")
    k: int = Field(default=DEFAULT_K, ge=1, le=100, description="Contacts per pushed list")

    @field_validator("url")
    @classmethod
    def _fits(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(url)) > MAX_URL_LENGTH:
            raise ValueError(f"url longer than {MAX_URL_LENGTH} characters")
        return url

    @field_validator("secret")
    @classmethod
    def _standard_secret(cls, secret: str | None) -> str | None:
        """The spec's format, so the receiver's Standard Webhooks tooling takes the same string."""
        if secret is None:
            return None
        try:
            key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
        except ValueError:
            key = b""
        if not secret.startswith(WEBHOOK_SECRET_PREFIX) or not 24 <= len(key) <= 64:
            raise ValueError("secret must be 'whsec_' followed by the base64 of 24 to 64 random bytes")
        return secret


class WebhookPublic(BaseModel):
    url: str
    k: int
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str | None = Field(default=None, description="The generated signing secret, shown this once; "
                               "null when the request brought its own (or kept the current one)")


class DeliveryPublic(BaseModel):
    digest_id: str
    owner_id: str
    status: Literal["delivered", "failed", "sending"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    model_version: str
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


class DeliveryList(BaseModel):
    deliveries: list[DeliveryPublic]
