"""The transfer dossier: one ZIP with the letter (DOCX and PDF), a summary, photo originals, records, a manifest.

Layout of the ZIP::

    transfer-letter.docx        行政违法案件移送函 (Word)
    transfer-letter.pdf         the same letter (PDF, CJK font embedded)
    case-summary.txt            案件摘要: the case in readable Chinese
    case.json                   the case as data
    photos/<sha256>.<ext>       every photo original, byte for byte
    records/hazard-<id>.json    every hazard record, with its events
    records/inspection-<id>.json  every inspection record, with its results
    manifest.json               path, size and SHA-256 of every file above

The ZIP is written to a temporary file beside its final place, made durable,
and renamed into place, so a reader sees the whole dossier or none.
``verify`` checks a ZIP against its manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from flask import current_app
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import or_, select

from server import clock
from server.accounts.models import District, User
from server.cases import letter as letter_module
from server.cases import service as case_service
from server.cases.enums import (EVIDENCE_NAMES, PENALTY_NAMES, SOURCE_NAMES, STATUS_NAMES, PartyKind)
from server.cases.models import Case
from server.extensions import db
from server.hazards.models import Hazard
from server.inspections.models import Inspection
from server.photos import service as photo_service
from server.photos.storage import fsync_directory
from server.photos.models import Photo
from server.registry.models import Enterprise, Subject

MANIFEST = "manifest.json"
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic",
              "image/heif": "heif"}
CHUNK = 1024 * 1024
SEVERITY_NAMES = {"general": "一般隐患", "major": "重大隐患"}
HAZARD_STATUS_NAMES = {"reported": "已上报", "rectifying": "整改中", "pending_review": "待复核", "closed": "已销号"}


@dataclass
class Built:
    """A dossier written to disk."""

    path: Path
    sha256: str
    manifest_sha256: str
    files: int


# --- plain data -------------------------------------------------------------------------------

def _plain(value):
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        return clock.local(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def row_data(row) -> dict:
    """Return every column of a row as JSON-ready values (times in the bureau's zone)."""
    return {attr.key: _plain(getattr(row, attr.key)) for attr in sa_inspect(row).mapper.column_attrs}


def _json_bytes(value) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, default=_plain) + "\n").encode()


# --- what goes in ----------------------------------------------------------------------------

def _records(case: Case) -> tuple[list[Hazard], list[Inspection]]:
    """Return the hazards and inspections of the case: linked, and attached to evidence."""
    hazard_ids = list(dict.fromkeys([*case.hazard_ids, *(uuid.UUID(r["id"]) for e in case.evidence
                                                          for r in e.records if r["type"] == "hazard")]))
    inspection_ids = list(dict.fromkeys([*case.inspection_ids, *(uuid.UUID(r["id"]) for e in case.evidence
                                                                  for r in e.records if r["type"] == "inspection")]))
    hazards = sorted((h for h in (db.session.get(Hazard, i) for i in hazard_ids) if h is not None),
                     key=lambda h: (h.created_at, str(h.id)))
    inspections = sorted((i for i in (db.session.get(Inspection, i) for i in inspection_ids) if i is not None),
                         key=lambda i: (i.started_at, str(i.id)))
    return hazards, inspections


def _photos(case: Case, hazards: list[Hazard], inspections: list[Inspection]) -> dict[str, str | None]:
    """Return sha256 → content type of every received photo: evidence photos, then those of the records."""
    photos: dict[str, str | None] = {}
    for item in case.evidence:
        for photo in item.photos:
            photos.setdefault(photo["sha256"], photo.get("content_type"))
    conditions = []
    if hazards:
        conditions.append(Photo.hazard_id.in_([h.id for h in hazards]))
    if inspections:
        conditions.append(Photo.inspection_id.in_([i.id for i in inspections]))
    if conditions:
        rows = db.session.scalars(select(Photo).where(or_(*conditions), Photo.received_at.is_not(None))
                                  .order_by(Photo.declared_at, Photo.id))
        for photo in rows:
            photos.setdefault(photo.sha256, photo.content_type)
    return photos


def _photo_path(sha256: str, content_type: str | None) -> str:
    return f"photos/{sha256}.{EXTENSIONS.get(content_type or '', 'bin')}"


def _hazard_record(hazard: Hazard) -> dict:
    photos = db.session.scalars(select(Photo).where(Photo.hazard_id == hazard.id).order_by(Photo.declared_at))
    return {"type": "hazard", **row_data(hazard), "events": [row_data(e) for e in hazard.events],
            "photos": [{**row_data(p), "file": _photo_path(p.sha256, p.content_type) if p.received_at else None}
                       for p in photos]}


