"""The credit standard as rule data: the bureau's default loads, bad files are refused naming file and rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from server.credit import standard as standard_rules
from server.inspections import checklists

RULES = Path(__file__).resolve().parents[2] / "config" / "rules"
DEFAULT = RULES / "credit_standard.yaml"

GOOD = """\
code: t-credit
version: 1
title: 测试标准
policy_note: local policy for tests, not national law
base: 100
grades:
  - {grade: A, min: 90}
  - {grade: B, min: 75}
  - {grade: C, min: 0}
categories: [隐患整改, 一票否决]
overdue_rules: {general: OD-G, major: OD-M}
rules:
  - {code: OD-G, title: 一般隐患逾期, points: 2, validity_months: 12, category: 隐患整改, veto: false, applies_to: [contractor]}
  - {code: OD-M, title: 重大隐患逾期, points: 10, validity_months: 12, category: 隐患整改, veto: false, applies_to: [contractor]}
  - {code: V-1, title: 较大事故, points: 50, validity_months: 24, category: 一票否决, veto: true, applies_to: [contractor, gas_operator]}
"""


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "credit_standard.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_bureau_default_loads_as_local_policy():
    """The shipped standard loads: base 100, A/B/C/D, 32 rules, overdue and inspection rules, repair periods."""
    rules = standard_rules.load_file(DEFAULT)
    assert (rules.code, rules.version, rules.base) == ("yc-zjj-credit", 1, 100)
    assert "not national law" in rules.policy_note
    assert [(b.grade, b.min) for b in rules.bands] == [("A", 90), ("B", 75), ("C", 60), ("D", 0)]
    assert len(rules.rules) == 32
    assert rules.overdue_rules == {"general": "OVERDUE-GENERAL", "major": "OVERDUE-MAJOR"}
    assert rules.inspection_rules == {"jgj59_fail": "ZA-01"}
    assert rules.rule("RQ-03").repair_min_months == 3  # 一般失信: 3 months (58号令)
    assert rules.rule("VETO-01").veto and rules.rule("VETO-01").repair_min_months == 12  # 严重失信: 1 year
    assert rules.rule("ZA-11").repair_min_months == 12 and rules.rule("ZA-11").validity_months == 24
    # the checklists reference only rules of the standard
    codes = frozenset(r.code for r in rules.rules)
    assert checklists.credit_rule_codes(DEFAULT) == codes
    used = {i.credit_rule for c in checklists.load_dir(RULES / "checklists") for i in c.items if i.credit_rule}
    assert used and used <= codes


def test_grades_follow_the_bands_and_a_veto_forces_the_lowest():
    """A score takes the first band it reaches; below every band, or under a veto, the lowest grade."""
    rules = standard_rules.load_file(DEFAULT)
    assert [rules.grade(s) for s in (100, 90, 89, 75, 74, 60, 59, 0, -30)] == ["A", "A", "B", "B", "C", "C", "D", "D", "D"]
    assert rules.grade(100, veto=True) == "D"


def test_the_digest_ignores_layout_but_not_content(tmp_path):
    """Comments and layout do not change a version's digest; points do."""
    first = standard_rules.load_file(write(tmp_path, GOOD))
    again = standard_rules.load_file(write(tmp_path, "# a comment\n" + GOOD.replace("base: 100", "base:   100")))
    changed = standard_rules.load_file(write(tmp_path, GOOD.replace("points: 2,", "points: 3,")))
    assert first.digest == again.digest != changed.digest


