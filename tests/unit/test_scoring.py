"""JGJ 59-2011 site scoring (research.md §3.3), with hand-computed examples."""

import json

import pytest

from server.inspections import checklists
from server.inspections.checklists import Checklist, ChecklistItem, ChecklistTable, SummaryGroup
from server.inspections.scoring import score_site

SPLIT = ([10] * 6, [10] * 4)  # 6 guarantee items of 10, 4 general items of 10
ELECTRIC = ([10, 20, 10, 20], [15, 15, 10])  # uneven points, as in 施工用电


def _table(code, group, guarantee, general):
    """Build a sub-table; guarantee items are <code>G1.., general items <code>N1.."""
    items = [ChecklistItem(code=f"{code}G{i}", text=f"{code} 保证 {i}", category=code, severity="general",
                           table=code, guarantee=True, points=float(p)) for i, p in enumerate(guarantee, 1)]
    items += [ChecklistItem(code=f"{code}N{i}", text=f"{code} 一般 {i}", category=code, severity="general",
                            table=code, guarantee=False, points=float(p)) for i, p in enumerate(general, 1)]
    return ChecklistTable(code=code, title=code, group=group, source=None, items=tuple(items))


def _site():
    """A small JGJ 59 checklist: 6 groups (weights 10,15,10,10,10,5), 7 tables and one major item."""
    tables = (
        _table("SM", "management", *SPLIT),
        _table("CC", "civil", *SPLIT),
        _table("SF", "scaffold", *SPLIT),
        _table("SC", "scaffold", *SPLIT),
        _table("HW", "height", [], [10] * 10),
        _table("EL", "power", *ELECTRIC),
        _table("MT", "tools", [], [10] * 10),
    )
    summary = (SummaryGroup("management", "安全管理", 10.0), SummaryGroup("civil", "文明施工", 15.0),
               SummaryGroup("scaffold", "脚手架", 10.0), SummaryGroup("height", "高处作业", 10.0),
               SummaryGroup("power", "施工用电", 10.0), SummaryGroup("tools", "施工机具", 5.0))
    major = ChecklistItem(code="ZD01", text="重大隐患", category="重大隐患", severity="major")
    items = tuple(i for t in tables for i in t.items) + (major,)
    return Checklist(code="test-site", domain="construction_site", version=1, title="测试", source="test",
                     items=items, scoring="jgj59", summary=summary, tables=tables)


SITE = _site()


def passing(*table_codes):
    """Return results passing every item of the given tables."""
    return {i.code: ("pass", None) for t in SITE.tables if t.code in table_codes for i in t.items}


def table_score(result, code):
    """Return the score of one table in a result, or None when absent."""
    return next((t["score"] for t in result["tables"] if t["code"] == code), None)


def group(result, code):
    """Return one group row of a result."""
    return next(g for g in result["groups"] if g["code"] == code)


def test_all_pass_scores_100():
    """Passing every item gives 100 everywhere and 优良."""
    result = score_site(SITE, passing(*[t.code for t in SITE.tables]))
    assert all(t["score"] == 100.0 for t in result["tables"])
    assert result["total"] == 100.0
    assert (result["grade"], result["grade_code"], result["zero_tables"]) == ("优良", "excellent", [])


def test_fail_without_deduction_loses_full_points():
    """A failed item without a deduction earns nothing: HW 90 of 100."""
    results = passing("HW") | {"HWN1": ("fail", None)}
    assert table_score(score_site(SITE, results), "HW") == 90.0


def test_partial_deduction():
    """A failed item with a deduction loses only those points: 10 − 3.5 → HW 96.5."""
    results = passing("HW") | {"HWN1": ("fail", 3.5)}
    assert table_score(score_site(SITE, results), "HW") == 96.5


def test_deduction_capped_at_item_points():
    """A deduction larger than the item's points takes only the item's points (no negative item)."""
    results = passing("HW") | {"HWN1": ("fail", 25)}
    assert table_score(score_site(SITE, results), "HW") == 90.0


def test_negative_deduction_clamped_to_zero():
    """A negative deduction is treated as 0, never as a bonus."""
    results = passing("HW") | {"HWN1": ("fail", -5)}
    assert table_score(score_site(SITE, results), "HW") == 100.0


def test_zero_general_item_does_not_zero_table():
    """A general item at 0 only costs its points: SM 90."""
    results = passing("SM") | {"SMN1": ("fail", None)}
    result = score_site(SITE, results)
    assert table_score(result, "SM") == 90.0
    assert result["zero_tables"] == []