def _inspection_record(inspection: Inspection) -> dict:
    photos = db.session.scalars(select(Photo).where(Photo.inspection_id == inspection.id)
                                .order_by(Photo.declared_at))
    subject = db.session.get(Subject, inspection.subject_id)
    return {"type": "inspection", **row_data(inspection), "subject": row_data(subject) if subject else None,
            "results": [row_data(r) for r in inspection.results],
            "photos": [{**row_data(p), "file": _photo_path(p.sha256, p.content_type) if p.received_at else None}
                       for p in photos]}


def _party_line(case: Case) -> str:
    if case.party_kind == PartyKind.ENTERPRISE:
        enterprise = db.session.get(Enterprise, case.enterprise_id)
        text = f"{case.party_name}（统一社会信用代码：{enterprise.credit_code if enterprise else '—'}）"
        if case.party_representative:
            text += f"，法定代表人（负责人）：{case.party_representative}"
    else:
        text = f"{case.party_name}（公民身份号码：{case.party_id_number}）"
    if case.party_address:
        text += f"，地址：{case.party_address}"
    if case.party_phone:
        text += f"，联系电话：{case.party_phone}"
    return text


def _place_line(case: Case) -> str:
    district = db.session.get(District, case.district_code)
    name = district.name if district else case.district_code
    address = case.address or ""
    return address if address.startswith(name) else f"{name}{address}"


def _officer_line(case: Case, users: dict[int, User]) -> str:
    parts = []
    for officer in case.officers:
        user = users.get(officer.user_id)
        name = user.name if user else str(officer.user_id)
        parts.append(f"{name}（执法证号：{officer.certificate_no}）" if officer.certificate_no else name)
    return "、".join(parts)


def _articles(items: list[str]) -> str:
    return "、".join(items) if items else "—"


def build_letter(case: Case, *, photos: int, hazards: int, inspections: int, signed_on: date) -> letter_module.Letter:
    """Return the transfer letter of a case."""
    config = current_app.config
    users = case_service.users_of(case)
    agency = case.receiving_agency or config["CASE_RECEIVING_AGENCY"]
    source = SOURCE_NAMES.get(case.source, case.source)
    paragraphs = [
        f"我局在{source}中发现，{case.party_name}涉嫌{case.cause}。该案已于{letter_module.cn_date(case.filed_on)}"
        f"立案（案件编号：{case.case_no}）。",
        f"当事人：{_party_line(case)}。",
        f"违法行为发生地：{_place_line(case)}。",
        f"经查：{(case.facts or '').strip()}",
        f"上述行为涉嫌违反{_articles(case.articles_violated)}的规定"
        + (f"，依据{_articles(case.penalty_basis)}应予处罚。" if case.penalty_basis else "。"),
        "根据《中华人民共和国行政处罚法》第十八条、第二十二条和《住房和城乡建设行政处罚程序规定》第六条的规定，"
        "该案属于你单位管辖范围，现将案件及相关证据材料移送你单位依法处理。请在收到本函后及时办理，"
        "并将处理结果函告我局。",
        f"本案承办人：{_officer_line(case, users)}。",
    ]
    attachments = [
        "案件摘要（case-summary.txt）",
        f"证据材料清单（共{len(case.evidence)}项，见案件摘要）",
        f"现场照片原件{photos}张（photos/）",
        f"隐患记录{hazards}份、检查记录{inspections}份（records/）",
        "文件清单及SHA-256校验值（manifest.json）",
    ]
    return letter_module.Letter(
        title="行政违法案件移送函", doc_no=case.case_no, addressee=agency, paragraphs=paragraphs,
        attachments=attachments, authority=config["CASE_BUREAU"], signed_on=signed_on)


