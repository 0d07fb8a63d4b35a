"""The quarterly analysis as a government document (DOCX): 关于2026年第三季度全市住房城乡建设领域安全生产形势的分析报告.

Laid out after GB/T 9704-2012 as far as a generated document goes: A4 with
margins 37/35/28/26 mm; the issuing authority's mark (红头) in red above a red
rule; the title in a song-style face (二号, 22 pt); the addressee (主送) flush
left; body text in 仿宋 (三号, 16 pt, fixed 28 pt lines, two-character
indent); first-level headings 一、二、三 in 黑体, second-level （一）（二） in
楷体; tables and charts (PNG, ``quarterly_charts``) with their captions; the
authority and date; the colophon (版记) with the snapshot's version and
SHA-256; page numbers "— 1 —" at the foot. Fonts are named as the bureau's
Word installs them (仿宋_GB2312, 黑体, 楷体_GB2312, 方正小标宋简体); Word
substitutes what it lacks.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timezone
from decimal import Decimal

from server import clock
from server.cases.letter import clean, cn_date
from server.reports.quarterly import DOMAIN_NAMES, DOMAINS, SEVERITY_NAMES

BODY = "仿宋_GB2312"
HEI = "黑体"
KAI = "楷体_GB2312"
SONG = "方正小标宋简体"
RED = "FF0000"
CN_NUMBERS = "一二三四五六七八九十"


def _east_asian(run, name: str) -> None:
    """Give a run its Chinese face: Word reads w:eastAsia for CJK characters, not the font name."""
    from docx.oxml.ns import qn

    run.font.name = name
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), name)


def pct(value) -> str:
    """Return a share as a percentage with one decimal (— when unknown)."""
    return "—" if value is None else f"{value * 100:.1f}%"


def _days(value) -> str:
    return "—" if value is None else f"{value:g}"


def _money(value) -> str:
    if value is None:
        return "—"
    return f"{Decimal(str(value)):,.2f}"


def _trend(kind: str, change: dict, *, unit: str) -> str:
    """Say how a figure moved: 增加12处（增长8.4%）, 下降0.5个百分点, 持平."""
    difference = change["difference"]
    if difference is None:
        return "无可比数据"
    number = Decimal(str(difference))
    if number == 0:
        return "持平"
    verb = "增加" if number > 0 else "减少"
    if kind == "rate":
        return f"{'提高' if number > 0 else '下降'}{abs(float(number)) * 100:.1f}个百分点"
    if kind == "days":
        return f"{'延长' if number > 0 else '缩短'}{abs(float(number)):g}天"
    amount = _money(abs(number)) if kind == "money" else f"{abs(int(number))}"
    share = "" if change["percent"] is None else f"（{'增长' if number > 0 else '下降'}{abs(change['percent']) * 100:.1f}%）"
    return f"{verb}{amount}{unit}{share}"


class _Writer:
    """The document being written, with the paragraph kinds a government document uses."""

    def __init__(self):
        from docx import Document
        from docx.shared import Mm

        self.document = Document()
        section = self.document.sections[0]
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.top_margin, section.bottom_margin = Mm(37), Mm(35)
        section.left_margin, section.right_margin = Mm(28), Mm(26)
        section.footer_distance = Mm(20)
        self._page_numbers(section)
        self.tables = self.figures = 0

    def _page_numbers(self, section) -> None:
        """Put "— N —" at the foot of each page (a PAGE field)."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn
        from docx.shared import Pt

        paragraph = section.footer.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER

        def text(value: str):
            run = paragraph.add_run(value)
            run.font.size = Pt(14)
            _east_asian(run, "宋体")
            return run

        text("— ")
        run = text("")
        for kind, instruction in (("begin", None), (None, " PAGE "), ("separate", None), (None, "1"), ("end", None)):
            if kind is not None:
                element = OxmlElement("w:fldChar")
                element.set(qn("w:fldCharType"), kind)
            elif instruction == "1":
                element = OxmlElement("w:t")
                element.text = instruction
            else:
                element = OxmlElement("w:instrText")
                element.set(qn("xml:space"), "preserve")
                element.text = instruction
            run._element.append(element)
        text(" —")

    def paragraph(self, value: str = "", *, size: float = 16, face: str = BODY, bold: bool = False,
                  align: str = "justify", indent: bool = False, before: float = 0, after: float = 0,
                  colour: str | None = None, exact: float | None = None):
        from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
        from docx.shared import Pt, RGBColor

        para = self.document.add_paragraph()
        para.alignment = {"justify": WD_ALIGN_PARAGRAPH.JUSTIFY, "center": WD_ALIGN_PARAGRAPH.CENTER,
                          "left": WD_ALIGN_PARAGRAPH.LEFT, "right": WD_ALIGN_PARAGRAPH.RIGHT}[align]
        fmt = para.paragraph_format
        fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        fmt.line_spacing = Pt(exact or (28 if size <= 16 else size * 1.5))
        fmt.space_before, fmt.space_after = Pt(before), Pt(after)
        if indent:
            fmt.first_line_indent = Pt(size * 2)
        if value:
            run = para.add_run(clean(value))
            run.font.size = Pt(size)
            run.bold = bold
            if colour:
                run.font.color.rgb = RGBColor.from_string(colour)
            _east_asian(run, face)
        return para

    def body(self, value: str) -> None:
        self.paragraph(value, indent=True)

    def heading(self, value: str) -> None:
        self.paragraph(value, face=HEI, indent=True)

    def subheading(self, value: str, rest: str = "") -> None:
        """A second-level heading in 楷体, optionally followed on the same line by body text."""
        from docx.shared import Pt

        para = self.paragraph(value, face=KAI, indent=True)
        if rest:
            run = para.add_run(clean(rest))
            run.font.size = Pt(16)
            _east_asian(run, BODY)

    def rule(self, *, colour: str = RED, size: int = 12, where: str = "bottom", para=None) -> None:
        """Draw a line under (or over) a paragraph: the red rule under the mark, the colophon's lines."""
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn

        para = para or self.paragraph(exact=6)
        properties = para._element.get_or_add_pPr()
        borders = properties.find(qn("w:pBdr"))
        if borders is None:
            borders = OxmlElement("w:pBdr")
            properties.append(borders)
        line = OxmlElement(f"w:{where}")
        for key, value in (("w:val", "single"), ("w:sz", str(size)), ("w:space", "1"), ("w:color", colour)):
            line.set(qn(key), value)
        borders.append(line)

    def caption(self, value: str) -> None:
        self.paragraph(value, size=12, face=HEI, align="center", before=3, after=6, exact=20)

    def table(self, title: str, headers: list[str], rows: list[list], *, numeric_from: int = 1,
              widths_mm: list[float] | None = None) -> None:
        """A captioned table (表题 above it), header row bold, numbers right-aligned."""
        from docx.enum.table import WD_TABLE_ALIGNMENT
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Mm, Pt

        self.tables += 1
        self.caption(f"表{self.tables}　{title}")
        table = self.document.add_table(rows=1, cols=len(headers))
        table.style = "Table Grid"
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        for index, header in enumerate(headers):
            cell = table.rows[0].cells[index]
            cell.text = ""
            run = cell.paragraphs[0].add_run(clean(header))
            run.font.size, run.bold = Pt(10.5), True
            _east_asian(run, HEI)
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
        for values in rows:
            cells = table.add_row().cells
            for index, value in enumerate(values):
                run = cells[index].paragraphs[0].add_run(clean("" if value is None else str(value)))
                run.font.size = Pt(10.5)
                _east_asian(run, BODY)
                cells[index].paragraphs[0].alignment = (WD_ALIGN_PARAGRAPH.RIGHT if index >= numeric_from
                                                        else WD_ALIGN_PARAGRAPH.LEFT)
        if widths_mm:
            # Word reads the cells' widths, LibreOffice the grid's: set both, and keep them fixed.
            table.autofit = False
            for index, width in enumerate(widths_mm):
                table.columns[index].width = Mm(width)
                for cell in table.columns[index].cells:
                    cell.width = Mm(width)
        self.paragraph(exact=10)

    def picture(self, chart) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Mm

        para = self.document.add_paragraph()
        para.alignment = WD_ALIGN_PARAGRAPH.CENTER
        para.add_run().add_picture(io.BytesIO(chart.png), width=Mm(150))
        self.figures += 1
        self.caption(f"图{self.figures}　{chart.title}")

    def save(self) -> bytes:
        out = io.BytesIO()
        self.document.save(out)
        return out.getvalue()


