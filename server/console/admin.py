"""Administration the services do not offer yet: editing users (roles, districts, state), uploading rule
versions, imports with an error report. Each change is audited; services never commit (the view does)."""

from __future__ import annotations

import csv
import io
import os
import tempfile
import uuid
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from server.accounts import service as account_service
from server.accounts.enums import Role
from server.accounts.models import User, UserDistrict, UserRole
from server.audit import service as audit_service
from server.credit import standard as standard_rules
from server.errors import ProblemError, validation_error
from server.extensions import db
from server.inspections import checklists as checklist_rules
from server.inspections import service as inspection_service
from server.registry import importer

MAX_RULE_BYTES = 1024 * 1024


def _refuse_deactivating_self(*, user: User, active: bool, actor: User) -> None:
    if user.id == actor.id and not active:
        raise ProblemError("conflict", _("You cannot deactivate your own account."))


def set_active(*, user: User, active: bool, actor: User) -> int:
    """Allow or refuse a user's sign-ins (console and API); an administrator cannot lock themself out.

    Deactivating revokes the user's API tokens too; return how many were revoked.
    """
    _refuse_deactivating_self(user=user, active=active, actor=actor)
    if user.active == active:
        return 0
    user.active = active
    revoked = 0 if active else account_service.revoke_tokens(user_id=user.id)
    data = {"username": user.username} if active else {"username": user.username, "tokens_revoked": revoked}
    audit_service.record(action="user.activated" if active else "user.deactivated", entity="user",
                         entity_id=user.id, actor_id=actor.id, data=data)
    return revoked


def _narrowed(before: frozenset[str] | None, after: frozenset[str] | None) -> bool:
    """Tell whether a user now sees less than before (None: the whole city)."""
    return after is not None and (before is None or not after >= before)


def update_user(*, user: User, roles: list[str], districts: list[str], active: bool, actor: User) -> int:
    """Change a user's roles, districts and state; return how many API tokens were revoked.

    Roles must be known and at least one; districts must exist. An
    administrator can neither drop their own administrator role nor
    deactivate themself. A user deactivated, or now seeing less (a district
    lost, a city-wide role dropped), has every API token revoked: the phone
    signs in again and syncs what the user may now see. The change is audited (``user.updated``; ``user.deactivated`` /
    ``user.activated`` for the state).
    """
    roles, districts = sorted(set(roles)), sorted(set(districts))
    if not roles:
        raise ProblemError("validation_error", _("Choose at least one role."))
    if unknown := account_service.unknown_roles(roles):
        raise ProblemError("validation_error", _("Unknown role: %(roles)s.", roles=", ".join(unknown)))
    if unknown := account_service.unknown_districts(districts):
        raise ProblemError("validation_error", _("Unknown district code: %(codes)s.", codes=", ".join(unknown)))
    if user.id == actor.id and Role.ADMIN not in roles:
        raise ProblemError("conflict", _("You cannot remove your own administrator role."))
    _refuse_deactivating_self(user=user, active=active, actor=actor)  # before anything changes
    before_roles, before_districts = user.roles, user.districts
    before_scope = account_service.visible_districts(user)
    revoked = 0
    if (roles, districts) != (before_roles, before_districts):
        user.role_rows = [r for r in user.role_rows if r.role in roles] + [
            UserRole(role=r) for r in roles if r not in before_roles]
        user.district_rows = [d for d in user.district_rows if d.district_code in districts] + [
            UserDistrict(district_code=d) for d in districts if d not in before_districts]
        db.session.flush()
        if _narrowed(before_scope, account_service.visible_districts(user)):
            revoked = account_service.revoke_tokens(user_id=user.id)
        audit_service.record(action="user.updated", entity="user", entity_id=user.id, actor_id=actor.id, data={
            "username": user.username, "roles": {"from": before_roles, "to": roles},
            "districts": {"from": before_districts, "to": districts}, "tokens_revoked": revoked})
    return revoked + set_active(user=user, active=active, actor=actor)


def _rules_dir() -> Path:
    return Path(current_app.config["RULES_DIR"])


