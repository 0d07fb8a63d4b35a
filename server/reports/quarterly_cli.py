"""``flask --app server reports quarterly make|list|show|xlsx|docx``: the quarterly analysis on the command line."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from server import clock
from server.errors import ProblemError
from server.extensions import db

reports_cli = AppGroup("reports", help="Reports: the quarterly analysis (每季度安全生产形势分析).")
quarterly_cli = AppGroup("quarterly", help="Quarterly analysis snapshots: make, list, show, download.")
reports_cli.add_command(quarterly_cli)


def _fail(error: ProblemError) -> click.ClickException:
    db.session.rollback()
    details = "; ".join(f"{field}: {', '.join(messages)}" for field, messages in (error.errors or {}).items())
    return click.ClickException(details or error.detail)


def _local(value: datetime) -> str:
    return clock.local(value).strftime("%Y-%m-%d %H:%M")


def _report(quarter: str, version: int | None):
    from server.reports import quarterly

    try:
        return quarterly.latest(quarter, version=version)
    except ProblemError as error:
        raise _fail(error) from None


def _show(value, kind: str) -> str:
    from server.reports.quarterly_docx import pct

    if value is None:
        return "—"
    if kind == "rate":
        return pct(value)
    return str(value)


@quarterly_cli.command("make")
@click.argument("quarter")
@click.option("--actor", default=None, metavar="USERNAME",
              help="Who makes it (a new version each time). Without it: the scheduler's snapshot, made once.")
def make(quarter, actor):
    """Compute a quarter such as 2026Q3 from the records as they were at its end; keep it as a snapshot."""
    from server.accounts.models import User
    from server.reports import quarterly

    try:
        quarter = quarterly.parse_quarter(quarter)
        if actor is None:
            existing = quarterly.scheduled(quarter)
            if existing is not None:
                db.session.rollback()
                click.echo(f"{quarter}: the scheduler's snapshot exists (version {existing.version}); "
                           "give --actor to make a new version")
                return
            report = quarterly.make(quarter, actor=None)
        else:
            user = db.session.scalar(select(User).where(User.username == actor))
            if user is None:
                raise click.ClickException(f"no user {actor!r}")
            report = quarterly.make(quarter, actor=user)
    except ProblemError as error:
        raise _fail(error) from None
    db.session.commit()
    click.echo(f"{report.quarter} version {report.version} made at {_local(report.made_at)}, "
               f"figures as of {_local(report.as_of)}{'' if report.complete else ' (quarter still running)'}")
    click.echo(f"sha256 {report.sha256}")


@quarterly_cli.command("list")
@click.option("--quarter", default=None, help="Only this quarter.")
def list_reports(quarter):
    """List the snapshots, newest first: quarter, version, made when and by whom, digest."""
    from server.reports import quarterly

    try:
        reports = quarterly.listing(quarter=quarter)
    except ProblemError as error:
        raise _fail(error) from None
    users = quarterly.makers(reports)
    for r in reports:
        who = users[r.made_by].username if r.made_by in users else "scheduler"
        click.echo(f"{r.quarter}  v{r.version:<3} {_local(r.made_at)}  {who:<16} "
                   f"{'complete' if r.complete else 'partial '}  {r.sha256[:16]}")
    db.session.rollback()


@quarterly_cli.command("show")
@click.argument("quarter")
@click.option("--version", type=int, default=None, help="A version (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole snapshot's figures as JSON.")
def show(quarter, version, as_json):
    """Print a snapshot's key figures beside the previous quarter and a year before, and check its digest."""
    from server.reports import quarterly

    report = _report(quarter, version)
    ok = quarterly.verify(report)
    if as_json:
        click.echo(json.dumps(report.figures, ensure_ascii=False, indent=2))
    else:
        figures = report.figures
        comparisons = figures["comparisons"]
        click.echo(f"{figures['label']} version {report.version}, as of {_local(report.as_of)}; "
                   f"sha256 {report.sha256} ({'verified' if ok else 'DOES NOT MATCH THE FIGURES'})")
        click.echo(f"{'':24}{figures['quarter']:>12}{comparisons['previous']['quarter']:>12}"
                   f"{comparisons['year_ago']['quarter']:>12}")
        for row in comparisons["rows"]:
            label = row["label"]
            pad = 24 - sum(2 if ord(c) > 0x2E7F else 1 for c in label)
            click.echo(f"{label}{' ' * max(pad, 1)}{_show(row['value'], row['kind']):>12}"
                       f"{_show(row['previous'], row['kind']):>12}{_show(row['year_ago'], row['kind']):>12}")
    db.session.rollback()
    if not ok:
        raise click.ClickException("the stored figures do not match their SHA-256")


def _write(quarter: str, version: int | None, output: str | None, kind: str) -> None:
    from server.reports import quarterly

    report = _report(quarter, version)
    data = quarterly.xlsx(report) if kind == "xlsx" else quarterly.docx(report)
    path = Path(output) if output else Path(quarterly.file_name(report, kind))
    path.write_bytes(data)
    db.session.rollback()
    click.echo(f"written {path} ({len(data):,} bytes)")


@quarterly_cli.command("xlsx")
@click.argument("quarter")
@click.option("--version", type=int, default=None, help="A version (default: the latest).")
@click.option("-o", "--output", default=None, help="The file to write (default: its name in this folder).")
def xlsx(quarter, version, output):
    """Write a snapshot's tables as an XLSX workbook."""
    _write(quarter, version, output, "xlsx")


@quarterly_cli.command("docx")
@click.argument("quarter")
@click.option("--version", type=int, default=None, help="A version (default: the latest).")
@click.option("-o", "--output", default=None, help="The file to write (default: its name in this folder).")
def docx(quarter, version, output):
    """Write a snapshot as a report laid out as a government document, with charts (DOCX)."""
    from server.fonts import FontMissing

    try:
        _write(quarter, version, output, "docx")
    except FontMissing as error:
        raise click.ClickException(str(error)) from None
