"""The quarterly analysis as an XLSX workbook: one sheet per table, Chinese headers, number formats.

Every sheet starts with its header row (row 1), then one row per line of the
table, so that the workbook reads back as data. The first sheet says which
snapshot it is (quarter, version, the time the figures are true at, SHA-256).
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from decimal import Decimal

from server import clock
from server.reports.quarterly import DOMAIN_NAMES, SEVERITY_NAMES

COUNT = "#,##0"
RATE = "0.0%"
DAYS = "0.0"
MONEY = "#,##0.00"
TEXT = "@"
FORMATS = {"count": COUNT, "rate": RATE, "days": DAYS, "money": MONEY}


def _money(value) -> float | None:
    return None if value is None else float(Decimal(str(value)))


def _local(value: str | None) -> str:
    if not value:
        return ""
    return clock.local(datetime.fromisoformat(value)).strftime("%Y-%m-%d %H:%M:%S")


def _sheet(book, title: str, columns: list[tuple[str, str | None, float]], rows: list[list]):
    """Add a sheet: columns are (header, number format or None, width in characters)."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    sheet = book.create_sheet(title)
    thin = Side(style="thin", color="999999")
    sheet.append([header for header, _, _ in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="F2DCDB")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
    for row in rows:
        sheet.append(row)
    for index, (_, number_format, width) in enumerate(columns, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = width
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = number_format
    sheet.freeze_panes = "A2"
    return sheet


def _kind_format(kind: str) -> str:
    return FORMATS.get(kind, COUNT)


def write(figures: dict, *, version: int, made_at: datetime, sha256: str) -> bytes:
    """Return the workbook of a snapshot's figures as bytes."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    book.properties.creator = "Qingling"
    book.properties.title = f"{figures['label']}安全生产形势分析数据表"
    book.properties.created = book.properties.modified = made_at.astimezone(timezone.utc).replace(tzinfo=None)

    _sheet(book, "说明", [("项目", None, 18), ("内容", TEXT, 70)], [
        ["季度", figures["quarter"]],
        ["名称", f"{figures['label']}全市住房城乡建设领域安全生产形势分析"],
        ["统计期间", f"{figures['starts_on']} 至 {figures['ends_on']}"],
        ["数据截至（北京时间）", _local(figures["as_of"])],
        ["季度是否结束", "是" if figures["complete"] else "否（季度进行中，数据截至制作时）"],
        ["快照版本", f"第{version}版"],
        ["制作时间（北京时间）", clock.local(made_at).strftime("%Y-%m-%d %H:%M:%S")],
        ["SHA-256", sha256],
    ])

    comparisons = figures.get("comparisons") or {"rows": [], "previous": {}, "year_ago": {}}
    previous, year_ago = comparisons["previous"].get("label", "上季度"), comparisons["year_ago"].get("label", "去年同期")
    rows = []
    for row in comparisons["rows"]:
        kind = row["kind"]
        convert = _money if kind == "money" else (lambda v: v)
        rows.append([row["label"], convert(row["value"]), convert(row["previous"]),
                     convert(row["vs_previous"]["difference"]), row["vs_previous"]["percent"],
                     convert(row["year_ago"]), convert(row["vs_year_ago"]["difference"]),
                     row["vs_year_ago"]["percent"]])
    sheet = _sheet(book, "主要指标", [("指标", None, 22), (figures["label"], None, 14), (previous, None, 14),
                                       ("环比增减", None, 12), ("环比增幅", RATE, 10), (year_ago, None, 14),
                                       ("同比增减", None, 12), ("同比增幅", RATE, 10)], rows)
    for number, row in enumerate(comparisons["rows"], start=2):
        kind_format = _kind_format(row["kind"])
        for column in (2, 3, 4, 6, 7):
            sheet.cell(row=number, column=column).number_format = kind_format

    inspections = figures["inspections"]
    _sheet(book, "检查情况", [("领域", None, 12), ("检查次数", COUNT, 12), ("入户（进场）检查", COUNT, 16),
                              ("未遇（无人）", COUNT, 14)],
           [[DOMAIN_NAMES.get(r["domain"], r["domain"]), r["total"], r["inspected"], r["no_access"]]
            for r in inspections["by_domain"]]
           + [["合计", inspections["total"], inspections["inspected"], inspections["no_access"]]])

    hazard_columns = [("排查发现", COUNT, 10), ("整改销号", COUNT, 10), ("当季发现已整改", COUNT, 14),
                      ("当季整改率", RATE, 11), ("整改用时中位数（天）", DAYS, 18), ("季初未销号", COUNT, 11),
                      ("季末未销号", COUNT, 11), ("季末逾期", COUNT, 10)]
    keys = ("found", "closed", "found_closed", "closure_rate", "median_days_to_close", "open_at_start",
            "open_at_end", "overdue_at_end")
    hazards = figures["hazards"]
    rows = [[DOMAIN_NAMES.get(r["domain"], r["domain"]), SEVERITY_NAMES.get(r["severity"], r["severity"]),
             *(r[k] for k in keys)] for r in hazards["rows"]]
    rows.append(["合计", "", *(hazards["total"][k] for k in keys)])
    _sheet(book, "隐患（领域×等级）", [("领域", None, 12), ("等级", None, 10), *hazard_columns], rows)
    _sheet(book, "隐患（区县）", [("区县代码", TEXT, 11), ("区县", None, 12), *hazard_columns],
           [[r["district"], r["name"], *(r[k] for k in keys)] for r in hazards["by_district"]])

    majors = figures["majors"]
    _sheet(book, "未销号重大隐患", [("区县", None, 12), ("领域", None, 10), ("检查项", None, 10),
                                   ("隐患描述", None, 40), ("发现日期", TEXT, 12), ("整改期限", TEXT, 12),
                                   ("至季末天数", COUNT, 11), ("是否逾期", None, 9)],
           [[m["district_name"] or m["district"], DOMAIN_NAMES.get(m["domain"], m["domain"]), m["item"],
             m["description"], m["reported_on"], m["deadline"], m["days_open"], "是" if m["overdue"] else "否"]
            for m in majors["open_list"]])

    recurrences = figures["recurrences"]
    _sheet(book, "回头看复发", [("领域", None, 12), ("本季度复发", COUNT, 12)],
           [[DOMAIN_NAMES.get(r["domain"], r["domain"]), r["recurrences"]] for r in recurrences["by_domain"]]
           + [["合计", recurrences["total"]], ["累计（至季末）", recurrences["to_date"]],
              ["本季度抽取回头看任务", recurrences["sampled"]]])

    _sheet(book, "底数覆盖", [("专项行动", None, 30), ("文号", None, 18), ("领域", None, 16), ("开始", TEXT, 12),
                              ("结束", TEXT, 12), ("底数", COUNT, 10), ("已检查", COUNT, 10), ("未检查", COUNT, 10),
                              ("未遇", COUNT, 8), ("覆盖率", RATE, 9)],
           [[c["name"], c["doc_no"] or "", "、".join(DOMAIN_NAMES.get(d, d) for d in c["domains"]), c["starts_on"],
             c["ends_on"], c["registered"], c["inspected"], c["never_inspected"], c["no_access"], c["coverage"]]
            for c in figures["coverage"]["campaigns"]])

    credit = figures["credit"]
    grades = credit.get("grades") or []
    _sheet(book, "信用等级", [("企业类别", None, 14), ("企业数", COUNT, 9),
                              *((f"季初{g}级", COUNT, 9) for g in grades), *((f"季末{g}级", COUNT, 9) for g in grades),
                              ("平均分", "0.00", 9), ("一票否决", COUNT, 9), ("降级", COUNT, 8), ("升级", COUNT, 8)],
           [[k["name"], k["enterprises"], *(k["grades_at_start"].get(g, 0) for g in grades),
             *(k["grades"].get(g, 0) for g in grades), k["average_score"], k["vetoed"], k["downgraded"],
             k["upgraded"]] for k in credit["kinds"]])
    d = credit["deductions"]
    _sheet(book, "信用扣分", [("项目", None, 18), ("数量", COUNT, 10)],
           [["提出扣分", d["proposed"]], ["扣分生效", d["confirmed"]], ["生效扣分分值", d["points_confirmed"]],
            ["撤销", d["revoked"]], ["信用修复", d["repaired"]], ["到期", d["expired"]],
            ["等级下降企业", credit["downgraded_total"]]])
    _sheet(book, "信用降级企业", [("企业名称", None, 30), ("统一社会信用代码", TEXT, 22), ("季初分值", COUNT, 10),
                                  ("季初等级", None, 9), ("季末分值", COUNT, 10), ("季末等级", None, 9)],
           [[r["name"], r["credit_code"], r["score_at_start"], r["grade_at_start"], r["score"], r["grade"]]
            for r in credit["downgraded"]])

    cases = figures["cases"]
    _sheet(book, "案件移交和处罚", [("项目", None, 22), ("数量", None, 14)],
           [["立案", cases["filed"]], ["移交执法部门", cases["transferred"]], ["退回", cases["returned"]],
            ["作出处罚决定", cases["decided"]], ["其中罚款", cases["fines"]],
            ["罚款金额（元）", _money(cases["fine_total_yuan"])]]
           + [[f"处罚种类：{p['name']}", p["cases"]] for p in cases["by_penalty"]])
    book["案件移交和处罚"].cell(row=7, column=2).number_format = MONEY
    _sheet(book, "处罚决定", [("案件编号", None, 22), ("当事人", None, 26), ("案由", None, 30),
                              ("决定日期", TEXT, 12), ("决定书文号", None, 20), ("处罚种类", None, 20),
                              ("罚款（元）", MONEY, 12)],
           [[c["case_no"], c["party"], c["cause"], c["decided_on"], c["decision_no"], "、".join(c["penalties"]),
             _money(c["amount_yuan"])] for c in cases["decided_list"]])

    _sheet(book, "高频隐患", [("排名", COUNT, 6), ("领域", None, 10), ("检查表", None, 18), ("检查项", None, 9),
                              ("检查内容", None, 50), ("发现次数", COUNT, 10), ("其中重大", COUNT, 9)],
           [[t["rank"], DOMAIN_NAMES.get(t["domain"], t["domain"]), t["checklist"], t["item"], t["text"], t["found"],
             t["major"]] for t in figures["top_items"]])

    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