def title(figures: dict) -> str:
    """Return the document's title."""
    return f"关于{figures['label']}全市住房城乡建设领域安全生产形势的分析报告"


def _period_text(figures: dict) -> str:
    first, last = date.fromisoformat(figures["starts_on"]), date.fromisoformat(figures["ends_on"])
    if figures["complete"]:
        return f"{cn_date(first)}至{cn_date(last)}"
    until = clock.local(datetime.fromisoformat(figures["as_of"]))
    return f"{cn_date(first)}至{cn_date(until.date())}{until.hour}时（季度尚未结束）"


def _as_of_text(figures: dict) -> str:
    """Return the time the figures are true at as a document writes it: 2026年9月30日24时."""
    if figures["complete"]:
        return f"{cn_date(date.fromisoformat(figures['ends_on']))}24时"
    until = clock.local(datetime.fromisoformat(figures["as_of"]))
    return f"{cn_date(until.date())}{until.hour}时{until.minute:02d}分"


def _comparison_sentence(figures: dict) -> str:
    comparisons = figures.get("comparisons")
    if not comparisons:
        return ""
    rows = {row["key"]: row for row in comparisons["rows"]}
    parts = []
    for field, word in (("vs_previous", "环比"), ("vs_year_ago", "同比")):
        reference = comparisons["previous" if field == "vs_previous" else "year_ago"]
        if reference["figures"] is None:
            continue
        found, open_end, rate = rows["hazards_found"], rows["open_at_end"], rows["closure_rate"]
        parts.append(f"与{reference['label']}相比（{word}），排查发现隐患{_trend('count', found[field], unit='处')}，"
                     f"季末未销号隐患{_trend('count', open_end[field], unit='处')}，"
                     f"当季整改率{_trend('rate', rate[field], unit='')}")
    return "；".join(parts) + "。" if parts else ""


