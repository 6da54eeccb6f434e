"""The landing area: raw CDC files per dataset and day, as delivered."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from platform_assets.partitions import validate_partition_key

LANDING_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class LandingFile:
    """One delivered file: its name within the day's folder, path and size."""

    name: str
    path: Path
    size: int


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
            if p.is_file() and not p.name.startswith(".") and p.suffix in LANDING_SUFFIXES
        ]

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
