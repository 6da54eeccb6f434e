"""The lake: staged partitions as immutable, content-addressed Parquet artifacts.

A staged partition is written once as ``<folder>/<checksum>.parquet``, where the
checksum is the xxh3-128 of the file's bytes, and never overwritten: the ledger,
the check results and every publication name the artifact by that checksum, and
:meth:`LakeStore.read_artifact` verifies the bytes it read against it.
:class:`LocalLake` keeps them on disk; :class:`platform_assets.storage.lake_s3.S3Lake`
in S3. polars writes the same bytes for the same frame, so the same input gives
the same artifact in either place.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import threading
from pathlib import Path
from typing import Protocol

import polars as pl
import xxhash

from platform_assets.core.fingerprint import file_checksum

ARTIFACT_SUFFIX = ".parquet"


class ArtifactMismatch(RuntimeError):
    """A staged artifact's bytes do not have the checksum that names them."""


def bytes_checksum(data: bytes) -> str:
    """xxh3-128 of ``data``, in the format of ``fingerprint.file_checksum``."""
    return "xxh3:" + xxhash.xxh3_128(data).hexdigest()


def artifact_name(checksum: str) -> str:
    """The file name of the artifact with ``checksum`` (``xxh3:<hex>`` -> ``<hex>.parquet``)."""
    algorithm, _, digest = checksum.partition(":")
    if algorithm != "xxh3" or len(digest) != 32 or not all(c in "0123456789abcdef" for c in digest):
        raise ValueError(f"not an artifact checksum: {checksum!r}")
    return digest + ARTIFACT_SUFFIX


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """``frame`` as Parquet bytes, written the same way everywhere (same frame, same bytes)."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()


def verified_frame(data: bytes, checksum: str, where: str) -> pl.DataFrame:
    """Parse artifact bytes after checking they are the ones ``checksum`` names."""
    found = bytes_checksum(data)
    if found != checksum:
        raise ArtifactMismatch(
            f"staged artifact {where} has checksum {found}, not {checksum}: it was changed "
            "behind the platform's back; restage the partition (force a run)"
        )
    return pl.read_parquet(io.BytesIO(data))


class LakeStore(Protocol):
    """Where partition files live: the local filesystem or an S3 prefix."""

    def write_parquet(self, relpath: str, frame: pl.DataFrame) -> str:
        """Replace the file at ``relpath`` atomically with ``frame``; return the bytes' checksum."""

    def read_parquet(self, relpaths: list[str]) -> pl.DataFrame:
        """Read and concatenate the files at ``relpaths``."""

    def exists(self, relpath: str) -> bool:
        """Whether a file exists at ``relpath``."""

    def uri(self, relpath: str) -> str:
        """Where the file at ``relpath`` lives, for metadata (a path or an ``s3://`` URI)."""

    def write_artifact(self, folder: str, frame: pl.DataFrame) -> str:
        """Store ``frame`` as ``<folder>/<checksum>.parquet`` (once); return the checksum."""

    def read_artifact(self, folder: str, checksum: str) -> pl.DataFrame:
        """The artifact ``<folder>/<checksum>.parquet``, verified against ``checksum``."""

    def artifacts(self, folder: str) -> dict[str, dt.datetime]:
        """The artifacts stored in ``folder``: checksum -> when it was written (UTC)."""

    def delete_artifact(self, folder: str, checksum: str) -> None:
        """Remove one artifact (garbage collection of superseded versions)."""


class LocalLake:
    """A lake on the local filesystem: temp file in the same folder, fsync, rename."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, relpath: str) -> Path:
        path = (self.root / relpath).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"lake path {relpath!r} escapes the lake root {self.root}")
        return path

    def write_parquet(self, relpath: str, frame: pl.DataFrame) -> str:
        """Write to a temporary sibling, fsync it, rename it over the old file, fsync the folder.

        Returns the xxh3-128 checksum of the file written.
        """
        path = self._path(relpath)
        path.parent.mkdir(parents=True, exist_ok=True)
        # unique per process and thread, so concurrent writers never share a temp file
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            frame.write_parquet(tmp, compression="zstd", statistics=True)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            checksum = file_checksum(tmp)  # of the bytes this writer renames into place
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_folder(path.parent)
        return checksum

    def read_parquet(self, relpaths: list[str]) -> pl.DataFrame:
        """Read the given files in order and concatenate them."""
        return pl.concat([pl.read_parquet(self._path(p)) for p in relpaths], how="vertical")

    def write_artifact(self, folder: str, frame: pl.DataFrame) -> str:
        """Write to a temporary sibling, fsync, and rename it to its checksum's name.

        An artifact that already exists with the right bytes is kept (renaming over it
        would change nothing a reader could see); one whose bytes were damaged is
        replaced, so restaging (a forced run) repairs it.
        """
        data = parquet_bytes(frame)
        checksum = bytes_checksum(data)
        path = self._path(f"{folder}/{artifact_name(checksum)}")
        if path.exists() and file_checksum(path) == checksum:
            os.utime(path)  # written again now: garbage collection counts from here
            return checksum
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_folder(path.parent)
        return checksum

    def read_artifact(self, folder: str, checksum: str) -> pl.DataFrame:
        """Read the artifact's bytes once, verify their checksum, parse them."""
        path = self._path(f"{folder}/{artifact_name(checksum)}")
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"staged artifact {path} is missing (collected or deleted); restage the "
                "partition (force a run)"
            ) from exc
        return verified_frame(data, checksum, str(path))

    def artifacts(self, folder: str) -> dict[str, dt.datetime]:
        """The artifacts in ``folder`` and their modification times (temporary files ignored)."""
        path = self._path(folder)
        if not path.is_dir():
            return {}
        return {
            "xxh3:" + p.name.removesuffix(ARTIFACT_SUFFIX): dt.datetime.fromtimestamp(
                p.stat().st_mtime, dt.UTC
            )
            for p in sorted(path.iterdir())
            if p.name.endswith(ARTIFACT_SUFFIX) and not p.name.startswith(".")
        }

    def delete_artifact(self, folder: str, checksum: str) -> None:
        """Remove one artifact; a missing one is already gone."""
        self._path(f"{folder}/{artifact_name(checksum)}").unlink(missing_ok=True)

    def exists(self, relpath: str) -> bool:
        """Whether the file exists."""
        return self._path(relpath).exists()

    def uri(self, relpath: str) -> str:
        """The file's path."""
        return str(self.root / relpath)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
