"""Load and validate checklist templates kept as rule data (config/rules/checklists).

A checklist file is YAML, one per field and version. Gas and self-built house
checklists list their ``items``; a construction-site checklist scored by
JGJ 59-2011 lists ``summary`` groups, sub-``tables`` of scored items and
``major_items`` (judged, not scored), and its flat item list is derived here.
See config/rules/README.md for the format.

Everything loaded is immutable, so one loaded set can be shared by requests.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DOMAINS = ("gas", "self_built_house", "construction_site")
SEVERITIES = ("general", "major")
SCORINGS = ("jgj59",)
GAS_USER_TYPES = ("居民管道", "居民瓶装", "非居民管道", "非居民瓶装")

# JGJ 59: every sub-table is worth 100; a split one has 60 guarantee + 40 general points.
TABLE_POINTS = 100.0
GUARANTEE_POINTS = 60.0
GENERAL_POINTS = 40.0
SUMMARY_WEIGHT = 100.0

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "config" / "rules" / "checklists"
CREDIT_STANDARD_NAME = "credit_standard.yaml"

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ITEM_CODE_MAX = 32  # inspection_result.item_code
_CHECKLIST_CODE_MAX = 64  # inspection.checklist_code

_TOP_KEYS = {"code", "domain", "version", "title", "source", "items", "scoring", "summary", "tables", "major_items"}
_BASE_ITEM_KEYS = {"code", "text", "category", "severity", "credit_rule", "major_criterion"}
_TABLE_ITEM_KEYS = {"guarantee", "points"}
_TABLE_KEYS = {"code", "title", "group", "source", "items"}
_SUMMARY_KEYS = {"code", "title", "weight"}
# Extra item attributes kept in ChecklistItem.extra, by domain (None = any domain).
_EXTRA_KEYS = {
    "basis": None,  # legal or technical basis, free text
    "note": None,  # guidance for the inspector, free text
    "applies_to": "gas",  # user types the item is checked for
    "strong_measure": "gas",  # part of 三项/四项强制 for those user types
    "operating_only": "self_built_house",  # only for operating (经营性) houses
}


@dataclass(frozen=True)
class ChecklistItem:
    """One checkable item of a checklist."""

    code: str
    text: str
    category: str
    severity: str
    credit_rule: str | None = None
    major_criterion: str | None = None
    table: str | None = None
    guarantee: bool = False
    points: float | None = None
    extra: dict = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict:
        """Return the item as JSON-ready data, leaving out empty optional fields."""
        data: dict[str, Any] = {"code": self.code, "text": self.text, "category": self.category,
                                "severity": self.severity}
        for key in ("credit_rule", "major_criterion", "table", "points"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.table is not None:
            data["guarantee"] = self.guarantee
        data.update(self.extra)
        return data


@dataclass(frozen=True)
class SummaryGroup:
    """A row of the JGJ 59 summary table: a group of sub-tables and its weight."""

    code: str
    title: str
    weight: float


@dataclass(frozen=True)
class ChecklistTable:
    """A scored sub-table (分项检查评分表) and its items."""

    code: str
    title: str
    group: str
    source: str | None
    items: tuple[ChecklistItem, ...]

    @property
    def split(self) -> bool:
        """Tell whether the table has guarantee (保证) and general (一般) items."""
        return any(item.guarantee for item in self.items)


@dataclass(frozen=True)
class Checklist:
    """A versioned checklist template for one field."""

    code: str
    domain: str
    version: int
    title: str
    source: str
    items: tuple[ChecklistItem, ...]
    scoring: str | None = None
    summary: tuple[SummaryGroup, ...] = ()
    tables: tuple[ChecklistTable, ...] = ()
    _index: dict = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, "_index", {item.code: item for item in self.items})

    def item(self, code: str) -> ChecklistItem | None:
        """Return the item with this code, or None."""
        return self._index.get(code)

    def table(self, code: str) -> ChecklistTable | None:
        """Return the sub-table with this code, or None."""
        return next((t for t in self.tables if t.code == code), None)

    def to_dict(self) -> dict:
        """Return the checklist as JSON-ready data."""
        data: dict[str, Any] = {
            "code": self.code, "domain": self.domain, "version": self.version, "title": self.title,
            "source": self.source, "items": [item.to_dict() for item in self.items],
        }
        if self.scoring is not None:
            data["scoring"] = self.scoring
            data["summary"] = [{"code": g.code, "title": g.title, "weight": g.weight} for g in self.summary]
            data["tables"] = [{"code": t.code, "title": t.title, "group": t.group, "source": t.source,
                               "items": [i.code for i in t.items]} for t in self.tables]
        return data


class _Reader:
    """Checks values of one file and raises ValueError('file: where: reason')."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, reason: str):
        """Raise the error for ``where`` in this file."""
        prefix = f"{self.path}: {where}: " if where else f"{self.path}: "
        raise ValueError(prefix + reason)

    def mapping(self, value, where: str, allowed: set[str]) -> dict:
        """Return ``value`` as a mapping whose keys are all in ``allowed``."""
        if not isinstance(value, dict):
            self.fail(where, "expected a mapping")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            self.fail(where, f"unknown key(s) {', '.join(unknown)}")
        return value

    def text(self, data: dict, key: str, where: str, *, required: bool = True) -> str | None:
        """Return a non-empty string field, or None when optional and absent."""
        value = data.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"{key} must be a non-empty string")
        return value.strip()

    def code(self, data: dict, where: str, max_len: int) -> str:
        """Return a code field: letters, digits, '_', '.', '-', at most ``max_len`` long."""
        value = data.get("code")
        if not isinstance(value, str) or not _CODE_RE.match(value) or len(value) > max_len:
            self.fail(where, f"code {value!r} must be 1-{max_len} letters, digits, '_', '.' or '-'")
        return value

    def number(self, data: dict, key: str, where: str) -> float:
        """Return a positive finite number field as float."""
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            self.fail(where, f"{key} must be a positive number, got {value!r}")
        return float(value)

    def flag(self, data: dict, key: str, where: str) -> bool:
        """Return a boolean field, False when absent."""
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.fail(where, f"{key} must be true or false, got {value!r}")
        return value

    def items_list(self, value, where: str) -> list:
        """Return a non-empty list."""
        if not isinstance(value, list) or not value:
            self.fail(where, "must be a non-empty list")
        return value


