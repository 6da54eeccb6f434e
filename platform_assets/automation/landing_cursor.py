"""The landing sensor's cursor: per day, a cheap stat signature and the content checksum.

A day whose file names, sizes and mtimes are unchanged is not read again; a
day whose stat signature changed is fingerprinted, and only a new content
checksum leads to a run.
"""

import json
from dataclasses import dataclass

import xxhash

from platform_assets.landing import LandingFile


@dataclass(frozen=True)
class DayState:
    """What the sensor last saw of one landing day."""

    stat: str
    checksum: str


def stat_signature(files: list[LandingFile]) -> str:
    """A hash of the day's file names, sizes and mtimes (no content read)."""
    digest = xxhash.xxh3_64()
    for file in sorted(files, key=lambda f: f.name):
        digest.update(f"{file.name}\0{file.size}\0{file.path.stat().st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load_cursor(raw: str | None) -> dict[str, DayState]:
    """Parse a cursor string (empty or missing means nothing seen yet)."""
    if not raw:
        return {}
    return {day: DayState(**state) for day, state in json.loads(raw).items()}


def dump_cursor(states: dict[str, DayState]) -> str:
    """Serialize the cursor deterministically."""
    return json.dumps(
        {day: {"stat": s.stat, "checksum": s.checksum} for day, s in sorted(states.items())},
        separators=(",", ":"),
    )