def test_zero_guarantee_item_zeroes_table_and_fails_site():
    """One guarantee item at 0 zeroes its table; a zero table fails the site even with total 83.3."""
    results = passing(*[t.code for t in SITE.tables]) | {"SMG1": ("fail", None)}
    result = score_site(SITE, results)
    assert table_score(result, "SM") == 0.0
    assert next(t for t in result["tables"] if t["code"] == "SM")["zero_reason"] == "guarantee_item_zero"
    # weighted: SM 0 + CC 15 + scaffold 10 + HW 10 + EL 10 + MT 5 = 50 of 60 → 83.3
    assert result["total"] == 83.3
    assert result["zero_tables"] == ["SM"]
    assert (result["grade"], result["grade_code"]) == ("不合格", "fail")


def test_guarantee_subtotal_below_40_zeroes_table():
    """Guarantee items 6×(10−4)=36 < 40 zero the table though no item is 0 (would be 76)."""
    results = passing("SM") | {f"SMG{i}": ("fail", 4) for i in range(1, 7)}
    result = score_site(SITE, results)
    assert table_score(result, "SM") == 0.0
    assert result["tables"][0]["zero_reason"] == "guarantee_subtotal_below_40"
    assert result["grade_code"] == "fail"


def test_guarantee_subtotal_exactly_40_is_kept():
    """Guarantee subtotal 6+6+6+6+8+8 = 40 is not below 40: SM = (40+40)/100 = 80."""
    deductions = {"SMG1": 4, "SMG2": 4, "SMG3": 4, "SMG4": 4, "SMG5": 2, "SMG6": 2}
    results = passing("SM") | {code: ("fail", d) for code, d in deductions.items()}
    result = score_site(SITE, results)
    assert table_score(result, "SM") == 80.0
    assert result["zero_tables"] == []


def test_guarantee_subtotal_uneven_points():
    """施工用电-like table: guarantee 10+14+10+16 = 50 ≥ 40 → (50+40)/100 = 90; 39 → 0."""
    ok = passing("EL") | {"ELG2": ("fail", 6), "ELG4": ("fail", 4)}
    assert table_score(score_site(SITE, ok), "EL") == 90.0
    low = passing("EL") | {"ELG2": ("fail", 11), "ELG4": ("fail", 10)}  # 10+9+10+10 = 39
    assert table_score(score_site(SITE, low), "EL") == 0.0


def test_missing_items_rescaled_within_table():
    """A2 in a table: SMN3, SMN4 not inspected, SMN1 −5 → 75 of 80 → 93.75."""
    results = passing("SM") | {"SMN3": ("na", None), "SMN4": ("na", None), "SMN1": ("fail", 5)}
    assert table_score(score_site(SITE, results), "SM") == 93.75


def test_missing_guarantee_item_scales_the_40_floor():
    """ELG1 (10) not inspected: the floor is 40×50/60 = 33.3; 34 keeps the table, 33 zeroes it."""
    base = passing("EL") | {"ELG1": ("na", None)}
    kept = base | {"ELG2": ("fail", 10), "ELG3": ("fail", 3), "ELG4": ("fail", 3)}  # 10+7+17 = 34
    # (34 + 40) / 90 × 100 = 82.22
    assert table_score(score_site(SITE, kept), "EL") == 82.22
    zeroed = base | {"ELG2": ("fail", 10), "ELG3": ("fail", 3), "ELG4": ("fail", 4)}  # 10+7+16 = 33
    assert table_score(score_site(SITE, zeroed), "EL") == 0.0


def test_table_without_inspected_items_is_absent():
    """A table whose items are all na (or absent) is left out of tables and its group."""
    results = passing("SF") | {i.code: ("na", None) for i in SITE.table("SC").items}
    result = score_site(SITE, results)
    assert [t["code"] for t in result["tables"]] == ["SF"]
    assert group(result, "scaffold")["score"] == 100.0


def test_two_scaffolding_tables_are_averaged():
    """Scaffold group = mean of SF 90 and SC 80 = 85; alone it gives total 85.0 (优良)."""
    results = passing("SF", "SC") | {"SFN1": ("fail", None), "SCN1": ("fail", None), "SCN2": ("fail", None)}
    result = score_site(SITE, results)
    assert table_score(result, "SF") == 90.0
    assert table_score(result, "SC") == 80.0
    row = group(result, "scaffold")
    assert (row["score"], row["weighted"]) == (85.0, 8.5)
    assert result["total"] == 85.0
    assert result["grade"] == "优良"


