"""Operations commands for credit: ``flask --app server credit standard show|check``, ``credit score``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from server.extensions import db

credit_cli = AppGroup("credit", help="Enterprise credit (诚信分值): the standard, scores and grades.")
standard_cli = AppGroup("standard", help="The credit standard (rule data in config/rules/credit_standard.yaml).")
credit_cli.add_command(standard_cli)


def _load(path):
    from server.credit import service as credit_service
    from server.credit import standard as standard_rules

    try:
        return standard_rules.load_file(path or credit_service.standard_path())
    except ValueError as error:
        raise click.ClickException(str(error)) from None


@standard_cli.command("show")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def show(path):
    """Print a standard (default: the one in force): base, grades, rules."""
    from server.credit import standard as standard_rules

    for line in standard_rules.describe(_load(path)):
        click.echo(line)


@standard_cli.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--ledger/--no-ledger", default=True, help="Also compare with the versions the ledger has used.")
def check(path, ledger):
    """Validate a standard file; exit 1 naming the file and rule at the first error.

    Also checks that every checklist's credit_rule is a rule of the file, and
    that the file does not change a version the ledger has already used.
    """
    from flask import current_app

    from server.credit.models import CreditStandardVersion
    from server.inspections import checklists as checklist_rules

    rules = _load(path)
    codes = frozenset(rule.code for rule in rules.rules)
    directory = Path(current_app.config["RULES_DIR"]) / "checklists"
    try:
        checked = [checklist_rules.load_file(file, credit_rules=codes) for file in sorted(directory.glob("*.yaml"))]
    except ValueError as error:
        raise click.ClickException(f"{error} (checked against {path})") from None
    if ledger:
        try:
            used = {row.version: row.digest for row in db.session.scalars(
                select(CreditStandardVersion).where(CreditStandardVersion.code == rules.code))}
        except SQLAlchemyError as error:
            db.session.rollback()
            click.echo(f"ledger not checked: {error.__class__.__name__}", err=True)
            used = None
        if used is not None:
            if rules.version in used and used[rules.version] != rules.digest:
                raise click.ClickException(
                    f"{path}: version {rules.version} of {rules.code} is already used by the ledger with other "
                    f"content; raise version to change points, validity, grades or rules")
            if used:
                click.echo(f"versions used by the ledger: {', '.join(str(v) for v in sorted(used))}")
    click.echo(f"{path}: {rules.code} version {rules.version} is valid: {len(rules.rules)} rules, "
               f"grades {', '.join(b.grade for b in rules.bands)}; {len(checked)} checklists reference only its rules")


@credit_cli.command("score")
@click.argument("credit_code")
@click.option("--as-of", "as_of", default=None, help="A local date, YYYY-MM-DD (default: now).")
def score(credit_code, as_of):
    """Print an enterprise's score and grade, and the deductions that count."""
    from server import clock
    from server.credit import service as credit_service
    from server.database import utcnow
    from server.registry.models import Enterprise

    enterprise = db.session.scalar(select(Enterprise).where(Enterprise.credit_code == credit_code.upper()))
    if enterprise is None:
        raise click.ClickException(f"no enterprise with credit code {credit_code}")
    try:
        at = credit_service.end_of_day(date.fromisoformat(as_of)) if as_of else utcnow()
    except ValueError:
        raise click.ClickException(f"--as-of {as_of!r}: expected YYYY-MM-DD") from None
    result = credit_service.score(enterprise=enterprise, at=at)
    click.echo(f"{enterprise.name} ({enterprise.credit_code}, {enterprise.kind}) as of "
               f"{clock.local(at).isoformat(timespec='seconds')}: score {result['score']}, grade {result['grade']}"
               + (" (一票否决)" if result["veto"] else ""))
    for row in result["counted"]:
        click.echo(f"  #{row.id} {row.rule_code} -{row.points} since {clock.local(row.effective_at).date()} "
                   f"until {clock.local(row.valid_until).date()} ({row.source_kind})")


commands = [credit_cli]
