"""Checklist rule data and its loader (config/rules)."""

import csv
import dataclasses
import json
import textwrap
from pathlib import Path

import pytest
import yaml

from server.inspections import checklists
from server.inspections.checklists import load_dir, load_file

RULES = Path(__file__).resolve().parents[2] / "config" / "rules"
LOADED = {c.code: c for c in load_dir(RULES / "checklists")}
GAS, HOUSE, SITE = LOADED["gas-user"], LOADED["self-built-house"], LOADED["construction-site"]
STANDARD = yaml.safe_load((RULES / "credit_standard.yaml").read_text(encoding="utf-8"))


# ---- shipped checklists -------------------------------------------------------------------------

def test_three_checklists_loaded_in_file_order():
    """load_dir loads the three shipped checklists, sorted by file name."""
    assert [c.code for c in load_dir(RULES / "checklists")] == ["construction-site", "gas-user", "self-built-house"]
    assert {c.domain for c in LOADED.values()} == set(checklists.DOMAINS)
    assert all(c.version == 1 and c.title and c.source for c in LOADED.values())


def test_default_dir_is_the_shipped_one():
    """load_dir() without arguments reads config/rules/checklists."""
    assert [c.code for c in load_dir()] == ["construction-site", "gas-user", "self-built-house"]


def test_item_codes_unique_and_credit_rules_exist():
    """Every checklist has unique item codes, and every credit_rule is a rule of the credit standard."""
    rules = {r["code"] for r in STANDARD["rules"]}
    for checklist in LOADED.values():
        codes = [i.code for i in checklist.items]
        assert len(codes) == len(set(codes))
        assert {i.credit_rule for i in checklist.items if i.credit_rule} <= rules


def test_gas_strong_measures_per_user_type():
    """The strong-measure items give 三项强制 for households and 四项强制 for non-households."""
    def strong(user_type):
        return {i.code for i in GAS.items
                if i.extra.get("strong_measure") and user_type in i.extra.get("applies_to", [])}

    assert strong("居民管道") == {"G02", "G03A", "G04A"}  # 自闭阀, 金属波纹软管, 熄火保护
    assert strong("居民瓶装") == {"G02", "G03B", "G04A"}  # 自闭阀, 加厚软管, 熄火保护
    assert strong("非居民管道") == {"G01A", "G01B", "G03A", "G04A"}  # 报警器, 切断阀, 波纹管, 熄火保护
    assert strong("非居民瓶装") == {"G01A", "G01B", "G03B", "G04A"}


def test_gas_major_items_follow_article_9():
    """The four user-end major hazards of 建城规〔2023〕4号 第九条 are major items."""
    major = [i for i in GAS.items if i.severity == "major"]
    assert [i.major_criterion for i in major] == [f"建城规〔2023〕4号 第九条({n})" for n in "一二三四"]
    assert "地下室" in GAS.item("GM01").text and "卫生间" in GAS.item("GM02").text
    assert "卧室" in GAS.item("GM03").text and "淘汰" in GAS.item("GM04").text


def test_gas_covers_research_rows():
    """Every research §5.2 row G01-G12 is present, directly or split with a letter suffix."""
    codes = {i.code for i in GAS.items}
    for n in range(1, 13):
        assert any(c == f"G{n:02d}" or c.startswith(f"G{n:02d}") for c in codes), n
    assert all(i.extra.get("applies_to") for i in GAS.items)


def test_self_built_house_items():
    """The house checklist has 15-20 items; 严重 judgement and C/D in use are major, 一定 is general."""
    assert 15 <= len(HOUSE.items) <= 20
    assert HOUSE.item("H01").severity == "major" and "严重" in HOUSE.item("H01").text
    assert HOUSE.item("H02").severity == "general" and "一定" in HOUSE.item("H02").text
    assert HOUSE.item("H12").severity == "major" and "D级" in HOUSE.item("H12").text
    categories = {i.category for i in HOUSE.items}
    assert {"初步判定", "结构安全", "改扩建", "使用安全", "建设手续", "经营与消防"} == categories


