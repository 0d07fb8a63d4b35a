"""Charts of the quarterly analysis as PNG images (matplotlib, Agg), labelled in Chinese.

The CJK font is the one the case letters use (``server.fonts.find_font``:
``CASE_PDF_FONT`` or the usual system places). Each chart is a function of
the snapshot's figures alone, so a snapshot draws the same charts whenever it
is downloaded. Figures are built with ``matplotlib.figure.Figure`` (no pyplot
global state), so requests may draw at the same time.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal

from server.reports.quarterly import DOMAIN_NAMES, DOMAINS

DPI = 150
COLOURS = ("#c0392b", "#2e86c1", "#7f8c8d", "#27ae60", "#8e44ad")


@dataclass(frozen=True)
class Chart:
    """A chart: its caption (图题) and its PNG bytes."""

    title: str
    png: bytes


def _font():
    from matplotlib.font_manager import FontProperties

    from server.fonts import find_font

    return FontProperties(fname=find_font("the quarterly report charts"))


def _figure(width: float = 6.4, height: float = 3.4):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    out = io.BytesIO()
    figure.tight_layout()
    # No date or software version in the file: the same figures give the same bytes.
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _style(axes, font, *, title: str, ylabel: str | None = None, horizontal: bool = False) -> None:
    from matplotlib.ticker import MaxNLocator

    (axes.xaxis if horizontal else axes.yaxis).set_major_locator(MaxNLocator(integer=True))
    axes.set_title(title, fontproperties=font, fontsize=11)
    if ylabel:
        axes.set_ylabel(ylabel, fontproperties=font, fontsize=9)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", linestyle=":", linewidth=0.6, alpha=0.7)
    axes.set_axisbelow(True)
    for label in (*axes.get_xticklabels(), *axes.get_yticklabels()):
        label.set_fontproperties(font)
        label.set_fontsize(8)


def _bar_labels(axes, bars, font) -> None:
    for bar in bars:
        height = bar.get_height()
        if height:
            axes.annotate(f"{height:g}", (bar.get_x() + bar.get_width() / 2, height), ha="center", va="bottom",
                          fontsize=7, fontproperties=font, xytext=(0, 1), textcoords="offset points")


def found_and_closed(figures: dict, font) -> Chart:
    """Hazards found, closed and open at the quarter's end, by field."""
    rows = {row["domain"]: row for row in figures["hazards"]["by_domain"]}
    names = [DOMAIN_NAMES[d] for d in DOMAINS]
    series = (("排查发现", "found"), ("整改销号", "closed"), ("季末未销号", "open_at_end"), ("季末逾期", "overdue_at_end"))
    figure = _figure()
    axes = figure.add_subplot()
    width = 0.8 / len(series)
    for index, (text, key) in enumerate(series):
        positions = [n + (index - (len(series) - 1) / 2) * width for n in range(len(DOMAINS))]
        bars = axes.bar(positions, [rows[d][key] for d in DOMAINS], width, label=text, color=COLOURS[index])
        _bar_labels(axes, bars, font)
    axes.set_xticks(range(len(DOMAINS)), names)
    _style(axes, font, title=f"{figures['label']}各领域隐患排查整治情况", ylabel="隐患（处）")
    axes.legend(prop=font, fontsize=8, frameon=False, ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    return Chart("各领域隐患排查整治情况", _png(figure))


def districts(figures: dict, font, limit: int = 15) -> Chart | None:
    """Hazards open at the quarter's end by district (the most first), with those overdue."""
    rows = sorted(figures["hazards"]["by_district"], key=lambda r: (-r["open_at_end"], r["district"]))[:limit]
    rows = [r for r in rows if r["open_at_end"] or r["found"]]
    if not rows:
        return None
    rows.reverse()
    figure = _figure(height=max(2.4, 0.32 * len(rows) + 1.2))
    axes = figure.add_subplot()
    positions = range(len(rows))
    axes.barh(positions, [r["open_at_end"] for r in rows], color=COLOURS[1], label="季末未销号")
    axes.barh(positions, [r["overdue_at_end"] for r in rows], color=COLOURS[0], label="其中逾期")
    axes.set_yticks(positions, [r["name"] for r in rows])
    for n, row in enumerate(rows):
        axes.annotate(str(row["open_at_end"]), (row["open_at_end"], n), va="center", fontsize=7,
                      xytext=(2, 0), textcoords="offset points")
    axes.set_ylim(-0.6, max(len(rows), 4) - 0.4)  # a few districts keep thin bars
    _style(axes, font, title=f"{figures['label']}末各区县未销号隐患", horizontal=True)
    axes.grid(axis="x", linestyle=":", linewidth=0.6, alpha=0.7)
    axes.grid(axis="y", visible=False)
    axes.legend(prop=font, fontsize=8, frameon=False, loc="upper right")
    return Chart("各区县季末未销号隐患", _png(figure))


def top_items(figures: dict, font) -> Chart | None:
    """The hazard items found most often in the quarter."""
    items = figures["top_items"]
    if not items:
        return None
    items = list(reversed(items))

    def short(text: str) -> str:
        return text if len(text) <= 18 else text[:17] + "…"

    figure = _figure(height=max(2.4, 0.34 * len(items) + 1.2))
    axes = figure.add_subplot()
    positions = range(len(items))
    axes.barh(positions, [i["found"] for i in items], color=COLOURS[2])
    axes.set_yticks(positions, [f"{i['item']} {short(i['text'])}" for i in items])
    for n, item in enumerate(items):
        axes.annotate(str(item["found"]), (item["found"], n), va="center", fontsize=7, xytext=(2, 0),
                      textcoords="offset points")
    axes.set_ylim(-0.6, max(len(items), 4) - 0.4)
    _style(axes, font, title=f"{figures['label']}高频隐患问题", horizontal=True)
    axes.grid(axis="x", linestyle=":", linewidth=0.6, alpha=0.7)
    axes.grid(axis="y", visible=False)
    return Chart("高频隐患问题", _png(figure))


def comparison(figures: dict, font) -> Chart | None:
    """Key counts of the quarter beside the previous quarter and the same quarter a year before."""
    comparisons = figures.get("comparisons")
    if not comparisons:
        return None
    keys = ("inspections", "hazards_found", "hazards_closed", "open_at_end", "overdue_at_end")
    rows = {row["key"]: row for row in comparisons["rows"]}
    series = ((figures["label"], "value"), (comparisons["previous"]["label"], "previous"),
              (comparisons["year_ago"]["label"], "year_ago"))
    figure = _figure()
    axes = figure.add_subplot()
    width = 0.8 / len(series)
    for index, (text, field) in enumerate(series):
        positions = [n + (index - 1) * width for n in range(len(keys))]
        values = [rows[k][field] or 0 for k in keys]
        bars = axes.bar(positions, values, width, label=text, color=COLOURS[index])
        _bar_labels(axes, bars, font)
    axes.set_xticks(range(len(keys)), [rows[k]["label"].replace("隐患", "") for k in keys])
    _style(axes, font, title="同比、环比情况", ylabel="次／处")
    axes.legend(prop=font, fontsize=8, frameon=False, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    return Chart("主要指标同比、环比", _png(figure))


def coverage(figures: dict, font) -> Chart | None:
    """Coverage of the register by each campaign running in the quarter."""
    campaigns = figures["coverage"]["campaigns"]
    if not campaigns:
        return None
    figure = _figure(height=max(2.2, 0.4 * len(campaigns) + 1.2))
    axes = figure.add_subplot()
    positions = range(len(campaigns))
    shares = [float(Decimal(str(c["coverage"])) * 100) for c in campaigns]
    axes.barh(positions, shares, height=0.5, color=COLOURS[3])
    axes.set_yticks(positions, [c["name"] if len(c["name"]) <= 16 else c["name"][:15] + "…" for c in campaigns])
    axes.set_xlim(0, 100)
    for n, share in enumerate(shares):
        axes.annotate(f"{share:.1f}%", (share, n), va="center", fontsize=7, xytext=(2, 0), textcoords="offset points")
    axes.set_ylim(-0.6, max(len(campaigns), 2) - 0.4)
    _style(axes, font, title="专项行动底数覆盖率（%）")
    axes.grid(axis="x", linestyle=":", linewidth=0.6, alpha=0.7)
    axes.grid(axis="y", visible=False)
    return Chart("专项行动底数覆盖率", _png(figure))


def draw(figures: dict) -> list[Chart]:
    """Return the report's charts, in the order the document shows them (charts without data are left out)."""
    font = _font()
    charts = [found_and_closed(figures, font), districts(figures, font), coverage(figures, font),
              top_items(figures, font), comparison(figures, font)]
    return [chart for chart in charts if chart is not None]
