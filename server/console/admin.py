"""Administration the services do not offer yet: (de)activating users, uploading rule versions, imports with
an error report. Each change is audited; services never commit (the view does)."""

from __future__ import annotations

import csv
import io
import os
import tempfile
import uuid
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from server.accounts.models import User
from server.audit import service as audit_service
from server.credit import standard as standard_rules
from server.errors import ProblemError, validation_error
from server.inspections import checklists as checklist_rules
from server.inspections import service as inspection_service
from server.registry import importer

MAX_RULE_BYTES = 1024 * 1024


def set_active(*, user: User, active: bool, actor: User) -> None:
    """Allow or refuse a user's sign-ins (console and API); an administrator cannot lock themself out."""
    if user.id == actor.id and not active:
        raise ProblemError("conflict", _("You cannot deactivate your own account."))
    if user.active == active:
        return
    user.active = active
    audit_service.record(action="user.activated" if active else "user.deactivated", entity="user",
                         entity_id=user.id, actor_id=actor.id, data={"username": user.username})


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
