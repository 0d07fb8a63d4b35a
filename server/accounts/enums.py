"""Roles a user may hold."""

from enum import StrEnum


class Role(StrEnum):
    """What a user is allowed to do; districts say where."""

    INSPECTOR = "inspector"
    LEADER = "leader"
    COMMITTEE = "committee"
    ENFORCEMENT = "enforcement"
    ADMIN = "admin"


# Roles that see the whole city whatever their districts.
CITY_WIDE = frozenset({Role.ADMIN, Role.COMMITTEE})
