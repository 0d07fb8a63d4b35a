"""``flask --app server backup create|verify|restore``."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from server.ops import backup

backup_cli = AppGroup("backup", help="Backups of the database and the photo store.")


@backup_cli.command("create")
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
def create_command(destination: Path):
    """Write a backup folder under DESTINATION (safe while the server runs)."""
    try:
        folder = backup.create(destination)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backup written: {folder}")


@backup_cli.command("verify")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def verify_command(folder: Path):
    """Check every file of a backup against its manifest; exit 1 naming each problem."""
    check = backup.verify(folder)
    for problem in check.problems:
        click.echo(problem, err=True)
    if not check.ok:
        raise click.ClickException(f"{len(check.problems)} problem(s) in {folder}")
    click.echo(f"backup intact: {check.checked} files")


@backup_cli.command("restore")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask: the current database is replaced.")
def restore_command(folder: Path, yes: bool):
    """Replace the database with the backup's and put its photos back (stop the servers first)."""
    if not yes:
        click.confirm("The current database will be replaced. Go on?", abort=True)
    try:
        result = backup.restore(folder)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"restored the {result['database']} database and {result['photos_copied']} photo files")


commands = [backup_cli]
