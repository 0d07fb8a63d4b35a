"""Inspections: the list with filters and exports; the detail with its checklist, scores and flags."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import gettext as _

from server.accounts.models import User
from server.console import auth, bp, exports, i18n, lists
from server.console.views.common import (arg, date_arg, district_filter, offered_districts, page_size,
                                         uuid_value)
from server.extensions import db
from server.inspections import campaigns as campaign_service
from server.inspections import service as inspection_service
from server.inspections.models import Campaign
from server.photos import service as photo_service
from server.registry.models import Subject

DOMAINS = ("gas", "self_built_house", "construction_site")
OUTCOMES = ("inspected", "no_access")


def _filters() -> lists.InspectionFilters:
    visible = auth.visible()
    district = district_filter()
    districts = visible if district is None else (
        campaign_service.covered([district]) if visible is None else campaign_service.covered([district]) & visible)
    inspector = arg("inspector")
    campaign = arg("campaign")
    subject = arg("subject")
    return lists.InspectionFilters(
        districts=districts, domain=arg("domain", DOMAINS), outcome=arg("outcome", OUTCOMES),
        inspector_id=int(inspector) if inspector and inspector.isdigit() else None,
        campaign_id=int(campaign) if campaign and campaign.isdigit() else None,
        subject_id=uuid_value(subject, "subject") if subject else None,
        flagged=arg("flagged", ("1",)) == "1", started_from=date_arg("from"), started_to=date_arg("to"), q=arg("q"))


def _shape(row) -> list:
    from server.console.templating import district_name, local_time

    inspection, subject_name, inspector_name = row
    score = (inspection.score or {}).get("total")
    return [str(inspection.id), local_time(inspection.started_at), district_name(inspection.district_code),
            i18n.label("domain", inspection.domain), subject_name, inspector_name,
            i18n.label("outcome", inspection.outcome), f"{inspection.checklist_code} v{inspection.checklist_version}",
            score, "; ".join(i18n.label("flag", f.get("code")) for f in inspection.flags or [])]


@bp.route("/inspections")
def inspections():
    """List inspections with filters; ?format=csv|xlsx exports the whole filtered list."""
    filters = _filters()
    if arg("format") in ("csv", "xlsx"):
        header = [_("Id"), _("Started at"), _("District"), _("Field"), _("Subject"), _("Inspector"), _("Outcome"),
                  _("Checklist"), _("Score"), _("Flags")]
        return exports.export(arg("format"), query=lists.inspection_query(filters), header=header, shape=_shape,
                              filename=f"inspections.{arg('format')}", title=_("Inspections"))
    rows, next_cursor = lists.inspection_page(filters, cursor=arg("cursor"), limit=page_size())
    args = {k: v for k, v in request.args.items() if k not in ("cursor", "format") and v}
    campaigns = campaign_service.list_campaigns(districts=auth.visible())
    return render_template("console/inspections.html", rows=rows, args=args, districts=offered_districts(),
                           campaigns=campaigns,
                           next_url=url_for("console.inspections", cursor=next_cursor, **args) if next_cursor else None)


@bp.route("/inspections/<uuid:inspection_id>")
def inspection_detail(inspection_id):
    """Show an inspection: the checklist item by item, the JGJ 59 score, the flags, the hazards and photos."""
    inspection = inspection_service.get(inspection_id=inspection_id, districts=auth.visible())
    subject = db.session.get(Subject, inspection.subject_id)
    inspector = db.session.get(User, inspection.inspector_id)
    checklist = inspection_service.checklist(code=inspection.checklist_code, version=inspection.checklist_version)
    results = {r.item_code: r for r in inspection.results}
    hazards = inspection_service.hazards_of(inspection.id)
    hazard_items = {h.item_code for h in hazards}
    items = []
    if checklist is not None:
        for item in checklist.items:
            result = results.get(item.code)
            items.append({"item": item, "result": result, "hazard": item.code in hazard_items})
    known = {i["item"].code for i in items}
    extra = [r for code, r in results.items() if code not in known]
    campaign = db.session.get(Campaign, inspection.campaign_id) if inspection.campaign_id else None
    tables = {}
    if checklist is not None and checklist.tables:
        tables = {t.code: t for t in checklist.tables}
    return render_template("console/inspection_detail.html", inspection=inspection, subject=subject,
                           inspector=inspector, checklist=checklist, items=items, extra=extra, hazards=hazards,
                           photos=photo_service.for_inspection(inspection.id), campaign=campaign, tables=tables)
