"""Rules of campaigns (专项行动): creation, the districts they cover, and which campaign a visit belongs to."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import select

from server import clock
from server.accounts.models import District
from server.errors import ProblemError, validation_error
from server.extensions import db
from server.inspections.models import Campaign
from server.registry.enums import Domain

PHASE_KINDS = ("inspect", "reinspect")
NAME_MAX = 200
DOC_NO_MAX = 100
PHASE_NAME_MAX = 100


# --- the district tree ----------------------------------------------------------------------------

def _parents() -> dict[str, str | None]:
    """Return every district code with its parent (the table is small: a province's divisions)."""
    return dict(db.session.execute(select(District.code, District.parent_code)).all())


def known_district(code: str) -> bool:
    """Return whether a district code exists."""
    return db.session.get(District, code) is not None


def covered(codes) -> frozenset[str]:
    """Return the district codes a list of districts covers: the districts and all their descendants."""
    parents = _parents()
    children: dict[str, set[str]] = {}
    for code, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, set()).add(code)
    result, frontier = set(codes), list(codes)
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in result:
                result.add(child)
                frontier.append(child)
    return frozenset(result)


def ancestry(code: str) -> list[str]:
    """Return a district code followed by its ancestors, nearest first."""
    parents = _parents()
    chain, seen = [code], {code}
    while (parent := parents.get(chain[-1])) is not None and parent not in seen:
        chain.append(parent)
        seen.add(parent)
    return chain


# --- validation -----------------------------------------------------------------------------------

def as_date(value, field: str) -> date:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise validation_error(field, "must be a date YYYY-MM-DD")


def _phases(phases, starts_on: date, ends_on: date) -> list[dict]:
    if phases is None:
        return []
    if not isinstance(phases, list):
        raise validation_error("phases", "must be a list")
    result, names = [], set()
    for index, phase in enumerate(phases):
        where = f"phases.{index}"
        if not isinstance(phase, dict):
            raise validation_error(where, "must be an object")
        name = (phase.get("name") or "").strip()
        if not name or len(name) > PHASE_NAME_MAX:
            raise validation_error(f"{where}.name", f"must be 1 to {PHASE_NAME_MAX} characters")
        if name in names:
            raise validation_error(f"{where}.name", "listed twice")
        names.add(name)
        kind = phase.get("kind") or "inspect"
        if kind not in PHASE_KINDS:
            raise validation_error(f"{where}.kind", f"must be one of: {', '.join(PHASE_KINDS)}")
        begin = as_date(phase.get("starts_on"), f"{where}.starts_on")
        end = as_date(phase.get("ends_on"), f"{where}.ends_on")
        if end < begin:
            raise validation_error(f"{where}.ends_on", "must not be before starts_on")
        if begin < starts_on or end > ends_on:
            raise validation_error(where, "must lie within the campaign's period")
        entry = {"name": name, "kind": kind, "starts_on": begin.isoformat(), "ends_on": end.isoformat()}
        share = phase.get("sample_share")
        if share is not None:
            if kind != "reinspect":
                raise validation_error(f"{where}.sample_share", "only a reinspect phase samples hazards")
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
                raise validation_error(f"{where}.sample_share", "must be a share above 0 and at most 1")
            entry["sample_share"] = float(share)
        result.append(entry)
    return result