def _item_where(raw, index: int, prefix: str = "") -> str:
    """Name an item in error messages by its code, or by its position."""
    code = raw.get("code") if isinstance(raw, dict) else None
    return f"{prefix}item {code}" if isinstance(code, str) else f"{prefix}items[{index}]"


def _read_item(r: _Reader, raw, index: int, *, domain: str, table: dict | None,
               default_severity: str = "general", only_severity: str | None = None,
               where_prefix: str = "") -> ChecklistItem:
    """Validate one raw item and return it."""
    where = _item_where(raw, index, where_prefix)
    extra_keys = {k for k, d in _EXTRA_KEYS.items() if d is None or d == domain}
    allowed = _BASE_ITEM_KEYS | extra_keys | (_TABLE_ITEM_KEYS if table is not None else set())
    data = r.mapping(raw, where, allowed)
    code = r.code(data, where, _ITEM_CODE_MAX)
    text = r.text(data, "text", where)
    if table is not None:
        category = table["title"]
        given = data.get("category")
        if given is not None and given != category:
            r.fail(where, f"category {given!r} differs from the table title {category!r}")
    else:
        category = r.text(data, "category", where)
    severity = data.get("severity", default_severity)
    if severity not in SEVERITIES:
        r.fail(where, f"severity {severity!r} must be one of {', '.join(SEVERITIES)}")
    if only_severity is not None and severity != only_severity:
        r.fail(where, f"severity must be {only_severity}")
    credit_rule = r.text(data, "credit_rule", where, required=False)
    major_criterion = r.text(data, "major_criterion", where, required=False)
    points = r.number(data, "points", where) if table is not None else None
    guarantee = r.flag(data, "guarantee", where) if table is not None else False

    extra: dict[str, Any] = {}
    for key in sorted(extra_keys & data.keys()):
        value = data[key]
        if key == "applies_to":
            if (not isinstance(value, list) or not value or len(set(value)) != len(value)
                    or any(v not in GAS_USER_TYPES for v in value)):
                r.fail(where, f"applies_to must be a list of distinct values from {', '.join(GAS_USER_TYPES)}")
            value = list(value)
        elif key in ("strong_measure", "operating_only"):
            value = r.flag(data, key, where)
        else:
            value = r.text(data, key, where)
        extra[key] = value
    return ChecklistItem(code=code, text=text, category=category, severity=severity, credit_rule=credit_rule,
                         major_criterion=major_criterion, table=table["code"] if table else None,
                         guarantee=guarantee, points=points, extra=extra)