def summary_text(case: Case, *, hazards: list[Hazard], inspections: list[Inspection], generated_at: datetime) -> str:
    """Return the case summary (案件摘要) in readable Chinese."""
    users = case_service.users_of(case)
    lines = [
        f"案件摘要　{case.case_no}", "",
        f"案由：{case.cause}",
        f"案件来源：{SOURCE_NAMES.get(case.source, case.source)}",
        f"状态：{STATUS_NAMES.get(case.status, case.status)}",
        f"立案日期：{letter_module.cn_date(case.filed_on)}；作出决定期限：{letter_module.cn_date(case.decision_due)}"
        f"（自立案之日起{(case.decision_due - case.filed_on).days}日）",
        f"当事人：{_party_line(case)}",
        f"违法行为发生地：{_place_line(case)}"
        + (f"（WGS-84 {case.lat:.6f}, {case.lon:.6f}）" if case.lat is not None and case.lon is not None else ""),
        f"违法事实：{(case.facts or '—').strip()}",
        f"涉嫌违反条款：{_articles(case.articles_violated)}",
        f"处罚依据：{_articles(case.penalty_basis)}",
        f"承办人：{_officer_line(case, users)}",
    ]
    if case.receiving_agency:
        lines.append(f"移送单位：{case.receiving_agency}；移送日期："
                     f"{letter_module.cn_date(case.transferred_on) if case.transferred_on else '—'}")
    if case.decided_on:
        kinds = "、".join(PENALTY_NAMES.get(k, k) for k in case.penalty_kinds or [])
        amount = f"，罚款{case.penalty_amount}元" if case.penalty_amount else ""
        lines.append(f"处罚决定：{kinds}{amount}（{case.decision_no}，{letter_module.cn_date(case.decided_on)}）")
    lines += ["", "证据清单（行政处罚法第四十六条）："]
    for number, item in enumerate(case.evidence, start=1):
        added_by = users.get(item.added_by)
        lines.append(f"{number}. 【{EVIDENCE_NAMES.get(item.kind, item.kind)}】{item.description}"
                     + (f"（取证日期：{letter_module.cn_date(item.collected_on)}）" if item.collected_on else "")
                     + (f"（登记人：{added_by.name}）" if added_by else ""))
        for photo in item.photos:
            lines.append(f"   照片：{_photo_path(photo['sha256'], photo.get('content_type'))}")
        for record in item.records:
            lines.append(f"   记录：records/{record['type']}-{record['id']}.json")
    lines += ["", "关联隐患："]
    lines += [f"- records/hazard-{h.id}.json　{h.description}（{SEVERITY_NAMES.get(h.severity, h.severity)}，"
              f"{HAZARD_STATUS_NAMES.get(h.status, h.status)}，整改期限 {h.deadline.isoformat()}）"
              for h in hazards] or ["无"]
    lines += ["", "关联检查："]
    lines += [f"- records/inspection-{i.id}.json　{clock.local(i.started_at):%Y-%m-%d %H:%M} "
              f"{i.checklist_code} v{i.checklist_version}" for i in inspections] or ["无"]
    lines += ["", f"生成时间：{clock.local(generated_at):%Y-%m-%d %H:%M:%S}（北京时间）",
              "每个文件的SHA-256校验值见 manifest.json。"]
    return "\n".join(lines) + "\n"


def case_data(case: Case) -> dict:
    """Return the case as data for case.json."""
    return {**row_data(case), "officers": [row_data(o) for o in case.officers],
            "hazard_ids": [str(i) for i in case.hazard_ids], "inspection_ids": [str(i) for i in case.inspection_ids],
            "evidence": [{**row_data(e), "kind_name": EVIDENCE_NAMES.get(e.kind, e.kind)} for e in case.evidence],
            "events": [row_data(e) for e in case.events]}


# --- writing the ZIP ----------------------------------------------------------------------------