def create(*, name, doc_no, domains, districts, starts_on, ends_on, phases) -> Campaign:
    """Create a campaign after checking its name, fields, districts, period and phases."""
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise validation_error("name", f"must be 1 to {NAME_MAX} characters")
    doc_no = (doc_no or "").strip() or None
    if doc_no is not None and len(doc_no) > DOC_NO_MAX:
        raise validation_error("doc_no", f"at most {DOC_NO_MAX} characters")
    known_domains = [d.value for d in Domain]
    if not domains or any(d not in known_domains for d in domains):
        raise validation_error("domains", f"must be some of: {', '.join(known_domains)}")
    if not districts:
        raise validation_error("districts", "name at least one district")
    unknown = sorted(set(districts) - set(_parents()))
    if unknown:
        raise validation_error("districts", f"unknown district codes: {', '.join(unknown)}")
    starts_on = as_date(starts_on, "starts_on")
    ends_on = as_date(ends_on, "ends_on")
    if ends_on < starts_on:
        raise validation_error("ends_on", "must not be before starts_on")
    campaign = Campaign(name=name, doc_no=doc_no, domains=list(dict.fromkeys(domains)),
                        districts=list(dict.fromkeys(districts)), starts_on=starts_on, ends_on=ends_on,
                        phases=_phases(phases, starts_on, ends_on))
    db.session.add(campaign)
    db.session.flush()
    return campaign


# --- reading --------------------------------------------------------------------------------------

def get(*, campaign_id) -> Campaign:
    """Return a campaign, or 404."""
    campaign = db.session.get(Campaign, campaign_id) if isinstance(campaign_id, int) else None
    if campaign is None:
        raise ProblemError("not_found", "No such campaign.")
    return campaign


def visible(campaign: Campaign, districts: frozenset[str] | None) -> bool:
    """Return whether a campaign touches any of ``districts`` (None: every campaign is visible)."""
    return districts is None or bool(covered(campaign.districts) & districts)


def get_visible(*, campaign_id, districts: frozenset[str] | None) -> Campaign:
    """Return a campaign that touches the caller's districts, or 404 without revealing that it exists."""
    campaign = get(campaign_id=campaign_id)
    if not visible(campaign, districts):
        raise ProblemError("not_found", "No such campaign.")
    return campaign


def list_campaigns(*, districts: frozenset[str] | None, on: date | None = None) -> list[Campaign]:
    """Return the campaigns touching the caller's districts, newest first; with ``on``, those running that day."""
    query = select(Campaign).order_by(Campaign.starts_on.desc(), Campaign.id.desc())
    if on is not None:
        query = query.where(Campaign.starts_on <= on, Campaign.ends_on >= on)
    rows = db.session.scalars(query).all()
    if districts is None:
        return list(rows)
    return [c for c in rows if covered(c.districts) & districts]


def covers(campaign: Campaign, *, domain: str, district: str) -> bool:
    """Return whether a campaign's target population includes this field and district."""
    return domain in campaign.domains and bool(set(campaign.districts) & set(ancestry(district)))


def campaign_for(*, domain: str, district: str, on: date) -> Campaign | None:
    """Return the campaign a visit of that day, field and district belongs to: the most recently started one."""
    running = db.session.scalars(select(Campaign).where(Campaign.starts_on <= on, Campaign.ends_on >= on)
                                 .order_by(Campaign.starts_on.desc(), Campaign.id.desc())).all()
    if not running:
        return None
    chain = set(ancestry(district))
    return next((c for c in running if domain in c.domains and set(c.districts) & chain), None)


def phase(campaign: Campaign, name: str) -> dict:
    """Return one phase of a campaign by name, or a 422 on ``phase``."""
    found = next((p for p in campaign.phases or [] if p["name"] == name), None)
    if found is None:
        raise validation_error("phase", "no such phase in this campaign")
    return found


def update_phase(campaign: Campaign, name: str, **values) -> dict:
    """Record facts on a phase (e.g. that it was sampled); the JSON list is replaced so the change is saved."""
    phases = [dict(p) for p in campaign.phases or []]
    for entry in phases:
        if entry["name"] == name:
            entry.update(values)
            campaign.phases = phases
            return entry
    raise validation_error("phase", "no such phase in this campaign")


def starts_at_utc(campaign: Campaign) -> datetime:
    """Return the instant the campaign starts: local midnight of its first day, in UTC."""
    return datetime.combine(campaign.starts_on, datetime.min.time(), clock.zone()).astimezone(timezone.utc)
