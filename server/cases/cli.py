"""Operations commands for cases: ``flask --app server cases ...`` (create, list, show, evidence, transfer,
accept, decide, return, close, dossier, verify).

CASE is a case number as written (银建罚移〔2026〕7号) or the case's id. The
acting officer is named with ``--actor USERNAME`` and must hold the
enforcement role; what it may see is limited to its districts, as in the API.
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid

import click
from flask.cli import AppGroup
from sqlalchemy import select

from server.errors import ProblemError
from server.extensions import db

cases_cli = AppGroup("cases", help="Cases transferred to enforcement (移交违法案件) and their dossiers.")


def _fail(error: ProblemError) -> click.ClickException:
    db.session.rollback()
    details = "; ".join(f"{field}: {', '.join(messages)}" for field, messages in (error.errors or {}).items())
    extra = f" ({details})" if details and details not in error.detail else ""
    return click.ClickException(f"{error.detail}{extra}")


def _actor(username: str):
    """Return the acting officer and the districts it sees."""
    from server.accounts import service as account_service
    from server.accounts.enums import Role
    from server.accounts.models import User

    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise click.ClickException(f"no active user {username!r}")
    if not user.has_role(Role.ENFORCEMENT):
        raise click.ClickException(f"{username} does not hold the enforcement role")
    return user, account_service.visible_districts(user)


def _load(schema, data: dict) -> dict:
    """Validate ``data`` with an API schema; a failure names each field."""
    from marshmallow import ValidationError

    from server.errors import flatten_messages

    try:
        return schema.load(data)
    except ValidationError as error:
        flat = flatten_messages(error.messages)
        raise click.ClickException("; ".join(f"{k}: {', '.join(v)}" for k, v in flat.items())) from None


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as error:
        raise click.ClickException(f"{path}: {error}") from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{path}: expected a JSON object")
    return data


def _line(case) -> str:
    from server.cases import service as case_service

    return (f"{case.id:>5}  {case.case_no:<24} {case.status:<12} {case.party_name}  {case.cause}  "
            f"(decision due {case.decision_due}, {case_service.days_left(case)} days left)")


def _find(case: str, districts):
    from server.cases import service as case_service

    found = case_service.get_by_number(case_no=case)
    return case_service.get(case_id=found.id, districts=districts)


@cases_cli.command("create")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--actor", required=True, help="Username of the enforcement officer filing the case.")
def create(path, actor):
    """File a case from a JSON file shaped as the API's POST /cases body (client_key optional here)."""
    from field_app_api.cases import CaseInSchema
    from server.cases import service as case_service

    user, districts = _actor(actor)
    data = _read_json(path)
    data.setdefault("client_key", str(uuid.uuid4()))
    body = _load(CaseInSchema(), data)
    try:
        case, created = case_service.create(data=body, actor=user, districts=districts)
        db.session.commit()
    except ProblemError as error:
        raise _fail(error) from None
    click.echo(("filed " if created else "already filed ") + _line(case))


@cases_cli.command("list")
@click.option("--status", default=None, help="Only cases in this state.")
@click.option("--overdue", is_flag=True, help="Only cases past the 90-day limit without a decision.")
def list_cases(status, overdue):
    """List cases, newest first."""
    from server.cases import service as case_service

    cursor = None
    while True:
        rows, cursor = case_service.list_page(districts=None, status=status, overdue=True if overdue else None,
                                              cursor=cursor, limit=500)
        for case in rows:
            click.echo(_line(case))
        if cursor is None:
            break


@cases_cli.command("show")
@click.argument("case")
def show(case):
    """Print a case with its evidence and events as JSON."""
    from server.cases import dossier
    from server.cases import service as case_service

    try:
        row = case_service.get_by_number(case_no=case)
    except ProblemError as error:
        raise _fail(error) from None
    click.echo(json.dumps(dossier.case_data(row), ensure_ascii=False, indent=2))


@cases_cli.command("evidence")
@click.argument("case")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--actor", required=True, help="Username of the enforcement officer.")
def add_evidence(case, path, actor):
    """Add an item of evidence from a JSON file: {"kind", "description", "photos": [sha256], "records": [...]}."""
    from field_app_api.cases import EvidenceAddSchema
    from server.cases.enums import Action

    _act(case, actor, Action.ADD_EVIDENCE, EvidenceAddSchema(), _read_json(path))


