"""S3Storage against a real S3-compatible server process: the same contract as the local store."""

from __future__ import annotations

import hashlib

import pytest

from server.photos.s3 import S3Storage
from server.photos.storage import Storage

KEY = hashlib.sha256(b"evidence").hexdigest()


@pytest.fixture
def store(s3_server, s3_bucket) -> S3Storage:
    settings = s3_server.settings(s3_bucket)
    return S3Storage(bucket=s3_bucket, prefix="photos/", endpoint_url=settings["S3_ENDPOINT_URL"],
                     region=settings["S3_REGION"], access_key_id=settings["S3_ACCESS_KEY_ID"],
                     secret_access_key=settings["S3_SECRET_ACCESS_KEY"])


def test_s3_storage_satisfies_the_protocol(store):
    assert isinstance(store, Storage)


def test_open_exists_size_delete(store, s3_server, s3_bucket):
    """Bytes go in as the object <prefix><key> and come back whole; delete is idempotent."""
    assert not store.exists(KEY)
    store.put_bytes(KEY, b"0123456789")
    listed = s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [item["Key"] for item in listed] == [f"photos/{KEY}"]
    assert store.exists(KEY) and store.size(KEY) == 10
    with store.open(KEY) as handle:
        assert handle.read() == b"0123456789"
    store.delete(KEY)
    store.delete(KEY)
    assert not store.exists(KEY)
    with pytest.raises(FileNotFoundError):
        store.open(KEY)
    with pytest.raises(FileNotFoundError):
        store.size(KEY)


def test_put_is_idempotent_when_key_exists(store, tmp_path):
    store.put_bytes(KEY, b"first")
    store.put_bytes(KEY, b"second")
    upload = tmp_path / "upload.part"
    upload.write_bytes(b"third")
    store.put_file(KEY, upload)
    with store.open(KEY) as handle:
        assert handle.read() == b"first"


def test_a_large_file_goes_up_in_parts_and_comes_back_identical(store, tmp_path):
    """A 20 MB photo crosses the multipart threshold; its SHA-256 is unchanged on the way back."""
    data = hashlib.sha256(b"seed").digest() * (20 * 1024 * 1024 // 32)
    upload = tmp_path / "big.part"
    upload.write_bytes(data)
    store.put_file(KEY, upload)
    assert store.size(KEY) == len(data)
    with store.open(KEY) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("key", ["../etc/passwd", "a/b", "", "ab"])
def test_bad_keys_are_refused(store, key):
    with pytest.raises(ValueError):
        store.put_bytes(key, b"x")


def test_a_missing_bucket_fails_the_check(s3_server, store):
    """A HEAD of a key cannot tell a missing bucket from a missing photo: check() (readiness) can."""
    settings = s3_server.settings("no-such-bucket")
    missing = S3Storage(bucket="no-such-bucket", endpoint_url=settings["S3_ENDPOINT_URL"], region=settings["S3_REGION"],
                      access_key_id=settings["S3_ACCESS_KEY_ID"], secret_access_key=settings["S3_SECRET_ACCESS_KEY"])
    with pytest.raises(Exception, match="404"):
        missing.check()
    store.check()
