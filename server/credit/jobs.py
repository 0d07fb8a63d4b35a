"""The daily credit sweep: overdue hazards past the grace propose their rule; ended validity is recorded."""

from __future__ import annotations

import logging
from datetime import datetime

from server.credit import service as credit_service
from server.errors import ProblemError

logger = logging.getLogger("qingling.credit")


def credit_sweep(*, now: datetime) -> dict:
    """Propose the overdue rule for hazards still open past deadline + grace, and record expired deductions.

    Idempotent: the unique (enterprise, rule, source) key stops a second
    proposal, and an expiry is a compare-and-set, so a rerun or a second
    scheduler adds nothing. A standard file changed under a version the
    ledger already used stops the proposals (logged) but not the expiries.
    """
    from server.scheduler.jobs import get_system_user

    system = get_system_user()
    result: dict = {}
    try:
        result.update(credit_service.propose_overdue(now=now, actor=system))
    except (ProblemError, ValueError) as error:
        detail = getattr(error, "detail", None) or str(error)
        logger.error("credit sweep: no overdue proposals: %s", detail)
        result["proposals_skipped"] = detail
    result.update(credit_service.expire_due(now=now, actor=system))
    logger.info("credit sweep %s: %s", now.isoformat(), result)
    return result
