"""Rules of cases transferred to enforcement: numbers without gaps, validation, one transition function, events.

Services never commit: the request (or the CLI command) does. Every change
writes one ``CaseEvent`` and one audit row in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy import update as sql_update

from server import canonical, clock, idempotency, pagination
from server.accounts import service as account_service
from server.accounts.enums import Role
from server.accounts.models import District, User
from server.audit import service as audit_service
from server.cases import idcard
from server.cases.enums import (EVIDENCE_NAMES, Action, EvidenceKind, PartyKind, PenaltyKind, Source, Status)
from server.cases.models import (Case, CaseCounter, CaseEvent, CaseEvidence, CaseHazard, CaseInspection,
                                 CaseOfficer)
from server.credit.service import visible_enterprise_condition as credit_visibility
from server.database import utcnow
from server.errors import ProblemError, validation_error
from server.extensions import db
from server.hazards.models import Hazard
from server.inspections.models import Inspection
from server.notifications.service import insert_if_absent
from server.photos import service as photo_service
from server.photos.models import Photo
from server.registry.models import Enterprise, Subject
from server.registry.service import scoped

# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    Action.TRANSFER: (frozenset({Status.DRAFT, Status.RETURNED}), Status.TRANSFERRED),
    Action.ACCEPT: (frozenset({Status.TRANSFERRED}), Status.ACCEPTED),
    Action.DECIDE: (frozenset({Status.ACCEPTED}), Status.DECIDED),
    Action.CLOSE: (frozenset({Status.DECIDED, Status.RETURNED}), Status.CLOSED),
    Action.RETURN: (frozenset({Status.TRANSFERRED, Status.ACCEPTED}), Status.RETURNED),
}
# States in which the case's content may still change (before transfer, or after it came back).
EDITABLE = frozenset({Status.DRAFT, Status.RETURNED})
# States still waiting for a decision: the 90-day limit runs.
AWAITING_DECISION = frozenset({Status.DRAFT, Status.TRANSFERRED, Status.ACCEPTED, Status.RETURNED})
MIN_OFFICERS = 2  # 行政处罚法 第四十二条


# --- states and refusals --------------------------------------------------------------------

def allowed_actions(status: str) -> list[str]:
    """Return the actions a case in ``status`` allows: content edits while editable, then the transitions."""
    edits = [Action.UPDATE.value, Action.ADD_EVIDENCE.value] if status in EDITABLE else []
    return edits + [action.value for action, (sources, _) in TRANSITIONS.items() if status in sources]


def _refuse(case: Case, action: Action) -> ProblemError:
    allowed = allowed_actions(case.status)
    return ProblemError(
        "invalid_transition",
        f"Case {case.case_no} in state {case.status!r} does not allow {action.value!r}; "
        f"allowed: {', '.join(allowed) or 'nothing'}.",
        extra={"current_status": case.status, "allowed_actions": allowed})


def number_text(*, year: int, number: int, prefix: str | None = None) -> str:
    """Return a case number as written on documents: PREFIX〔YYYY〕N号 (GB/T 9704: no padding, no 第)."""
    prefix = current_app.config.get("CASE_NUMBER_PREFIX", "") if prefix is None else prefix
    return f"{prefix}〔{year}〕{number}号"


def days_left(case: Case, today: date | None = None) -> int:
    """Return the days left until the decision is due (negative once past)."""
    return (case.decision_due - (today or clock.today())).days


def is_overdue(case: Case, today: date | None = None) -> bool:
    """Return whether the 90-day limit has passed without a decision (derived, never stored)."""
    return case.status in AWAITING_DECISION and days_left(case, today) < 0


# --- reading ----------------------------------------------------------------------------------

def get(*, case_id: int, districts: frozenset[str] | None) -> Case:
    """Return a case visible to the caller, or 404 without revealing that it exists."""
    case = db.session.get(Case, case_id)
    if case is None or (districts is not None and case.district_code not in districts):
        raise ProblemError("not_found", "No such case.")
    return case


def get_for_update(*, case_id: int, districts: frozenset[str] | None) -> Case:
    """Return a visible case fresh from the database and locked until the transaction ends (PostgreSQL),
    so that an edit and a transfer of one case never interleave."""
    case = get(case_id=case_id, districts=districts)
    db.session.refresh(case, with_for_update=True)
    return case


def get_by_number(*, case_no: str) -> Case:
    """Return the case with this number (for the command line), or 404."""
    case = db.session.scalar(select(Case).where(Case.case_no == case_no))
    if case is None and case_no.isdigit():
        case = db.session.get(Case, int(case_no))
    if case is None:
        raise ProblemError("not_found", f"No case {case_no}.")
    return case


def list_page(*, districts: frozenset[str] | None, status: str | None = None, q: str | None = None,
              enterprise_id: uuid.UUID | None = None, year: int | None = None, overdue: bool | None = None,
              cursor: str | None = None, limit: int = 50) -> tuple[list[Case], str | None]:
    """Return one page of cases, newest first, and the cursor of the next page."""
    query = scoped(select(Case), Case.district_code, districts)
    if status:
        query = query.where(Case.status == status)
    if enterprise_id:
        query = query.where(Case.enterprise_id == enterprise_id)
    if year:
        query = query.where(Case.year == year)
    if overdue is not None:
        late = and_(Case.status.in_(sorted(AWAITING_DECISION)), Case.decision_due < clock.today())
        query = query.where(late if overdue else ~late)
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Case.case_no.like(like, escape="\\"), Case.cause.like(like, escape="\\"),
                                Case.party_name.like(like, escape="\\")))
    after = pagination.decode(cursor, 1)
    if after:
        if not after[0].isdigit():
            raise validation_error("cursor", "not a cursor this server gave; start again without it")
        query = query.where(Case.id < int(after[0]))
    rows = db.session.scalars(query.order_by(Case.id.desc()).limit(limit + 1)).all()
    if len(rows) > limit:
        return list(rows[:limit]), pagination.encode([str(rows[limit - 1].id)])
    return list(rows), None


def users_of(case: Case) -> dict[int, User]:
    """Return the users a case names: officers, creator and event actors."""
    ids = {o.user_id for o in case.officers} | {case.created_by} | {e.actor_id for e in case.events}
    ids |= {e.added_by for e in case.evidence}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


# --- validation of what a request names ----------------------------------------------------

def _hazards(ids: list[uuid.UUID], districts: frozenset[str] | None, field: str) -> list[Hazard]:
    found = []
    for index, hazard_id in enumerate(ids):
        hazard = db.session.get(Hazard, hazard_id)
        if hazard is None or (districts is not None and hazard.district_code not in districts):
            raise validation_error(f"{field}.{index}", "no such hazard in your districts")
        if hazard in found:
            raise validation_error(f"{field}.{index}", "listed twice")
        found.append(hazard)
    return found


def _inspections(ids: list[uuid.UUID], districts: frozenset[str] | None, field: str) -> list[Inspection]:
    found = []
    for index, inspection_id in enumerate(ids):
        inspection = db.session.get(Inspection, inspection_id)
        if inspection is None or (districts is not None and inspection.district_code not in districts):
            raise validation_error(f"{field}.{index}", "no such inspection in your districts")
        if inspection in found:
            raise validation_error(f"{field}.{index}", "listed twice")
        found.append(inspection)
    return found


def _officers(items: list[dict], field: str = "officers") -> list[CaseOfficer]:
    """Return officer rows for at least two distinct active enforcement officers (行政处罚法 第四十二条)."""
    if len(items) < MIN_OFFICERS:
        raise validation_error(field, f"a case needs at least {MIN_OFFICERS} officers (执法人员不得少于两人); "
                                      f"got {len(items)}")
    rows, seen = [], set()
    for index, item in enumerate(items):
        user = db.session.get(User, item["user_id"])
        if user is None or not user.active or not user.has_role(Role.ENFORCEMENT):
            raise validation_error(f"{field}.{index}.user_id", "no active enforcement officer with this id")
        if user.id in seen:
            raise validation_error(f"{field}.{index}.user_id", "listed twice")
        seen.add(user.id)
        rows.append(CaseOfficer(user_id=user.id, position=index, certificate_no=item.get("certificate_no")))
    return rows


def _officers_serve(rows: list[CaseOfficer], district_code: str, field: str = "officers") -> None:
    """Refuse officers who do not serve the case's district: they would read it and get its warnings."""
    for index, row in enumerate(rows):
        scope = account_service.visible_districts(db.session.get(User, row.user_id))
        if scope is not None and district_code not in scope:
            raise validation_error(f"{field}.{index}.user_id", "not an officer of the case's district")


