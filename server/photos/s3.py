"""``Storage`` in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, moto), through boto3.

An object appears whole or not at all when its PUT completes, so there are
no temporary files to rename: a put is atomic by the store's contract. Keys
are content-addressed and immutable, so a second put of a key is skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from server.photos.storage import validate_key

_MISSING = {"404", "NoSuchKey", "NotFound"}


def _missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING


class S3Storage:
    """Photos as objects ``<prefix><key>`` in ``bucket``."""

    def __init__(self, *, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None, client=None):
        self.bucket = bucket
        self.prefix = prefix
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=BotoConfig(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60))
        # Photos are at most tens of MB: multipart above 16 MB, in 16 MB parts.
        self.transfer = TransferConfig(multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024)

    def _name(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as error:
            if _missing(error):
                return False
            raise
        return True

    def put_bytes(self, key: str, data: bytes) -> None:
        if not self.exists(key):
            self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data)

    def put_file(self, key: str, path: Path) -> None:
        if not self.exists(key):
            self.client.upload_file(str(path), self.bucket, self._name(key), Config=self.transfer)

    def open(self, key: str) -> BinaryIO:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._name(key))["Body"]
        except ClientError as error:
            if _missing(error):
                raise FileNotFoundError(key) from error
            raise

    def size(self, key: str) -> int:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._name(key))["ContentLength"]
        except ClientError as error:
            if _missing(error):
                raise FileNotFoundError(key) from error
            raise

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
