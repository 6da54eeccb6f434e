"""The lake: staging partitions as Parquet files, written atomically.

:class:`LocalLake` keeps them on disk; :class:`platform_assets.io.lake_s3.S3Lake`
in S3. Both return the xxh3-128 checksum of the bytes they wrote, the staged
partition's output checksum in the ledger: polars writes the same bytes for the
same frame, so the same input gives the same checksum in either place.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

import polars as pl

from platform_assets.fingerprint import file_checksum


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
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        return checksum

    def read_parquet(self, relpaths: list[str]) -> pl.DataFrame:
        """Read the given files in order and concatenate them."""
        return pl.concat([pl.read_parquet(self._path(p)) for p in relpaths], how="vertical")

    def exists(self, relpath: str) -> bool:
        """Whether the file exists."""
        return self._path(relpath).exists()

    def uri(self, relpath: str) -> str:
        """The file's path."""
        return str(self.root / relpath)
