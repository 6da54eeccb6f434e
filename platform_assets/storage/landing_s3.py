"""The landing area on S3: ``s3://<bucket>/<prefix>/landing/<dataset>/dt=YYYY-MM-DD/``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

import xxhash
from botocore.exceptions import BotoCoreError, ClientError

from platform_assets.core.fingerprint import EMPTY_INPUT, problem_line
from platform_assets.core.landing import DaySnapshot, LandingChanged, is_landing_name
from platform_assets.core.partition_keys import validate_partition_key


class S3LandingError(RuntimeError):
    """An S3 request of the landing store failed for good: retries exhausted or no connection."""


@contextmanager
def naming_s3_errors(operation: str, url: str) -> Iterator[None]:
    """Name the bucket and key (``url``, ``s3://...``) in any failure of one S3 request.

    Transient faults that outlived botocore's retries (throttling, 5xx, reset connections,
    timeouts) become :class:`S3LandingError`; a definite answer (a 4xx such as the 412 of
    ``IfMatch``) keeps its botocore type, with the object added as a note.
    """
    try:
        yield
    except ClientError as err:
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status < 500 and status != 429:
            err.add_note(f"S3 {operation} {url}")
            raise
        raise S3LandingError(f"S3 {operation} {url} failed: {err}") from err
    except BotoCoreError as err:
        raise S3LandingError(f"S3 {operation} {url} failed: {err}") from err


@dataclass(frozen=True)
class S3LandingFile:
    """One delivered object: its name within the day's prefix, key, size, ETag, when it
    was last modified (the listing's ``LastModified``), and the problem that refuses it
    (an object S3 does not let us read; see :class:`~platform_assets.core.landing.LandingEntry`)."""

    name: str
    key: str
    size: int
    etag: str
    bucket: str
    client: Any = field(repr=False, compare=False)
    modified: dt.datetime
    problem: str = ""

    @property
    def path(self) -> PurePosixPath:
        """The object key as a path (its suffix selects the parser)."""
        return PurePosixPath(self.key)

    @property
    def url(self) -> str:
        """``s3://<bucket>/<key>``, for messages."""
        return f"s3://{self.bucket}/{self.key}"

    def read_bytes(self) -> bytes:
        """The object's content, as long as it still has the listed ETag.

        ``IfMatch`` makes S3 refuse (412) an object replaced since it was listed,
        so the bytes parsed are always the ones the fingerprint describes.
        """
        with naming_s3_errors("GetObject", self.url):
            response = self.client.get_object(Bucket=self.bucket, Key=self.key, IfMatch=self.etag)
            return response["Body"].read()


class S3Landing:
    """Landing objects under ``<root>/<dataset>/dt=YYYY-MM-DD/`` in one bucket."""

    def __init__(self, client: Any, bucket: str, root: str, page_size: int = 1000):
        self.client = client
        self.bucket = bucket
        self.root = root.strip("/")
        self.page_size = page_size

    def _prefix(self, *parts: str) -> str:
        return "/".join([p for p in (self.root, *parts) if p]) + "/"

    def _pages(self, prefix: str, delimiter: str | None = None) -> Iterator[dict]:
        kwargs = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        paginator = self.client.get_paginator("list_objects_v2")
        with naming_s3_errors("ListObjectsV2", f"s3://{self.bucket}/{prefix}"):
            yield from paginator.paginate(**kwargs, PaginationConfig={"PageSize": self.page_size})

    def day_prefix(self, dataset: str, partition_key: str) -> str:
        """The key prefix of one day of one dataset (the key is validated first)."""
        validate_partition_key(partition_key)
        return self._prefix(dataset, f"dt={partition_key}")

    def files(self, dataset: str, partition_key: str) -> list[S3LandingFile]:
        """The day's data objects in name order (hidden and temporary names are ignored)."""
        prefix = self.day_prefix(dataset, partition_key)
        found = []
        for page in self._pages(prefix, delimiter="/"):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix) :]
                if is_landing_name(name):
                    found.append(self._entry(name, obj))
        return sorted(found, key=lambda f: f.name)

    def _entry(self, name: str, obj: dict) -> S3LandingFile:
        """The landing file of one listed object."""
        etag = obj["ETag"].strip('"')
        return S3LandingFile(
            name, obj["Key"], obj["Size"], etag, self.bucket, self.client, obj["LastModified"]
        )

    def files_by_day(self, dataset: str) -> dict[str, list[S3LandingFile]]:
        """Every day's data objects from ONE flat listing of the dataset's prefix.

        A sensor tick costs one ``ListObjectsV2`` request per 1,000 objects, however
        many days there are (listing day by day costs a request per day). Days are
        the valid ``dt=`` prefixes, as in :meth:`partition_keys`; objects nested
        deeper than the day's prefix are ignored, as in :meth:`files`.
        """
        base = self._prefix(dataset)
        days: dict[str, list[S3LandingFile]] = {}
        for page in self._pages(base):
            for obj in page.get("Contents", []):
                folder, _, name = obj["Key"][len(base) :].partition("/")
                key = folder.removeprefix("dt=")
                if not folder.startswith("dt=") or not _is_partition_key(key):
                    continue
                found = days.setdefault(key, [])
                if "/" not in name and is_landing_name(name):
                    found.append(self._entry(name, obj))
        return {key: sorted(days[key], key=lambda f: f.name) for key in sorted(days)}

    def partition_keys(self, dataset: str) -> list[str]:
        """Days that have a ``dt=`` prefix, in order; prefixes that are not dates are ignored."""
        base = self._prefix(dataset)
        keys = set()
        for page in self._pages(base, delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                folder = common["Prefix"][len(base) :].rstrip("/")
                if not folder.startswith("dt="):
                    continue
                key = folder.removeprefix("dt=")
                if _is_partition_key(key):
                    keys.add(key)
        return sorted(keys)

    def fingerprint(self, files: list[S3LandingFile]) -> str:
        """Key + size + ETag of the objects; nothing is downloaded."""
        return fingerprint_objects(files)

    def change_signature(self, files: list[S3LandingFile]) -> str:
        """The same as :meth:`fingerprint`: listing already gives the ETag for free."""
        return fingerprint_objects(files)

    def snapshot(self, dataset: str, partition_key: str) -> DaySnapshot:
        """Read the day's objects, each pinned to its listed ETag (S3 objects are atomic).

        An object replaced or deleted since the listing fails the read (412 or 404):
        :class:`LandingChanged` names it. An object S3 refuses to return (403: access
        denied, or archived in Glacier) is a refused entry, and its problem is part of
        the checksum (the listing cannot tell, so a launch after access is fixed
        restages the day; the listing's fingerprint is the snapshot's signature).
        """
        files = self.files(dataset, partition_key)
        contents = []
        for entry in files:
            try:
                contents.append((entry, entry.read_bytes()))
            except ClientError as err:
                error = err.response.get("Error", {})
                if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403:
                    reason = f"cannot be read: {error.get('Message', '')} ({error.get('Code')})"
                    contents.append((replace(entry, size=0, problem=reason), b""))
                    continue
                if error.get("Code", "") not in {"PreconditionFailed", "412", "NoSuchKey", "404"}:
                    raise
                raise LandingChanged(
                    f"landing object {entry.url} was replaced or deleted while the day was read; "
                    "rerun the day"
                ) from err
        read = [entry for entry, _ in contents]
        return DaySnapshot(
            dataset, partition_key, contents, fingerprint_objects(read), fingerprint_objects(files)
        )

    def unchanged_since(self, snapshot: DaySnapshot) -> bool:
        """The day's listing still has the keys, sizes and ETags the snapshot read."""
        return fingerprint_objects(self.files(snapshot.dataset, snapshot.partition)) == (
            snapshot.signature
        )


def _is_partition_key(key: str) -> bool:
    try:
        validate_partition_key(key)
    except ValueError:
        return False
    return True


def fingerprint_objects(files: list[S3LandingFile]) -> str:
    """xxh3-128 over each S3 object's name, size and ETag (a refused one's name and
    problem), in name order (nothing downloaded).

    Re-putting identical content keeps the ETag (and the fingerprint); changed
    content, a new or a removed object changes it. A day without files is ``"empty"``.
    """
    if not files:
        return EMPTY_INPUT
    digest = xxhash.xxh3_128()
    for file in sorted(files, key=lambda f: f.name):
        if file.problem:
            digest.update(problem_line(file.name, file.problem))
            continue
        digest.update(f"{file.name}\0{file.size}\0{file.etag}\n".encode())
    return "xxh3:" + digest.hexdigest()
