"""The lake on S3: one Parquet object per staging partition, each written by a single PUT.

Why Parquet objects and not a Delta table: a staged partition is always replaced
whole and read whole, by key, and nothing ever reads "the table" across days.
One ``PutObject`` is atomic (a reader gets the old object or the new one, never
part of either; S3 reads are strongly consistent after a write), so it gives the
partition overwrite of rule 2 without a transaction log, commit races between
days or log compaction. The output checksum is the xxh3-128 of the bytes put,
computed before the upload: polars writes the same bytes for the same frame, so
the checksum is the local lake's for the same input, and it does not depend on
the object's ETag (which is not an MD5 under SSE-KMS).
"""

from __future__ import annotations

import io
from pathlib import PurePosixPath
from typing import Any

import polars as pl
import xxhash
from botocore.exceptions import ClientError

from platform_assets.landing_s3 import naming_s3_errors


def bytes_checksum(data: bytes) -> str:
    """xxh3-128 of ``data``, in the format of ``fingerprint.file_checksum``."""
    return "xxh3:" + xxhash.xxh3_128(data).hexdigest()


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """``frame`` as Parquet, written exactly as :class:`~platform_assets.io.lake.LocalLake` does."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()


class S3Lake:
    """Lake files as objects ``<root>/<relpath>`` in one bucket."""

    def __init__(self, client: Any, bucket: str, root: str):
        self.client = client
        self.bucket = bucket
        self.root = root.strip("/")

    def _key(self, relpath: str) -> str:
        parts = PurePosixPath(relpath).parts
        if not parts or relpath.startswith("/") or any(p in {"", ".", ".."} for p in parts):
            raise ValueError(f"lake path {relpath!r} escapes the lake root {self.root}")
        return "/".join(p for p in (self.root, *parts) if p)

    def uri(self, relpath: str) -> str:
        """``s3://<bucket>/<key>`` of the object at ``relpath``."""
        return f"s3://{self.bucket}/{self._key(relpath)}"

    def write_parquet(self, relpath: str, frame: pl.DataFrame) -> str:
        """Replace the object at ``relpath`` with ``frame`` in one PUT; the bytes' checksum."""
        data = parquet_bytes(frame)
        with naming_s3_errors("PutObject", self.uri(relpath)):
            self.client.put_object(Bucket=self.bucket, Key=self._key(relpath), Body=data)
        return bytes_checksum(data)

    def _read(self, relpath: str) -> pl.DataFrame:
        with naming_s3_errors("GetObject", self.uri(relpath)):
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(relpath))["Body"]
            return pl.read_parquet(io.BytesIO(body.read()))

    def read_parquet(self, relpaths: list[str]) -> pl.DataFrame:
        """Read the given objects in order and concatenate them."""
        return pl.concat([self._read(p) for p in relpaths], how="vertical")

    def exists(self, relpath: str) -> bool:
        """Whether the object exists."""
        try:
            with naming_s3_errors("HeadObject", self.uri(relpath)):
                self.client.head_object(Bucket=self.bucket, Key=self._key(relpath))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True
