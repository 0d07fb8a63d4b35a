"""The map: open hazards and subjects over district outlines, on the configured tile layer or none.

Positions are stored in WGS-84 and converted here to the tile layer's system
(``TILE_CRS``: wgs84 for Tianditu's CGCS2000, gcj02 for Amap-style tiles), so
that a marker sits on the right building of the tiles it is drawn over.
"""

from __future__ import annotations

import uuid

from flask import current_app, jsonify, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from server.accounts.models import District
from server.console import auth, bp, i18n, lists, outlines
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


def _point(lat: float, lon: float, tile_crs: str | None = None) -> tuple[float, float]:
    lat, lon = crs.from_wgs84(lat, lon, tile_crs or _tile_crs())
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


def _url_maker(endpoint: str, name: str):
    """Return id -> the URL of ``endpoint`` for that id, built once by url_for."""
    marker = uuid.UUID(int=0)
    template = url_for(endpoint, **{name: marker})
    head, tail = template.split(str(marker), 1)
    return lambda value: f"{head}{value}{tail}"


@bp.route("/map/points.json")
def map_points():
    """Return the open hazards (newest first, at most CONSOLE_MAP_MAX_POINTS) and the subjects to draw."""
    limit = int(current_app.config.get("CONSOLE_MAP_MAX_POINTS", 3000))
    districts = _districts()
    domain = arg("domain", DOMAINS)
    severity = arg("severity", ("general", "major"))
    subject_filter = uuid_value(arg("subject"), "subject") if arg("subject") else None
    where = []
    if domain:
        where.append(Hazard.domain == domain)
    if severity:
        where.append(Hazard.severity == severity)
    if subject_filter:  # a subject's few hazards, through its index
        where.extend([Hazard.status.in_(OPEN), Hazard.subject_id == subject_filter])
        top = select(Hazard.id.label("id"), Hazard.created_at.label("at")).where(*where)
        if districts is not None:
            top = top.where(Hazard.district_code.in_(sorted(districts)))
        top = top.order_by(Hazard.created_at.desc(), Hazard.id.desc()).limit(limit + 1)
    else:  # the newest open hazards of each district, from an index (lists.newest_open)
        top = lists.newest_open(where=where, districts=districts, limit=limit + 1)
    top = top.subquery()
    rows = db.session.execute(
        select(Hazard.id, Hazard.description, Hazard.severity, Hazard.status, Hazard.deadline, Subject.name,
               Subject.lat, Subject.lon).select_from(top).join(Hazard, Hazard.id == top.c.id)
        .join(Subject, Subject.id == Hazard.subject_id).order_by(top.c.at.desc(), top.c.id.desc())).all()
    truncated = len(rows) > limit
    # One URL built, the others by putting each id in it (url_for costs ~20 µs; 6,000 points).
    hazard_url = _url_maker("console.hazard_detail", "hazard_id")
    subject_url = _url_maker("console.subject_detail", "subject_id")
    tile_crs = _tile_crs()
    status_names = {status: i18n.label("hazard_status", status) for status in OPEN}
    hazards = []
    for row in rows[:limit]:
        lat, lon = _point(row.lat, row.lon, tile_crs)
        hazards.append({"lat": lat, "lon": lon, "severity": row.severity, "title": row.description,
                        "detail": f"{row.name} · {status_names.get(row.status, row.status)} · {row.deadline}",
                        "url": hazard_url(row.id)})
    subjects = []
    subject_query = select(Subject.id, Subject.name, Subject.address, Subject.lat, Subject.lon)
    if subject_filter:
        subject_query = subject_query.where(Subject.id == subject_filter)
    if districts is not None:
        subject_query = subject_query.where(Subject.district_code.in_(sorted(districts)))
    if domain:
        subject_query = subject_query.where(Subject.domain == domain)
    for row in db.session.execute(subject_query.limit(limit)):
        lat, lon = _point(row.lat, row.lon, tile_crs)
        subjects.append({"lat": lat, "lon": lon, "title": row.name, "detail": row.address,
                         "url": subject_url(row.id)})
    return jsonify(hazards=hazards, subjects=subjects, truncated=truncated, crs=_tile_crs())


@bp.route("/map/districts.geojson")
def map_outlines():
    """Return the schematic district outlines (see server/console/outlines.py) in the tile layer's system."""
    names = dict(db.session.execute(select(District.code, District.name)).all())
    visible = auth.visible()
    response = jsonify(outlines.geojson(names=names, codes=visible, tile_crs=_tile_crs()))
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