def _district(code: str, districts: frozenset[str] | None, field: str) -> str:
    if db.session.get(District, code) is None or (districts is not None and code not in districts):
        raise validation_error(field, "no such district among yours")
    return code


def _party(party: dict | None, *, hazards: list[Hazard], inspections: list[Inspection],
           districts: frozenset[str] | None) -> dict:
    """Return the party columns: from the body, or the one enterprise the hazards (or inspections) name."""
    if party is None:
        ids = {h.enterprise_id for h in hazards if h.enterprise_id is not None}
        if not ids:
            for inspection in inspections:
                subject = db.session.get(Subject, inspection.subject_id)
                ids |= set(subject.enterprise_ids)
        if len(ids) != 1:
            raise validation_error("party", "required: the hazards and inspections do not name exactly one "
                                            "responsible enterprise")
        party = {"kind": PartyKind.ENTERPRISE, "enterprise_id": ids.pop()}
    common = {"party_representative": party.get("representative"), "party_address": party.get("address"),
              "party_phone": party.get("phone")}
    if party["kind"] == PartyKind.ENTERPRISE:
        if party.get("enterprise_id") is None:
            raise validation_error("party.enterprise_id", "required for an enterprise party")
        query = select(Enterprise).where(Enterprise.id == party["enterprise_id"])
        if (visible := credit_visibility(districts)) is not None:
            query = query.where(visible)
        enterprise = db.session.scalar(query)
        if enterprise is None:
            raise validation_error("party.enterprise_id", "no such enterprise in your districts")
        return {"party_kind": PartyKind.ENTERPRISE, "enterprise_id": enterprise.id, "party_name": enterprise.name,
                "party_id_number": None, **common}
    name = (party.get("name") or "").strip()
    if not name:
        raise validation_error("party.name", "required for a person")
    number = idcard.normalize(party.get("id_number") or "")
    if not number:
        raise validation_error("party.id_number", "required for a person (公民身份号码, 18 characters)")
    if reason := idcard.validate(number, today=clock.today()):
        raise validation_error("party.id_number", f"not a valid identity card number: {reason}")
    return {"party_kind": PartyKind.PERSON, "enterprise_id": None, "party_name": name, "party_id_number": number,
            **common}