def _suggestions(figures: dict) -> list[tuple[str, str]]:
    """The next steps the figures call for, each a (heading, text) pair."""
    k = figures["key_figures"]
    result = []
    if k["overdue_at_end"]:
        result.append(("紧盯逾期隐患销号。", f"对季末逾期未整改的{k['overdue_at_end']}处隐患逐项建立台账，明确责任单位、"
                                       "责任人和整改时限，实行“一日一汇报、一周一调度”，逾期仍未整改的依法依规处理。"))
    if k["majors_open_at_end"]:
        result.append(("抓好重大隐患挂牌督办。", f"对未销号的{k['majors_open_at_end']}处重大隐患落实责任、措施、资金、时限、"
                                          "预案“五落实”要求，整改完成后及时组织核查验收、销号。"))
    if k["recurrences"]:
        result.append(("巩固整治成果。", f"针对“回头看”发现的{k['recurrences']}处反弹隐患，逐项分析原因，"
                                   "加大复查抽查比例，防止问题反弹回潮。"))
    if figures["top_items"]:
        top = figures["top_items"][0]
        result.append(("聚焦突出问题。", f"针对“{top['text']}”等高频问题，组织开展专项宣传和集中整治，"
                                   "从源头上减少同类隐患。"))
    unchecked = sum(c["never_inspected"] for c in figures["coverage"]["campaigns"])
    if unchecked:
        result.append(("扩大排查覆盖面。", f"对专项行动底数中尚未检查的{unchecked}户（处）对象加快排查进度，"
                                     "对多次未遇的对象协调属地联合入户，确保底数清、情况明。"))
    result.append(("强化信用惩戒和执法衔接。", "将隐患整改情况与企业诚信分值挂钩，对拒不整改的违法行为依法移交"
                                       "综合行政执法部门查处，形成闭环。"))
    return result


