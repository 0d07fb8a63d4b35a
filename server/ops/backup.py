"""Backups: the database (SQLite online backup, or pg_dump) and the local photo store, with a manifest.

A backup is a folder ``<dest>/qingling-<UTC time>/`` holding ``database.sqlite3``
or ``database.pgdump``, ``photos/`` (a copy of the local store; with object
storage the bucket's own versioning or replication is the backup) and
``manifest.json`` listing every file with its size and SHA-256. ``verify``
checks a backup against its manifest; ``restore`` verifies first, then puts
the database and the photos back.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy.engine import make_url

from server.database import utcnow
from server.extensions import db
from server.photos.service import storage
from server.photos.storage import LocalStorage

MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
PHOTOS = "photos"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pg_tool(name: str) -> str:
    """The PostgreSQL client program ``name``: QINGLING_PG_BIN, then PATH, then Debian's versioned folders."""
    configured = current_app.config.get("PG_BIN")
    candidates = [str(Path(configured) / name)] if configured else []
    if shutil.which(name):
        candidates.append(shutil.which(name))
    candidates += sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    raise BackupError(f"{name} not found: install the PostgreSQL client or set QINGLING_PG_BIN")


def _pg_target() -> tuple[str, dict]:
    """A libpq URL without the password, and an environment carrying it."""
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _run(command: list[str], env: dict) -> None:
    result = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {result.stdout.strip()[-2000:]}")


def _sqlite_path() -> Path:
    return Path(make_url(current_app.config["SQLALCHEMY_DATABASE_URI"]).database)


def _dump_database(folder: Path) -> None:
    dialect = db.engine.dialect.name
    if dialect == "sqlite":
        # The online backup API copies a consistent snapshot while the server keeps serving.
        source = sqlite3.connect(_sqlite_path())
        target = sqlite3.connect(folder / SQLITE_FILE)
        try:
            with target:
                source.backup(target)
        finally:
            source.close()
            target.close()
    elif dialect == "postgresql":
        url, env = _pg_target()
        _run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={folder / PG_FILE}", url], env)
    else:
        raise BackupError(f"no backup method for {dialect}")


def _photo_root() -> Path | None:
    store = storage()
    return store.root if isinstance(store, LocalStorage) else None


def _copy_tree(source: Path, target: Path) -> int:
    """Copy every file not already there with the same size (keys never change); return how many were copied."""
    copied = 0
    for path in source.rglob("*"):
        if not path.is_file() or path.name.startswith(".tmp-"):
            continue
        destination = target / path.relative_to(source)
        if destination.is_file() and destination.stat().st_size == path.stat().st_size:
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(".tmp-" + destination.name)
        shutil.copyfile(path, partial)
        os.replace(partial, destination)
        copied += 1
    return copied


def _manifest(folder: Path) -> dict:
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            files[path.relative_to(folder).as_posix()] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
    return files


def create(destination: Path) -> Path:
    """Write a new backup under ``destination``; return its folder."""
    folder = Path(destination) / f"qingling-{utcnow().strftime('%Y%m%dT%H%M%S%fZ')}"
    folder.mkdir(parents=True)
    _dump_database(folder)
    root = _photo_root()
    photos = "local"
    if root is not None and root.is_dir():
        _copy_tree(root, folder / PHOTOS)
    elif root is None:
        photos = "object storage: not copied (use the bucket's versioning or replication)"
    manifest = {"created_at": utcnow().isoformat(), "database": db.engine.dialect.name, "photos": photos,
                "files": _manifest(folder)}
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    return folder


@dataclass
class Check:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(folder: Path) -> Check:
    """Compare every file of a backup with its manifest: missing, altered or unexpected files are problems."""
    folder = Path(folder)
    try:
        listed = json.loads((folder / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError) as error:
        return Check(problems=[f"{MANIFEST}: unreadable ({error})"])
    check = Check()
    present = {path.relative_to(folder).as_posix() for path in folder.rglob("*")
               if path.is_file() and path.name != MANIFEST}
    for name, expected in listed.items():
        path = folder / name
        if name not in present:
            check.problems.append(f"{name}: missing")
        elif _sha256(path) != expected["sha256"]:
            check.problems.append(f"{name}: altered (SHA-256 differs)")
        check.checked += 1
    check.problems += [f"{name}: not in the manifest" for name in sorted(present - set(listed))]
    return check


def restore(folder: Path) -> dict:
    """Verify the backup, then replace the database with it and put back its photos; stop the servers first."""
    folder = Path(folder)
    check = verify(folder)
    if not check.ok:
        raise BackupError("the backup does not match its manifest: " + "; ".join(check.problems[:10]))
    kind = json.loads((folder / MANIFEST).read_text())["database"]
    dialect = db.engine.dialect.name
    if kind != dialect:
        raise BackupError(f"this backup holds a {kind} database; the configured database is {dialect}")
    db.session.remove()
    db.engine.dispose()
    if dialect == "sqlite":
        source = sqlite3.connect(folder / SQLITE_FILE)
        target = sqlite3.connect(_sqlite_path())
        try:
            with target:
                source.backup(target)
        finally:
            source.close()
            target.close()
    else:
        url, env = _pg_target()
        _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              f"--dbname={url}", str(folder / PG_FILE)], env)
    root = _photo_root()
    copied = _copy_tree(folder / PHOTOS, root) if root is not None and (folder / PHOTOS).is_dir() else 0
    return {"database": dialect, "photos_copied": copied}