def _place(place: dict | None, *, hazards: list[Hazard], inspections: list[Inspection],
           districts: frozenset[str] | None) -> dict:
    """Return the place columns: from the body, completed from the first hazard's (or inspection's) subject."""
    place = dict(place or {})
    first = hazards[0] if hazards else (inspections[0] if inspections else None)
    subject = db.session.get(Subject, first.subject_id) if first is not None else None
    if not place.get("district"):
        if subject is None:
            raise validation_error("place.district", "required when the case is built from no hazard or inspection")
        place["district"] = subject.district_code
    if subject is not None and not place.get("address"):
        place["address"] = subject.address
        if place.get("lat") is None and place.get("lon") is None:
            place["lat"], place["lon"] = subject.lat, subject.lon
    return {"district_code": _district(place["district"], districts, "place.district"),
            "address": place.get("address"), "lat": place.get("lat"), "lon": place.get("lon")}


def _photo(sha256: str, districts: frozenset[str] | None) -> Photo | None:
    """Return a received photo with these bytes that the caller may see, whose original is in the store."""
    query = scoped(select(Photo).where(Photo.sha256 == sha256.lower(), Photo.received_at.is_not(None)),
                   Photo.district_code, districts)
    photo = db.session.scalars(query.order_by(Photo.declared_at, Photo.id).limit(1)).first()
    if photo is None or not photo_service.storage().exists(photo.sha256):
        return None
    return photo