def test_construction_summary_weights():
    """The JGJ 59 summary has 10 groups with weights summing to 100 (文明施工 15, 施工机具 5)."""
    weights = {g.title: g.weight for g in SITE.summary}
    assert len(weights) == 10 and sum(weights.values()) == 100
    assert weights["文明施工"] == 15 and weights["施工机具"] == 5
    assert SITE.scoring == "jgj59"


def test_construction_tables_present():
    """The sub-tables research §3.2 lists, plus hoists, lifting and cantilever scaffolds, are present."""
    titles = {t.title for t in SITE.tables}
    assert titles >= {"安全管理", "文明施工", "扣件式钢管脚手架", "基坑工程", "模板支架", "高处作业", "施工用电",
                      "塔式起重机", "施工机具", "物料提升机", "施工升降机", "起重吊装", "悬挑式脚手架"}
    groups = {t.title: t.group for t in SITE.tables}
    assert groups["扣件式钢管脚手架"] == groups["悬挑式脚手架"] == "scaffolding"
    assert groups["物料提升机"] == groups["施工升降机"] == "hoists"
    assert groups["塔式起重机"] == groups["起重吊装"] == "cranes"


def test_construction_points():
    """Split tables have 60 guarantee + 40 general points; 高处作业 and 施工机具 are unsplit 100."""
    for table in SITE.tables:
        guarantee = sum(i.points for i in table.items if i.guarantee)
        general = sum(i.points for i in table.items if not i.guarantee)
        if table.title in ("高处作业", "施工机具"):
            assert (guarantee, general) == (0, 100), table.code
        else:
            assert (guarantee, general) == (60, 40), table.code


def test_construction_flat_items_derived():
    """Flat items = table items (category = table title) then major items (severity major, 建质规〔2022〕2号)."""
    table_items = [i for t in SITE.tables for i in t.items]
    major = [i for i in SITE.items if i.table is None]
    assert list(SITE.items) == table_items + major
    assert all(i.category == SITE.table(i.table).title and i.points for i in table_items)
    assert len(major) >= 30
    assert all(i.severity == "major" and i.major_criterion.startswith("建质规〔2022〕2号") for i in major)
    assert all(i.points is None and not i.guarantee for i in major)


def test_security_management_items_match_research():
    """安全管理 has research §3.2's six guarantee and four general items in order."""
    table = SITE.table("SM")
    assert [i.text for i in table.items if i.guarantee] == [
        "安全生产责任制", "施工组织设计及专项施工方案", "安全技术交底", "安全检查", "安全教育", "应急救援"]
    assert [i.text for i in table.items if not i.guarantee] == ["分包单位安全管理", "持证上岗", "生产安全事故处理", "安全标志"]


def test_item_lookup_and_to_dict():
    """item() finds by code; to_dict() is JSON-ready and matches the API's item shape."""
    assert SITE.item("SM01").text == "安全生产责任制"
    assert GAS.item("nope") is None
    for checklist in LOADED.values():
        data = json.loads(json.dumps(checklist.to_dict(), ensure_ascii=False))
        assert {"code", "domain", "version", "title", "items"} <= set(data)
        assert all({"code", "text", "category", "severity"} <= set(i) for i in data["items"])
    assert GAS.item("G07").to_dict()["credit_rule"] == "RQ-04"


def test_checklists_are_immutable():
    """Loaded checklists and items are frozen."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        GAS.item("G02").severity = "major"
    with pytest.raises(dataclasses.FrozenInstanceError):
        GAS.title = "x"


# ---- loader validation --------------------------------------------------------------------------

GOOD = """\
code: t
domain: gas
version: 1
title: 测试
source: test
items:
  - {code: A1, text: 甲, category: 类, severity: general}
  - {code: A2, text: 乙, category: 类, severity: major, credit_rule: RQ-01}
"""

SCORED = """\
code: s
domain: construction_site
version: 1
title: 测试
source: test
scoring: jgj59
summary:
  - {code: g1, title: 一, weight: 60}
  - {code: g2, title: 二, weight: 40}