def _act(case: str, actor: str, action, schema, data: dict) -> None:
    from server.cases import flows as case_flows

    user, districts = _actor(actor)
    body = _load(schema, {k: v for k, v in data.items() if v is not None})
    try:
        row = _find(case, districts)
        event, created = case_flows.act(case_id=row.id, action=action, data=body, actor=user, districts=districts)
        db.session.commit()
    except ProblemError as error:
        raise _fail(error) from None
    click.echo(f"{event.type}: " + _line(row) + ("" if created else " (already done)"))
    if event.data.get("dossier_sha256"):
        click.echo(f"dossier SHA-256 {event.data['dossier_sha256']} ({event.data['dossier_files']} files)")


@cases_cli.command("transfer")
@click.argument("case")
@click.option("--actor", required=True, help="Username of the enforcement officer.")
@click.option("--agency", default=None, help="Receiving agency (default: CASE_RECEIVING_AGENCY).")
@click.option("--on", "on", default=None, help="Transfer date YYYY-MM-DD (default: today).")
@click.option("--key", default=None, help="Client key, to make a repeated command safe (default: a new one).")
def transfer(case, actor, agency, on, key):
    """Transfer a complete case with its dossier (移送)."""
    from field_app_api.cases import TransferInSchema
    from server.cases.enums import Action

    _act(case, actor, Action.TRANSFER, TransferInSchema(),
         {"client_key": key or str(uuid.uuid4()), "receiving_agency": agency, "transferred_on": on})


@cases_cli.command("accept")
@click.argument("case")
@click.option("--actor", required=True)
@click.option("--on", "on", default=None, help="Acceptance (receipt) date YYYY-MM-DD (default: today).")
def accept(case, actor, on):
    """Record that the receiving agency accepted the case (受理)."""
    from field_app_api.cases import AcceptInSchema
    from server.cases.enums import Action

    _act(case, actor, Action.ACCEPT, AcceptInSchema(), {"accepted_on": on})


@cases_cli.command("decide")
@click.argument("case")
@click.option("--actor", required=True)
@click.option("--kind", "kinds", multiple=True, required=True, help="Penalty kind (fine, warning, ...); repeat.")
@click.option("--amount", default=None, help="Fine in yuan.")
@click.option("--decision-no", required=True, help="Number of the penalty decision (行政处罚决定书文号).")
@click.option("--on", "on", default=None, help="Decision date YYYY-MM-DD (default: today).")
def decide(case, actor, kinds, amount, decision_no, on):
    """Record the penalty decision (处罚决定)."""
    from field_app_api.cases import DecideInSchema
    from server.cases.enums import Action

    _act(case, actor, Action.DECIDE, DecideInSchema(),
         {"penalty_kinds": list(kinds), "amount_yuan": amount, "decision_no": decision_no, "decided_on": on})


@cases_cli.command("return")
@click.argument("case")
@click.option("--actor", required=True)
@click.option("--reason", required=True, help="Why the agency returned the case (退回理由).")
@click.option("--on", "on", default=None)
def return_case(case, actor, reason, on):
    """Record that the receiving agency returned the case (退回)."""
    from field_app_api.cases import ReturnInSchema
    from server.cases.enums import Action

    _act(case, actor, Action.RETURN, ReturnInSchema(), {"reason": reason, "returned_on": on})


@cases_cli.command("close")
@click.argument("case")
@click.option("--actor", required=True)
@click.option("--note", default=None)
def close(case, actor, note):
    """Close a decided (or returned) case (结案)."""
    from field_app_api.cases import CloseInSchema
    from server.cases.enums import Action

    _act(case, actor, Action.CLOSE, CloseInSchema(), {"note": note})


@cases_cli.command("dossier")
@click.argument("case")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Where to write the ZIP.")
def write_dossier(case, output):
    """Write a case's dossier: the one sent with the transfer, or one built now for a draft."""
    from server.cases import flows as case_flows
    from server.cases import service as case_service

    try:
        row = case_service.get_by_number(case_no=case)
        handle, sha256 = case_flows.dossier_file(case=row)
    except ProblemError as error:
        raise _fail(error) from None
    with handle, open(output, "wb") as out:
        shutil.copyfileobj(handle, out)
    click.echo(f"{output}: dossier of {row.case_no}, SHA-256 {sha256}")


@cases_cli.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def verify(path):
    """Check a dossier ZIP against its manifest; exit 1 naming each missing, altered or unlisted file."""
    from server.cases import dossier

    result = dossier.verify(path)
    if not result.ok:
        for line in result.problems():
            click.echo(line, err=True)
        click.echo(f"{path}: NOT intact ({len(result.problems())} problems, {result.checked} files checked)", err=True)
        sys.exit(1)
    click.echo(f"{path}: intact, {result.checked} files match manifest.json of {result.case_no} "
               f"(manifest SHA-256 {result.manifest_sha256})")


commands = [cases_cli]