def test_missing_groups_rescaled_in_summary():
    """A2 in the summary: SM 90 (×10), CC 80 (×15), MT 60 (×5) → (9+12+3)/30×100 = 80.0 优良."""
    results = passing("SM", "CC", "MT") | {
        "SMN1": ("fail", None), "CCN1": ("fail", None), "CCN2": ("fail", None),
        "MTN1": ("fail", None), "MTN2": ("fail", None), "MTN3": ("fail", None), "MTN4": ("fail", None)}
    result = score_site(SITE, results)
    assert [(g["code"], g["weighted"]) for g in result["groups"] if g["score"] is not None] == [
        ("management", 9.0), ("civil", 12.0), ("tools", 3.0)]
    assert group(result, "height") == {"code": "height", "title": "高处作业", "weight": 10.0,
                                       "score": None, "weighted": None}
    assert result["total"] == 80.0
    assert result["grade"] == "优良"


@pytest.mark.parametrize(
    ("deductions", "total", "grade", "grade_code"),
    [
        ([5, 5, 5, 5], 80.0, "优良", "excellent"),
        ([5, 5, 5, 5, 0.1], 79.9, "合格", "pass"),
        ([5, 5, 5, 5, 5, 5], 70.0, "合格", "pass"),
        ([5, 5, 5, 5, 5, 5, 0.1], 69.9, "不合格", "fail"),
    ],
)
def test_grade_boundaries(deductions, total, grade, grade_code):
    """Totals of exactly 80 and 70 reach 优良 and 合格; 79.9 and 69.9 do not."""
    results = passing("HW") | {f"HWN{i}": ("fail", d) for i, d in enumerate(deductions, 1)}
    result = score_site(SITE, results)
    assert (result["total"], result["grade"], result["grade_code"]) == (total, grade, grade_code)


def test_nothing_inspected():
    """Without inspected table items total and grade are None and every group is missing."""
    for results in ({}, {"HWN1": ("na", None)}, {"ZD01": ("fail", None)}):
        result = score_site(SITE, results)
        assert result["tables"] == []
        assert [g["score"] for g in result["groups"]] == [None] * 6
        assert (result["total"], result["grade"], result["grade_code"]) == (None, None, None)


def test_major_items_are_not_scored():
    """A failed major item does not change the score; it becomes a hazard elsewhere."""
    results = passing("HW")
    assert score_site(SITE, results | {"ZD01": ("fail", None)}) == score_site(SITE, results)


def test_result_is_json_ready():
    """The result serialises to JSON and has the documented keys."""
    result = score_site(SITE, passing("SM"))
    assert set(result) == {"tables", "groups", "total", "grade", "grade_code", "zero_tables"}
    assert set(result["tables"][0]) >= {"code", "title", "group", "score"}
    assert set(result["groups"][0]) == {"code", "title", "weight", "score", "weighted"}
    json.dumps(result, ensure_ascii=False)


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ({"XX01": ("pass", None)}, "not in checklist"),
        ({"HWN1": ("broken", None)}, "outcome"),
        ({"HWN1": ("pass", 3)}, "cannot carry a deduction"),
        ({"HWN1": ("fail", "3")}, "deduction must be a number"),
        ({"HWN1": ("fail", float("nan"))}, "deduction must be a number"),
        ({"HWN1": "fail"}, "expected (outcome, deduction)"),
    ],
)
def test_invalid_results_rejected(results, message):
    """Unknown items, bad outcomes and bad deductions raise ValueError."""
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        score_site(SITE, results)


def test_unscored_checklist_rejected():
    """Only a JGJ 59 checklist can be scored."""
    gas = next(c for c in checklists.load_dir() if c.domain == "gas")
    with pytest.raises(ValueError, match="not scored"):
        score_site(gas, {})


def test_shipped_construction_checklist_scores():
    """The shipped construction-site checklist scores a hand-computed site: 基坑 FP07 −10 → 90, total 95.0."""
    site = next(c for c in checklists.load_dir() if c.code == "construction-site")
    results = {i.code: ("pass", None) for t in site.tables if t.code in ("SM", "FP") for i in t.items}
    results["FP07"] = ("fail", None)  # 基坑监测 (general item, 10 points)
    result = score_site(site, results)
    assert [(t["code"], t["score"]) for t in result["tables"]] == [("SM", 100.0), ("FP", 90.0)]
    # (10×100/100 + 10×90/100) / 20 × 100 = 95.0
    assert (result["total"], result["grade"]) == (95.0, "优良")
