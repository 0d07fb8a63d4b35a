"""Listing a hazard for supervision (挂牌督办) by a leader's decision.

A major hazard is listed when it is reported (``hazards.service.report``);
a leader may also list any other open hazard, e.g. a general one that keeps
recurring. The listing is the same ``Supervision`` row, lifted when the
hazard closes (``hazards.service.transition``). The hazard service has no
function for this, so it lives here: one row and one audit entry.
"""

from __future__ import annotations

from flask_babel import gettext as _

from server.accounts.enums import Role
from server.accounts.models import User
from server.audit import service as audit_service
from server.database import utcnow
from server.errors import ProblemError, validation_error
from server.extensions import db
from server.hazards.enums import Status
from server.hazards.models import Hazard, Supervision

UNIT_MAX = 200


def list_for_supervision(*, hazard: Hazard, unit: str, actor: User, note: str | None = None) -> Supervision:
    """List an open hazard for supervision by ``unit``; refuse a closed or already listed one."""
    if not actor.has_role(Role.LEADER):
        raise ProblemError("forbidden", _("Only a leader lists a hazard for supervision."))
    unit = (unit or "").strip()
    if not unit or len(unit) > UNIT_MAX:
        raise validation_error("unit", _("name the supervising unit (at most 200 characters)"))
    if hazard.status == Status.CLOSED:
        raise ProblemError("invalid_transition", _("A closed hazard is not listed for supervision."))
    listing = db.session.get(Supervision, hazard.id)
    if listing is not None and listing.lifted_at is None:
        raise ProblemError("conflict", _("This hazard is already listed for supervision."))
    now = utcnow()
    if listing is None:
        listing = Supervision(hazard_id=hazard.id, supervising_unit=unit, listed_at=now)
        db.session.add(listing)
    else:
        listing.supervising_unit, listing.listed_at, listing.lifted_at = unit, now, None
    db.session.flush()
    audit_service.record(action="hazard.supervision_listed", entity="hazard", entity_id=hazard.id,
                         actor_id=actor.id, data={"unit": unit, "note": note})
    return listing
