"""The daily case-limit sweep: warn the officers as the 90-day limit from filing approaches and passes."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from server import clock
from server.accounts.models import User
from server.cases import letter
from server.cases import service as case_service
from server.cases.enums import STATUS_NAMES
from server.cases.models import Case
from server.extensions import db
from server.notifications import service as notification_service

logger = logging.getLogger("qingling.cases")


def threshold(days_left: int, warn_days: list[int]) -> int | None:
    """Return the tightest warning threshold reached with ``days_left`` days to go (None: none reached yet).

    A day the scheduler missed does not lose a warning: the next run finds the
    threshold reached and warns once for it; thresholds already passed over
    are not sent late.
    """
    reached = [days for days in warn_days if days_left <= days]
    return min(reached) if reached else None


def _text(case: Case, days_left: int) -> tuple[str, str]:
    if days_left < 0:
        subject = f"【案件超期】{case.case_no} 已超过作出决定期限 {-days_left} 天"
    elif days_left == 0:
        subject = f"【案件到期】{case.case_no} 今日为作出决定期限"
    else:
        subject = f"【案件期限提醒】{case.case_no} 距作出决定期限还有 {days_left} 天"
    body = "\n".join([
        f"案件编号：{case.case_no}",
        f"案由：{case.cause}",
        f"当事人：{case.party_name}",
        f"当前状态：{STATUS_NAMES.get(case.status, case.status)}"
        + (f"（移送{case.receiving_agency}）" if case.receiving_agency else ""),
        f"立案日期：{letter.cn_date(case.filed_on)}；作出决定期限：{letter.cn_date(case.decision_due)}。",
        "《中华人民共和国行政处罚法》第六十条：行政机关应当自行政处罚案件立案之日起九十日内作出行政处罚决定。",
        "请及时督办；已作出决定的，请登记处罚决定。",
    ])
    return subject, body


def case_deadlines(*, now: datetime) -> dict:
    """Warn each officer of every case awaiting a decision at 30/15/7/0 days left (CASE_WARN_DAYS), once each.

    The outbox key ``case_deadline:<case>:<threshold>:<officer>`` makes each
    warning a claim: a second run the same day, or a concurrent one, sends nothing more.
    """
    today = now.astimezone(clock.zone()).date()
    warn_days = sorted({int(d) for d in current_app.config.get("CASE_WARN_DAYS", [30, 15, 7, 0])})
    cases = db.session.scalars(select(Case).where(Case.status.in_(sorted(case_service.AWAITING_DECISION)))
                               .order_by(Case.id)).all()
    result = {"today": today.isoformat(), "cases": len(cases), "warned_cases": 0, "enqueued": 0, "overdue": 0}
    for case in cases:
        left = case_service.days_left(case, today)
        result["overdue"] += left < 0
        reached = threshold(left, warn_days)
        if reached is None:
            continue
        subject, body = _text(case, left)
        sent = 0
        for officer in case.officers:
            user = db.session.get(User, officer.user_id)
            if user is None or not user.active:
                continue
            sent += notification_service.enqueue(
                kind="case_deadline", recipient_id=user.id, subject=subject, body=body,
                dedupe_key=f"case_deadline:{case.id}:{reached}:{user.id}")
        result["enqueued"] += sent
        result["warned_cases"] += bool(sent)
    logger.info("case deadlines %s: %s", today, result)
    return result
