"""The landing area in a local folder: raw CDC files per dataset and day, as delivered.

Symbolic links are never followed: a link in a day folder, or a day folder that is a
link, is listed as a refused entry (never read); a dataset folder that is a link is
refused as a whole (:class:`LandingRefused`). So nothing outside the landing root is read.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from platform_assets.core.fingerprint import (
    fingerprint_contents,
    fingerprint_files,
    open_landing_file,
    stat_signature,
)
from platform_assets.core.landing import (
    DaySnapshot,
    LandingChanged,
    LandingRefused,
    is_landing_name,
    read_problem,
)
from platform_assets.core.partition_keys import validate_partition_key

LINK = "symbolic link; links are not followed, deliver the file itself"
DAY_LINK = "day folder is a symbolic link; links are not followed, deliver the files themselves"
NOT_REGULAR = "not a regular file (a FIFO, socket or device); deliver the file itself"
HARD_LINK = (
    "hard link (the file has {links} names, one may be outside the landing area); deliver "
    "a file of its own"
)
BAD_NAME = "file name is not valid UTF-8 (shown with \\x escapes); rename the file"
UNREADABLE = read_problem(PermissionError(errno.EACCES, os.strerror(errno.EACCES)))


@dataclass(frozen=True)
class LandingFile:
    """One delivered file: its name within the day's folder, path, size, and the problem
    that refuses it (see :class:`platform_assets.core.landing.LandingEntry`)."""

    name: str
    path: Path
    size: int
    problem: str = ""

    @property
    def modified(self) -> dt.datetime:
        """The file's mtime in UTC (a link's own: a link is never followed)."""
        return dt.datetime.fromtimestamp(os.lstat(self.path).st_mtime, dt.UTC)

    def read_bytes(self) -> bytes:
        """The file's content (a symbolic link is refused with ``ELOOP``)."""
        with open_landing_file(self.path) as handle:
            return handle.read()


class LocalLanding:
    """Landing files under ``<root>/<dataset>/dt=YYYY-MM-DD/`` on the local disk."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def dataset_folder(self, dataset: str) -> Path:
        """The folder of one dataset; :class:`LandingRefused` if it is a symbolic link."""
        folder = self.root / dataset
        if folder.is_symlink():
            raise LandingRefused(
                f"landing folder {folder} is a symbolic link; links are not followed: keep "
                f"the {dataset} folder itself in the landing area (no day is read or withdrawn)"
            )
        return folder

    def day_folder(self, dataset: str, partition_key: str) -> Path:
        """The folder of one day of one dataset (the key is validated first)."""
        validate_partition_key(partition_key)
        return self.dataset_folder(dataset) / f"dt={partition_key}"

    def files(self, dataset: str, partition_key: str) -> list[LandingFile]:
        """The day's data files in name order (hidden and temporary files and nested
        folders are ignored); links and files that cannot be read are refused entries."""
        folder = self.day_folder(dataset, partition_key)
        if folder.is_symlink():
            return [LandingFile(folder.name, folder, 0, DAY_LINK)]
        if not folder.is_dir():
            return []
        try:
            with os.scandir(folder) as entries:
                found = [_entry(e) for e in entries if is_landing_name(e.name)]
        except OSError as exc:  # refused as a whole: the day is blocked, no other day is
            return [LandingFile(folder.name, folder, 0, f"day folder {read_problem(exc)}")]
        return sorted((f for f in found if f), key=lambda f: f.name)

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
            if entry.problem:  # refused: listed, never read
                contents.append((entry, b""))
                continue
            try:
                before = _stat(entry.path)
                data = entry.read_bytes()
                after = _stat(entry.path)
            except FileNotFoundError as exc:
                raise LandingChanged(
                    f"landing file {entry.path} disappeared while the day was read; rerun the day"
                ) from exc
            except OSError as exc:
                raise LandingChanged(
                    f"landing file {entry.path} {read_problem(exc)} although it was listed as "
                    "readable; rerun the day"
                ) from exc
            if before != after or len(data) != after[0]:
                raise LandingChanged(
                    f"landing file {entry.path} changed while it was read ({len(data)} bytes "
                    f"read, size {before[0]} -> {after[0]}); it is still being written: rerun "
                    "the day once the delivery is complete"
                )
            contents.append((LandingFile(entry.name, entry.path, len(data)), data))
        checksum = fingerprint_contents(contents)
        read = [entry for entry, _ in contents]
        return DaySnapshot(dataset, partition_key, contents, checksum, stat_signature(read))

    def unchanged_since(self, snapshot: DaySnapshot) -> bool:
        """Same file names, sizes and modification times as when the snapshot was read."""
        files = self.files(snapshot.dataset, snapshot.partition)
        return stat_signature(files) == snapshot.signature

    def partition_keys(self, dataset: str) -> list[str]:
        """Days that have a folder (or a link in its place), in order; folders that are not
        dates are ignored."""
        base = self.dataset_folder(dataset)
        if not base.is_dir():
            return []
        keys = []
        for child in sorted(base.iterdir()):
            key = child.name.removeprefix("dt=")
            if (child.is_dir() or child.is_symlink()) and child.name.startswith("dt="):
                try:
                    validate_partition_key(key)
                except ValueError:
                    continue
                keys.append(key)
        return keys


def _entry(found: os.DirEntry) -> LandingFile | None:
    """The landing file of a folder entry, with its problem if refused; None for a folder."""
    path, info = Path(found.path), found.stat(follow_symlinks=False)
    if stat.S_ISDIR(info.st_mode):
        return None
    name = os.fsencode(found.name).decode("utf-8", "backslashreplace")
    if stat.S_ISLNK(info.st_mode):
        problem = LINK
    elif not stat.S_ISREG(info.st_mode):
        problem = NOT_REGULAR
    elif name != found.name:
        problem = BAD_NAME
    elif info.st_nlink > 1:
        problem = HARD_LINK.format(links=info.st_nlink)
    elif not os.access(path, os.R_OK, effective_ids=True):
        problem = UNREADABLE
    else:
        return LandingFile(name, path, info.st_size)
    return LandingFile(name, path, 0, problem)


def _stat(path: Path) -> tuple[int, int]:
    """(size, mtime in ns) of a file (a link's own, never its target's)."""
    found = os.lstat(path)
    return found.st_size, found.st_mtime_ns
