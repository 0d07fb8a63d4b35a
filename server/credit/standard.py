"""Load and validate the credit standard kept as rule data (config/rules/credit_standard.yaml).

The standard is local policy, editable without code: a base score, grade
bands, deduction rules with points, validity and 一票否决 (veto), the rules
raised from the hazard register, and the minimum periods before a credit
repair (信用修复). A standard has a ``code`` and a ``version``; a deduction
records the version it was made under and copies its points, validity and
veto, so that a new version never rewrites past deductions.

Every error names the file and the rule: ``credit_standard.yaml: rule ZA-01:
points must be a whole number from 1 to the base (100), got -5``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from server.canonical import digest

FILE_NAME = "credit_standard.yaml"
KINDS = ("gas_operator", "contractor", "developer", "supervisor", "property_manager", "other")
SEVERITIES = ("general", "major")
INSPECTION_OUTCOMES = ("jgj59_fail",)  # a construction site scored 不合格 by JGJ 59-2011

MAX_BASE = 10_000  # a base beyond this is a typo, not a policy
MAX_VALIDITY_MONTHS = 60  # 241号: bad records are public 6 months to 3 years; 5 years leaves room
RULE_CODE_MAX = 32
STANDARD_CODE_MAX = 64
GRADE_MAX = 8

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TOP_KEYS = {"code", "version", "title", "policy_note", "base", "grades", "categories", "rules", "overdue_rules",
             "inspection_rules", "repair"}
_RULE_KEYS = {"code", "title", "points", "validity_months", "category", "veto", "applies_to", "source",
              "repair_min_months"}
_GRADE_KEYS = {"grade", "min"}
_REPAIR_KEYS = {"min_months", "veto_min_months"}


@dataclass(frozen=True)
class Rule:
    """One deduction item of the standard."""

    code: str
    title: str
    points: int
    validity_months: int
    category: str
    veto: bool
    applies_to: tuple[str, ...]
    repair_min_months: int
    source: str | None = None

    def to_dict(self) -> dict:
        """Return the rule as JSON-ready data."""
        return {"code": self.code, "title": self.title, "points": self.points,
                "validity_months": self.validity_months, "category": self.category, "veto": self.veto,
                "applies_to": list(self.applies_to), "repair_min_months": self.repair_min_months,
                "source": self.source}


@dataclass(frozen=True)
class Band:
    """A grade and the lowest score that reaches it."""

    grade: str
    min: float


@dataclass(frozen=True)
class Standard:
    """A version of the credit standard."""

    code: str
    version: int
    title: str
    policy_note: str
    base: int
    bands: tuple[Band, ...]
    categories: tuple[str, ...]
    rules: tuple[Rule, ...]
    overdue_rules: dict[str, str]
    inspection_rules: dict[str, str]
    path: str | None = field(default=None, compare=False)
    _index: dict = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, "_index", {rule.code: rule for rule in self.rules})

    def rule(self, code: str) -> Rule | None:
        """Return the rule with this code, or None."""
        return self._index.get(code)

    @property
    def lowest_grade(self) -> str:
        """Return the grade a veto forces (the last band)."""
        return self.bands[-1].grade

    def grade(self, score: float, *, veto: bool = False) -> str:
        """Return the grade of a score: the first band it reaches; the last band below all and under a veto."""
        if veto:
            return self.lowest_grade
        for band in self.bands:
            if score >= band.min:
                return band.grade
        return self.lowest_grade

    def to_dict(self) -> dict:
        """Return the standard's content (what its digest covers) as JSON-ready data."""
        return {"code": self.code, "version": self.version, "title": self.title, "policy_note": self.policy_note,
                "base": self.base, "grades": [{"grade": b.grade, "min": b.min} for b in self.bands],
                "categories": list(self.categories), "rules": [r.to_dict() for r in self.rules],
                "overdue_rules": dict(self.overdue_rules), "inspection_rules": dict(self.inspection_rules)}

    @cached_property
    def digest(self) -> str:
        """Return the SHA-256 of the content: comments and layout of the file do not change it."""
        return digest(self.to_dict())


