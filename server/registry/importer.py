"""Import the register (底数) of subjects and their enterprises from CSV or XLSX files.

A file has a header row and one subject per row; see docs/registry-import.md
for the columns. Rows are upserted by ``external_ref`` and enterprises by
credit code. Every row is validated in full; a bad row is reported with its
row number as a spreadsheet shows it (header = row 1) and never stops the good
rows. Each row is written inside its own SAVEPOINT so that a database failure
undoes that row only.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from server import clock
from server.accounts.models import District
from server.extensions import db
from server.geo import crs as crs_module
from server.registry import credit_code
from server.registry.enums import Domain, EnterpriseKind
from server.registry.models import Enterprise, Subject, SubjectEnterprise

BASE_COLUMNS = ("external_ref", "domain", "name", "address", "district_code", "lat", "lon", "crs",
                "enterprise_credit_code", "enterprise_name", "enterprise_kind")
REQUIRED_COLUMNS = ("external_ref", "domain", "name", "address", "district_code", "lat", "lon")
# Rows read, validated and written per transaction.
BATCH_ROWS = 500
# Districts above county level hold no subjects.
_NOT_FOR_SUBJECTS = {"province", "prefecture"}

GAS_USER_TYPES = ("居民管道", "居民瓶装", "非居民管道", "非居民瓶装")
GAS_SOURCES = ("天然气", "液化石油气")
STRUCTURE_TYPES = ("砖混/砌体", "砖木", "土木", "钢筋混凝土框架", "钢结构", "其他")
OPERATING_TYPES = ("餐饮", "旅馆", "教育培训", "商业", "生产", "三合一", "其他")
APPRAISAL_GRADES = ("A", "B", "C", "D")
DANGEROUS_WORKS = ("基坑", "模板支撑", "起重吊装", "脚手架", "拆除", "暗挖", "幕墙", "钢结构", "人工挖孔桩")

_TRUE = {"是", "true", "1", "yes", "y"}
_FALSE = {"否", "false", "0", "no", "n"}
_STRUCTURE_ALIASES = {"砖混": "砖混/砌体", "砌体": "砖混/砌体", "砖混结构": "砖混/砌体", "砌体结构": "砖混/砌体"}
_CRS_ALIASES = {"": "wgs84", "wgs84": "wgs84", "wgs-84": "wgs84", "gcj02": "gcj02", "gcj-02": "gcj02",
                "bd09": "bd09", "bd-09": "bd09"}
_SCIENTIFIC = re.compile(r"\d(\.\d+)?e\+?\d+", re.IGNORECASE)
_LIST_SEPARATORS = re.compile(r"[;；]")

# Site roles whose enterprises are linked to the subject, with the kind each becomes.
_SITE_ROLES = (("contractor", EnterpriseKind.CONTRACTOR), ("supervisor", EnterpriseKind.SUPERVISOR),
               ("developer", EnterpriseKind.DEVELOPER))


# --------------------------------------------------------------------------------------------------
# Report


@dataclass(frozen=True)
class RowError:
    """A row that was not imported: its number as a spreadsheet shows it, and why."""

    row: int
    reason: str


@dataclass
class ImportReport:
    """What an import did: subjects created, updated and unchanged, rows refused, warnings."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    enterprises_created: int = 0
    enterprises_updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def imported(self) -> int:
        """Return the number of rows accepted (created, updated or unchanged)."""
        return self.created + self.updated + self.unchanged

    def summary(self) -> str:
        """Return one line for people, e.g. "1,234 rows: 1,000 created, 200 updated, 30 unchanged, 4 errors"."""
        errors = len(self.errors)
        line = (f"{self.rows:,} {'row' if self.rows == 1 else 'rows'}: {self.created:,} created, "
                f"{self.updated:,} updated, {self.unchanged:,} unchanged, "
                f"{errors:,} {'error' if errors == 1 else 'errors'}")
        if self.enterprises_created or self.enterprises_updated:
            line += (f" (enterprises: {self.enterprises_created:,} created, "
                     f"{self.enterprises_updated:,} updated)")
        for warning in self.warnings:
            line += f"; warning: {warning}"
        return line


class _FileError(Exception):
    """The file as a whole cannot be read (reported against row 1)."""


# --------------------------------------------------------------------------------------------------
# Parsers of cell text: each returns the value or raises ValueError with a message for people.