def _evidence_row(item: dict, *, field: str, position: int, actor: User,
                  districts: frozenset[str] | None) -> CaseEvidence:
    """Return one evidence row after checking its kind, description and every attachment."""
    if item["kind"] not in set(EvidenceKind):
        raise validation_error(f"{field}.kind", f"must be one of: {', '.join(EvidenceKind)}")
    if not (item.get("description") or "").strip():
        raise validation_error(f"{field}.description", "required: say what this evidence shows")
    photos_in, records_in = item.get("photos") or [], item.get("records") or []
    if not photos_in and not records_in:
        raise validation_error(field, "attach at least one photo (by SHA-256) or record (hazard or inspection)")
    photos, seen = [], set()
    for index, sha256 in enumerate(photos_in):
        sha256 = sha256.lower()
        if sha256 in seen:
            raise validation_error(f"{field}.photos.{index}", "listed twice")
        seen.add(sha256)
        photo = _photo(sha256, districts)
        if photo is None:
            raise validation_error(f"{field}.photos.{index}",
                                   "no received photo with this SHA-256 in your districts")
        photos.append({"sha256": sha256, "photo_id": str(photo.id), "content_type": photo.content_type})
    records, keys = [], set()
    for index, record in enumerate(records_in):
        key = (record["type"], record["id"])
        if key in keys:
            raise validation_error(f"{field}.records.{index}", "listed twice")
        keys.add(key)
        loader = _hazards if record["type"] == "hazard" else _inspections
        try:
            loader([record["id"]], districts, "records")
        except ProblemError:
            raise validation_error(f"{field}.records.{index}.id",
                                   f"no such {record['type']} in your districts") from None
        records.append({"type": record["type"], "id": str(record["id"])})
    return CaseEvidence(position=position, kind=item["kind"], description=item["description"].strip(),
                        collected_on=item.get("collected_on"), photos=photos, records=records, added_by=actor.id,
                        added_at=utcnow())


def evidence_shape(row: CaseEvidence) -> dict:
    """Return an evidence item as plain data (for answers, events and the dossier)."""
    return {"id": row.id, "position": row.position, "kind": row.kind, "kind_name": EVIDENCE_NAMES[row.kind],
            "description": row.description, "collected_on": row.collected_on, "photos": row.photos,
            "records": row.records, "added_by": row.added_by, "added_at": row.added_at}


# --- numbering --------------------------------------------------------------------------------

def _lock_counter(year: int) -> CaseCounter:
    """Return the year's counter row, locked until the transaction ends.

    On PostgreSQL the row is created if missing (INSERT ... ON CONFLICT DO
    NOTHING waits for a concurrent creator) and then locked FOR UPDATE, so
    creators of one year take their numbers one after the other. SQLite
    writers already hold the database's write lock (BEGIN IMMEDIATE).
    """
    insert_if_absent(CaseCounter, keys=["year"], year=year, last_number=0)
    return db.session.scalar(select(CaseCounter).where(CaseCounter.year == year).with_for_update()
                             .execution_options(populate_existing=True))


def _existing(client_key: uuid.UUID) -> Case | None:
    return db.session.scalar(select(Case).where(Case.client_key == client_key)
                             .execution_options(populate_existing=True))


