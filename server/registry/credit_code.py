"""Check unified social credit codes (统一社会信用代码, GB 32100-2015).

A code has 18 characters:

    position 1      registration authority (登记管理部门代码)
    position 2      kind of organisation (机构类别代码), depends on position 1
    positions 3-8   administrative division of the registering office (6 digits)
    positions 9-17  organisation identifier (主体标识码, the former 组织机构代码)
    position 18     check character

Characters come from a 31-symbol alphabet (digits and capitals without
I, O, S, V, Z). The check character makes the weighted sum of all 18 values
divisible by 31, with weights 3^(i-1) mod 31.

The authority/kind table below follows GB 32100-2015 appendix A as commonly
published; it is data so that it can be amended without touching the logic.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_MODULUS = 31
WEIGHTS = tuple(pow(3, i, _MODULUS) for i in range(17))

# Registration authority → allowed kinds of organisation.
KINDS = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 中央编办直管群众团体, 其他
    "2": "19",  # 外交: 外国常驻新闻机构, 其他
    "3": "1234559",  # 司法行政: 律师执业机构, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
    "4": "19",  # 文化: 外国在华文化中心, 其他
    "5": "1239",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",  # 旅游: 外国旅游部门常驻代表机构, 港澳台地区旅游部门常驻代表机构, 其他
    "7": "129",  # 宗教: 宗教活动场所, 宗教院校, 其他
    "8": "19",  # 工会: 基层工会, 其他
    "9": "123",  # 工商: 企业, 个体工商户, 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室: 军队事业单位, 其他
    "N": "1239",  # 农业: 组级、村级、乡镇级集体经济组织, 其他
    "Y": "1",  # 其他
}


def check_char(first17: str) -> str:
    """Return the check character for the first 17 characters of a code."""
    if not isinstance(first17, str) or len(first17) != 17:
        raise ValueError("expected the first 17 characters of a credit code")
    try:
        total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS))
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not allowed in a credit code") from None
    value = (_MODULUS - total % _MODULUS) % _MODULUS
    return ALPHABET[value]


def validate(code: object) -> str | None:
    """Return None when ``code`` is a well-formed credit code, else a short reason."""
    if not isinstance(code, str):
        return "not a string"
    if len(code) != 18:
        return f"must be 18 characters, got {len(code)}"
    if any("a" <= ch <= "z" for ch in code):
        return "lower-case letters are not allowed"
    for pos, ch in enumerate(code, start=1):
        if ch not in _VALUE:
            return f"character {ch!r} at position {pos} is not allowed"
    authority, kind = code[0], code[1]
    if authority not in KINDS:
        return f"unknown registration authority {authority!r}"
    if kind not in KINDS[authority]:
        return f"kind {kind!r} is not allowed for registration authority {authority!r}"
    if not code[2:8].isdigit():
        return "characters 3-8 must be a 6-digit division code"
    expected = check_char(code[:17])
    if code[17] != expected:
        return f"wrong check character {code[17]!r}, expected {expected!r}"
    return None


def is_valid(code: object) -> bool:
    """Tell whether ``code`` is a well-formed credit code."""
    return validate(code) is None


def normalize(code: str) -> str:
    """Return ``code`` stripped, upper-cased and with full-width characters made ASCII."""
    # Spreadsheets typed on Chinese keyboards often hold full-width letters/digits.
    chars = []
    for ch in code.strip():
        point = ord(ch)
        if 0xFF01 <= point <= 0xFF5E:
            ch = chr(point - 0xFEE0)
        chars.append(ch)
    return "".join(chars).replace(" ", "").upper()