def _text(max_len: int) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) > max_len:
            raise ValueError(f"longer than {max_len} characters ({len(value)})")
        return value
    return parse


def _choice(options: tuple[str, ...], aliases: dict[str, str] | None = None,
            fold: Callable[[str], str] = lambda v: v) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = fold(value)
        value = (aliases or {}).get(value, value)
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}; got {value!r}")
        return value
    return parse


def _boolean(value: str) -> bool:
    low = value.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"must be 是/否 (or true/false, 1/0); got {value!r}")


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"must be a number; got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"must be a finite number; got {value!r}")
    return number


def _integer(low: int | Callable[[], int], high: int | Callable[[], int]) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = _number(value)
        if number != int(number):
            raise ValueError(f"must be a whole number; got {value!r}")
        lo, hi = (low() if callable(low) else low), (high() if callable(high) else high)
        if not lo <= number <= hi:
            raise ValueError(f"must be between {lo} and {hi}; got {value}")
        return int(number)
    return parse


def _positive(value: str) -> float:
    number = _number(value)
    if number <= 0:
        raise ValueError(f"must be greater than 0; got {value}")
    return number


def _current_year() -> int:
    return clock.today().year


def _multi(options: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(value: str) -> list[str]:
        items: list[str] = []
        for item in (part.strip() for part in _LIST_SEPARATORS.split(value)):
            if not item:
                continue
            if item not in options:
                raise ValueError(f"{item!r} is not one of {', '.join(options)} (separate several with ';')")
            if item not in items:
                items.append(item)
        return items
    return parse


def _credit_code(value: str) -> str:
    if _SCIENTIFIC.fullmatch(value):
        raise ValueError(f"{value!r} looks like a number shortened by a spreadsheet; "
                         f"format the column as text and type the 18 characters")
    code = credit_code.normalize(value)
    reason = credit_code.validate(code)
    if reason:
        raise ValueError(f"not a valid unified social credit code ({reason}); got {value!r}")
    return code


def _grade(value: str) -> str:
    return value.upper().removesuffix("级")


@dataclass(frozen=True)
class _Field:
    """A field-specific column: its parser and whether a row of its domain must fill it."""

    name: str
    parse: Callable[[str], object]
    required: bool = True


DOMAIN_FIELDS: dict[str, tuple[_Field, ...]] = {
    Domain.GAS: (
        _Field("user_type", _choice(GAS_USER_TYPES)),
        _Field("gas_source", _choice(GAS_SOURCES)),
        _Field("account_no", _text(64), required=False),
        _Field("is_catering", _boolean, required=False),
    ),
    Domain.SELF_BUILT_HOUSE: (
        _Field("owner", _text(64)),
        _Field("floors_above", _integer(1, 60)),
        _Field("floors_below", _integer(0, 10)),
        _Field("building_area_m2", _positive),
        _Field("built_year", _integer(1900, _current_year)),
        _Field("structure_type", _choice(STRUCTURE_TYPES, _STRUCTURE_ALIASES)),
        _Field("is_operating", _boolean),
        _Field("operating_type", _choice(OPERATING_TYPES), required=False),
        _Field("appraisal_grade", _choice(APPRAISAL_GRADES, fold=_grade), required=False),
    ),
    Domain.CONSTRUCTION_SITE: (
        _Field("project_name", _text(200)),
        _Field("permit_no", _text(64), required=False),
        _Field("contractor_credit_code", _credit_code),
        _Field("contractor_name", _text(200)),
        _Field("supervisor_credit_code", _credit_code, required=False),
        _Field("supervisor_name", _text(200), required=False),
        _Field("developer_credit_code", _credit_code, required=False),
        _Field("developer_name", _text(200), required=False),
        _Field("floor_area_m2", _positive),
        _Field("dangerous_works", _multi(DANGEROUS_WORKS), required=False),
    ),
}
FIELD_DOMAIN = {f.name: domain for domain, fields in DOMAIN_FIELDS.items() for f in fields}
KNOWN_COLUMNS = frozenset(BASE_COLUMNS) | frozenset(FIELD_DOMAIN)


# --------------------------------------------------------------------------------------------------
# Reading files into (row number, {column: text}) pairs.


def _cell_text(value: object) -> str:
    """Return a cell as the text a person would have typed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value).strip()


def _sniff_kind(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise _FileError("legacy .xls workbooks are not supported; save the file as .xlsx or CSV")
    return "csv"


def _csv_encoding(path: Path) -> str:
    """Return utf-8-sig when the whole file decodes as UTF-8, else gb18030 (Excel on Chinese Windows)."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise _FileError("the file is neither UTF-8 nor GB18030 text; save it as CSV UTF-8 or as .xlsx")


class _Source:
    """A header and an iterator of raw rows; ``total`` data rows when known (for the progress bar)."""

    def __init__(self, path: Path, *, count: bool):
        self.path = path
        self.kind = _sniff_kind(path)
        self.total: int | None = None
        self._workbook = None
        if self.kind == "csv":
            self.encoding = _csv_encoding(path)
            if count:
                with path.open(encoding=self.encoding, newline="") as handle:
                    self.total = max(sum(1 for _ in csv.reader(handle)) - 1, 0)
        else:
            import openpyxl
            from openpyxl.utils.exceptions import InvalidFileException

            try:
                self._workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
            except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
                raise _FileError(f"not a readable XLSX workbook ({exc})") from None
            if not self._workbook.worksheets:
                raise _FileError("the workbook has no sheet")
            sheet = self._workbook.worksheets[0]
            if sheet.max_row:
                self.total = max(sheet.max_row - 1, 0)

    def rows(self) -> Iterator[list[str]]:
        """Yield every row, header first, as lists of cell text; raise _FileError where reading fails."""
        try:
            if self.kind == "csv":
                with self.path.open(encoding=self.encoding, newline="") as handle:
                    for record in csv.reader(handle):
                        yield [cell.strip() for cell in record]
            else:
                for values in self._workbook.worksheets[0].iter_rows(values_only=True):
                    yield [_cell_text(v) for v in values]
        except (csv.Error, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
            raise _FileError(f"the file cannot be read beyond this point ({exc})") from None

    def close(self) -> None:
        """Release the workbook's file handle."""
        if self._workbook is not None:
            self._workbook.close()


# --------------------------------------------------------------------------------------------------
# Validation of one row.


@dataclass
class _Row:
    """A row that passed validation, ready to be written."""

    number: int
    external_ref: str
    domain: str
    name: str
    address: str
    district_code: str
    lat: float
    lon: float
    source_crs: str
    attributes: dict
    # credit code -> enterprise named by the row, in the order the row names them
    enterprises: dict[str, _EnterpriseRef]


@dataclass
class _EnterpriseRef:
    """An enterprise as a row names it; ``explicit`` when its kind came from the enterprise_kind column."""

    name: str
    kind: str
    explicit: bool
    column: str  # the credit code column that named it first


class _Validator:
    """Check rows against the columns, the district table and the domain rules."""

    def __init__(self):
        self.districts = {code: (name, level) for code, name, level in
                          db.session.execute(select(District.code, District.name, District.level))}

    def validate(self, number: int, cells: dict[str, str]) -> tuple[_Row | None, list[str]]:
        problems: list[str] = []

        def take(column: str, parse: Callable[[str], object], *, required: bool = True):
            value = cells.get(column, "")
            if not value:
                if required:
                    problems.append(f"{column}: required")
                return None
            try:
                return parse(value)
            except ValueError as exc:
                problems.append(f"{column}: {exc}")
                return None

        external_ref = take("external_ref", _text(64))
        domain = take("domain", _choice(tuple(Domain), fold=str.lower))
        name = take("name", _text(200))
        address = take("address", _text(300))
        district_code = take("district_code", self._district)
        lat = take("lat", self._latitude)
        lon = take("lon", self._longitude)
        source_crs = take("crs", self._crs, required=False) or "wgs84"
        lat_lon = None
        if lat is not None and lon is not None:
            try:
                lat_lon = crs_module.to_wgs84(lat, lon, source_crs)
            except ValueError as exc:
                problems.append(f"lat/lon: {exc}")

        enterprises: dict[str, _EnterpriseRef] = {}

        def add_enterprise(prefix: str, code: str | None, ent_name: str | None, kind: str | None) -> None:
            if code is None or ent_name is None or kind is None:
                return
            known = enterprises.get(code)
            if known is None:
                enterprises[code] = _EnterpriseRef(ent_name, kind, prefix == "enterprise", f"{prefix}_credit_code")
            elif known.name != ent_name:
                problems.append(f"{prefix}_name: {code} is called {known.name!r} in "
                                f"{known.column.removesuffix('_credit_code')}_name")

        main_code = take("enterprise_credit_code", _credit_code, required=False)
        main_given = bool(cells.get("enterprise_credit_code") or cells.get("enterprise_name")
                          or cells.get("enterprise_kind"))
        main_name = take("enterprise_name", _text(200), required=main_given)
        main_kind = take("enterprise_kind", _choice(tuple(EnterpriseKind), fold=str.lower), required=main_given)
        if main_given and not cells.get("enterprise_credit_code"):
            problems.append("enterprise_credit_code: required when enterprise_name or enterprise_kind is given")
        add_enterprise("enterprise", main_code, main_name, main_kind)

        attributes: dict = {}
        if domain is not None:
            for spec in DOMAIN_FIELDS[domain]:
                value = take(spec.name, spec.parse, required=spec.required)
                if value is not None and value != []:
                    attributes[spec.name] = value
            for column, owner in FIELD_DOMAIN.items():
                if owner != domain and cells.get(column):
                    problems.append(f"{column}: belongs to {owner}, not {domain}; leave it empty")
            problems.extend(self._cross_check(domain, cells, attributes))
            if domain == Domain.CONSTRUCTION_SITE:
                for role, kind in _SITE_ROLES:
                    add_enterprise(role, attributes.get(f"{role}_credit_code"), attributes.get(f"{role}_name"), kind)

        if problems:
            return None, problems
        return _Row(number=number, external_ref=external_ref, domain=domain, name=name, address=address,
                    district_code=district_code, lat=lat_lon[0], lon=lat_lon[1], source_crs=source_crs,
                    attributes=attributes, enterprises=enterprises), []

    @staticmethod
    def _cross_check(domain: str, cells: dict[str, str], attributes: dict) -> list[str]:
        """Return problems that involve two columns of the same row."""
        problems = []
        if domain == Domain.GAS:
            if attributes.get("is_catering") and str(attributes.get("user_type", "")).startswith("居民"):
                problems.append("is_catering: a catering business must have a 非居民 user_type")
        elif domain == Domain.SELF_BUILT_HOUSE:
            if attributes.get("is_operating") is False and "operating_type" in attributes:
                problems.append("operating_type: given but is_operating is 否")
        elif domain == Domain.CONSTRUCTION_SITE:
            for role in ("supervisor", "developer"):
                code, name = f"{role}_credit_code", f"{role}_name"
                if bool(cells.get(code)) != bool(cells.get(name)):
                    missing = name if cells.get(code) else code
                    problems.append(f"{missing}: required when {code if missing == name else name} is given")
        return problems

    def _district(self, value: str) -> str:
        found = self.districts.get(value)
        if found is None:
            raise ValueError(f"unknown district code {value!r}")
        name, level = found
        if level in _NOT_FOR_SUBJECTS:
            raise ValueError(f"{value} is {name}, a {level}; give the county-level district")
        return value

    @staticmethod
    def _latitude(value: str) -> float:
        number = _number(value)
        if not -90 <= number <= 90:
            raise ValueError(f"{value} is outside -90..90")
        return number

    @staticmethod
    def _longitude(value: str) -> float:
        number = _number(value)
        if not -180 <= number <= 180:
            raise ValueError(f"{value} is outside -180..180")
        return number

    @staticmethod
    def _crs(value: str) -> str:
        found = _CRS_ALIASES.get(value.lower())
        if found is None:
            raise ValueError(f"must be one of wgs84, gcj02, bd09 (empty means wgs84); got {value!r}")
        return found


# --------------------------------------------------------------------------------------------------
# Writing validated rows.


class _Writer:
    """Upsert validated rows, one SAVEPOINT each, counting outcomes into a report."""

    def __init__(self, report: ImportReport):
        self.report = report
        self.enterprises: dict[str, Enterprise] = {}

    def write_batch(self, rows: list[_Row]) -> None:
        """Write rows read together, fetching their subjects and enterprises in two queries."""
        if not rows:
            return
        refs = [row.external_ref for row in rows]
        subjects = {s.external_ref: s for s in db.session.scalars(
            select(Subject).where(Subject.external_ref.in_(refs)))}
        codes = {code for row in rows for code in row.enterprises} - self.enterprises.keys()
        if codes:
            for enterprise in db.session.scalars(select(Enterprise).where(Enterprise.credit_code.in_(codes))):
                self.enterprises[enterprise.credit_code] = enterprise
        for row in rows:
            self._write_one(row, subjects.get(row.external_ref))

    def _write_one(self, row: _Row, subject: Subject | None) -> None:
        if subject is not None and subject.domain != row.domain:
            self.report.errors.append(RowError(row.number, (
                f"domain: external_ref {row.external_ref} is already a {subject.domain} subject; "
                f"a subject's domain cannot change")))
            return
        counts = (self.report.enterprises_created, self.report.enterprises_updated)
        try:
            with db.session.begin_nested():
                outcome = self._upsert(row, subject)
                db.session.flush()
        except SQLAlchemyError as exc:
            self.report.enterprises_created, self.report.enterprises_updated = counts
            # Objects made or changed inside the savepoint are gone or expired: look them up afresh.
            self.enterprises.clear()
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            self.report.errors.append(RowError(row.number, f"the database refused the row: {detail}"))
            return
        setattr(self.report, outcome, getattr(self.report, outcome) + 1)

    def _upsert(self, row: _Row, subject: Subject | None) -> str:
        enterprise_changed = False
        wanted: list[uuid.UUID] = []
        for code, ref in row.enterprises.items():
            enterprise, changed = self._enterprise(code, ref)
            enterprise_changed |= changed
            wanted.append(enterprise.id)
        if enterprise_changed:
            db.session.flush()  # enterprises exist before links point at them

        values = dict(domain=row.domain, name=row.name, address=row.address, district_code=row.district_code,
                      lat=row.lat, lon=row.lon, source_crs=row.source_crs, attributes=row.attributes)
        if subject is None:
            db.session.add(Subject(id=uuid.uuid4(), external_ref=row.external_ref, **values,
                                   enterprise_links=[SubjectEnterprise(enterprise_id=e) for e in wanted]))
            return "created"
        changed = enterprise_changed
        for key, value in values.items():
            if getattr(subject, key) != value:
                setattr(subject, key, value)
                changed = True
        have = {link.enterprise_id for link in subject.enterprise_links}
        if have != set(wanted):
            for link in [link for link in subject.enterprise_links if link.enterprise_id not in wanted]:
                subject.enterprise_links.remove(link)
            subject.enterprise_links.extend(SubjectEnterprise(enterprise_id=e) for e in wanted if e not in have)
            changed = True
        return "updated" if changed else "unchanged"

    def _enterprise(self, code: str, ref: _EnterpriseRef) -> tuple[Enterprise, bool]:
        """Create or update an enterprise; a site role sets the kind of a new enterprise only."""
        enterprise = self.enterprises.get(code)
        if enterprise is None:
            enterprise = db.session.scalar(select(Enterprise).where(Enterprise.credit_code == code))
        if enterprise is None:
            enterprise = Enterprise(id=uuid.uuid4(), credit_code=code, name=ref.name, kind=ref.kind)
            db.session.add(enterprise)
            self.enterprises[code] = enterprise
            self.report.enterprises_created += 1
            return enterprise, True
        self.enterprises[code] = enterprise
        kind = ref.kind if ref.explicit else enterprise.kind
        if enterprise.name != ref.name or enterprise.kind != kind:
            enterprise.name, enterprise.kind = ref.name, kind
            self.report.enterprises_updated += 1
            return enterprise, True
        return enterprise, False


# --------------------------------------------------------------------------------------------------
# Entry points.


class _Importer:
    """Turn raw rows into validated rows and write them in batches."""

    def __init__(self, report: ImportReport, *, commit: bool):
        self.report = report
        self.commit = commit
        self.validator = _Validator()
        self.writer = _Writer(report)
        self.first_seen: dict[str, int] = {}
        # credit code -> (name, its row), (explicit kind, its row) from the rows accepted so far
        self.enterprise_names: dict[str, tuple[str, int]] = {}
        self.enterprise_kinds: dict[str, tuple[str, int]] = {}
        self.pending: list[_Row] = []

    def add(self, number: int, cells: dict[str, str]) -> None:
        """Validate one data row and queue it; write the queue when it is full."""
        self.report.rows += 1
        row, problems = self.validator.validate(number, cells)
        ref = cells.get("external_ref", "")
        if ref:
            first = self.first_seen.setdefault(ref, number)
            if first != number:
                problems = [f"external_ref: duplicate of row {first}", *problems]
                row = None
        if row is not None:
            problems = self._contradictions(row)
            if problems:
                row = None
        if row is None:
            self.report.errors.append(RowError(number, "; ".join(problems)))
        else:
            self._remember(row)
            self.pending.append(row)
        if len(self.pending) >= BATCH_ROWS:
            self.flush()

    def _contradictions(self, row: _Row) -> list[str]:
        """Return problems where the row names an enterprise differently from an earlier row of the file."""
        problems = []
        for code, ref in row.enterprises.items():
            name, name_row = self.enterprise_names.get(code, (ref.name, 0))
            if ref.name != name:
                column = ref.column.removesuffix("_credit_code")
                problems.append(f"{column}_name: {code} is called {name!r} in row {name_row}; "
                                f"one file must give an enterprise one name")
            kind, kind_row = self.enterprise_kinds.get(code, (ref.kind, 0))
            if ref.explicit and ref.kind != kind:
                problems.append(f"enterprise_kind: {code} is a {kind} in row {kind_row}; "
                                f"one file must give an enterprise one kind")
        return problems

    def _remember(self, row: _Row) -> None:
        for code, ref in row.enterprises.items():
            self.enterprise_names.setdefault(code, (ref.name, row.number))
            if ref.explicit:
                self.enterprise_kinds.setdefault(code, (ref.kind, row.number))

    def flush(self) -> None:
        """Write the queued rows (and commit them when this import owns the transaction)."""
        self.writer.write_batch(self.pending)
        self.pending = []
        if self.commit:
            db.session.commit()
            # Committed objects are expired; let them be reloaded on demand rather than one by one.
            self.writer.enterprises.clear()


def _header(cells: list[str], report: ImportReport) -> list[str | None]:
    """Return the column name of each position (None: ignored), noting problems in the report."""
    names = [cell.strip().lower() for cell in cells]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise _FileError(f"missing columns: {', '.join(missing)} (the first row must name the columns)")
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        raise _FileError(f"columns named more than once: {', '.join(repeated)}")
    unknown = [n for n in names if n and n not in KNOWN_COLUMNS]
    if unknown:
        report.warnings.append(f"unknown columns ignored: {', '.join(unknown)}")
    return [n if n in KNOWN_COLUMNS else None for n in names]


def import_file(path: str | Path, *, progress: bool = False) -> ImportReport:
    """Import subjects and enterprises from a CSV or XLSX file, committing every ~500 rows."""
    report = ImportReport()
    try:
        source = _Source(Path(path), count=progress)
    except _FileError as exc:
        report.errors.append(RowError(1, str(exc)))
        return report
    number = 1
    try:
        rows = source.rows()
        header_cells = next(rows, None)
        if header_cells is None:
            raise _FileError("the file is empty; the first row must name the columns")
        columns = _header(header_cells, report)
        importer = _Importer(report, commit=True)
        unnamed = {index for index, cell in enumerate(header_cells) if not cell.strip()}
        unnamed_values = False
        with tqdm(total=source.total, disable=not progress, unit="row", desc="import") as bar:
            try:
                for number, cells in enumerate(rows, start=2):
                    bar.update(1)
                    if not any(cells):
                        continue
                    named: dict[str, str] = {}
                    for index, value in enumerate(cells):
                        column = columns[index] if index < len(columns) else None
                        if column is not None:
                            named[column] = value
                        elif value and (index >= len(columns) or index in unnamed):
                            unnamed_values = True
                    importer.add(number, named)
            finally:
                # Rows read before a read failure are still written.
                importer.flush()
        if unnamed_values:
            report.warnings.append("values in columns without a name in the header were ignored")
    except _FileError as exc:
        report.errors.append(RowError(number if number == 1 else number + 1, str(exc)))
    finally:
        source.close()
    report.errors.sort(key=lambda error: error.row)
    return report


def import_rows(rows: Iterable[dict[str, object]], *, first_row: int = 2) -> ImportReport:
    """Import rows given as {column: value} dicts in the same session, without committing."""
    report = ImportReport()
    importer = _Importer(report, commit=False)
    for number, row in enumerate(rows, start=first_row):
        unknown = set(row) - KNOWN_COLUMNS
        if unknown:
            raise ValueError(f"unknown columns: {', '.join(sorted(unknown))}")
        cells = {key: _cell_text(value) for key, value in row.items()}
        if any(cells.values()):
            importer.add(number, cells)
    importer.flush()
    report.errors.sort(key=lambda error: error.row)
    return report
