"""The console's navigation: one entry per page group, shown to the roles that may open it.

A domain adding a page (``server/<domain>/console.py``) appends its entry here:
``NAV.append(NavEntry("console.my_page", _l("My page"), roles=("committee",)))``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from server.accounts.enums import Role

ALL = tuple(Role)
CREDIT_READERS = (Role.LEADER, Role.ENFORCEMENT, Role.COMMITTEE, Role.ADMIN)
CASE_READERS = (Role.ENFORCEMENT, Role.LEADER, Role.COMMITTEE, Role.ADMIN)


@dataclass(frozen=True)
class NavEntry:
    endpoint: str
    label: object
    roles: tuple = ALL
    prefix: str | None = None  # the URL prefix that marks the entry as the current one


NAV: list[NavEntry] = [
    NavEntry("console.dashboard", _l("Dashboard"), prefix="/console/dashboard"),
    NavEntry("console.map_page", _l("Map"), prefix="/console/map"),
    NavEntry("console.hazards", _l("Hazards"), prefix="/console/hazards"),
    NavEntry("console.supervision", _l("Supervision"), prefix="/console/supervision"),
    NavEntry("console.inspections", _l("Inspections"), prefix="/console/inspections"),
    NavEntry("console.subjects", _l("Subjects"), prefix="/console/subjects"),
    NavEntry("console.enterprises", _l("Enterprises"), prefix="/console/enterprises"),
    NavEntry("console.deductions", _l("Credit"), roles=CREDIT_READERS, prefix="/console/credit"),
    NavEntry("console.assignments", _l("Assignments"), roles=(Role.LEADER, Role.ADMIN), prefix="/console/assignments"),
    NavEntry("console.cases", _l("Cases"), roles=CASE_READERS, prefix="/console/cases"),
    NavEntry("console.admin_users", _l("Administration"), roles=(Role.ADMIN,), prefix="/console/admin"),
]


def visible_entries(user) -> list[NavEntry]:
    """Return the entries a user may open."""
    from flask import current_app

    return [entry for entry in NAV if user is not None and user.has_role(*entry.roles)
            and entry.endpoint in current_app.view_functions]
