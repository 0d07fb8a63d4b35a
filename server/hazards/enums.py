"""States, severities and actions of the hazard lifecycle."""

from enum import StrEnum


class Status(StrEnum):
    """Where a hazard stands on its way to closure."""

    REPORTED = "reported"
    RECTIFYING = "rectifying"
    PENDING_REVIEW = "pending_review"
    CLOSED = "closed"


# Every status but closed, written out so that a query's IN seeks the (district, status, ...) indexes.
OPEN = (Status.REPORTED.value, Status.RECTIFYING.value, Status.PENDING_REVIEW.value)


class Severity(StrEnum):
    """一般 or 重大."""

    GENERAL = "general"
    MAJOR = "major"


class Action(StrEnum):
    """What can happen to a hazard; each is one event."""

    REPORT = "reported"
    FIX_ON_SPOT = "fixed_on_spot"
    NOTIFY = "notified"
    RECTIFY = "rectification"
    ACCEPT = "review_accepted"
    REJECT = "review_rejected"
    REOPEN = "reopened"


class Record(StrEnum):
    """Events that record something about a hazard without changing its state."""

    PLAN = "plan_recorded"
    EXPLAIN_OVERDUE = "overdue_explained"
    OVERDUE_ESCALATED = "overdue_escalated"


PLAN_FIELDS = ("responsible", "measures", "funds_yuan", "deadline", "contingency_plan")  # 五落实