tables:
  - code: T1
    title: 表一
    group: g1
    items:
      - {code: T1G, text: 保证, guarantee: true, points: 60}
      - {code: T1N, text: 一般, points: 40}
  - code: T2
    title: 表二
    group: g2
    items:
      - {code: T2A, text: 甲, points: 100}
major_items:
  - {code: M1, text: 重大, category: 重大隐患, major_criterion: "x"}
"""


def write(directory, name, text):
    """Write a YAML file and return its path."""
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_minimal_files_load(tmp_path):
    """A minimal plain and a minimal scored checklist load; severity defaults general, major items major."""
    plain = load_file(write(tmp_path, "a.yaml", GOOD))
    assert [i.code for i in plain.items] == ["A1", "A2"]
    scored = load_file(write(tmp_path, "b.yaml", SCORED))
    assert [i.code for i in scored.items] == ["T1G", "T1N", "T2A", "M1"]
    assert scored.item("T1N").severity == "general" and scored.item("T1N").category == "表一"
    assert scored.item("M1").severity == "major" and scored.table("T2").split is False


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("domain: gas", "domain: water", "domain 'water'"),
        ("severity: major, credit", "severity: huge, credit", "item A2: severity 'huge'"),
        ("code: A2", "code: A1", "item A1: duplicate item code"),
        ("version: 1", "version: one", "version must be a positive integer"),
        ("category: 类, severity: general}", "severity: general}", "item A1: category must be"),
        ("text: 甲", "text: 甲, serverity: major", "item A1: unknown key(s) serverity"),
        ("text: 甲", "text: 甲, applies_to: [居民]", "item A1: applies_to"),
        ("text: 甲", "text: 甲, operating_only: true", "unknown key(s) operating_only"),
        ("title: 测试\n", "", "title must be"),
        ("items:", "scoring: jgj59\nitems:", "items must not be written"),
        ("code: t\n", "code: 't t'\n", "code 't t'"),
    ],
)
def test_plain_checklist_errors(tmp_path, old, new, message):
    """Invalid plain checklists raise ValueError naming the file and the item."""
    path = write(tmp_path, "bad.yaml", GOOD.replace(old, new, 1))
    with pytest.raises(ValueError) as info:
        load_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("weight: 40", "weight: 30", "weights sum to 90, expected 100"),
        ("points: 60}", "points: 50}", "table T1: guarantee items sum to 50 and general items to 40"),
        ("{code: T2A, text: 甲, points: 100}", "{code: T2A, text: 甲, points: 90}", "table T2: items sum to 90"),
        ("points: 40}", "points: -40}", "item T1N: points must be a positive number"),
        ("points: 40}", "points: 40, guarantee: maybe}", "item T1N: guarantee must be true or false"),
        ("group: g2", "group: g9", "table T2: group 'g9' is not a summary group"),
        ("code: T2A", "code: T1G", "item T1G: duplicate item code"),
        ("major_criterion: \"x\"}", "major_criterion: \"x\", severity: general}", "item M1: severity must be major"),
        ("scoring: jgj59", "scoring: gb50", "scoring 'gb50'"),
        ("text: 一般,", "text: 一般, category: 别的,", "category '别的' differs from the table title"),
        ("  - code: T2\n    title: 表二\n    group: g2\n    items:\n      - {code: T2A, text: 甲, points: 100}\n", "",
         "summary g2: no table belongs to this group"),
    ],
)
def test_scored_checklist_errors(tmp_path, old, new, message):
    """Invalid scored checklists raise ValueError naming the file and the table or item."""
    assert old in SCORED
    path = write(tmp_path, "bad.yaml", SCORED.replace(old, new, 1))
    with pytest.raises(ValueError) as info:
        load_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_invalid_yaml_and_not_a_mapping(tmp_path):
    """Unparsable YAML and a file that is not a mapping are reported with the file name."""
    with pytest.raises(ValueError, match="invalid YAML"):
        load_file(write(tmp_path, "a.yaml", "code: [unclosed\n"))
    with pytest.raises(ValueError, match="expected a mapping"):
        load_file(write(tmp_path, "b.yaml", "- just a list\n"))


def test_load_dir_checks_credit_rules(tmp_path):
    """load_dir refuses an item whose credit_rule is not in ../credit_standard.yaml."""
    (tmp_path / "checklists").mkdir()
    write(tmp_path, "credit_standard.yaml", "rules:\n  - {code: RQ-02}\n")
    bad = write(tmp_path / "checklists", "a.yaml", GOOD)
    with pytest.raises(ValueError, match=r"item A2: credit_rule 'RQ-01' is not in the credit standard") as info:
        load_dir(tmp_path / "checklists")
    assert str(bad) in str(info.value)


def test_load_dir_without_credit_standard(tmp_path):
    """Without a credit standard next to the directory, credit rules are not checked."""
    write(tmp_path, "a.yaml", GOOD)
    assert [c.code for c in load_dir(tmp_path)] == ["t"]


def test_load_dir_refuses_duplicate_versions(tmp_path):
    """The same checklist code and version in two files is refused; another version is fine."""
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD.replace("version: 1", "version: 2"))
    assert [(c.code, c.version) for c in load_dir(tmp_path)] == [("t", 1), ("t", 2)]
    write(tmp_path, "c.yaml", GOOD)
    with pytest.raises(ValueError, match="version 1 is also defined in a.yaml"):
        load_dir(tmp_path)


# ---- other rule data ----------------------------------------------------------------------------

def test_credit_standard_is_valid():
    """The credit standard draft has a base, descending grades and well-formed unique rules."""
    assert STANDARD["code"] == "yc-zjj-credit" and STANDARD["base"] == 100
    assert "not national law" in STANDARD["policy_note"]
    mins = [g["min"] for g in STANDARD["grades"]]
    assert [g["grade"] for g in STANDARD["grades"]] == ["A", "B", "C", "D"] and mins == sorted(mins, reverse=True)
    kinds = {"gas_operator", "contractor", "developer", "supervisor", "property_manager", "other"}
    codes = [r["code"] for r in STANDARD["rules"]]
    assert len(codes) == len(set(codes)) and 20 <= len(codes) <= 35
    for rule in STANDARD["rules"]:
        assert set(rule) >= {"code", "title", "points", "validity_months", "category", "veto", "applies_to"}
        assert rule["points"] > 0 and rule["validity_months"] > 0 and isinstance(rule["veto"], bool)
        assert rule["category"] in STANDARD["categories"]
        assert rule["applies_to"] and set(rule["applies_to"]) <= kinds
    assert {"OVERDUE-GENERAL", "OVERDUE-MAJOR"} <= set(codes)
    assert any(r["veto"] and "较大及以上" in r["title"] for r in STANDARD["rules"])
    assert checklists.credit_rule_codes(RULES / "credit_standard.yaml") == frozenset(codes)


def test_divisions_ningxia():
    """The Ningxia division table has the province, 5 prefectures and 22 counties of research §10."""
    with (RULES / "divisions_ningxia.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["code", "name", "parent_code", "level"]
    by_code = {r["code"]: r for r in rows}
    assert len(by_code) == len(rows) == 28
    levels = [r["level"] for r in rows]
    assert (levels.count("province"), levels.count("prefecture"), levels.count("county")) == (1, 5, 22)
    assert by_code["640000"]["parent_code"] == ""
    for row in rows:
        assert len(row["code"]) == 6 and row["code"].isdigit()
        if row["level"] != "province":
            parent = by_code[row["parent_code"]]
            assert parent["level"] == {"prefecture": "province", "county": "prefecture"}[row["level"]]
            prefix = 2 if row["level"] == "prefecture" else 4
            assert row["code"][:prefix] == parent["code"][:prefix]
    assert by_code["640104"]["name"] == "兴庆区" and by_code["640181"]["name"] == "灵武市"
    assert by_code["640522"]["name"] == "海原县" and by_code["640303"]["name"] == "红寺堡区"
    assert sum(r["parent_code"] == "640100" for r in rows) == 6
