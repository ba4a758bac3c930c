"""Names every module shares: CSV columns, event types, goals and defaults.

They are interfaces (CRM exports, API bodies, MLflow params) so they live in one
place and are imported, never retyped.
"""

from __future__ import annotations

# --- event vocabulary -------------------------------------------------------
TOUCH, MESSAGE, MEETING, GIVE, ASK, INTRO, REFERRAL = (
    "touch",
    "message",
    "meeting",
    "give",
    "ask",
    "intro",
    "referral",
)
EVENT_TYPES: tuple[str, ...] = (TOUCH, MESSAGE, MEETING, GIVE, ASK, INTRO, REFERRAL)
EVENT_TYPE_CODES: dict[str, int] = {name: code for code, name in enumerate(EVENT_TYPES)}
OUT, IN = "out", "in"
DIRECTIONS: tuple[str, ...] = (OUT, IN)
DIRECTION_CODES: dict[str, int] = {OUT: 0, IN: 1}

# --- owner goals (the article's four purposes) -------------------------------
JOB_SEARCH, SKILL_BUILDING, BUSINESS_GROWTH, CAREER_SUPPORT = (
    "job_search",
    "skill_building",
    "business_growth",
    "career_support",
)
GOALS: tuple[str, ...] = (JOB_SEARCH, SKILL_BUILDING, BUSINESS_GROWTH, CAREER_SUPPORT)

# --- career stages -----------------------------------------------------------
MIN_STAGE, MAX_STAGE = 1, 7
CAREER_STAGES: dict[int, str] = {
    1: "student",
    2: "entry",
    3: "mid",
    4: "senior",
    5: "lead/manager",
    6: "director",
    7: "executive",
}

# --- CSV import format (SPEC "CSV import format") -----------------------------
OWNER_ID, CONTACT_ID, EVENT_ID = "owner_id", "contact_id", "event_id"
OCCURRED_AT, TYPE, DIRECTION, USEFUL = "occurred_at", "type", "direction", "useful"
CAREER_STAGE, INDUSTRY, GOAL = "career_stage", "industry", "goal"
TARGET_INDUSTRIES, TARGET_COMPANIES = "target_industries", "target_companies"
COMPANY, TITLE, NAME, TAGS = "company", "title", "name", "tags"
MUTUAL_CONNECTIONS, DO_NOT_RECOMMEND = "mutual_connections", "do_not_recommend"
LIST_SEPARATOR = ";"

OWNER_REQUIRED_COLUMNS = (OWNER_ID, CAREER_STAGE, INDUSTRY, GOAL)
OWNER_OPTIONAL_COLUMNS = (TARGET_INDUSTRIES, TARGET_COMPANIES, TITLE)  # title: where the stage is empty
CONTACT_REQUIRED_COLUMNS = (OWNER_ID, CONTACT_ID, COMPANY, INDUSTRY, TITLE, CAREER_STAGE)
CONTACT_OPTIONAL_COLUMNS = (NAME, TAGS, DO_NOT_RECOMMEND, MUTUAL_CONNECTIONS)
EVENT_REQUIRED_COLUMNS = (EVENT_ID, OWNER_ID, CONTACT_ID, OCCURRED_AT, TYPE, DIRECTION)
EVENT_OPTIONAL_COLUMNS = (USEFUL,)
ORACLE_COLUMNS = (OWNER_ID, CONTACT_ID, "cut", "probability")

OWNERS_CSV, CONTACTS_CSV, EVENTS_CSV, ORACLE_CSV = (
    "owners.csv",
    "contacts.csv",
    "events.csv",
    "oracle.csv",
)

# --- learning defaults -------------------------------------------------------
DEFAULT_K = 10
DEFAULT_HORIZON_DAYS = 90
DEFAULT_CUT_EVERY_DAYS = 30
DEFAULT_POSITIVE = ((INTRO, None), (REFERRAL, None))  # (type, direction or None = any)
DEFAULT_TENANT = "default"
MODEL_NAME = "introrank"  # registered models are introrank-<tenant> and introrank-base
BASE_MODEL = "base"  # the operator-trained model of tenants without one of their own; not a tenant name
CHAMPION_ALIAS = "champion"
HEURISTIC_VERSION = "heuristic"

# --- re-ranking defaults -----------------------------------------------------
DEFAULT_MAX_PER_COMPANY = 2
DEFAULT_ASK_COOLDOWN_DAYS = 30
