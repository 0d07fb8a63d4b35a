"""Blob storage for photo originals and renditions.

Keys are content addresses (a SHA-256 hex digest, possibly with a suffix such
as ``.display.jpg``), so the bytes under a key never change: writing a key
that already exists does nothing. ``LocalStorage`` keeps them on a local file
system, fanned out as ``root/ab/cd/<key>``, and writes atomically and durably
(temporary file in the target directory, fsync, rename, fsync of the
directory), so a reader sees either nothing or the whole file, also after a
crash.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

# Four leading letters or digits name the fan-out directories; then letters,
# digits, ".", "_" and "-". No "/", no "\\", no "..", nothing hidden.
_KEY_RE = re.compile(r"[A-Za-z0-9]{4}[A-Za-z0-9._-]{0,250}")

_TEMP_PREFIX = ".tmp-"
# Temporary files carry the writer's pid (``.tmp-<pid>-…``, ``upload-<pid>-….part``) so that a process
# killed mid-write can be told from a live one: see sweep_temporary_files.
_TEMPORARY = re.compile(r"^(?:\.tmp-|upload-)(\d+)-")


def temporary_prefix(kind: str = _TEMP_PREFIX) -> str:
    """The prefix of a temporary file this process writes: ``kind`` then the pid."""
    return f"{kind}{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temporary_files(root: Path) -> int:
    """Delete the temporary files under ``root`` left by processes that no longer run; return how many.

    A worker killed while writing (SIGKILL, OOM, power loss) leaves its
    temporary file behind; nothing else ever reads it. Files of running
    processes are kept: another worker may be writing them right now.
    """
    removed = 0
    if not Path(root).is_dir():
        return 0
    for path in Path(root).rglob("*"):
        match = _TEMPORARY.match(path.name)
        if match and path.is_file() and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


@runtime_checkable
class Storage(Protocol):
    """Where photo bytes live. Keys are immutable: a second put of a key is a no-op."""

    def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key``, atomically; nothing happens
        when ``key`` exists. ``path`` may be moved into the store: afterwards the
        caller deletes it if it still exists (``unlink(missing_ok=True)``)."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, atomically; nothing happens when ``key`` exists."""
        ...

    def open(self, key: str) -> BinaryIO:
        """The stored bytes for reading; FileNotFoundError when there are none."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens when it is not stored."""
        ...

    def size(self, key: str) -> int:
        """Size in bytes of the stored ``key``; FileNotFoundError when there is none."""
        ...

    def check(self) -> None:
        """Raise when the store cannot be reached or written (for the readiness probe)."""
        ...


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe storage key, else raise ValueError."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key) or ".." in key:
        raise ValueError(f"invalid storage key: {key!r}")
    return key


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new entry in ``directory`` durable (POSIX; a no-op elsewhere)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage:
    """``Storage`` on a local file system under ``root``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    # -- layout -------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """Where ``key`` lives: ``root/<key[0:2]>/<key[2:4]>/<key>``."""
        validate_key(key)
        return self.root / key[0:2] / key[2:4] / key

    def _directory_for(self, key: str) -> Path:
        """The fan-out directory of ``key``, created (durably) when missing."""
        directory = self.path_for(key).parent
        if not directory.is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            for level in (directory.parent, directory):
                if not level.is_dir():
                    level.mkdir(exist_ok=True)
                    fsync_directory(level.parent)
        return directory

    # -- writing ------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self.path_for(key)
        if target.exists():
            return
        directory = self._directory_for(key)
        fd, name = tempfile.mkstemp(prefix=temporary_prefix(), dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(name, target)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        fsync_directory(directory)

    def put_file(self, key: str, path: Path) -> None:
        target = self.path_for(key)
        if target.exists():
            return
        path = Path(path)
        directory = self._directory_for(key)
        # Same file system: make the file's data durable, then rename it into
        # place; the rename is atomic and copies nothing.
        with open(path, "rb") as source:
            os.fsync(source.fileno())
        try:
            os.replace(path, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            self._copy_into(path, target, directory)
        fsync_directory(directory)

    def _copy_into(self, path: Path, target: Path, directory: Path) -> None:
        """Another file system: copy into a temporary file beside the target, then rename."""
        fd, name = tempfile.mkstemp(prefix=temporary_prefix(), dir=directory)
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as source:
                shutil.copyfileobj(source, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.replace(name, target)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    # -- reading and removing ------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        return open(self.path_for(key), "rb")

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def size(self, key: str) -> int:
        return self.path_for(key).stat().st_size

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(f"{self.root} is not writable")

    def delete(self, key: str) -> None:
        target = self.path_for(key)
        try:
            target.unlink()
        except FileNotFoundError:
            return
        fsync_directory(target.parent)
