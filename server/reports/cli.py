"""``flask --app server figures zero``: the zero-out figures (清零) on the command line."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup
from sqlalchemy import select

from server import clock
from server.errors import ProblemError
from server.extensions import db
from server.registry.enums import Domain

figures_cli = AppGroup("figures", help="Figures of the campaigns to zero (清零).")

DOMAIN_LABELS = {"gas": "燃气", "self_built_house": "自建房", "construction_site": "建筑工地"}
SEVERITY_LABELS = {"general": "一般", "major": "重大"}
HEADERS = {"domain": "领域", "district": "区县", "campaign": "专项行动", "severity": "等级", "age": "隐患天数",
           "open": "未销号"}


def _width(text: str) -> int:
    """Return the columns a text takes on a terminal: CJK characters take two."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    space = " " * max(width - _width(text), 0)
    return space + text if right else text + space


def _labels(result: dict) -> dict[str, dict]:
    """Return readable labels for the codes in the rows: district names, campaign names."""
    from server.accounts.models import District
    from server.inspections.models import Campaign

    codes = {row["district"] for row in result["rows"] if "district" in row}
    if result["district"]:
        codes.add(result["district"])
    ids = {row["campaign"] for row in result["rows"] if row.get("campaign") is not None}
    if result["campaign_id"]:
        ids.add(result["campaign_id"])
    names = dict(db.session.execute(select(District.code, District.name)
                                    .where(District.code.in_(codes))).tuples().all()) if codes else {}
    campaigns = dict(db.session.execute(select(Campaign.id, Campaign.name)
                                        .where(Campaign.id.in_(ids))).tuples().all()) if ids else {}
    return {"district": names, "campaign": campaigns}


def _cell(name: str, value, labels: dict) -> str:
    if name == "district":
        return f"{value} {labels['district'].get(value, '')}".rstrip()
    if name == "campaign":
        return "（无专项行动）" if value is None else f"{value} {labels['campaign'].get(value, '')}".rstrip()
    if name == "domain":
        return DOMAIN_LABELS.get(value, value)
    if name == "severity":
        return SEVERITY_LABELS.get(value, value)
    if name == "age":
        return f"{value}天"
    return str(value)


def _table(result: dict) -> list[str]:
    labels = _labels(result)
    scope = []
    if result["district"]:
        scope.append(_cell("district", result["district"], labels))
    if result["domain"]:
        scope.append(_cell("domain", result["domain"], labels))
    if result["campaign_id"]:
        scope.append(_cell("campaign", result["campaign_id"], labels))
    lines = [f"截至 {clock.local(result['as_of']).isoformat(timespec='seconds')}  "
             f"{'，'.join(scope) or '全市'}  未销号隐患 {result['total']}"]
    groups = result["group_by"]
    if not groups:
        return lines
    columns = [*groups, "open"]
    cells = [[_cell(name, row[name], labels) for name in columns] for row in result["rows"]]
    cells.append([*(["合计"] + [""] * (len(groups) - 1)), str(result["total"])])
    widths = [max(_width(HEADERS[name]), *(_width(line[i]) for line in cells)) for i, name in enumerate(columns)]
    right = [name == "open" for name in columns]
    lines.append("  ".join(_pad(HEADERS[name], w, r) for name, w, r in zip(columns, widths, right)))
    for line in cells:
        lines.append("  ".join(_pad(text, w, r) for text, w, r in zip(line, widths, right)).rstrip())
    return lines


def _json(result: dict) -> str:
    body = {**result, "as_of": clock.local(result["as_of"]).isoformat()}
    return json.dumps(body, ensure_ascii=False, indent=2)


@figures_cli.command("zero")
@click.option("--as-of", default=None,
              help="The time of the figures: 2026-05-04T18:00:00+08:00, or 2026-05-04 for the end of that day "
                   "(Asia/Shanghai). Default: now.")
@click.option("--district", default=None, help="A district code; its descendants are included (640100: 银川市).")
@click.option("--domain", default=None, type=click.Choice([d.value for d in Domain]), help="One field.")
@click.option("--campaign", "campaign_id", type=int, default=None, help="Only hazards found in this campaign (id).")
@click.option("--by", default="", help="Comma-separated groupings: domain, district, campaign, severity, age.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def zero_command(as_of, district, domain, campaign_id, by, as_json):
    """Print the hazards open (未销号) at a time, in total and by group, rebuilt from the hazard events."""
    from server.reports import zero

    try:
        when = None if as_of is None else zero.parse_as_of(as_of)
        groups = [part.strip() for part in by.split(",") if part.strip()]
        result = zero.for_caller(visible=None, as_of=when, district=district, domain=domain,
                                 campaign_id=campaign_id, group_by=groups)
    except ProblemError as error:
        db.session.rollback()
        details = "; ".join(f"{field}: {', '.join(messages)}" for field, messages in (error.errors or {}).items())
        raise click.ClickException(details or error.detail) from None
    db.session.rollback()  # read only
    click.echo(_json(result) if as_json else "\n".join(_table(result)))


from server.reports.quarterly_cli import reports_cli  # noqa: E402  (flask reports quarterly ...: docs/quarterly.md)

commands = [figures_cli, reports_cli]
