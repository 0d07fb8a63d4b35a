"""Multi-step case actions: an idempotent action by client key, the transfer with its dossier, the dossier itself."""

from __future__ import annotations

import uuid
from typing import BinaryIO

from server.accounts.models import User
from server.cases import dossier, letter
from server.cases import service as case_service
from server.cases.enums import Action
from server.cases.models import Case, CaseEvent
from server.database import utcnow
from server.errors import ProblemError


def _no_font(error: letter.FontMissing) -> ProblemError:
    """Say plainly that the server lacks a font: the operator's to fix, not the officer's input."""
    return ProblemError("internal_error", f"The transfer letter cannot be made as PDF: {error}")


def _attach_dossier(case: Case) -> dict:
    """Build the dossier sent with a transfer; the event records its digests."""
    try:
        built = dossier.build_transfer(case, generated_at=utcnow())
    except letter.FontMissing as error:
        raise _no_font(error) from None
    case.dossier_sha256 = built.sha256
    return {"dossier_sha256": built.sha256, "manifest_sha256": built.manifest_sha256, "dossier_files": built.files}


def act(*, case_id: int, action: Action, data: dict, actor: User,
        districts: frozenset[str] | None) -> tuple[CaseEvent, bool]:
    """Run one action on a case once per client key; return its event and whether it is new (False: a retry)."""
    case = case_service.get_for_update(case_id=case_id, districts=districts)
    if action == Action.ADD_EVIDENCE:
        def perform(payload_hash: str) -> CaseEvent:
            return case_service.add_evidence(case=case, data=data, actor=actor, districts=districts,
                                             payload_hash=payload_hash)
    else:
        after = _attach_dossier if action == Action.TRANSFER else None

        def perform(payload_hash: str) -> CaseEvent:
            return case_service.transition(case=case, action=action, data=data, actor=actor, after=after,
                                           payload_hash=payload_hash)
    return case_service.once(case=case, data=data, perform=perform)


def dossier_file(*, case: Case) -> tuple[BinaryIO, str]:
    """Return the dossier of a case, open, and its SHA-256: the one sent with the transfer once it has gone,
    else one built now from the draft (or the returned case)."""
    if case.status in case_service.EDITABLE:
        try:
            handle, built = dossier.build_preview(case, generated_at=utcnow())
        except letter.FontMissing as error:
            raise _no_font(error) from None
        return handle, built.sha256
    path = dossier.stored(case)
    if path is None:
        raise ProblemError("not_found", f"The dossier sent with case {case.case_no} (SHA-256 {case.dossier_sha256}) "
                                        "is not in CASE_DOSSIER_ROOT; restore it from the backup.")
    return open(path, "rb"), case.dossier_sha256


def new_key() -> uuid.UUID:
    """Return a fresh client key (for the command line, where a person types each command once)."""
    return uuid.uuid4()
