"""The lake: staging partitions as Parquet files, written atomically."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

import polars as pl


class LakeStore(Protocol):
    """Where partition files live; the local filesystem now, S3 later."""

    def write_parquet(self, relpath: str, frame: pl.DataFrame) -> None:
        """Replace the file at ``relpath`` atomically with ``frame``."""

    def read_parquet(self, relpaths: list[str]) -> pl.DataFrame:
        """Read and concatenate the files at ``relpaths``."""

    def exists(self, relpath: str) -> bool:
        """Whether a file exists at ``relpath``."""


class LocalLake:
    """A lake on the local filesystem: temp file in the same folder, fsync, rename."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, relpath: str) -> Path:
        path = (self.root / relpath).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"lake path {relpath!r} escapes the lake root {self.root}")
        return path

    def write_parquet(self, relpath: str, frame: pl.DataFrame) -> None:
        """Write to a temporary sibling, fsync it, rename it over the old file, fsync the folder."""
        path = self._path(relpath)
        path.parent.mkdir(parents=True, exist_ok=True)
        # unique per process and thread, so concurrent writers never share a temp file
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            frame.write_parquet(tmp, compression="zstd", statistics=True)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def read_parquet(self, relpaths: list[str]) -> pl.DataFrame:
        """Read the given files in order and concatenate them."""
        return pl.concat([pl.read_parquet(self._path(p)) for p in relpaths], how="vertical")

    def exists(self, relpath: str) -> bool:
        """Whether the file exists."""
        return self._path(relpath).exists()