def write(figures: dict, *, version: int, made_at: datetime, sha256: str, charts: list, authority: str,
          addressee: str = "市安委会") -> bytes:
    """Return the report of a snapshot's figures as a DOCX document."""
    w = _Writer()
    document = w.document
    properties = document.core_properties
    properties.title, properties.subject = title(figures), f"{figures['quarter']} 第{version}版"
    properties.author = authority
    properties.keywords = f"sha256:{sha256}"
    properties.created = properties.modified = made_at.astimezone(timezone.utc).replace(tzinfo=None)
    k = figures["key_figures"]
    hazards, total = figures["hazards"], figures["hazards"]["total"]
    majors, recurrences = figures["majors"], figures["recurrences"]
    credit, cases = figures["credit"], figures["cases"]
    charts = {chart.title: chart for chart in charts}

    # 版头: the issuing authority's mark in red, the red rule
    w.paragraph(authority, size=30, face=SONG, align="center", colour=RED, before=0, after=0, exact=48)
    w.rule(colour=RED, size=18)
    w.paragraph(exact=14)
    # 主体
    w.paragraph(title(figures), size=22, face=SONG, align="center", after=12, exact=34)
    w.paragraph(f"{addressee}：", align="left")
    w.body(f"现将{figures['label']}（{_period_text(figures)}）全市住房城乡建设领域安全生产形势分析如下。")

    sections = []

    def section(text: str) -> None:
        sections.append(text)
        w.heading(f"{CN_NUMBERS[len(sections) - 1]}、{text}")

    section("总体情况")
    w.body(f"本季度，全市住房城乡建设领域共开展安全检查{k['inspections']}次（入户、进场检查"
           f"{figures['inspections']['inspected']}次，未遇{figures['inspections']['no_access']}次），涉及检查对象"
           f"{figures['inspections']['subjects']}个；排查发现隐患{total['found']}处，其中重大隐患{majors['found']}处；"
           f"整改销号隐患{total['closed']}处（含以前季度发现的隐患）。本季度发现的隐患已整改"
           f"{total['found_closed']}处，当季整改率{pct(total['closure_rate'])}；截至季末累计整改率"
           f"{pct(total['closure_rate_to_date'])}，隐患从发现到销号用时中位数为{_days(total['median_days_to_close'])}天。"
           f"季末未销号隐患{total['open_at_end']}处（季初{total['open_at_start']}处），其中逾期未整改"
           f"{total['overdue_at_end']}处。")
    sentence = _comparison_sentence(figures)
    if sentence:
        w.body(sentence)

    section("隐患排查整治情况")
    by_domain = {row["domain"]: row for row in hazards["by_domain"]}
    for number, domain in enumerate(DOMAINS):
        row = by_domain[domain]
        w.subheading(f"（{CN_NUMBERS[number]}）{DOMAIN_NAMES[domain]}领域。",
                     f"排查发现隐患{row['found']}处，整改销号{row['closed']}处，当季整改率{pct(row['closure_rate'])}；"
                     f"季末未销号{row['open_at_end']}处，其中逾期{row['overdue_at_end']}处。")
    rows = [[DOMAIN_NAMES[r["domain"]], SEVERITY_NAMES[r["severity"]], r["found"], r["closed"], pct(r["closure_rate"]),
             _days(r["median_days_to_close"]), r["open_at_end"], r["overdue_at_end"]] for r in hazards["rows"]]
    rows.append(["合计", "", total["found"], total["closed"], pct(total["closure_rate"]),
                 _days(total["median_days_to_close"]), total["open_at_end"], total["overdue_at_end"]])
    w.table("各领域隐患排查整治情况", ["领域", "等级", "排查发现", "整改销号", "当季整改率", "用时中位数（天）",
                                  "季末未销号", "季末逾期"], rows, numeric_from=2,
            widths_mm=[20, 22, 19, 19, 19, 19, 19, 19])
    if "各领域隐患排查整治情况" in charts:
        w.picture(charts["各领域隐患排查整治情况"])
    ranked = sorted(hazards["by_district"], key=lambda r: (-r["open_at_end"], r["district"]))
    if ranked:
        leaders = "、".join(f"{r['name']}（{r['open_at_end']}处）" for r in ranked[:3] if r["open_at_end"])
        if leaders:
            w.body(f"从区县看，季末未销号隐患较多的是{leaders}。")
        w.table("各区县隐患排查整治情况", ["区县", "排查发现", "整改销号", "当季整改率", "季末未销号", "季末逾期"],
                [[r["name"], r["found"], r["closed"], pct(r["closure_rate"]), r["open_at_end"], r["overdue_at_end"]]
                 for r in ranked], widths_mm=[26, 26, 26, 26, 26, 26])
    if "各区县季末未销号隐患" in charts:
        w.picture(charts["各区县季末未销号隐患"])

    section("重大隐患和逾期隐患")
    w.body(f"本季度新发现重大隐患{majors['found']}处，整改销号{majors['closed']}处；季末未销号重大隐患"
           f"{majors['open_at_end']}处，其中逾期{majors['overdue_at_end']}处，均按挂牌督办要求跟踪整改。"
           f"全部领域季末逾期未整改隐患{total['overdue_at_end']}处。")
    if majors["open_list"]:
        w.table("季末未销号重大隐患", ["区县", "领域", "隐患描述", "发现日期", "整改期限", "是否逾期"],
                [[m["district_name"] or m["district"], DOMAIN_NAMES.get(m["domain"], m["domain"]),
                  f"{m['item']} {m['description']}", m["reported_on"], m["deadline"], "是" if m["overdue"] else "否"]
                 for m in majors["open_list"]], numeric_from=99, widths_mm=[20, 16, 58, 23, 23, 14])

    section("“回头看”和底数覆盖情况")
    w.body(f"本季度抽取“回头看”复查任务{recurrences['sampled']}处，复查发现已销号隐患反弹（复发）"
           f"{recurrences['total']}处，累计{recurrences['to_date']}处。")
    campaigns = figures["coverage"]["campaigns"]
    if campaigns:
        w.body("本季度开展的专项行动底数覆盖情况：" + "；".join(
            f"{c['name']}底数{c['registered']}户（处），已检查{c['inspected']}户（处），覆盖率{pct(c['coverage'])}"
            for c in campaigns) + "。")
        w.table("专项行动底数覆盖情况", ["专项行动", "底数", "已检查", "未检查", "未遇", "覆盖率"],
                [[c["name"], c["registered"], c["inspected"], c["never_inspected"], c["no_access"], pct(c["coverage"])]
                 for c in campaigns], widths_mm=[46, 22, 22, 22, 22, 22])
        if "专项行动底数覆盖率" in charts:
            w.picture(charts["专项行动底数覆盖率"])
    else:
        w.body("本季度无进行中的专项行动。")

    section("企业信用评价情况")
    d = credit["deductions"]
    w.body(f"本季度提出信用扣分{d['proposed']}条，扣分生效{d['confirmed']}条、合计{d['points_confirmed']}分，"
           f"撤销{d['revoked']}条，信用修复{d['repaired']}条，到期{d['expired']}条；信用等级下降的企业"
           f"{credit['downgraded_total']}家。")
    grades = credit.get("grades") or []
    if credit["kinds"]:
        w.table("季末企业信用等级分布", ["企业类别", "企业数", *(f"{g}级" for g in grades), "平均分", "降级"],
                [[kind["name"], kind["enterprises"], *(kind["grades"].get(g, 0) for g in grades),
                  kind["average_score"], kind["downgraded"]] for kind in credit["kinds"]],
                widths_mm=[34, *[122 / (len(grades) + 3)] * (len(grades) + 3)])

    section("违法案件移交和行政处罚情况")
    w.body(f"本季度立案{cases['filed']}件，移交综合行政执法部门{cases['transferred']}件，退回{cases['returned']}件；"
           f"作出行政处罚决定{cases['decided']}件，其中罚款{cases['fines']}件、罚款金额"
           f"{_money(cases['fine_total_yuan'])}元。")
    if cases["decided_list"]:
        w.table("本季度作出的行政处罚决定", ["案件编号", "当事人", "处罚种类", "罚款（元）"],
                [[c["case_no"], c["party"], "、".join(c["penalties"]), _money(c["amount_yuan"])]
                 for c in cases["decided_list"]], numeric_from=3, widths_mm=[40, 50, 40, 26])

    section("突出问题")
    if figures["top_items"]:
        w.body("从隐患类型看，本季度发现次数最多的问题依次为：" + "；".join(
            f"{t['text']}（{t['found']}处）" for t in figures["top_items"][:3]) + "。")
        w.table("高频隐患问题", ["排名", "领域", "检查项", "发现次数"],
                [[t["rank"], DOMAIN_NAMES.get(t["domain"], t["domain"]), f"{t['item']} {t['text']}", t["found"]]
                 for t in figures["top_items"]], numeric_from=3, widths_mm=[12, 18, 104, 22])
        if "高频隐患问题" in charts:
            w.picture(charts["高频隐患问题"])
    else:
        w.body("本季度未发现隐患。")

    comparisons = figures.get("comparisons")
    if comparisons:
        section("同比、环比分析")
        sources = {"snapshot": "取自已存档的季度分析", "computed": "按当时数据重新计算", "none": "无数据"}
        w.body(f"{comparisons['previous']['label']}数据{sources[comparisons['previous']['source']]}，"
               f"{comparisons['year_ago']['label']}数据{sources[comparisons['year_ago']['source']]}。")

        def show(kind: str, value) -> str:
            if value is None:
                return "—"
            return {"rate": pct, "days": _days, "money": _money}.get(kind, str)(value)

        w.table("主要指标同比、环比", ["指标", figures["label"], comparisons["previous"]["label"], "环比",
                                   comparisons["year_ago"]["label"], "同比"],
                [[r["label"], show(r["kind"], r["value"]), show(r["kind"], r["previous"]),
                  _trend(r["kind"], r["vs_previous"], unit=""), show(r["kind"], r["year_ago"]),
                  _trend(r["kind"], r["vs_year_ago"], unit="")] for r in comparisons["rows"]],
                widths_mm=[34, 20, 20, 31, 20, 31])
        if "主要指标同比、环比" in charts:
            w.picture(charts["主要指标同比、环比"])

    section("下一步工作建议")
    for number, (heading, text) in enumerate(_suggestions(figures)):
        w.subheading(f"（{CN_NUMBERS[number]}）{heading}", text)

    # 落款
    w.paragraph()
    w.paragraph(authority, align="right")
    w.paragraph(cn_date(clock.local(made_at).date()), align="right")
    # 版记
    w.paragraph()
    note = w.paragraph(f"数据说明：数据截至{_as_of_text(figures)}"
                       f"（北京时间）；季度分析快照 {figures['quarter']} 第{version}版，SHA-256：{sha256}。",
                       size=10.5, align="left", exact=18)
    w.rule(colour="000000", size=8, where="top", para=note)
    colophon = w.paragraph(f"{authority}　　{cn_date(clock.local(made_at).date())}印发", size=14, align="left")
    w.rule(colour="000000", size=8, where="top", para=colophon)
    w.rule(colour="000000", size=8, where="bottom", para=colophon)
    return w.save()