def _write_atomically(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _parse_upload(content: bytes, loader):
    """Validate uploaded rule data with the loader the server itself uses; 422 with its message."""
    if not content:
        raise validation_error("file", _("choose a file"))
    if len(content) > MAX_RULE_BYTES:
        raise validation_error("file", _("the file is larger than 1 MiB"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.yaml"
        path.write_bytes(content)
        try:
            return loader(path)
        except ValueError as error:
            raise validation_error("file", str(error).replace(str(path), "upload")) from None


def upload_checklist(*, content: bytes, actor: User) -> checklist_rules.Checklist:
    """Add a checklist version: validated, refused if its code and version exist, then written beside the others.

    A version already used is never replaced (inspections refer to it): a
    change is a new file with a higher version.
    """
    from server.credit import service as credit_service

    known = checklist_rules.credit_rule_codes(credit_service.standard_path())
    checklist = _parse_upload(content, lambda path: checklist_rules.load_file(path, credit_rules=known))
    existing = {(c.code, c.version) for c in inspection_service.checklists()}
    if (checklist.code, checklist.version) in existing:
        raise ProblemError("conflict", _("Checklist %(code)s version %(version)s exists already; raise the version.",
                                         code=checklist.code, version=checklist.version))
    others = [c for c in inspection_service.checklists() if c.code == checklist.code]
    if others and others[0].domain != checklist.domain:
        raise validation_error("file", _("checklist %(code)s is for another field", code=checklist.code))
    _write_atomically(_rules_dir() / "checklists" / f"{checklist.code}-v{checklist.version}.yaml", content)
    current_app.extensions.pop("checklists", None)  # read again on next use (other workers: on restart)
    audit_service.record(action="checklist.uploaded", entity="checklist",
                         entity_id=f"{checklist.code}@{checklist.version}", actor_id=actor.id,
                         data={"items": len(checklist.items), "domain": checklist.domain})
    return checklist


def upload_credit_standard(*, content: bytes, actor: User) -> standard_rules.Standard:
    """Put a new version of the credit standard in force; the old file is kept beside it.

    It must keep the standard's code, raise its version and still define every
    rule the checklists name. Deductions already made keep the version they were
    made under (the ledger froze it).
    """
    from server.credit import service as credit_service

    current = credit_service.standard()
    new = _parse_upload(content, standard_rules.load_file)
    if new.code != current.code:
        raise validation_error("file", _("the standard's code must stay %(code)s", code=current.code))
    if new.version <= current.version:
        raise ProblemError("conflict", _("Version %(version)s is not newer than the version in force (%(current)s).",
                                         version=new.version, current=current.version))
    named = {item.credit_rule for c in inspection_service.checklists() for item in c.items if item.credit_rule}
    missing = sorted(named - {rule.code for rule in new.rules})
    if missing:
        raise validation_error("file", _("rules named by the checklists are missing: %(codes)s",
                                         codes=", ".join(missing)))
    path = credit_service.standard_path()
    _write_atomically(path.with_name(f"{path.stem}-v{current.version}{path.suffix}"), path.read_bytes())
    _write_atomically(path, content)
    audit_service.record(action="credit.standard_uploaded", entity="credit_standard",
                         entity_id=f"{new.code}@{new.version}", actor_id=actor.id,
                         data={"previous": current.version, "rules": len(new.rules)})
    return new


def _imports_dir() -> Path:
    return Path(current_app.instance_path) / "imports"


def run_import(*, stream, filename: str, actor: User) -> tuple[importer.ImportReport, str | None]:
    """Import an uploaded register file (CSV or XLSX); return the report and the id of its error report."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise validation_error("file", _("upload a .csv or .xlsx file"))
    folder = _imports_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=suffix, delete=False) as out:
        stream.save(out)
        path = Path(out.name)
    try:
        report = importer.import_file(path)
    finally:
        path.unlink(missing_ok=True)
    audit_service.record(action="registry.imported", entity="registry", entity_id=filename[:64], actor_id=actor.id,
                         data={"rows": report.rows, "created": report.created, "updated": report.updated,
                               "errors": len(report.errors)})
    report_id = None
    if report.errors:
        report_id = uuid.uuid4().hex
        buffer = io.StringIO()
        buffer.write("\ufeff")
        writer = csv.writer(buffer)
        writer.writerow([_("Row"), _("Reason")])
        for error in report.errors:
            writer.writerow([error.row, error.reason])
        (folder / f"errors-{report_id}.csv").write_text(buffer.getvalue(), encoding="utf-8")
    return report, report_id


def error_report_path(report_id: str) -> Path:
    """Return the path of an import's error report; 404 for anything but an id this server gave."""
    if len(report_id) != 32 or not all(c in "0123456789abcdef" for c in report_id):
        raise ProblemError("not_found", _("No such report."))
    path = _imports_dir() / f"errors-{report_id}.csv"
    if not path.is_file():
        raise ProblemError("not_found", _("No such report."))
    return path
