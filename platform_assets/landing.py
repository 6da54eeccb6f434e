"""The landing area: raw CDC files per dataset and day, as delivered."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Protocol

from platform_assets.fingerprint import fingerprint_contents, fingerprint_files, stat_signature
from platform_assets.partitions import validate_partition_key

LANDING_SUFFIXES = (".csv", ".parquet")


def is_landing_name(name: str) -> bool:
    """A data file name: not hidden or temporary, and ``.csv`` or ``.parquet``."""
    return bool(name) and not name.startswith(".") and PurePath(name).suffix in LANDING_SUFFIXES


class LandingEntry(Protocol):
    """What the parser and fingerprints need of a delivered file, wherever it lives."""

    name: str
    size: int

    @property
    def path(self) -> PurePath:
        """Where the file lives (its suffix selects the parser)."""
        ...

    def read_bytes(self) -> bytes:
        """The file's content."""
        ...


class LandingChanged(RuntimeError):
    """A landing file changed while a run read it, or after: what was parsed is not current."""


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


@dataclass(frozen=True)
class LandingFile:
    """One delivered file: its name within the day's folder, path and size."""

    name: str
    path: Path
    size: int

    def read_bytes(self) -> bytes:
        """The file's content."""
        return self.path.read_bytes()


class LocalLanding:
    """Landing files under ``<root>/<dataset>/dt=YYYY-MM-DD/`` on the local disk."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def day_folder(self, dataset: str, partition_key: str) -> Path:
        """The folder of one day of one dataset (the key is validated first)."""
        validate_partition_key(partition_key)
        return self.root / dataset / f"dt={partition_key}"

    def files(self, dataset: str, partition_key: str) -> list[LandingFile]:
        """The day's data files in name order (hidden and temporary files are ignored)."""
        folder = self.day_folder(dataset, partition_key)
        if not folder.is_dir():
            return []
        return [
            LandingFile(p.name, p, p.stat().st_size)
            for p in sorted(folder.iterdir(), key=lambda p: p.name)
            if p.is_file() and is_landing_name(p.name)
        ]

    def files_by_day(self, dataset: str) -> dict[str, list[LandingFile]]:
        """Every day's data files (one folder listing per day)."""
        return {key: self.files(dataset, key) for key in self.partition_keys(dataset)}

    def fingerprint(self, files: list[LandingFile]) -> str:
        """Content hash of the files (names, sizes and bytes; mtime does not matter)."""
        return fingerprint_files(files)

    def change_signature(self, files: list[LandingFile]) -> str:
        """Names, sizes and mtimes: cheap, and a touched file is re-read."""
        return stat_signature(files)

    def snapshot(self, dataset: str, partition_key: str) -> DaySnapshot:
        """Read each file once, checking it did not change while it was read.

        A file whose size or modification time differs after the read from before it,
        or whose bytes do not have the size it reports, is being written: the day
        cannot be staged from it (:class:`LandingChanged` names the file).
        """
        files = self.files(dataset, partition_key)
        contents = []
        for entry in files:
            try:
                before = _stat(entry.path)
                data = entry.read_bytes()
                after = _stat(entry.path)
            except FileNotFoundError as exc:
                raise LandingChanged(
                    f"landing file {entry.path} disappeared while the day was read; rerun the day"
                ) from exc
            if before != after or len(data) != after[0]:
                raise LandingChanged(
                    f"landing file {entry.path} changed while it was read ({len(data)} bytes "
                    f"read, size {before[0]} -> {after[0]}); it is still being written: rerun "
                    "the day once the delivery is complete"
                )
            contents.append((LandingFile(entry.name, entry.path, len(data)), data))
        checksum = fingerprint_contents([(entry.name, data) for entry, data in contents])
        read = [entry for entry, _ in contents]
        return DaySnapshot(dataset, partition_key, contents, checksum, stat_signature(read))

    def unchanged_since(self, snapshot: DaySnapshot) -> bool:
        """Same file names, sizes and modification times as when the snapshot was read."""
        files = self.files(snapshot.dataset, snapshot.partition)
        return stat_signature(files) == snapshot.signature

    def partition_keys(self, dataset: str) -> list[str]:
        """Days that have a folder, in order; folders that are not dates are ignored."""
        base = self.root / dataset
        if not base.is_dir():
            return []
        keys = []
        for child in sorted(base.iterdir()):
            key = child.name.removeprefix("dt=")
            if child.is_dir() and child.name.startswith("dt="):
                try:
                    validate_partition_key(key)
                except ValueError:
                    continue
                keys.append(key)
        return keys


def _stat(path: Path) -> tuple[int, int]:
    """(size, mtime in ns) of a file."""
    found = os.stat(path)
    return found.st_size, found.st_mtime_ns
