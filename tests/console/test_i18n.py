"""The committed translation catalog: complete, and the compiled .mo matches its .po (no drift)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

LC = Path(__file__).resolve().parents[2] / "server" / "console" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"


def test_every_message_is_translated():
    """Every message of the Chinese catalog has its translation (none left empty or fuzzy)."""
    with open(LC / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    untranslated = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []


def test_compiled_catalog_matches_the_source():
    """The .mo the app loads says exactly what the .po says: recompile with pybabel after editing the .po."""
    with open(LC / "messages.po", "rb") as handle:
        source = {m.id: m.string for m in read_po(handle) if m.id}
    with open(LC / "messages.mo", "rb") as handle:
        compiled = {m.id: m.string for m in read_mo(handle) if m.id}
    assert compiled == source