@pytest.mark.parametrize(("old", "new", "message"), [
    ("points: 2,", "points: -2,", "rule OD-G: points must be a whole number from 1 to the base (100), got -2"),
    ("points: 2,", "points: 0,", "rule OD-G: points must be a whole number from 1"),
    ("points: 2,", "points: 5000,", "rule OD-G: points must be a whole number from 1 to the base (100), got 5000"),
    ("points: 2,", "points: 2.5,", "rule OD-G: points must be a whole number"),
    ("points: 2,", "points: '2',", "rule OD-G: points must be a whole number"),
    ("validity_months: 24", "validity_months: 0", "rule V-1: validity_months must be a whole number from 1 to 60"),
    ("validity_months: 24", "validity_months: 600", "rule V-1: validity_months must be a whole number from 1 to 60"),
    ("category: 一票否决", "category: 其他", "rule V-1: category '其他' is not one of the categories"),
    ("veto: true", "veto: 'yes'", "rule V-1: veto must be true or false"),
    ("applies_to: [contractor, gas_operator]", "applies_to: [builder]", "rule V-1: applies_to must be a list"),
    ("applies_to: [contractor, gas_operator]", "applies_to: []", "rule V-1: applies_to must be a list"),
    ("veto: true,", "veto: true, vetoo: 1,", "rule V-1: unknown key(s) vetoo"),
    ("code: V-1,", "code: OD-G,", "rule OD-G: duplicate rule code"),
    ("code: V-1,", "code: 'V 1',", "rule V 1: code 'V 1' must be 1-32 letters"),
    ("{general: OD-G, major: OD-M}", "{general: OD-G, major: OD-X}", "overdue_rules: major: 'OD-X' is not a rule"),
    ("{general: OD-G, major: OD-M}", "{general: OD-G}", "overdue_rules: must name a rule for each of general, major"),
    ("  - {grade: B, min: 75}\n", "  - {grade: B, min: 95}\n", "grade B: min 95 must be below the min of grade A"),
    ("  - {grade: B, min: 75}\n", "  - {grade: A, min: 75}\n", "grade A: duplicate grade"),
    ("  - {grade: A, min: 90}\n", "  - {grade: A, min: 190}\n", "grade A: min 190 is above the base 100"),
    ("base: 100", "base: -100", "base must be a whole number from 1 to 10000"),
    ("version: 1", "version: 0", "version must be a positive whole number"),
    ("title: 测试标准\n", "title: 测试标准\nauthor: x\n", "unknown key(s) author"),
    ("rules:\n", "repair: {min_months: -1}\nrules:\n", "repair: min_months must be a whole number from 0 to 60"),
])
def test_bad_files_are_refused_naming_file_and_rule(tmp_path, old, new, message):
    """Unknown keys, negative or absurd points, bad bands and duplicate codes: each refused with a clear message."""
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ValueError) as info:
        standard_rules.load_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_unreadable_or_invalid_yaml_is_refused(tmp_path):
    """A missing file and a file that is not YAML are refused with the file named."""
    with pytest.raises(ValueError, match="cannot read"):
        standard_rules.load_file(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="invalid YAML"):
        standard_rules.load_file(write(tmp_path, "rules: [\n"))


def test_repair_months_default_by_veto_and_may_be_set_per_rule(tmp_path):
    """Repair periods default to repair.min_months (veto: veto_min_months) and never exceed the validity."""
    text = GOOD.replace("rules:\n", "repair: {min_months: 6, veto_min_months: 18}\nrules:\n")
    text = text.replace("validity_months: 12, category: 隐患整改, veto: false, applies_to: [contractor]}\n  - {code: V-1",
                        "validity_months: 12, repair_min_months: 1, category: 隐患整改, veto: false, "
                        "applies_to: [contractor]}\n  - {code: V-1")
    rules = standard_rules.load_file(write(tmp_path, text))
    assert [(r.code, r.repair_min_months) for r in rules.rules] == [("OD-G", 6), ("OD-M", 1), ("V-1", 18)]
    too_long = text.replace("repair_min_months: 1,", "repair_min_months: 13,")
    with pytest.raises(ValueError, match=r"rule OD-M: repair_min_months must be a whole number from 0 to "
                                         r"validity_months \(12\)"):
        standard_rules.load_file(write(tmp_path, too_long))


def test_cli_check_and_show(app, tmp_path):
    """`credit standard check` accepts the default and refuses a bad file (exit 1, file and rule named); `show` lists."""
    runner = CliRunner()
    with app.app_context():
        from server.credit.cli import credit_cli

        ok = runner.invoke(credit_cli, ["standard", "check", str(DEFAULT)])
        assert ok.exit_code == 0, ok.output
        assert "yc-zjj-credit version 1 is valid: 32 rules" in ok.output
        bad = write(tmp_path, DEFAULT.read_text(encoding="utf-8").replace("points: 5, validity_months: 12",
                                                                         "points: 500, validity_months: 12", 1))
        refused = runner.invoke(credit_cli, ["standard", "check", str(bad)])
        assert refused.exit_code == 1
        assert f"{bad}: rule ZA-01: points must be a whole number from 1 to the base (100), got 500" in refused.output
        # dropping a rule a checklist item names is refused too
        dropped = write(tmp_path, "\n".join(line for line in DEFAULT.read_text(encoding="utf-8").splitlines()
                                            if "code: RQ-03," not in line) + "\n")
        refused = runner.invoke(credit_cli, ["standard", "check", str(dropped)])
        assert refused.exit_code == 1 and "credit_rule 'RQ-03' is not in the credit standard" in refused.output
        shown = runner.invoke(credit_cli, ["standard", "show"])
        assert shown.exit_code == 0 and "VETO-01" in shown.output and "a veto forces D" in shown.output
