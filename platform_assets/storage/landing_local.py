"""The landing area in a local folder: raw CDC files per dataset and day, as delivered."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from platform_assets.core.fingerprint import fingerprint_contents, fingerprint_files, stat_signature
from platform_assets.core.landing import (
    DaySnapshot,
    LandingChanged,
    is_landing_name,
)
from platform_assets.core.partition_keys import validate_partition_key


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