def _replay(case: Case, *, payload_hash: str, actor: User) -> Case:
    if case.payload_hash != payload_hash or case.created_by != actor.id:
        raise ProblemError("conflict", f"This client_key was already used for a different case ({case.case_no}).")
    return case


# --- writing ---------------------------------------------------------------------------------

def _event(case: Case, *, action: Action, actor: User, from_status: str | None, note: str | None = None,
           data: dict | None = None, client_key: uuid.UUID | None = None, payload_hash: str | None = None,
           at: datetime | None = None) -> CaseEvent:
    """Write one event of the case and its audit row."""
    event = CaseEvent(case_id=case.id, type=action.value, at=at or utcnow(), actor_id=actor.id,
                      from_status=from_status, to_status=case.status, note=note,
                      data=canonical_json(data or {}), client_key=client_key, payload_hash=payload_hash)
    db.session.add(event)
    db.session.flush()
    audit_service.record(action=f"case.{action.value}", entity="case", entity_id=case.id, actor_id=actor.id,
                         data={"case_no": case.case_no, "from": from_status, "to": case.status, "note": note,
                               **event.data})
    db.session.expire(case, ["events"])
    return event


def canonical_json(value):
    """Return ``value`` with UUIDs, dates, times and decimals as JSON strings (for JSON columns)."""
    if isinstance(value, dict):
        return {str(k): canonical_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical_json(v) for v in value]
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def create(*, data: dict, actor: User, districts: frozenset[str] | None) -> tuple[Case, bool]:
    """File a case from hazards, inspections or nothing; return it and whether it is new (False: a retry).

    The number is taken inside this transaction from the year's counter row,
    so a creation that rolls back gives its number back and numbers have no gaps.
    """
    payload_hash = canonical.digest(canonical_json(data))
    if (existing := _existing(data["client_key"])) is not None:
        return _replay(existing, payload_hash=payload_hash, actor=actor), False
    hazards = _hazards(data.get("hazard_ids") or [], districts, "hazard_ids")
    inspections = _inspections(data.get("inspection_ids") or [], districts, "inspection_ids")
    officers = _officers(data.get("officers") or [])
    evidence_in = data.get("evidence") or []
    if not evidence_in:
        raise validation_error("evidence", "a case needs at least one item of evidence (行政处罚法 第四十六条)")
    evidence = [_evidence_row(item, field=f"evidence.{i}", position=i, actor=actor, districts=districts)
                for i, item in enumerate(evidence_in)]
    party = _party(data.get("party"), hazards=hazards, inspections=inspections, districts=districts)
    place = _place(data.get("place"), hazards=hazards, inspections=inspections, districts=districts)
    _officers_serve(officers, place["district_code"])
    now = utcnow()
    filed_on = clock.local(now).date()
    counter = _lock_counter(filed_on.year)
    if (existing := _existing(data["client_key"])) is not None:  # a concurrent retry won the lock first
        return _replay(existing, payload_hash=payload_hash, actor=actor), False
    counter.last_number += 1
    case = Case(year=filed_on.year, number=counter.last_number,
                case_no=number_text(year=filed_on.year, number=counter.last_number),
                client_key=data["client_key"], payload_hash=payload_hash, status=Status.DRAFT,
                source=data.get("source") or (Source.INSPECTION if hazards or inspections else Source.COMPLAINT),
                cause=data["cause"].strip(), **party, **place, facts=data.get("facts"),
                articles_violated=list(data.get("articles_violated") or []),
                penalty_basis=list(data.get("penalty_basis") or []),
                filed_at=now, filed_on=filed_on,
                decision_due=filed_on + timedelta(days=int(current_app.config["CASE_DECISION_DAYS"])),
                created_by=actor.id, created_at=now, updated_at=now)
    case.officers = officers
    case.hazard_links = [CaseHazard(hazard_id=h.id) for h in hazards]
    case.inspection_links = [CaseInspection(inspection_id=i.id) for i in inspections]
    case.evidence = evidence
    db.session.add(case)
    db.session.flush()
    _event(case, action=Action.CREATE, actor=actor, from_status=None, at=now,
           data={"client_key": data["client_key"], "hazard_ids": case.hazard_ids,
                 "inspection_ids": case.inspection_ids, "evidence": len(evidence),
                 "officers": [o.user_id for o in officers]})
    return case, True