class _Reader:
    """Checks values of one file and raises ValueError('file: where: reason')."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, reason: str):
        prefix = f"{self.path}: {where}: " if where else f"{self.path}: "
        raise ValueError(prefix + reason)

    def mapping(self, value, where: str, allowed: set[str]) -> dict:
        if not isinstance(value, dict):
            self.fail(where, "expected a mapping")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            self.fail(where, f"unknown key(s) {', '.join(unknown)}")
        return value

    def text(self, data: dict, key: str, where: str, *, required: bool = True, max_len: int = 500) -> str | None:
        value = data.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"{key} must be a non-empty string")
        if len(value.strip()) > max_len:
            self.fail(where, f"{key} must be at most {max_len} characters")
        return value.strip()

    def code(self, data: dict, where: str, max_len: int) -> str:
        value = data.get("code")
        if not isinstance(value, str) or not _CODE_RE.match(value) or len(value) > max_len:
            self.fail(where, f"code {value!r} must be 1-{max_len} letters, digits, '_', '.' or '-'")
        return value

    def whole(self, data: dict, key: str, where: str, low: int, high: int, what: str | None = None) -> int:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(where, f"{key} must be a whole number from {low} to {what or high}, got {value!r}")
        return value

    def flag(self, data: dict, key: str, where: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.fail(where, f"{key} must be true or false, got {value!r}")
        return value


def _rule_where(raw, index: int) -> str:
    code = raw.get("code") if isinstance(raw, dict) else None
    return f"rule {code}" if isinstance(code, str) else f"rules[{index}]"


def _read_bands(r: _Reader, raw, base: int) -> tuple[Band, ...]:
    if not isinstance(raw, list) or not raw:
        r.fail("grades", "must be a non-empty list of {grade, min}")
    bands: list[Band] = []
    for index, item in enumerate(raw):
        where = f"grades[{index}]"
        data = r.mapping(item, where, _GRADE_KEYS)
        name = r.text(data, "grade", where, max_len=GRADE_MAX)
        low = data.get("min")
        if isinstance(low, bool) or not isinstance(low, (int, float)) or low != low or abs(low) > MAX_BASE:
            r.fail(f"grade {name}", f"min must be a number, got {low!r}")
        if any(b.grade == name for b in bands):
            r.fail(f"grade {name}", "duplicate grade")
        if bands and low >= bands[-1].min:
            r.fail(f"grade {name}", f"min {low:g} must be below the min of grade {bands[-1].grade} ({bands[-1].min:g}); "
                                    "list grades from the best down")
        bands.append(Band(grade=name, min=float(low) if isinstance(low, float) else low))
    if bands[0].min > base:
        r.fail(f"grade {bands[0].grade}", f"min {bands[0].min:g} is above the base {base}: no score could reach it")
    return tuple(bands)


def _read_rule(r: _Reader, raw, index: int, *, base: int, categories: tuple[str, ...], repair: dict) -> Rule:
    where = _rule_where(raw, index)
    data = r.mapping(raw, where, _RULE_KEYS)
    code = r.code(data, where, RULE_CODE_MAX)
    where = f"rule {code}"
    title = r.text(data, "title", where)
    points = r.whole(data, "points", where, 1, base, f"the base ({base})")
    validity = r.whole(data, "validity_months", where, 1, MAX_VALIDITY_MONTHS)
    category = data.get("category")
    if category not in categories:
        r.fail(where, f"category {category!r} is not one of the categories ({', '.join(categories)})")
    veto = r.flag(data, "veto", where)
    applies_to = data.get("applies_to")
    if (not isinstance(applies_to, list) or not applies_to or len(set(applies_to)) != len(applies_to)
            or any(kind not in KINDS for kind in applies_to)):
        r.fail(where, f"applies_to must be a list of distinct enterprise kinds from {', '.join(KINDS)}, "
                      f"got {applies_to!r}")
    default_repair = repair["veto_min_months"] if veto else repair["min_months"]
    repair_min = (r.whole(data, "repair_min_months", where, 0, validity, f"validity_months ({validity})")
                  if "repair_min_months" in data else min(default_repair, validity))
    source = r.text(data, "source", where, required=False)
    return Rule(code=code, title=title, points=points, validity_months=validity, category=category, veto=veto,
                applies_to=tuple(applies_to), repair_min_months=repair_min, source=source)


def _read_links(r: _Reader, raw, key: str, allowed: tuple[str, ...], rules: dict[str, Rule],
                required: bool) -> dict[str, str]:
    if raw is None and not required:
        return {}
    data = r.mapping(raw, key, set(allowed))
    if required and set(data) != set(allowed):
        r.fail(key, f"must name a rule for each of {', '.join(allowed)}")
    for name, code in data.items():
        if code not in rules:
            r.fail(key, f"{name}: {code!r} is not a rule of this standard")
    return dict(data)


def parse(raw, path) -> Standard:
    """Validate the parsed YAML of a standard file and return the standard."""
    path = Path(path)
    r = _Reader(path)
    data = r.mapping(raw, "", _TOP_KEYS)
    code = r.code(data, "", STANDARD_CODE_MAX)
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        r.fail("", f"version must be a positive whole number, got {version!r}")
    title = r.text(data, "title", "")
    policy_note = r.text(data, "policy_note", "")
    base = r.whole(data, "base", "", 1, MAX_BASE)
    bands = _read_bands(r, data.get("grades"), base)
    categories = data.get("categories")
    if (not isinstance(categories, list) or not categories or len(set(categories)) != len(categories)
            or not all(isinstance(c, str) and c.strip() for c in categories)):
        r.fail("categories", "must be a non-empty list of distinct names")
    repair_raw = r.mapping(data.get("repair", {}), "repair", _REPAIR_KEYS)
    repair = {"min_months": r.whole(repair_raw, "min_months", "repair", 0, MAX_VALIDITY_MONTHS)
              if "min_months" in repair_raw else 3,
              "veto_min_months": r.whole(repair_raw, "veto_min_months", "repair", 0, MAX_VALIDITY_MONTHS)
              if "veto_min_months" in repair_raw else 12}
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        r.fail("rules", "must be a non-empty list")
    rules: dict[str, Rule] = {}
    for index, raw_rule in enumerate(raw_rules):
        rule = _read_rule(r, raw_rule, index, base=base, categories=tuple(categories), repair=repair)
        if rule.code in rules:
            r.fail(f"rule {rule.code}", "duplicate rule code")
        rules[rule.code] = rule
    overdue = _read_links(r, data.get("overdue_rules"), "overdue_rules", SEVERITIES, rules, required=True)
    inspection = _read_links(r, data.get("inspection_rules"), "inspection_rules", INSPECTION_OUTCOMES, rules,
                             required=False)
    return Standard(code=code, version=version, title=title, policy_note=policy_note, base=base, bands=bands,
                    categories=tuple(categories), rules=tuple(rules.values()), overdue_rules=overdue,
                    inspection_rules=inspection, path=str(path))


def load_file(path) -> Standard:
    """Load and validate a standard file; raise ValueError naming the file and the rule."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML: {exc}") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse(raw, path)


def describe(standard: Standard) -> list[str]:
    """Return the standard as lines of text, for the CLI."""
    lines = [f"{standard.code} version {standard.version}: {standard.title}",
             f"  {standard.policy_note}",
             f"  base {standard.base}; grades " + ", ".join(f"{b.grade} ≥ {b.min:g}" for b in standard.bands)
             + f"; a veto forces {standard.lowest_grade}",
             "  overdue hazards: " + ", ".join(f"{k} → {v}" for k, v in standard.overdue_rules.items())]
    if standard.inspection_rules:
        lines.append("  inspections: " + ", ".join(f"{k} → {v}" for k, v in standard.inspection_rules.items()))
    lines.append(f"  {len(standard.rules)} rules:")
    for rule in standard.rules:
        flags = " 一票否决" if rule.veto else ""
        lines.append(f"  {rule.code:<16} -{rule.points:<3} {rule.validity_months:>2} months "
                     f"(repair after {rule.repair_min_months}){flags}  [{rule.category}] {rule.title}")
    return lines


def summary(standard: Standard) -> dict[str, Any]:
    """Return the standard's identity, for answers that say which version they used."""
    return {"code": standard.code, "version": standard.version, "base": standard.base}
