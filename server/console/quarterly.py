"""The quarterly analysis in the console (每季度安全生产形势分析): snapshots, making one, the figures with
charts, and the XLSX and DOCX downloads. For the safety committee, administrators and city-level leaders.

The page's words are given in both languages here (``text(zh, en)``) rather than in the console's
catalogue, so that this page can change without recompiling it. The charts are the report's own
(``server.reports.quarterly_charts``) served as PNG; a snapshot never changes, so each chart is drawn
once per process and cached.
"""

from __future__ import annotations

import io
from collections import OrderedDict

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale

from server import clock, database
from server.accounts.enums import Role
from server.console import auth, bp, nav
from server.database import utcnow
from server.extensions import db
from server.errors import ProblemError
from server.fonts import FontMissing
from server.reports import quarterly as report_service

ROLES = (Role.COMMITTEE, Role.LEADER, Role.ADMIN)
QUARTERS_OFFERED = 8  # complete quarters offered for making, newest first (with the running one)


def text(zh: str, en: str) -> str:
    """Return the words of this page in the language of the request."""
    locale = get_locale()
    return zh if locale is None or locale.language == "zh" else en


class _Label:
    """A navigation label read when shown, in the language of that request."""

    def __init__(self, zh: str, en: str):
        self.zh, self.en = zh, en

    def __str__(self) -> str:
        return text(self.zh, self.en)


nav.NAV.append(nav.NavEntry("console.quarterly", _Label("季度分析", "Quarterly analysis"), roles=ROLES,
                            prefix="/console/reports/quarterly"))


def _reader():
    user = auth.current_user()
    if not report_service.may_read(user):
        raise ProblemError("forbidden", text("季度安全生产形势分析为全市汇总，仅限安委会、市级领导和管理员查看。",
                                             "The quarterly analysis is city-wide: only the safety committee, "
                                             "city-level leaders and administrators may see it."))
    return user


def _offered() -> list[str]:
    """Return the quarters one may make now: the running one, then the complete ones, newest first."""
    current = report_service.quarter_of(clock.local(utcnow()).date())
    return [report_service.shift(current, -n) for n in range(QUARTERS_OFFERED + 1)]


@bp.route("/reports/quarterly")
@auth.require(*ROLES)
def quarterly():
    """List the snapshots and offer to make one."""
    _reader()
    reports = report_service.listing()
    return render_template("console/quarterly.html", t=text, label=report_service.label, reports=reports,
                           makers=report_service.makers(reports),
                           offered=[(q, report_service.label(q)) for q in _offered()],
                           default=report_service.last_complete(utcnow()))


@bp.route("/reports/quarterly", methods=["POST"])
@auth.require(*ROLES)
def quarterly_make():
    """Make a new version of the quarter chosen, then show it."""
    user = _reader()
    quarter = (request.form.get("quarter") or "").strip()
    # The figures are read beside other writers (SQLite); only the new row takes the write lock.
    database.end_reading()  # the transaction that loaded the user
    with database.reading():
        figures = report_service.build(quarter)
    database.end_reading()
    report = report_service.store(figures=figures, made_by=user.id)
    db.session.commit()
    flash(text(f"已生成{report.figures['label']}分析（第{report.version}版）。",
               f"The analysis of {report.quarter} is made (version {report.version})."), "success")
    return redirect(url_for("console.quarterly_detail", quarter=report.quarter, version=report.version))


def _version() -> int | None:
    value = request.args.get("version")
    if value in (None, ""):
        return None
    if not value.isdigit() or not 1 <= int(value) <= 10_000:
        raise ProblemError("validation_error", text("版本号不正确。", "Not a version number."))
    return int(value)


@bp.route("/reports/quarterly/<quarter>")
@auth.require(*ROLES)
def quarterly_detail(quarter):
    """Show a snapshot: key figures beside the other quarters, the tables and the charts."""
    _reader()
    report = report_service.latest(quarter, version=_version())
    versions = report_service.listing(quarter=report.quarter)
    charts = _charts(report)
    return render_template("console/quarterly_detail.html", t=text, report=report, f=report.figures,
                           maker=report_service.makers([report]).get(report.made_by), versions=versions,
                           verified=report_service.verify(report), charts=[c.title for c in charts],
                           domain_names=report_service.DOMAIN_NAMES, severity_names=report_service.SEVERITY_NAMES)


_DRAWN: OrderedDict[str, tuple] = OrderedDict()  # sha256 of the figures -> their charts
_KEEP = 16


def _charts(report) -> tuple:
    """Return a snapshot's charts, drawn once per process: they are a function of the figures alone."""
    from server.reports import quarterly_charts

    drawn = _DRAWN.get(report.sha256)
    if drawn is None:
        try:
            drawn = tuple(quarterly_charts.draw(report.figures))
        except FontMissing:
            return ()
        _DRAWN[report.sha256] = drawn
        while len(_DRAWN) > _KEEP:
            _DRAWN.popitem(last=False)
    return drawn


@bp.route("/reports/quarterly/<quarter>/v<int:version>/chart-<int:number>.png")
@auth.require(*ROLES)
def quarterly_chart(quarter, version, number):
    """Return one chart of a snapshot as PNG."""
    _reader()
    report = report_service.latest(quarter, version=version)
    charts = _charts(report)
    if not 1 <= number <= len(charts):
        abort(404)
    response = send_file(io.BytesIO(charts[number - 1].png), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return response


@bp.route("/reports/quarterly/<quarter>/download/<kind>")
@auth.require(*ROLES)
def quarterly_download(quarter, kind):
    """Download a snapshot's tables (XLSX) or its report (DOCX)."""
    _reader()
    if kind not in ("xlsx", "docx"):
        abort(404)
    report = report_service.latest(quarter, version=_version())
    if kind == "xlsx":
        data, media = report_service.xlsx(report), report_service.XLSX_TYPE
    else:
        try:
            data, media = report_service.docx(report), report_service.DOCX_TYPE
        except FontMissing as error:
            raise ProblemError("internal_error", str(error)) from None
    response = send_file(io.BytesIO(data), mimetype=media, as_attachment=True,
                         download_name=report_service.file_name(report, kind))
    response.headers["X-Snapshot-SHA256"] = report.sha256
    return response