def _check_editable(case: Case, action: Action) -> None:
    if case.status not in EDITABLE:
        raise _refuse(case, action)


def update(*, case: Case, data: dict, actor: User, districts: frozenset[str] | None) -> Case:
    """Change the content of a draft (or returned) case; only the fields given; one event naming them."""
    _check_editable(case, Action.UPDATE)
    changed: dict = {}

    def put(column: str, value) -> None:
        if getattr(case, column) != value:
            setattr(case, column, value)
            changed[column] = value

    hazards = (_hazards(data["hazard_ids"], districts, "hazard_ids") if "hazard_ids" in data
               else [db.session.get(Hazard, i) for i in case.hazard_ids])
    inspections = (_inspections(data["inspection_ids"], districts, "inspection_ids") if "inspection_ids" in data
                   else [db.session.get(Inspection, i) for i in case.inspection_ids])
    if "hazard_ids" in data and [h.id for h in hazards] != case.hazard_ids:
        case.hazard_links = [CaseHazard(hazard_id=h.id) for h in hazards]
        changed["hazard_ids"] = [h.id for h in hazards]
    if "inspection_ids" in data and [i.id for i in inspections] != case.inspection_ids:
        case.inspection_links = [CaseInspection(inspection_id=i.id) for i in inspections]
        changed["inspection_ids"] = [i.id for i in inspections]
    if "officers" in data:
        rows = _officers(data["officers"])
        wanted = [(o.user_id, o.certificate_no) for o in rows]
        if wanted != [(o.user_id, o.certificate_no) for o in case.officers]:
            case.officers = []
            db.session.flush()
            case.officers = rows
            changed["officers"] = [o.user_id for o in rows]
    if "party" in data:
        for column, value in _party(data["party"], hazards=hazards, inspections=inspections, districts=districts).items():
            put(column, value)
    if "place" in data:
        place = dict(data["place"] or {})
        place.setdefault("district", case.district_code)
        for column, value in _place(place, hazards=hazards, inspections=inspections, districts=districts).items():
            put(column, value)
    if "cause" in data:
        put("cause", data["cause"].strip())
    for name in ("facts", "source"):
        if name in data:
            put(name, data[name])
    for name in ("articles_violated", "penalty_basis"):
        if name in data:
            put(name, list(data[name] or []))
    if {"officers", "district_code"} & set(changed):
        _officers_serve(list(case.officers), case.district_code)
    if changed:
        case.updated_at = utcnow()
        db.session.flush()
        _event(case, action=Action.UPDATE, actor=actor, from_status=case.status,
               data={"changed": sorted(changed), **{k: v for k, v in changed.items() if k != "facts"}})
    return case


def add_evidence(*, case: Case, data: dict, actor: User, districts: frozenset[str] | None,
                 payload_hash: str | None = None) -> CaseEvent:
    """Add one item of evidence to a draft (or returned) case; return its event."""
    _check_editable(case, Action.ADD_EVIDENCE)
    position = max((e.position for e in case.evidence), default=-1) + 1
    row = _evidence_row(data, field="evidence", position=position, actor=actor, districts=districts)
    row.case_id = case.id
    db.session.add(row)
    case.updated_at = utcnow()
    db.session.flush()
    db.session.expire(case, ["evidence"])
    return _event(case, action=Action.ADD_EVIDENCE, actor=actor, from_status=case.status,
                  client_key=data.get("client_key"), payload_hash=payload_hash,
                  data={"evidence_id": row.id, "kind": row.kind, "photos": [p["sha256"] for p in row.photos],
                        "records": row.records})