class _Writer:
    """Add files to a ZIP while hashing each one for the manifest."""

    def __init__(self, archive: zipfile.ZipFile):
        self.archive = archive
        self.entries: list[dict] = []

    def add_bytes(self, name: str, data: bytes, *, compress: bool = True) -> None:
        self.archive.writestr(self._info(name, compress), data)
        self.entries.append({"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    def add_stream(self, name: str, stream, *, compress: bool = False) -> None:
        digest, size = hashlib.sha256(), 0
        with self.archive.open(self._info(name, compress), "w") as out:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        self.entries.append({"path": name, "size": size, "sha256": digest.hexdigest()})

    def _info(self, name: str, compress: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.stamp)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return info

    stamp = (1980, 1, 1, 0, 0, 0)


def write(case: Case, target: Path, *, generated_at: datetime) -> Built:
    """Write the dossier of ``case`` to ``target`` atomically; return its digests."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    hazards, inspections = _records(case)
    photos = _photos(case, hazards, inspections)
    letter = build_letter(case, photos=len(photos), hazards=len(hazards), inspections=len(inspections),
                          signed_on=case.transferred_on or clock.local(generated_at).date())
    storage = photo_service.storage()
    fd, temp_name = tempfile.mkstemp(prefix=".tmp-dossier-", suffix=".zip", dir=target.parent)
    os.close(fd)
    temp = Path(temp_name)
    try:
        with tempfile.TemporaryDirectory(prefix="letter-") as scratch:
            docx, pdf = Path(scratch) / "letter.docx", Path(scratch) / "letter.pdf"
            letter_module.write_docx(letter, docx)
            letter_module.write_pdf(letter, pdf)
            with zipfile.ZipFile(temp, "w") as archive:
                writer = _Writer(archive)
                local = clock.local(generated_at)
                writer.stamp = (local.year, local.month, local.day, local.hour, local.minute, local.second // 2 * 2)
                writer.add_bytes("transfer-letter.docx", docx.read_bytes(), compress=False)
                writer.add_bytes("transfer-letter.pdf", pdf.read_bytes())
                writer.add_bytes("case-summary.txt", summary_text(
                    case, hazards=hazards, inspections=inspections, generated_at=generated_at).encode())
                writer.add_bytes("case.json", _json_bytes(case_data(case)))
                for sha256, content_type in photos.items():
                    with storage.open(sha256) as stream:
                        writer.add_stream(_photo_path(sha256, content_type), stream)
                for hazard in hazards:
                    writer.add_bytes(f"records/hazard-{hazard.id}.json", _json_bytes(_hazard_record(hazard)))
                for inspection in inspections:
                    writer.add_bytes(f"records/inspection-{inspection.id}.json",
                                     _json_bytes(_inspection_record(inspection)))
                manifest = _json_bytes({"case_no": case.case_no, "case_id": case.id,
                                        "generated_at": clock.local(generated_at).isoformat(),
                                        "algorithm": "sha256", "files": writer.entries})
                writer.add_bytes(MANIFEST, manifest)
        with open(temp, "rb") as stream:
            os.fsync(stream.fileno())
            digest = hashlib.sha256()
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
        os.replace(temp, target)
        fsync_directory(target.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return Built(path=target, sha256=digest.hexdigest(), manifest_sha256=hashlib.sha256(manifest).hexdigest(),
                 files=len(writer.entries))


def folder(case: Case) -> Path:
    """Return the folder of a case's dossiers."""
    return Path(current_app.config["CASE_DOSSIER_ROOT"]) / str(case.id)


def build_transfer(case: Case, *, generated_at: datetime) -> Built:
    """Write the dossier sent with a transfer, kept under its own SHA-256 as the record of what was sent."""
    built = write(case, folder(case) / f".building-{uuid.uuid4().hex}.zip", generated_at=generated_at)
    final = folder(case) / f"{built.sha256}.zip"
    os.replace(built.path, final)
    fsync_directory(final.parent)
    built.path = final
    return built


def build_preview(case: Case, *, generated_at: datetime):
    """Write the current dossier of a case not transferred (yet) as its preview; return it open, and its digests.

    The file is opened before it is renamed over the previous preview, so a
    concurrent request replacing the preview cannot change what this one sends.
    """
    built = write(case, folder(case) / f".building-{uuid.uuid4().hex}.zip", generated_at=generated_at)
    handle = open(built.path, "rb")
    final = folder(case) / "preview.zip"
    os.replace(built.path, final)
    built.path = final
    return handle, built


def stored(case: Case) -> Path | None:
    """Return the dossier file sent with the case's latest transfer, if the case has one on disk."""
    if not case.dossier_sha256:
        return None
    path = folder(case) / f"{case.dossier_sha256}.zip"
    return path if path.is_file() else None


# --- verifying ----------------------------------------------------------------------------------

@dataclass
class Verification:
    """The result of checking a dossier against its manifest."""

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    error: str | None = None
    case_no: str | None = None
    manifest_sha256: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.missing or self.altered or self.unlisted or self.error)

    def problems(self) -> list[str]:
        """Return one line per problem found."""
        lines = [f"error: {self.error}"] if self.error else []
        lines += [f"missing: {p}" for p in self.missing]
        lines += [f"altered: {p}" for p in self.altered]
        lines += [f"unlisted: {p}" for p in self.unlisted]
        return lines


def verify(path) -> Verification:
    """Check every file of a dossier ZIP against its manifest: missing, altered and unlisted files."""
    result = Verification()
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        result.error = f"not a readable ZIP file: {error}"
        return result
    with archive:
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        if MANIFEST not in names:
            result.error = f"no {MANIFEST} in the dossier"
            return result
        try:
            raw = archive.read(MANIFEST)
            manifest = json.loads(raw)
            entries = manifest["files"]
            listed = {entry["path"]: entry for entry in entries}
        except (zipfile.BadZipFile, ValueError, KeyError, TypeError) as error:
            result.error = f"{MANIFEST} cannot be read: {error}"
            return result
        result.case_no = manifest.get("case_no")
        result.manifest_sha256 = hashlib.sha256(raw).hexdigest()
        for name, entry in listed.items():
            if name not in names:
                result.missing.append(name)
                continue
            digest = hashlib.sha256()
            try:
                with archive.open(name) as stream:
                    while chunk := stream.read(CHUNK):
                        digest.update(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError):
                result.altered.append(name)  # a CRC or decompression failure: the bytes changed
                continue
            if digest.hexdigest() != str(entry.get("sha256", "")).lower():
                result.altered.append(name)
            result.checked += 1
        result.unlisted = sorted(name for name in names if name not in listed and name != MANIFEST)
    return result


def read_member(path, name: str) -> bytes:
    """Return one file of a dossier (for tests and tools)."""
    with zipfile.ZipFile(path) as archive, archive.open(name) as stream:
        return stream.read()
