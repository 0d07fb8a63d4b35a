"""Unified social credit codes (GB 32100-2015)."""

import pytest

from server.registry import credit_code as cc

# Codes published by their holders and widely reproduced.
PUBLISHED = [
    "91350100M000100Y43",  # the example most often cited for the algorithm
    "914403001922038216",  # 华为技术有限公司
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "91110108551385082Q",  # 北京小米科技有限责任公司
]


def _with_check(first17):
    """Complete 17 characters with their computed check character."""
    return first17 + cc.check_char(first17)


def test_weights_are_powers_of_three_mod_31():
    """The position weights are 3^(i-1) mod 31."""
    assert cc.WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def test_alphabet_excludes_ambiguous_letters():
    """The alphabet has 31 symbols and none of I, O, S, V, Z."""
    assert len(cc.ALPHABET) == 31
    assert not set("IOSVZ") & set(cc.ALPHABET)


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_are_valid(code):
    """Real published codes pass validation."""
    assert cc.validate(code) is None
    assert cc.is_valid(code)


def test_check_char_hand_computed():
    """The check character of 91350100M000100Y4 is 3, computed by hand from the weights."""
    # values 9,1,3,5,0,1,0,0,21,0,0,0,1,0,0,30,4 · weights → 1640; 1640 mod 31 = 28; 31-28 = 3
    assert cc.check_char("91350100M000100Y4") == "3"


def test_check_char_31_maps_to_zero():
    """When the weighted sum is divisible by 31 the check character is 0, not 31."""
    assert cc.check_char("0" * 17) == "0"
    assert cc.check_char("91640100MA7600015") == "0"
    assert cc.is_valid("91640100MA76000150")


@pytest.mark.parametrize(
    "first17",
    [
        "91640100MA76A1B2C",  # 银川 enterprise
        "92640104MA7F00X1Y",  # 个体工商户 in 兴庆区
        "93640122MA7K2P3Q4",  # 农民专业合作社 in 贺兰县
        "12640000MB1234567",  # 事业单位
        "52640100MJ1234567",  # 民办非企业单位
        "N2640181MF1234567",  # 村级集体经济组织
    ],
)
def test_computed_codes_are_valid(first17):
    """Codes completed with the computed check character validate for several authorities."""
    assert cc.is_valid(_with_check(first17))


def test_wrong_check_char():
    """Changing the check character is detected and the expected one is named."""
    reason = cc.validate("91350100M000100Y44")
    assert reason == "wrong check character '4', expected '3'"


def test_single_character_change_detected():
    """Changing any one body character of a valid code invalidates it."""
    code = PUBLISHED[1]
    for pos in range(2, 17):
        other = "1" if code[pos] != "1" else "2"
        assert not cc.is_valid(code[:pos] + other + code[pos + 1:])


def test_lower_case_rejected():
    """Lower-case letters are refused (normalize first)."""
    assert cc.validate("91350100m000100y43") == "lower-case letters are not allowed"
    assert cc.is_valid(cc.normalize(" 91350100m000100y43 "))


def test_full_width_normalized():
    """normalize turns full-width characters typed in spreadsheets into ASCII."""
    assert cc.normalize("９１３５０１００Ｍ０００１００Ｙ４３") == PUBLISHED[0]


@pytest.mark.parametrize("code", ["", "91350100M000100Y4", "91350100M000100Y433"])
def test_wrong_length(code):
    """Codes that are not 18 characters long are refused."""
    assert cc.validate(code).startswith("must be 18 characters")


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_forbidden_letters(letter):
    """The letters I, O, S, V and Z never appear in a code."""
    code = "91350100M000100" + letter + "43"
    assert cc.validate(code) == f"character {letter!r} at position 16 is not allowed"
    with pytest.raises(ValueError):
        cc.check_char(code[:17])


def test_unknown_authority():
    """A first character that is no registration authority is refused."""
    assert cc.validate(_with_check("B1640100MA76A1B2C")) == "unknown registration authority 'B'"


def test_kind_not_allowed_for_authority():
    """工商 (9) registers only kinds 1-3; 94… is refused."""
    reason = cc.validate(_with_check("94640100MA76A1B2C"))
    assert reason == "kind '4' is not allowed for registration authority '9'"


def test_division_code_must_be_digits():
    """Characters 3-8 must be a 6-digit division code."""
    reason = cc.validate(_with_check("9164A100MA76A1B2C"))
    assert reason == "characters 3-8 must be a 6-digit division code"


def test_not_a_string():
    """Non-string input gives a reason instead of raising."""
    assert cc.validate(914403001922038216) == "not a string"
    assert not cc.is_valid(None)