def _close(a: float, b: float) -> bool:
    """Compare point sums without tripping over float rounding."""
    return abs(a - b) < 1e-9


def _read_scored(r: _Reader, data: dict, domain: str):
    """Validate summary, tables and major items of a scored checklist."""
    summary_raw = r.items_list(data.get("summary"), "summary")
    summary = []
    for index, raw in enumerate(summary_raw):
        where = f"summary[{index}]"
        g = r.mapping(raw, where, _SUMMARY_KEYS)
        code = r.code(g, where, _CHECKLIST_CODE_MAX)
        summary.append(SummaryGroup(code=code, title=r.text(g, "title", f"summary {code}"),
                                    weight=r.number(g, "weight", f"summary {code}")))
    group_codes = [g.code for g in summary]
    if len(set(group_codes)) != len(group_codes):
        r.fail("summary", "group codes must be unique")
    total_weight = sum(g.weight for g in summary)
    if not _close(total_weight, SUMMARY_WEIGHT):
        r.fail("summary", f"weights sum to {total_weight:g}, expected {SUMMARY_WEIGHT:g}")

    tables = []
    for index, raw in enumerate(r.items_list(data.get("tables"), "tables")):
        where = f"tables[{index}]"
        t = r.mapping(raw, where, _TABLE_KEYS)
        code = r.code(t, where, _ITEM_CODE_MAX)
        where = f"table {code}"
        title = r.text(t, "title", where)
        group = t.get("group")
        if group not in group_codes:
            r.fail(where, f"group {group!r} is not a summary group")
        source = r.text(t, "source", where, required=False)
        info = {"code": code, "title": title}
        items = tuple(_read_item(r, raw_item, i, domain=domain, table=info, where_prefix=f"{where}: ")
                      for i, raw_item in enumerate(r.items_list(t.get("items"), f"{where}: items")))
        guarantee = sum(i.points for i in items if i.guarantee)
        general = sum(i.points for i in items if not i.guarantee)
        if guarantee:
            if not (_close(guarantee, GUARANTEE_POINTS) and _close(general, GENERAL_POINTS)):
                r.fail(where, f"guarantee items sum to {guarantee:g} and general items to {general:g}, "
                              f"expected {GUARANTEE_POINTS:g} and {GENERAL_POINTS:g}")
        elif not _close(general, TABLE_POINTS):
            r.fail(where, f"items sum to {general:g} points, expected {TABLE_POINTS:g}")
        tables.append(ChecklistTable(code=code, title=title, group=group, source=source, items=items))

    table_codes = [t.code for t in tables]
    if len(set(table_codes)) != len(table_codes):
        r.fail("tables", "table codes must be unique")
    for g in summary:
        if not any(t.group == g.code for t in tables):
            r.fail(f"summary {g.code}", "no table belongs to this group")

    major = ()
    if data.get("major_items") is not None:
        major = tuple(_read_item(r, raw, i, domain=domain, table=None, default_severity="major",
                                 only_severity="major", where_prefix="major_items: ")
                      for i, raw in enumerate(r.items_list(data["major_items"], "major_items")))
    items = tuple(item for t in tables for item in t.items) + major
    return tuple(summary), tuple(tables), items


