"""The map: open hazards and subjects over district outlines, on the configured tile layer or none.

Positions are stored in WGS-84 and converted here to the tile layer's system
(``TILE_CRS``: wgs84 for Tianditu's CGCS2000, gcj02 for Amap-style tiles), so
that a marker sits on the right building of the tiles it is drawn over.
"""

from __future__ import annotations

from flask import current_app, jsonify, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from server.accounts.models import District
from server.console import auth, bp, i18n, outlines
from server.console.lists import OPEN
from server.console.views.common import arg, district_filter, offered_districts, uuid_value
from server.extensions import db
from server.geo import crs
from server.hazards.models import Hazard
from server.inspections import campaigns as campaign_service
from server.registry import service as registry_service
from server.registry.models import Subject

DOMAINS = ("gas", "self_built_house", "construction_site")
CENTER = (38.47, 106.25)  # 银川


def _tile_crs() -> str:
    value = current_app.config.get("TILE_CRS", "wgs84")
    return value if value in crs.CRS else "wgs84"


def _point(lat: float, lon: float) -> tuple[float, float]:
    lat, lon = crs.from_wgs84(lat, lon, _tile_crs())
    return round(lat, 6), round(lon, 6)


def _districts():
    visible = auth.visible()
    district = district_filter()
    if district is None:
        return visible
    covered = campaign_service.covered([district])
    return covered if visible is None else covered & visible


@bp.route("/map")
def map_page():
    """Show the map of open hazards (and subjects) in the user's districts."""
    config = current_app.config
    args = {k: v for k, v in (("district", arg("district")), ("domain", arg("domain", DOMAINS)),
                              ("severity", arg("severity", ("general", "major"))), ("subject", arg("subject"))) if v}
    center, zoom, fit = CENTER, 10, bool(args.get("subject") or args.get("district"))
    if args.get("subject"):
        subject = registry_service.get_subject(subject_id=uuid_value(args["subject"], "subject"),
                                               districts=auth.visible())
        center, zoom = _point(subject.lat, subject.lon), 16
    settings = {
        "tile_url": config.get("TILE_URL") or None, "subdomains": config.get("TILE_SUBDOMAINS") or "",
        "attribution": config.get("TILE_ATTRIBUTION") or "", "max_zoom": int(config.get("TILE_MAX_ZOOM", 18)),
        "center": list(center), "zoom": zoom, "fit_points": fit, "show_subjects": bool(args.get("subject")),
        "points_url": url_for("console.map_points", **args), "outlines_url": url_for("console.map_outlines"),
        "names": {"hazards": _("Open hazards"), "subjects": _("Subjects"), "outlines": _("District outlines")},
    }
    return render_template("console/map.html", settings=settings, args=args, districts=offered_districts(),
                           tile_crs=_tile_crs())


@bp.route("/map/points.json")
def map_points():
    """Return the open hazards (newest first, at most CONSOLE_MAP_MAX_POINTS) and the subjects to draw."""
    limit = int(current_app.config.get("CONSOLE_MAP_MAX_POINTS", 3000))
    districts = _districts()
    domain = arg("domain", DOMAINS)
    severity = arg("severity", ("general", "major"))
    subject_filter = uuid_value(arg("subject"), "subject") if arg("subject") else None
    query = (select(Hazard.id, Hazard.description, Hazard.severity, Hazard.status, Hazard.deadline, Subject.name,
                    Subject.lat, Subject.lon).join(Subject, Subject.id == Hazard.subject_id)
             .where(Hazard.status.in_(OPEN)))
    if districts is not None:
        query = query.where(Hazard.district_code.in_(sorted(districts)))
    if domain:
        query = query.where(Hazard.domain == domain)
    if severity:
        query = query.where(Hazard.severity == severity)
    if subject_filter:
        query = query.where(Hazard.subject_id == subject_filter)
    rows = db.session.execute(query.order_by(Hazard.created_at.desc()).limit(limit + 1)).all()
    truncated = len(rows) > limit
    hazards = []
    for row in rows[:limit]:
        lat, lon = _point(row.lat, row.lon)
        hazards.append({"lat": lat, "lon": lon, "severity": row.severity, "title": row.description,
                        "detail": f"{row.name} · {i18n.label('hazard_status', row.status)} · {row.deadline}",
                        "url": url_for("console.hazard_detail", hazard_id=row.id)})
    subjects = []
    subject_query = select(Subject.id, Subject.name, Subject.address, Subject.lat, Subject.lon)
    if subject_filter:
        subject_query = subject_query.where(Subject.id == subject_filter)
    if districts is not None:
        subject_query = subject_query.where(Subject.district_code.in_(sorted(districts)))
    if domain:
        subject_query = subject_query.where(Subject.domain == domain)
    for row in db.session.execute(subject_query.limit(limit)):
        lat, lon = _point(row.lat, row.lon)
        subjects.append({"lat": lat, "lon": lon, "title": row.name, "detail": row.address,
                         "url": url_for("console.subject_detail", subject_id=row.id)})
    return jsonify(hazards=hazards, subjects=subjects, truncated=truncated, crs=_tile_crs())


@bp.route("/map/districts.geojson")
def map_outlines():
    """Return the schematic district outlines (see server/console/outlines.py) in the tile layer's system."""
    names = dict(db.session.execute(select(District.code, District.name)).all())
    visible = auth.visible()
    response = jsonify(outlines.geojson(names=names, codes=visible, tile_crs=_tile_crs()))
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