def missing_for_transfer(case: Case) -> dict[str, list[str]]:
    """Return what a case still lacks before it can be transferred, keyed by field (empty: nothing)."""
    missing: dict[str, list[str]] = {}
    if not (case.cause or "").strip():
        missing["cause"] = ["required before transfer (案由)"]
    if not (case.facts or "").strip():
        missing["facts"] = ["required before transfer (违法事实)"]
    if not case.articles_violated:
        missing["articles_violated"] = ["name at least one article violated before transfer (涉嫌违反条款)"]
    if not (case.address or "").strip():
        missing["place.address"] = ["required before transfer (违法行为发生地)"]
    if case.party_kind == PartyKind.PERSON and not case.party_id_number:
        missing["party.id_number"] = ["required before transfer"]
    if len(case.officers) < MIN_OFFICERS:
        missing["officers"] = [f"at least {MIN_OFFICERS} officers are required"]
    if not case.evidence:
        missing["evidence"] = ["at least one item of evidence is required"]
    for item in case.evidence:
        for photo in item.photos:
            if not photo_service.storage().exists(photo["sha256"]):
                missing.setdefault(f"evidence.{item.position}.photos", []).append(
                    f"the original {photo['sha256']} is missing from the photo store")
    return missing


def _not_future(value: date, field: str) -> date:
    if value > clock.today():
        raise validation_error(field, "cannot be in the future")
    return value


def _not_before(value: date, earlier: date | None, field: str, what: str) -> None:
    if earlier is not None and value < earlier:
        raise validation_error(field, f"cannot be before {what} ({earlier.isoformat()})")


def _apply(case: Case, action: Action, data: dict) -> dict:
    """Check an action's data and set the columns it fills; return what its event records."""
    today = clock.today()
    if action == Action.TRANSFER:
        missing = missing_for_transfer(case)
        if missing:
            raise ProblemError("validation_error",
                               f"Case {case.case_no} lacks what a transfer needs: {', '.join(missing)}.",
                               errors=missing, extra={"missing": sorted(missing)})
        on = _not_future(data.get("transferred_on") or today, "transferred_on")
        _not_before(on, case.filed_on, "transferred_on", "the filing date")
        agency = (data.get("receiving_agency") or current_app.config["CASE_RECEIVING_AGENCY"]).strip()
        case.receiving_agency, case.transferred_on = agency, on
        case.accepted_on = case.returned_on = case.return_reason = None
        return {"receiving_agency": agency, "transferred_on": on}
    if action == Action.ACCEPT:
        on = _not_future(data.get("accepted_on") or today, "accepted_on")
        _not_before(on, case.transferred_on, "accepted_on", "the transfer date")
        case.accepted_on = on
        return {"accepted_on": on}
    if action == Action.DECIDE:
        kinds = list(dict.fromkeys(data["penalty_kinds"]))
        amount = data.get("amount_yuan")
        if PenaltyKind.NO_PENALTY in kinds and len(kinds) > 1:
            raise validation_error("penalty_kinds", "no_penalty cannot be combined with a penalty")
        if PenaltyKind.FINE in kinds and (amount is None or amount <= 0):
            raise validation_error("amount_yuan", "a fine needs its amount in yuan, above zero")
        if PenaltyKind.NO_PENALTY in kinds and amount:
            raise validation_error("amount_yuan", "must be empty when no penalty is imposed")
        on = _not_future(data.get("decided_on") or today, "decided_on")
        _not_before(on, case.accepted_on, "decided_on", "the acceptance date")
        case.penalty_kinds, case.penalty_amount = kinds, amount
        case.decision_no, case.decided_on = data["decision_no"].strip(), on
        return {"penalty_kinds": kinds, "amount_yuan": amount, "decision_no": case.decision_no, "decided_on": on}
    if action == Action.RETURN:
        on = _not_future(data.get("returned_on") or today, "returned_on")
        _not_before(on, case.transferred_on, "returned_on", "the transfer date")
        case.returned_on, case.return_reason = on, data["reason"].strip()
        return {"returned_on": on, "reason": case.return_reason}
    case.closed_at = utcnow()
    return {}


