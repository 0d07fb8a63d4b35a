"""Score a construction site by JGJ 59-2011 (建筑施工安全检查标准), research.md §3.3.

Rules, in the order they are applied:

1. Item: ``pass`` earns the item's points; ``fail`` earns its points minus the
   deduction, the deduction being kept within 0..points (a fail without a
   deduction earns nothing); ``na`` means not inspected (缺项).
2. Sub-table (分项检查评分表): a table without inspected items is absent. If an
   inspected guarantee item (保证项目) earns 0, or the guarantee subtotal is
   below 40, the table scores 0. Otherwise it scores 100 × earned / full
   points of the inspected items (A2 rule for missing items).
   The standard requires every guarantee item to be inspected; when some are
   not, the 40-of-60 floor is scaled to the guarantee points inspected
   (e.g. 50 inspected → floor 33.3), so that a missing item cannot by itself
   zero the table. With all guarantee items inspected this is exactly "< 40".
3. Summary group: the arithmetic mean of its inspected tables (several
   scaffolds, hoists or cranes); a group without any is missing.
4. Total: Σ weight × group score / 100, rescaled to 100 over the weights of
   the inspected groups when groups are missing (A2 = D / E × 100).
5. Grade: 优良 total ≥ 80 and no zero table; 合格 70 ≤ total < 80 and no zero
   table; 不合格 total < 70 or any table scored 0. The grade is judged on the
   total as shown (rounded to one decimal, half up).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from server.inspections.checklists import Checklist, ChecklistTable

OUTCOMES = ("pass", "fail", "na")
GUARANTEE_FLOOR = 40.0
EXCELLENT_MIN = 80.0
PASS_MIN = 70.0
GRADES = {"excellent": "优良", "pass": "合格", "fail": "不合格"}


def _round(value: float, places: int) -> float:
    """Round half up at ``places`` decimals, ignoring float noise below 1e-9."""
    exact = Decimal(repr(round(value, 9)))
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _earned(checklist: Checklist, results: Mapping[str, tuple]) -> dict[str, float]:
    """Return the points earned per inspected table item, validating ``results``."""
    earned: dict[str, float] = {}
    for code, value in results.items():
        item = checklist.item(code)
        if item is None:
            raise ValueError(f"item {code!r}: not in checklist {checklist.code}")
        try:
            outcome, deduction = value
        except (TypeError, ValueError):
            raise ValueError(f"item {code}: expected (outcome, deduction)") from None
        if outcome not in OUTCOMES:
            raise ValueError(f"item {code}: outcome {outcome!r} must be one of {', '.join(OUTCOMES)}")
        if deduction is not None and (isinstance(deduction, bool) or not isinstance(deduction, (int, float))
                                      or not math.isfinite(deduction)):
            raise ValueError(f"item {code}: deduction must be a number or None, got {deduction!r}")
        if outcome == "pass" and deduction:
            raise ValueError(f"item {code}: a passed item cannot carry a deduction")
        if item.table is None or outcome == "na":
            continue  # major items are judged, not scored; na is a missing item
        if outcome == "pass":
            earned[code] = item.points
        elif deduction is None:
            earned[code] = 0.0
        else:
            earned[code] = item.points - min(max(float(deduction), 0.0), item.points)
    return earned


def _table_score(table: ChecklistTable, earned: dict[str, float]) -> tuple[float, str | None] | None:
    """Return (score, zero reason) of one sub-table, or None when nothing in it was inspected."""
    live = [item for item in table.items if item.code in earned]
    if not live:
        return None
    guarantee = [item for item in live if item.guarantee]
    if guarantee:
        if any(earned[item.code] == 0 for item in guarantee):
            return 0.0, "guarantee_item_zero"
        table_guarantee = sum(item.points for item in table.items if item.guarantee)
        floor = GUARANTEE_FLOOR * sum(item.points for item in guarantee) / table_guarantee
        if sum(earned[item.code] for item in guarantee) < floor - 1e-9:
            return 0.0, "guarantee_subtotal_below_40"
    score = 100.0 * sum(earned[item.code] for item in live) / sum(item.points for item in live)
    return score, ("no_points" if score == 0 else None)


def score_site(checklist: Checklist, results: Mapping[str, tuple[str, float | None]]) -> dict:
    """Score one site inspection by JGJ 59 and return a JSON-ready summary.

    ``results`` maps item code → (outcome, deduction) with outcome
    ``pass|fail|na`` and deduction in points or None. Codes left out are not
    inspected. Major items (no table) may be present and are ignored here.
    """
    if checklist.scoring != "jgj59":
        raise ValueError(f"checklist {checklist.code} is not scored by JGJ 59")
    earned = _earned(checklist, results)

    tables = []
    table_scores: dict[str, float] = {}
    for table in checklist.tables:
        scored = _table_score(table, earned)
        if scored is None:
            continue
        score, reason = scored
        table_scores[table.code] = score
        tables.append({"code": table.code, "title": table.title, "group": table.group,
                       "score": _round(score, 2), "zero_reason": reason})

    groups = []
    got = weights = 0.0
    for group in checklist.summary:
        scores = [table_scores[t.code] for t in checklist.tables if t.group == group.code and t.code in table_scores]
        if scores:
            score = sum(scores) / len(scores)
            weighted = group.weight * score / 100.0
            got += weighted
            weights += group.weight
            groups.append({"code": group.code, "title": group.title, "weight": group.weight,
                           "score": _round(score, 2), "weighted": _round(weighted, 2)})
        else:
            groups.append({"code": group.code, "title": group.title, "weight": group.weight,
                           "score": None, "weighted": None})

    zero_tables = [t["code"] for t in tables if table_scores[t["code"]] == 0]
    if not weights:
        total = grade_code = None
    else:
        total = _round(got / weights * 100.0, 1)
        if zero_tables or total < PASS_MIN:
            grade_code = "fail"
        elif total >= EXCELLENT_MIN:
            grade_code = "excellent"
        else:
            grade_code = "pass"
    return {"tables": tables, "groups": groups, "total": total,
            "grade": GRADES.get(grade_code), "grade_code": grade_code, "zero_tables": zero_tables}
