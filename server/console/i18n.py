"""Languages of the console and the names shown for the domain's codes (statuses, fields, roles...)."""

from __future__ import annotations

from flask import current_app, request, session
from flask_babel import lazy_gettext as _l

LOCALES = ("zh_CN", "en")
LOCALE_NAMES = {"zh_CN": "中文", "en": "English"}


def select_locale() -> str:
    """Return the language of this request: the one chosen with the switch, else the default (zh_CN)."""
    chosen = session.get("lang") if request else None
    if chosen in LOCALES:
        return chosen
    return current_app.config.get("CONSOLE_DEFAULT_LOCALE", "zh_CN")


def select_timezone() -> str:
    """Return the bureau's time zone: every time is shown there, whatever the browser's."""
    return current_app.config["TIMEZONE"]


DOMAINS = {"gas": _l("Gas"), "self_built_house": _l("Self-built houses"),
           "construction_site": _l("Construction sites")}
HAZARD_STATUSES = {"reported": _l("Reported"), "rectifying": _l("Rectifying"),
                   "pending_review": _l("Pending review"), "closed": _l("Closed")}
SEVERITIES = {"general": _l("General"), "major": _l("Major")}
ROLES = {"inspector": _l("Inspector"), "leader": _l("Leader"), "committee": _l("Safety committee"),
         "enforcement": _l("Enforcement officer"), "admin": _l("Administrator")}
EVENT_TYPES = {"reported": _l("Reported"), "fixed_on_spot": _l("Fixed on the spot"),
               "notified": _l("Rectification notice issued"), "rectification": _l("Rectification reported"),
               "review_accepted": _l("Review accepted: closed"), "review_rejected": _l("Review rejected"),
               "reopened": _l("Reopened by re-inspection"), "plan_recorded": _l("Five implementations recorded"),
               "overdue_explained": _l("Overdue explained (carried)"),
               "overdue_escalated": _l("Overdue escalated")}
OUTCOMES = {"inspected": _l("Inspected"), "no_access": _l("No access")}
RESULT_OUTCOMES = {"pass": _l("Pass"), "fail": _l("Fail"), "na": _l("Not applicable")}
ENTERPRISE_KINDS = {"gas_operator": _l("Gas operator"), "contractor": _l("Contractor"), "developer": _l("Developer"),
                    "supervisor": _l("Supervisor"), "property_manager": _l("Property manager"), "other": _l("Other")}
DEDUCTION_STATUSES = {"proposed": _l("Proposed"), "effective": _l("Effective"), "revoked": _l("Revoked"),
                      "repaired": _l("Repaired"), "expired": _l("Expired")}
CASE_STATUSES = {"draft": _l("Draft"), "transferred": _l("Transferred"), "accepted": _l("Accepted"),
                 "decided": _l("Decided"), "closed": _l("Closed"), "returned": _l("Returned")}
CASE_EVENTS = {"create": _l("Filed"), "update": _l("Edited"), "add_evidence": _l("Evidence added"),
               "transfer": _l("Transferred"), "accept": _l("Accepted"), "decide": _l("Decision recorded"),
               "close": _l("Closed"), "return": _l("Returned")}
FLAGS = {"location_missing": _l("No position sent"),
         "location_far_from_subject": _l("Position far from the subject"),
         "low_location_accuracy": _l("Low position accuracy"),
         "photo_without_gps": _l("Photo without GPS"),
         "photo_far_from_subject": _l("Photo far from the subject"),
         "photo_taken_before_visit": _l("Photo taken before the visit"),
         "photo_taken_before_report": _l("After photo taken before the hazard was found")}
PHOTO_ROLES = {"evidence": _l("Evidence"), "before": _l("Before"), "after": _l("After")}
ASSIGNMENT_KINDS = {"inspect": _l("Inspect"), "reinspect": _l("Re-inspect"), "verify": _l("Verify rectification")}
PLAN_FIELDS = {"responsible": _l("Responsibility"), "measures": _l("Measures"), "funds_yuan": _l("Funds (yuan)"),
               "deadline": _l("Time limit"), "contingency_plan": _l("Contingency plan")}

TABLES = {"domain": DOMAINS, "hazard_status": HAZARD_STATUSES, "severity": SEVERITIES, "role": ROLES,
          "event": EVENT_TYPES, "outcome": OUTCOMES, "result": RESULT_OUTCOMES, "kind": ENTERPRISE_KINDS,
          "deduction_status": DEDUCTION_STATUSES, "case_status": CASE_STATUSES, "case_event": CASE_EVENTS,
          "flag": FLAGS, "photo_role": PHOTO_ROLES, "assignment_kind": ASSIGNMENT_KINDS, "plan": PLAN_FIELDS}


def label(table: str, code) -> str:
    """Return the name shown for a code in this language; an unknown code is shown as it is."""
    if code is None:
        return ""
    value = TABLES[table].get(str(code))
    return str(value) if value is not None else str(code)