def transition(*, case: Case, action: Action, data: dict, actor: User,
               after: Callable[[Case], dict] | None = None, payload_hash: str | None = None) -> CaseEvent:
    """Move a case by ``action`` and write its event; 409 when its state does not allow it.

    The state change is a compare-and-set on the current status, so of two
    concurrent transitions from one state exactly one succeeds. ``after`` runs
    once the new state is set (the transfer builds its dossier there) and adds
    to the event's data.
    """
    sources, target = TRANSITIONS[action]
    if case.status not in sources:
        raise _refuse(case, action)
    now = utcnow()
    # Compare-and-set before anything else is changed: a refused request must leave nothing
    # flushed behind (a retry that finds its first answer commits its transaction).
    result = db.session.execute(
        sql_update(Case).where(Case.id == case.id, Case.status == case.status).values(status=target, updated_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.expire(case)
        db.session.refresh(case)
        raise _refuse(case, action)
    previous = case.status
    case.status, case.updated_at = target, now
    recorded = _apply(case, action, data)  # a refusal here rolls the whole request back
    db.session.flush()
    if action == Action.DECIDE:
        recorded.update(_propose_credit_deduction(case, actor))
    if after is not None:
        recorded.update(after(case))
        db.session.flush()
    return _event(case, action=action, actor=actor, from_status=previous, note=data.get("note"), at=now,
                  data=recorded, client_key=data.get("client_key"), payload_hash=payload_hash)


def _propose_credit_deduction(case: Case, actor: User) -> dict:
    """A penalty decided against an enterprise proposes the standard's deduction for it (source: the case).

    The rule is ``CREDIT_CASE_PENALTY_RULE`` (SC-04 受到住建部门行政处罚 by default). A
    proposal the standard refuses (e.g. a kind of enterprise the rule does not
    apply to) is noted in the event and never blocks the decision.
    """
    from server.credit import service as credit_service

    if case.enterprise_id is None or case.penalty_kinds == [PenaltyKind.NO_PENALTY]:
        return {}
    rule = current_app.config.get("CREDIT_CASE_PENALTY_RULE")
    if not rule:
        return {}
    decided_at = datetime.combine(case.decided_on, time(12), tzinfo=clock.zone())
    try:
        with db.session.begin_nested():
            deduction, _ = credit_service.propose(
                enterprise=db.session.get(Enterprise, case.enterprise_id), rule_code=rule, source_kind="case",
                source_id=str(case.id), district_code=case.district_code, occurred_at=min(decided_at, utcnow()),
                actor=actor, note=f"{case.case_no} {case.decision_no}")
    except ProblemError as error:
        return {"credit_proposal": None, "credit_refused": error.detail}
    return {"credit_proposal": deduction.id}


def replayed_event(*, client_key: uuid.UUID | None, case: Case, payload_hash: str) -> CaseEvent | None:
    """Return the event a retried request made before, None if new; 409 if the key was used for other content."""
    if client_key is None:
        return None
    event = db.session.scalar(select(CaseEvent).where(CaseEvent.client_key == client_key))
    if event is None:
        return None
    if event.case_id != case.id or event.payload_hash != payload_hash:
        raise ProblemError("conflict", "This client_key was already used for a different request.")
    return event


def once(*, case: Case, data: dict, perform: Callable[[str], CaseEvent]) -> tuple[CaseEvent, bool]:
    """Run ``perform`` once per client key: a retry gets the first event back (False), not a second one."""
    payload_hash = canonical.digest(canonical_json(data))
    return idempotency.once(
        replayed=lambda: replayed_event(client_key=data.get("client_key"), case=case, payload_hash=payload_hash),
        perform=lambda: perform(payload_hash))
