"""Check resident identity card numbers (公民身份号码, GB 11643-1999).

A number has 18 characters: a 6-digit address code, the birth date as
YYYYMMDD, a 3-digit sequence code (odd for men, even for women) and a check
character. The check character is ``"10X98765432"[sum(d_i * w_i) mod 11]``
with weights ``w_i = 2^(17-i) mod 11`` over the first 17 digits (ISO 7064 MOD 11-2).
"""

from __future__ import annotations

from datetime import date

WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
CHECK = "10X98765432"


def check_char(first17: str) -> str:
    """Return the check character for the first 17 digits of a number."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("expected the first 17 digits of an identity card number")
    return CHECK[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def normalize(number: str) -> str:
    """Return ``number`` stripped, with full-width characters made ASCII and a final x upper-cased."""
    chars = []
    for ch in number.strip():
        point = ord(ch)
        chars.append(chr(point - 0xFEE0) if 0xFF01 <= point <= 0xFF5E else ch)
    return "".join(chars).replace(" ", "").upper()


def validate(number: object, *, today: date | None = None) -> str | None:
    """Return None when ``number`` is a well-formed 18-character identity card number, else a short reason."""
    if not isinstance(number, str):
        return "not a string"
    if len(number) != 18:
        return f"must be 18 characters, got {len(number)}"
    if not number.isascii() or not number[:17].isdigit() or number[17] not in "0123456789X":
        return "must be 17 digits followed by a digit or X"
    if number[0] == "0":
        return "the address code cannot start with 0"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return f"characters 7-14 are not a birth date: {number[6:14]}"
    if born.year < 1900 or born > (today or date.today()):
        return f"birth date {born.isoformat()} is not plausible"
    expected = check_char(number[:17])
    if number[17] != expected:
        return f"wrong check character {number[17]!r}, expected {expected!r}"
    return None


def is_valid(number: object) -> bool:
    """Tell whether ``number`` is a well-formed identity card number."""
    return validate(number) is None


def mask(number: str) -> str:
    """Return the number with the birth date and sequence hidden, as shown on a letter: 640104********123X."""
    return number[:6] + "*" * 8 + number[14:] if len(number) == 18 else number
