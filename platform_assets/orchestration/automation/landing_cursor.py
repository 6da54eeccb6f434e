"""The landing sensor's cursor: per day, a cheap change signature and the content checksum.

Locally the signature hashes file names, sizes and mtimes: a day whose
signature is unchanged is not read again; a day whose signature changed is
fingerprinted, and only a new content checksum leads to a run. On S3 both are
the key + size + ETag fingerprint (see ``LandingStore.change_signature``). A day
whose files are still changing (modified within the sensor's quiet period) is not
recorded, so a tick after it went quiet takes it.
"""

import json
from dataclasses import dataclass

from platform_assets.core.fingerprint import stat_signature

__all__ = ["DayState", "dump_cursor", "load_cursor", "stat_signature"]


@dataclass(frozen=True)
class DayState:
    """What the sensor last saw of one landing day."""

    stat: str
    checksum: str
    changes: int = 1  # how many content changes were requested for the day (run key suffix)


def load_cursor(raw: str | None) -> dict[str, DayState]:
    """Parse a cursor string (empty or missing means nothing seen yet)."""
    if not raw:
        return {}
    return {day: DayState(**state) for day, state in json.loads(raw).items()}


def dump_cursor(states: dict[str, DayState]) -> str:
    """Serialize the cursor deterministically."""
    return json.dumps(
        {
            day: {"stat": s.stat, "checksum": s.checksum, "changes": s.changes}
            for day, s in sorted(states.items())
        },
        separators=(",", ":"),
    )
