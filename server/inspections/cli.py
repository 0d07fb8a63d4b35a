"""Operations commands for campaigns: ``flask --app server campaigns create|list|coverage|sample|duty``."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from server.errors import ProblemError
from server.extensions import db

campaigns_cli = AppGroup("campaigns", help="Campaigns (专项行动), coverage, re-inspection (回头看), leader duties.")


def _fail(error: ProblemError):
    db.session.rollback()
    details = "; ".join(f"{field}: {', '.join(messages)}" for field, messages in (error.errors or {}).items())
    return click.ClickException(details or error.detail)


def _phase(text: str) -> dict:
    """Read NAME,KIND,STARTS_ON,ENDS_ON[,SHARE]."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (4, 5):
        raise click.BadParameter(f"{text!r}: expected NAME,KIND,STARTS_ON,ENDS_ON[,SHARE]")
    phase = {"name": parts[0], "kind": parts[1], "starts_on": parts[2], "ends_on": parts[3]}
    if len(parts) == 5:
        try:
            phase["sample_share"] = float(parts[4])
        except ValueError:
            raise click.BadParameter(f"{parts[4]!r} is not a number") from None
    return phase


@campaigns_cli.command("create")
@click.argument("name")
@click.option("--doc-no", default=None, help="Document number, e.g. 银建发〔2026〕12号.")
@click.option("--domain", "domains", multiple=True, required=True,
              type=click.Choice(["gas", "self_built_house", "construction_site"]), help="A field; repeat for several.")
@click.option("--district", "districts", multiple=True, required=True, help="A district code; repeat for several.")
@click.option("--starts-on", required=True, help="First day, YYYY-MM-DD.")
@click.option("--ends-on", required=True, help="Last day, YYYY-MM-DD.")
@click.option("--phase", "phases", multiple=True,
              help="NAME,KIND,STARTS_ON,ENDS_ON[,SHARE] with KIND inspect or reinspect; repeat for several.")
def create(name, doc_no, domains, districts, starts_on, ends_on, phases):
    """Create a campaign."""
    from server.inspections import campaigns as campaign_service

    try:
        campaign = campaign_service.create(name=name, doc_no=doc_no, domains=list(domains), districts=list(districts),
                                           starts_on=starts_on, ends_on=ends_on,
                                           phases=[_phase(p) for p in phases])
        db.session.commit()
    except ProblemError as error:
        raise _fail(error) from None
    click.echo(f"created campaign {campaign.id}: {campaign.name} {campaign.starts_on}..{campaign.ends_on}")


@campaigns_cli.command("list")
def list_campaigns():
    """List every campaign with its phases."""
    from server.inspections import campaigns as campaign_service

    for c in campaign_service.list_campaigns(districts=None):
        click.echo(f"{c.id:>4}  {c.name}  {c.doc_no or '-'}  {','.join(c.domains)}  {','.join(c.districts)}  "
                   f"{c.starts_on}..{c.ends_on}")
        for p in c.phases or []:
            sampled = f"  sampled {p['sampled']} (seed {p['seed']})" if p.get("sampled_at") else ""
            click.echo(f"        {p['name']} [{p['kind']}] {p['starts_on']}..{p['ends_on']}{sampled}")


@campaigns_cli.command("coverage")
@click.argument("campaign_id", type=int)
@click.option("--district", "districts", multiple=True, help="Only these districts (and their descendants).")
def show_coverage(campaign_id, districts):
    """Print a campaign's coverage by district and field."""
    from server.inspections import campaigns as campaign_service
    from server.inspections import coverage as coverage_service

    scope = campaign_service.covered(districts) if districts else None
    try:
        result = coverage_service.coverage(campaign_id=campaign_id, districts=scope)
    except ProblemError as error:
        raise _fail(error) from None
    click.echo(f"{result['campaign']['name']}")
    click.echo(f"{'district':<10}{'domain':<20}{'registered':>11}{'inspected':>10}{'never':>8}"
               f"{'no_access':>10}{'coverage':>10}")
    for row in [*result["rows"], {**result["total"], "district": "total", "domain": ""}]:
        click.echo(f"{row['district']:<10}{row['domain']:<20}{row['registered']:>11}{row['inspected']:>10}"
                   f"{row['never_inspected']:>8}{row['no_access']:>10}{row['coverage']:>10.1%}")


@campaigns_cli.command("sample")
@click.argument("campaign_id", type=int)
@click.argument("phase")
@click.option("--share", type=float, default=None, help="Share of general hazards per district (default: the phase's).")
@click.option("--seed", type=int, default=None, help="Seed of the draw (default: random, printed).")
def sample(campaign_id, phase, share, seed):
    """Draw a reinspect phase's closed hazards into reinspect assignments."""
    from server.inspections import campaigns as campaign_service
    from server.inspections import reinspection

    try:
        rows = reinspection.sample(campaign_id=campaign_id, phase=phase, share=share, seed=seed, actor=None)
        entry = campaign_service.phase(campaign_service.get(campaign_id=campaign_id), phase)
        db.session.commit()
    except ProblemError as error:
        raise _fail(error) from None
    click.echo(f"drew {entry['sampled']} hazards (seed {entry['seed']}), {len(rows)} assignments; "
               f"{len(entry['unassigned'])} without anyone to assign")


@campaigns_cli.command("duty")
@click.argument("district")
@click.argument("domain", type=click.Choice(["gas", "self_built_house", "construction_site"]))
@click.argument("username", required=False)
@click.option("--remove", is_flag=True, help="End the duty instead.")
def duty(district, domain, username, remove):
    """Make USERNAME (a leader) responsible for DISTRICT in DOMAIN (包抓), or --remove the duty."""
    from server.accounts.models import User
    from server.inspections import assignments as assignment_service

    try:
        if remove:
            assignment_service.remove_duty(district=district, domain=domain, actor=None)
            message = f"no leader answers for {district}/{domain} any more"
        else:
            if not username:
                raise click.UsageError("name the leader's USERNAME, or give --remove")
            user_id = db.session.scalar(select(User.id).where(User.username == username))
            if user_id is None:
                raise click.ClickException(f"no user {username!r}")
            assignment_service.set_duty(district=district, domain=domain, user_id=user_id, actor=None)
            message = f"{username} answers for {district}/{domain}"
        db.session.commit()
    except ProblemError as error:
        raise _fail(error) from None
    click.echo(message)


commands = [campaigns_cli]
