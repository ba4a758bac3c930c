"""Career stage (SPEC's 1..7) from a job title, for the many exports that have a title and no stage.

No CRM export carries a career stage, but nearly all carry a job title, so the
stage features (and the article's "two or three stages ahead") would be dead on
real data without this. The reading is a short list of ordered rules over a
normalised title; each rule is a decision, and the ambiguous ones are decided
here once (``tests/test_seniority.py`` holds a few hundred titles):

- a "Manager" runs people (5), except the individual-contributor roles named
  manager (account, product, project, program, partner, customer success, ...): 3,
  moved by their level words ("Senior Product Manager" 4, "Group Product Manager" 5);
- "Managing Director", "Executive Director" (the head of a non-profit), founders,
  owners, partners, presidents, chiefs, C?Os and every VP: 7;
- at a bank (the company or industry says so), titles are inflated: "Vice
  President" is a senior individual contributor (4), "Assistant Vice President" 3,
  "Senior Vice President" and "Executive Director" 6;
- a title with several parts ("Founder & CEO", "Engineer / Team Lead", "VP, Sales")
  takes the highest stage a rule gives (a bare function like "Sales" gives none),
  except that a student or intern marker anywhere wins (1); a title no rule
  reads ("Software Engineer", "Account Executive") is a plain mid-career title (3);
- a title in another language, or one that says no job ("Retired", "Open to work"),
  is unknown (None): a wrong stage is worse than none.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

STUDENT, ENTRY, MID, SENIOR, LEAD, DIRECTOR, EXECUTIVE = range(1, 8)

# Abbreviations, token by token, after punctuation is gone.
_ABBREVIATIONS = {
    "sr": "senior", "snr": "senior", "jr": "junior", "jnr": "junior", "mgr": "manager", "mngr": "manager",
    "dir": "director", "assoc": "associate", "asst": "assistant", "exec": "executive", "eng": "engineer",
    "engr": "engineer", "dev": "developer", "mktg": "marketing", "vicepresident": "vice president",
    "cofounder": "co founder", "swe": "software engineer", "sde": "software engineer", "pm": "product manager",
    "tpm": "technical program manager", "gm": "general manager", "teamlead": "team lead",
    "techlead": "tech lead", "hrbp": "hr business partner", "ned": "non executive director",
}
_C_SUITE = frozenset({"ceo", "cto", "cfo", "coo", "cmo", "cio", "cso", "cpo", "cro", "cdo", "cco", "chro", "ciso",
                      "caio", "cxo", "cao", "cbo", "clo", "cno", "cpto", "cgo", "cvo"})
# Words of other languages' titles (accents already make a part unknown): Spanish, Portuguese,
# French, Italian, German, Dutch, Swedish.
_FOREIGN = frozenset("""
de del der die das des du la le les el los las y et und fur di da dos och og em
gerente jefe jefa directeur directrice directora diretor diretora direttore direktor direktorin
ingeniero ingeniera ingenieur ingenieurin ingegnere engenheiro engenheira desarrollador desarrolladora
programador programadora analista consultor consultora coordinador coordinadora coordenador coordenadora
asesor asesora vendedor vendedora responsable geschaftsfuhrer geschaeftsfuehrer leiter leiterin
mitarbeiter mitarbeiterin entwickler entwicklerin berater beraterin praktikant praktikantin werkstudent
werkstudentin sachbearbeiter sachbearbeiterin referent referentin stagiaire alternant estagiario estagiaria
becario becaria tirocinante presidente vicepresidente socio socia fundador fundadora fondateur fondatrice
grunder inhaber inhaberin propietario propietaria encargado encargada administrador administradora tecnico
tecnica especialista auxiliar assistente adjoint adjointe medico profesor profesora professeur docente
investigador investigadora empleado empleada amministratore delegato sviluppatore medewerker adviseur
eigenaar bedrijfsleider ontwikkelaar verkoper utvecklare konsult projektleiter projektmanager
abteilungsleiter teamleiter vertriebsleiter pdg chefe
""".split())
_NO_JOB = re.compile(r"^(retired|unemployed|self employed|between jobs|open to work|career break|none|n a|na|"
                     r"tbd|unknown|various|other|no title|not employed|homemaker|me|x)$"
                     r"|\b(seeking|looking for|open to)\b")
_NOT_THE_ROLE = re.compile(r"\b(to|for) (the )?(ceo|cto|cfo|coo|president|founders?|chairman|chair|board|"
                           r"managing director|vp|vice president|executive team|c suite)\b.*$")
_STUDENT = re.compile(r"\bstudent\b(?! (success|affairs|services|advisor|adviser|counselor|counsellor|recruit\w*|"
                      r"support|experience|life|engagement|enrol+ment|admissions|records))|\bintern\b|"
                      r"\binternship$|\b(trainee|apprentice|undergraduate|undergrad|phd candidate|"
                      r"doctoral candidate|teaching assistant)\b")
# Roles named "manager" or "partner" that run no team: renamed so the manager and partner rules skip them.
_IC_MANAGER = re.compile(r"\b(account|product|project|program|programme|community|social media|customer success|"
                         r"client success|success|relationship|territory|case|property|partner|partnerships|content|"
                         r"campaign|events?|brand|category|office|release|delivery|scrum) manager\b")
_IC_PARTNER = re.compile(r"\b(business|hr|people|talent|channel|delivery|implementation|technology|solutions?|care|"
                         r"strategic|learning|finance|recruiting|recruitment|ecosystem|alliances?|sales|account) "
                         r"partner\b")
_BANK = re.compile(r"\b(bank|banking|bancorp|banc|bankers?|capital markets|investment banking|goldman sachs|"
                   r"morgan stanley|j ?p ?morgan|jpmorgan|jpmorgan chase|citi|citigroup|citibank|barclays|hsbc|ubs|"
                   r"credit suisse|deutsche bank|bnp paribas|wells fargo|nomura|jefferies|lazard|evercore|"
                   r"santander|societe generale|natixis|mizuho|rbc capital markets|state street|bny mellon)\b")

# Ordered (pattern, stage, stage at a bank): the first match decides a part.
_RULES: tuple[tuple[re.Pattern[str], int, int], ...] = tuple(
    (re.compile(pattern), stage, bank if bank is not None else stage) for pattern, stage, bank in (
        (r"\b(executive|personal|administrative|office) assistant\b|\bassistant to\b", ENTRY, None),
        (r"\bchief of staff\b", DIRECTOR, None),
        (r"\bchief resident\b", MID, None),
        (r"\b(co )?founder\b|\bfounding partner\b", EXECUTIVE, None),
        (r"\bc (level|suite)\b", EXECUTIVE, None),
        (r"\bchief\b", EXECUTIVE, None),
        (r"\b(chairman|chairwoman|chairperson|chair|board member|board director|member of the board|"
         r"non executive director|trustee)\b", EXECUTIVE, None),
        (r"\b(assistant|associate) vice president\b|\bavp\b", DIRECTOR, MID),
        (r"\b(senior|executive|group) vice president\b|\b(svp|evp|gvp)\b", EXECUTIVE, DIRECTOR),
        (r"\bvice president\b|\b(vp|rvp)\b", EXECUTIVE, SENIOR),
        (r"\bpresident\b", EXECUTIVE, None),
        (r"\bmanaging director\b|\bdirector general\b", EXECUTIVE, None),
        (r"\bexecutive director\b", EXECUTIVE, DIRECTOR),
        (r"\b(product|process|service|data|risk|control|content|system|application|platform) owner\b", MID, None),
        (r"\b(co )?owner\b", EXECUTIVE, None),
        (r"\bpartner\b(?! (manager|marketing|success|sales|development|enablement|operations|programs?|"
         r"solutions|engineer|alliances|relations|ecosystem|integrations?|account|support|specialist|lead|"
         r"director|executive|management|icmanager))", EXECUTIVE, None),
        (r"\b(dean|provost|chancellor|rector)\b", EXECUTIVE, None),
        (r"\bassistant professor\b", SENIOR, None),
        (r"\bassociate professor\b", LEAD, None),
        (r"\bprofessor\b", DIRECTOR, None),
        (r"\b(postdoc|postdoctoral|research fellow|research assistant)\b", ENTRY, None),
        (r"\b(distinguished (engineer|scientist|architect)|technical fellow)\b", DIRECTOR, None),
        (r"\b(associate|assistant|deputy) director\b", LEAD, None),
        (r"\bart director\b", SENIOR, None),
        (r"\bdirector\b|\bgeneral manager\b", DIRECTOR, None),
        (r"\bhead\b", LEAD, None),
        (r"\bassistant (\w+ )?manager\b", SENIOR, None),
        (r"\b(group|lead) product icmanager\b", LEAD, None),
        (r"\b(manager|supervisor|foreman|superintendent)\b", LEAD, None),
        (r"\b(lead|leader)\b(?! (generation|gen|qualification|nurturing|developer))|\bmanaging\b", LEAD, None),
        (r"\b(senior|principal|expert|architect)\b|\bstaff (engineer|software|data|scientist|designer|researcher|"
         r"product|machine|ml|security|frontend|backend|site|research|infrastructure|applied)\b|\b(iii|iv|v)$",
         SENIOR, None),
        (r"\bstaff accountant\b|\b(junior|entry level|graduate|grad|associate|assistant|coordinator|receptionist)\b"
         r"|\bi$", ENTRY, None),
    )
)


def normalize_title(title: object) -> tuple[list[str], str]:
    """The title's role parts (lower-case words, abbreviations spelt out) and its " at Company" suffix.

    Case, Unicode forms, punctuation ("Sr.", "V.P.", "Co-Founder") and abbreviations are
    undone here; "&", "and", "/", "|", ";", " - " and "," split the title into parts
    (several roles, or a role and its function: "VP, Sales").
    """
    if title is None or (isinstance(title, float) and np.isnan(title)):
        return [], ""
    text = unicodedata.normalize("NFKC", str(title)).lower().strip()
    at = re.search(r"\s+(?:at|@)\s+|@", text)
    text, company = (text[:at.start()], text[at.end():]) if at else (text, "")
    text = re.sub(r"\b(?:[a-z]\.){2,}", lambda m: m.group(0).replace(".", ""), text)  # v.p. -> vp
    text = re.sub(r"\s+-\s+|[&/|;,+]|\band\b", ",", text)
    parts = []
    for part in text.split(","):
        words = re.sub(r"[^\w\s]|_", " ", part).split()
        words = " ".join(_ABBREVIATIONS.get(w, w) for w in words).split()
        if words:
            parts.append(" ".join(words))
    return parts, company.strip()


def is_bank(*texts: object) -> bool:
    """Whether a company name or an industry names a bank (where titles are inflated)."""
    return any(isinstance(t, str) and _names_bank(t) for t in texts)


@lru_cache(maxsize=65_536)
def _names_bank(text: str) -> bool:
    """``is_bank`` of one text, cached: an owner's contacts repeat a few employers and industries."""
    return _BANK.search(" ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())) is not None


def _part_stage(part: str, bank: bool) -> tuple[int, bool] | None:
    """A part's stage and whether a rule said it (False: a plain title, or a function like "Sales")."""
    if _NO_JOB.search(part) or not part.isascii() or _FOREIGN.intersection(part.split()):
        return None
    part = _NOT_THE_ROLE.sub("", part).strip()
    part = _IC_PARTNER.sub(r"\1 icpartner", _IC_MANAGER.sub(r"\1 icmanager", part))
    if not part:
        return None
    if any(w in _C_SUITE for w in part.split()):
        return EXECUTIVE, True
    for pattern, stage, at_bank in _RULES:
        if pattern.search(part):
            return (at_bank if bank else stage), True
    return MID, "icmanager" in part or "icpartner" in part


@lru_cache(maxsize=65_536)
def _stage(title: str, bank: bool) -> int | None:
    parts, company = normalize_title(title)
    bank = bank or is_bank(company)
    if _NO_JOB.search(" ".join(re.sub(r"[^\w\s]", " ", title.lower()).split())):
        return None
    if any(_STUDENT.search(p) and p.isascii() and not _FOREIGN.intersection(p.split()) for p in parts):
        return STUDENT
    read = [s for s in (_part_stage(p, bank) for p in parts) if s is not None]
    said = [stage for stage, by_rule in read if by_rule]  # "VP, Sales": the VP decides, not the plain "Sales"
    return max(said) if said else (MID if read else None)


def career_stage_from_title(title: object, company: object = None, industry: object = None) -> int | None:
    """The 1..7 career stage a job title says, or None when it says none (or not in English).

    ``company`` and ``industry`` only tell whether the employer is a bank.
    """
    if not isinstance(title, str) or not title.strip():
        return None
    return _stage(title, is_bank(company, industry))


def stages_from_titles(titles: Iterable[object], companies: Iterable[object] | None = None,
                       industries: Iterable[object] | None = None) -> np.ndarray:
    """``career_stage_from_title`` of each row as floats (NaN unknown), each distinct row parsed once."""
    title = [_text(t) for t in titles]
    company = [_text(c) for c in companies] if companies is not None else [None] * len(title)
    industry = [_text(i) for i in industries] if industries is not None else [None] * len(title)
    seen: dict[tuple[str | None, str | None, str | None], float] = {}
    out = np.full(len(title), np.nan)
    for row, key in enumerate(zip(title, company, industry, strict=True)):
        if key[0] is None:
            continue
        if key not in seen:
            stage = career_stage_from_title(*key)
            seen[key] = np.nan if stage is None else float(stage)
        out[row] = seen[key]
    return out


def _text(value: object) -> str | None:
    """Text as itself; None, NaN, pandas' NA and blanks as None."""
    return value if isinstance(value, str) and value.strip() else None