def load_file(path, *, credit_rules=None) -> Checklist:
    """Load and validate one checklist file; raise ValueError naming the file and item.

    ``credit_rules``, when given, is the set of known credit rule codes that
    items may reference.
    """
    path = Path(path)
    r = _Reader(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        r.fail("", f"invalid YAML: {exc}")
    except OSError as exc:
        r.fail("", f"cannot read: {exc.strerror or exc}")
    data = r.mapping(raw, "", _TOP_KEYS)

    code = r.code(data, "", _CHECKLIST_CODE_MAX)
    domain = data.get("domain")
    if domain not in DOMAINS:
        r.fail("", f"domain {domain!r} must be one of {', '.join(DOMAINS)}")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        r.fail("", f"version must be a positive integer, got {version!r}")
    title = r.text(data, "title", "")
    source = r.text(data, "source", "")
    scoring = data.get("scoring")

    if scoring is None:
        for key in ("summary", "tables", "major_items"):
            if key in data:
                r.fail("", f"{key} is only allowed with scoring")
        items = tuple(_read_item(r, raw_item, i, domain=domain, table=None)
                      for i, raw_item in enumerate(r.items_list(data.get("items"), "items")))
        summary, tables = (), ()
    else:
        if scoring not in SCORINGS:
            r.fail("", f"scoring {scoring!r} must be one of {', '.join(SCORINGS)}")
        if "items" in data:
            r.fail("", "items must not be written for a scored checklist; they are derived from tables")
        summary, tables, items = _read_scored(r, data, domain)

    seen: set[str] = set()
    for item in items:
        if item.code in seen:
            r.fail(f"item {item.code}", "duplicate item code")
        seen.add(item.code)
        if credit_rules is not None and item.credit_rule is not None and item.credit_rule not in credit_rules:
            r.fail(f"item {item.code}", f"credit_rule {item.credit_rule!r} is not in the credit standard")

    return Checklist(code=code, domain=domain, version=version, title=title, source=source, items=items,
                     scoring=scoring, summary=summary, tables=tables)


def credit_rule_codes(path) -> frozenset[str]:
    """Return the rule codes of a credit standard file; raise ValueError if it has none."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError) as exc:
        raise ValueError(f"{path}: cannot load: {exc}") from None
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, list) or not rules:
        raise ValueError(f"{path}: rules must be a non-empty list")
    codes = [rule.get("code") if isinstance(rule, dict) else None for rule in rules]
    for index, code in enumerate(codes):
        if not isinstance(code, str) or not code:
            raise ValueError(f"{path}: rules[{index}]: code must be a non-empty string")
    if len(set(codes)) != len(codes):
        raise ValueError(f"{path}: rule codes must be unique")
    return frozenset(codes)


def load_dir(path=DEFAULT_DIR) -> list[Checklist]:
    """Load every *.yaml checklist in ``path`` (sorted by file name) and validate them together.

    Credit rule references are checked against ``path/../credit_standard.yaml``
    when that file exists; a code and version may be defined only once.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory")
    standard = directory.parent / CREDIT_STANDARD_NAME
    credit_rules = credit_rule_codes(standard) if standard.is_file() else None
    loaded: list[Checklist] = []
    origin: dict[tuple[str, int], Path] = {}
    for file in sorted(directory.glob("*.yaml")):
        checklist = load_file(file, credit_rules=credit_rules)
        key = (checklist.code, checklist.version)
        if key in origin:
            raise ValueError(f"{file}: checklist {checklist.code} version {checklist.version} "
                             f"is also defined in {origin[key].name}")
        origin[key] = file
        loaded.append(checklist)
    return loaded
