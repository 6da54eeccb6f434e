"""The landing area as the core sees it: delivered files, a day's snapshot, the store port.

Adapters: :mod:`platform_assets.storage.landing_local` (a folder) and
:mod:`platform_assets.storage.landing_s3` (a bucket).
"""

from __future__ import annotations

import datetime as dt
import errno
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Protocol

LANDING_SUFFIXES = (".csv", ".parquet")


def is_landing_name(name: str) -> bool:
    """A data file name: not hidden or temporary, and ``.csv`` or ``.parquet``."""
    return bool(name) and not name.startswith(".") and PurePath(name).suffix in LANDING_SUFFIXES


def read_problem(exc: OSError) -> str:
    """The problem of a local file that cannot be opened or read, naming the OS error."""
    return f"cannot be read: {exc.strerror} ({errno.errorcode.get(exc.errno, exc.errno)})"


class LandingEntry(Protocol):
    """What the parser and fingerprints need of a delivered file, wherever it lives.

    ``name`` is valid UTF-8 (an undecodable file name is shown with ``\\xNN`` escapes).
    ``problem``, when not empty, says why the entry is refused as a whole (a symbolic
    link, an undecodable name, a file that cannot be read): it is listed and
    fingerprinted by name and problem, never read, and quarantined as one row.
    """

    name: str
    size: int
    problem: str

    @property
    def path(self) -> PurePath:
        """Where the file lives (its suffix selects the parser)."""
        ...

    @property
    def modified(self) -> dt.datetime:
        """When the file last changed, in UTC (the landing sensor waits for quiet days)."""
        ...

    def read_bytes(self) -> bytes:
        """The file's content."""
        ...


class LandingChanged(RuntimeError):
    """A landing file changed while a run read it, or after: what was parsed is not current."""


class LandingRefused(RuntimeError):
    """A dataset's landing folder is not read at all (it is a symbolic link)."""


@dataclass(frozen=True)
class DaySnapshot:
    """One landing day as a run read it: each file's bytes, and their checksum.

    ``checksum`` is computed from exactly the bytes that are parsed (locally) or
    from the ETags the reads are pinned to (S3), so an attempt is never recorded
    under a checksum it was not parsed from. ``signature`` lets the store tell
    whether the day changed since (:meth:`LandingStore.unchanged_since`).
    """

    dataset: str
    partition: str
    contents: list[tuple[LandingEntry, bytes]]
    checksum: str
    signature: str

    @property
    def files(self) -> list[LandingEntry]:
        """The files read, in name order."""
        return [entry for entry, _ in self.contents]

    def released(self) -> DaySnapshot:
        """This snapshot without the files' bytes, once they are parsed: the names, the
        checksum and the signature stay (what telling a change needs)."""
        return replace(self, contents=[(entry, b"") for entry, _ in self.contents])


class LandingStore(Protocol):
    """A landing area: days per dataset, files per day, fingerprints of a day's files."""

    def partition_keys(self, dataset: str) -> list[str]:
        """Days that have landing data, in order."""
        ...

    def files(self, dataset: str, partition_key: str) -> Sequence[LandingEntry]:
        """The day's data files in name order."""
        ...

    def files_by_day(self, dataset: str) -> dict[str, Sequence[LandingEntry]]:
        """Every day's data files, ``{day: files(dataset, day)}`` for each of partition_keys."""
        ...

    def fingerprint(self, files: Sequence[LandingEntry]) -> str:
        """The input checksum of a day's files (recorded in the ledger and as DataVersion)."""
        ...

    def change_signature(self, files: Sequence[LandingEntry]) -> str:
        """A cheap signature; when unchanged, the sensor does not fingerprint the day again."""
        ...

    def snapshot(self, dataset: str, partition_key: str) -> DaySnapshot:
        """Read the day's files once; raise :class:`LandingChanged` if one changes meanwhile."""
        ...

    def unchanged_since(self, snapshot: DaySnapshot) -> bool:
        """Whether the day's files are still the ones ``snapshot`` read."""
        ...
