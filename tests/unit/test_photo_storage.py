"""Unit tests of server.photos.storage.LocalStorage."""

from __future__ import annotations

import errno
import hashlib
import os
import stat

import pytest

from server.photos import storage as storage_module
from server.photos.storage import LocalStorage, Storage

KEY = hashlib.sha256(b"evidence").hexdigest()


def _files_under(root):
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def test_local_storage_satisfies_the_protocol(tmp_path):
    """LocalStorage is a Storage."""
    assert isinstance(LocalStorage(tmp_path), Storage)


def test_put_bytes_uses_fan_out_layout(tmp_path):
    """put_bytes stores the key under root/ab/cd/<key>, suffixes included, and nothing else."""
    store = LocalStorage(tmp_path / "blobs")
    store.put_bytes(KEY, b"original")
    store.put_bytes(KEY + ".display.jpg", b"display")
    assert _files_under(tmp_path / "blobs") == [
        f"{KEY[:2]}/{KEY[2:4]}/{KEY}",
        f"{KEY[:2]}/{KEY[2:4]}/{KEY}.display.jpg",
    ]
    assert (tmp_path / "blobs" / KEY[:2] / KEY[2:4] / KEY).read_bytes() == b"original"


def test_open_exists_size_delete(tmp_path):
    """open reads back the bytes, exists and size report them, delete removes them and is idempotent."""
    store = LocalStorage(tmp_path)
    assert not store.exists(KEY)
    store.put_bytes(KEY, b"0123456789")
    assert store.exists(KEY)
    assert store.size(KEY) == 10
    with store.open(KEY) as handle:
        assert handle.read() == b"0123456789"
    store.delete(KEY)
    assert not store.exists(KEY)
    store.delete(KEY)
    with pytest.raises(FileNotFoundError):
        store.open(KEY)
    with pytest.raises(FileNotFoundError):
        store.size(KEY)


def test_put_is_idempotent_when_key_exists(tmp_path):
    """A second put of an existing key changes nothing and leaves the second source file alone."""
    store = LocalStorage(tmp_path / "blobs")
    store.put_bytes(KEY, b"first")
    store.put_bytes(KEY, b"second")
    upload = tmp_path / "upload.part"
    upload.write_bytes(b"third")
    store.put_file(KEY, upload)
    with store.open(KEY) as handle:
        assert handle.read() == b"first"
    assert upload.read_bytes() == b"third"


def test_put_file_moves_on_the_same_file_system(tmp_path):
    """put_file renames the upload into place: the bytes are stored and the source is gone."""
    store = LocalStorage(tmp_path / "blobs")
    upload = tmp_path / "upload.part"
    upload.write_bytes(b"photo bytes")
    store.put_file(KEY, upload)
    assert not upload.exists()
    with store.open(KEY) as handle:
        assert handle.read() == b"photo bytes"


def test_put_file_copies_across_file_systems(tmp_path, monkeypatch):
    """When the rename crosses file systems (EXDEV), put_file copies via a temporary file and leaves none behind."""
    store = LocalStorage(tmp_path / "blobs")
    upload = tmp_path / "upload.part"
    upload.write_bytes(b"x" * 3_000_000)
    real_replace = os.replace

    def replace(src, dst):
        if os.fspath(src) == os.fspath(upload):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst)

    monkeypatch.setattr(storage_module.os, "replace", replace)
    store.put_file(KEY, upload)
    assert store.size(KEY) == 3_000_000
    assert _files_under(tmp_path / "blobs") == [f"{KEY[:2]}/{KEY[2:4]}/{KEY}"]


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    """If the write fails before the rename, the key does not exist and no temporary file remains."""
    store = LocalStorage(tmp_path / "blobs")

    real_fsync = os.fsync
    failures = []

    def failing_fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):  # the data file, not a directory
            failures.append(fd)
            raise OSError(errno.EIO, "disk on fire")
        real_fsync(fd)

    monkeypatch.setattr(storage_module.os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        store.put_bytes(KEY, b"half")
    monkeypatch.undo()
    assert failures
    assert not store.exists(KEY)
    assert _files_under(tmp_path / "blobs") == []


def test_write_goes_through_a_temporary_file_in_the_target_directory(tmp_path, monkeypatch):
    """put_bytes writes a temporary file beside the target, fsyncs it, then renames it over the key."""
    store = LocalStorage(tmp_path)
    calls = []
    real_replace = os.replace

    def replace(src, dst):
        calls.append((os.path.dirname(src), os.path.basename(src), os.fspath(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(storage_module.os, "replace", replace)
    store.put_bytes(KEY, b"data")
    [(src_dir, src_name, dst)] = calls
    assert src_dir == os.fspath(tmp_path / KEY[:2] / KEY[2:4])
    assert src_name.startswith(".tmp-")
    assert dst == os.fspath(store.path_for(KEY))


@pytest.mark.parametrize(
    "key",
    ["", "abc", "../etc/passwd", "ab/cdef", "abcd/../x", "abcd..e", ".abcdef", "ab\\cdef", "abcd\x00e", "ab cdef"],
)
def test_bad_keys_are_refused(tmp_path, key):
    """Keys with '/', '..', hidden or odd characters, or under four characters raise ValueError in every method."""
    store = LocalStorage(tmp_path)
    source = tmp_path / "source"
    source.write_bytes(b"x")
    for call in (
        lambda: store.put_bytes(key, b"x"),
        lambda: store.put_file(key, source),
        lambda: store.open(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.size(key),
    ):
        with pytest.raises(ValueError):
            call()
    assert _files_under(tmp_path) == ["source"]
