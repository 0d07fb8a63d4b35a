"""States of a credit deduction, the actions that move it, and where a deduction comes from."""

from enum import StrEnum


class Status(StrEnum):
    """Where a deduction stands: only an effective one, still valid, lowers the score."""

    PROPOSED = "proposed"
    EFFECTIVE = "effective"
    REVOKED = "revoked"
    REPAIRED = "repaired"
    EXPIRED = "expired"


class Action(StrEnum):
    """What can happen to a deduction; each is one event (named by its past tense)."""

    PROPOSE = "proposed"
    CONFIRM = "confirmed"
    REVOKE = "revoked"
    REPAIR = "repaired"
    EXPIRE = "expired"


class SourceKind(StrEnum):
    """What a deduction was raised from."""

    HAZARD = "hazard"
    INSPECTION = "inspection"
    CASE = "case"
    MANUAL = "manual"
