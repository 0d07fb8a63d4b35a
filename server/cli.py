"""Operations commands: ``flask --app server users|registry|demo ...`` (``db`` comes from Flask-Migrate)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys

import click
from flask import Flask
from flask.cli import AppGroup

from server.errors import ProblemError
from server.extensions import db

users_cli = AppGroup("users", help="Manage user accounts.")
registry_cli = AppGroup("registry", help="The register of subjects and enterprises (底数).")
demo_cli = AppGroup("demo", help="Demonstration data.")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["inspector", "leader", "committee", "enforcement", "admin"]))
@click.option("--district", "districts", multiple=True, help="District code, e.g. 640104; repeat for several.")
@click.option("--name", default=None, help="Full name shown to people.")
def create_user(username, roles, districts, name):
    """Create a user; the password comes from INSPECT_PASSWORD or a prompt."""
    from server.accounts import service as account_service

    password = os.environ.get("INSPECT_PASSWORD") or click.prompt("Password", hide_input=True,
                                                                   confirmation_prompt=True)
    try:
        user = account_service.create_user(username=username, password=password, roles=list(roles),
                                           districts=list(districts), name=name)
        db.session.commit()
    except ProblemError as error:
        db.session.rollback()
        raise click.ClickException(error.detail) from None
    click.echo(f"created user {user.username} (id {user.id}) roles={','.join(user.roles)} "
               f"districts={','.join(user.districts) or '-'}")


@users_cli.command("revoke-tokens")
@click.argument("username")
@click.option("--deactivate", is_flag=True, help="Also refuse every future sign-in of this user.")
def revoke_tokens(username, deactivate):
    """End every session of a user at once (a lost phone, someone leaving)."""
    from sqlalchemy import select

    from server.accounts import service as account_service
    from server.accounts.models import User

    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    revoked = account_service.revoke_tokens(user_id=user.id)
    if deactivate:
        user.active = False
    db.session.commit()
    click.echo(f"revoked {revoked} token(s) of {username}" + ("; the account is deactivated" if deactivate else ""))


@registry_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: on a terminal).")
def import_registry(path, progress):
    """Import subjects from CSV or XLSX, upserting by external_ref; bad rows are reported, good rows kept."""
    from server.registry import importer

    report = importer.import_file(path, progress=sys.stderr.isatty() if progress is None else progress)
    click.echo(report.summary())
    for error in report.errors:
        click.echo(f"row {error.row}: {error.reason}", err=True)
    if report.errors and not report.imported:
        sys.exit(1)


@demo_cli.command("seed")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds users.")
def seed(if_empty):
    """Fill the database with a small realistic city and print the demo accounts."""
    from server import demo

    try:
        accounts = demo.seed(if_empty=if_empty)
    except ProblemError as error:
        db.session.rollback()
        raise click.ClickException(error.detail) from None
    if accounts is None:
        click.echo("the database already has data: demo seed skipped")
        accounts = demo.accounts()
    click.echo("demo accounts (username / password / roles / districts):")
    for account in accounts:
        click.echo(f"  {account['username']:<14} {account['password']:<18} {account['roles']:<12} {account['districts']}")


def register_cli(app: Flask) -> None:
    """Attach the command groups: these, and the ``commands`` of each domain package's ``cli`` module."""
    for group in (users_cli, registry_cli, demo_cli):
        app.cli.add_command(group)
    import server
    for info in pkgutil.iter_modules(server.__path__):
        if info.ispkg and importlib.util.find_spec(f"server.{info.name}.cli") is not None:
            for command in importlib.import_module(f"server.{info.name}.cli").commands:
                app.cli.add_command(command)
