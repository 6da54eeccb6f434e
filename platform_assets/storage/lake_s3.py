"""The lake on S3: staged artifacts as Parquet objects named by their checksum.

Why Parquet objects and not a Delta table: a staged partition is written once and
read whole, by name, and nothing ever reads "the table" across days. An artifact
is one ``PutObject`` (atomic: a reader never sees part of it) to
``<folder>/<checksum>.parquet`` and is never overwritten with other bytes, so no
transaction log is needed. The checksum is the xxh3-128 of the bytes put,
computed before the upload: polars writes the same bytes for the same frame, so
it is the local lake's for the same input, and it does not depend on the
object's ETag (which is not an MD5 under SSE-KMS). Reads verify it.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import PurePosixPath
from typing import Any

import polars as pl
from botocore.exceptions import ClientError

from platform_assets.storage.lake import (
    ARTIFACT_SUFFIX,
    artifact_name,
    bytes_checksum,
    parquet_bytes,
    verified_frame,
)
from platform_assets.storage.landing_s3 import naming_s3_errors


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

    def write_artifact(self, folder: str, frame: pl.DataFrame) -> str:
        """PUT ``frame`` as ``<folder>/<checksum>.parquet`` unless it is there intact already."""
        data = parquet_bytes(frame)
        checksum = bytes_checksum(data)
        relpath = f"{folder}/{artifact_name(checksum)}"
        if not self._holds(relpath, checksum):
            with naming_s3_errors("PutObject", self.uri(relpath)):
                self.client.put_object(Bucket=self.bucket, Key=self._key(relpath), Body=data)
        return checksum

    def _holds(self, relpath: str, checksum: str) -> bool:
        """Whether the object exists with exactly the bytes ``checksum`` names."""
        if not self.exists(relpath):
            return False
        with naming_s3_errors("GetObject", self.uri(relpath)):
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(relpath))["Body"]
            return bytes_checksum(body.read()) == checksum

    def read_artifact(self, folder: str, checksum: str) -> pl.DataFrame:
        """GET the artifact, verify its bytes against ``checksum``, parse them."""
        relpath = f"{folder}/{artifact_name(checksum)}"
        try:
            with naming_s3_errors("GetObject", self.uri(relpath)):
                body = self.client.get_object(Bucket=self.bucket, Key=self._key(relpath))["Body"]
                data = body.read()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
            raise FileNotFoundError(
                f"staged artifact {self.uri(relpath)} is missing (collected or deleted); "
                "restage the partition (force a run)"
            ) from err
        return verified_frame(data, checksum, self.uri(relpath))

    def artifacts(self, folder: str) -> dict[str, dt.datetime]:
        """The artifact objects directly under ``folder`` and when they were written."""
        prefix = self._key(folder) + "/"
        found = {}
        paginator = self.client.get_paginator("list_objects_v2")
        with naming_s3_errors("ListObjectsV2", f"s3://{self.bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(prefix) :]
                    if name.endswith(ARTIFACT_SUFFIX):
                        checksum = "xxh3:" + name.removesuffix(ARTIFACT_SUFFIX)
                        found[checksum] = obj["LastModified"].astimezone(dt.UTC)
        return found

    def delete_artifact(self, folder: str, checksum: str) -> None:
        """DELETE one artifact object."""
        relpath = f"{folder}/{artifact_name(checksum)}"
        with naming_s3_errors("DeleteObject", self.uri(relpath)):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(relpath))
