"""The transfer letter (行政违法案件移送函) as a government document: its text, a DOCX and a PDF.

The layout follows GB/T 9704-2012 where a letter can: A4, margins 37/35/28/26 mm,
title in a large song-style face, the document number under it, the addressee
(主送机关) flush left with a full-width colon, the body in 仿宋 3号 (16 pt)
with two-character indents, the attachment list (附件), then the issuing
authority and the date (Arabic numerals, as the 2012 standard writes them).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

# The font search is shared with the report charts (server/fonts.py); these names stay importable here.
from server.fonts import FONT_CANDIDATES, FONT_HINT, FontMissing, find_font  # noqa: F401


# Characters XML (hence DOCX) cannot hold: C0 controls other than tab and newlines, DEL, surrogates, U+FFFE/FFFF.
XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """Return ``text`` without the characters a document cannot hold, and with newlines as "\\n"."""
    return XML_UNSAFE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


@dataclass
class Letter:
    """What the letter says, independent of the file format."""

    title: str
    doc_no: str
    addressee: str
    paragraphs: list[str]
    attachments: list[str]
    authority: str
    signed_on: date
    contact: str | None = None
    notes: list[str] = field(default_factory=list)


def cn_date(day: date) -> str:
    """Return a date as written on a document: 2026年5月4日."""
    return f"{day.year}年{day.month}月{day.day}日"


# --- DOCX -------------------------------------------------------------------------------------

def _east_asian(run, name: str) -> None:
    """Give a run its Chinese face: Word reads w:eastAsia for CJK characters, not the font name."""
    from docx.oxml.ns import qn

    run.font.name = name
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), name)


def write_docx(letter: Letter, path: Path) -> None:
    """Write the letter as a Word document laid out as a government letter."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
    from docx.shared import Mm, Pt

    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    properties = document.core_properties
    properties.title = f"{letter.title} {letter.doc_no}"
    properties.author = letter.authority
    properties.subject = letter.title

    def paragraph(text: str = "", *, size: float = 16, face: str = "仿宋_GB2312", bold: bool = False,
                  align=WD_ALIGN_PARAGRAPH.JUSTIFY, indent: bool = False, space_after: float = 0):
        para = document.add_paragraph()
        para.alignment = align
        fmt = para.paragraph_format
        fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        fmt.line_spacing = Pt(28 if size <= 16 else size * 1.6)
        fmt.space_before, fmt.space_after = Pt(0), Pt(space_after)
        if indent:
            fmt.first_line_indent = Pt(size * 2)
        if text:
            run = para.add_run(clean(text))
            run.font.size = Pt(size)
            run.bold = bold
            _east_asian(run, face)
        return para

    paragraph(letter.title, size=22, face="方正小标宋简体", align=WD_ALIGN_PARAGRAPH.CENTER, space_after=8)
    paragraph(letter.doc_no, align=WD_ALIGN_PARAGRAPH.CENTER, space_after=16)
    paragraph(f"{letter.addressee}：", align=WD_ALIGN_PARAGRAPH.LEFT)
    for text in letter.paragraphs:
        paragraph(text, indent=True)
    if letter.contact:
        paragraph(letter.contact, indent=True)
    paragraph()
    for index, text in enumerate(letter.attachments, start=1):
        prefix = "附件：" if index == 1 else "　　　"
        para = paragraph(f"{prefix}{index}. {text}", align=WD_ALIGN_PARAGRAPH.LEFT)
        para.paragraph_format.left_indent = Pt(32)
    paragraph()
    paragraph()
    paragraph(letter.authority, align=WD_ALIGN_PARAGRAPH.RIGHT)
    paragraph(cn_date(letter.signed_on), align=WD_ALIGN_PARAGRAPH.RIGHT)
    for note in letter.notes:
        paragraph(note, size=12, align=WD_ALIGN_PARAGRAPH.LEFT)
    document.save(str(path))


# --- PDF --------------------------------------------------------------------------------------

# Punctuation that may not begin a line, and that may not end one (禁则, GB/T 15834 practice).
NOT_AT_START = set("，。、；：？！）》」』〕】”’…%,.;:?!)]")
NOT_AT_END = set("（《「『〔【“‘([")


def wrap(text: str, width: float, measure, *, indent: str = "") -> list[str]:
    """Break Chinese text into lines no wider than ``width``: between any two characters, except that closing
    punctuation stays with the character before it and opening punctuation with the one after it."""
    lines, current = [], indent
    for char in text:
        if current and measure(current + char) > width and char not in NOT_AT_START:
            carry = ""
            while current and current[-1] in NOT_AT_END:
                carry, current = current[-1] + carry, current[:-1]
            lines.append(current)
            current = carry + char
        else:
            current += char
    lines.append(current)
    return lines


def write_pdf(letter: Letter, path: Path, *, font: str | None = None) -> None:
    """Write the letter as a PDF with an embedded (subset) CJK font."""
    from fpdf import FPDF

    # fontTools reports tables of bitmap fonts it drops while subsetting; that is expected here.
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(left=28, top=37, right=26)
    pdf.set_auto_page_break(True, margin=35)
    pdf.set_title(f"{letter.title} {letter.doc_no}")
    pdf.set_author(letter.authority)
    pdf.set_creator("Qingling")
    pdf.add_font("cjk", fname=font or find_font())
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    line = 28 * 0.3528  # 28 pt in mm

    def block(text: str, *, size: float = 16, align: str = "L", indent: bool = False, after: float = 0.0):
        pdf.set_font("cjk", size=size)
        height = line if size <= 16 else size * 0.3528 * 1.6
        for number, piece in enumerate(clean(text).split("\n")):
            first = "\u3000\u3000" if indent and number == 0 else ""
            for part in wrap(piece, width, pdf.get_string_width, indent=first):
                pdf.cell(width, height, part, align=align, new_x="LMARGIN", new_y="NEXT")
        if after:
            pdf.ln(after)

    block(letter.title, size=22, align="C", after=3)
    block(letter.doc_no, align="C", after=6)
    block(f"{letter.addressee}：", align="L")
    for text in letter.paragraphs:
        block(text, indent=True)
    if letter.contact:
        block(letter.contact, indent=True)
    pdf.ln(line)
    for index, text in enumerate(letter.attachments, start=1):
        prefix = "附件：" if index == 1 else "\u3000\u3000\u3000"
        block(f"{prefix}{index}. {text}", align="L")
    pdf.ln(line * 2)
    block(letter.authority, align="R")
    block(cn_date(letter.signed_on), align="R")
    for note in letter.notes:
        block(note, size=12, align="L")
    pdf.output(str(path))
