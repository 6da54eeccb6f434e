"""Benchmark inputs: seeded sample landing days, and copies of a system's state.

Inputs come from :func:`platform_assets.tools.sample.generate` (same seed, byte-identical
files) and are cached under the work directory, keyed by their spec.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from platform_assets.tools import sample
from platform_assets.tools.sample import SampleSpec, generate

# events per order on a day after the first (inserts, updates, deletes, duplicates,
# late updates and re-deliveries); the first day has a little fewer
EVENTS_PER_ORDER = 1.6
_MARKER = "bench-spec.json"


def orders_for(events_per_day: int) -> int:
    """``--orders-per-day`` that gives about ``events_per_day`` events a day."""
    return max(1, round(events_per_day / EVENTS_PER_ORDER))


def generator_version() -> str:
    """A hash of the sample generator's source: a changed generator regenerates the inputs."""
    digest = hashlib.sha256()
    for path in sorted(Path(sample.__file__).parent.glob("sample*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def prepare_landing(data_dir: Path, spec: SampleSpec, log) -> dict[str, object]:
    """Generate the sample days of ``spec`` under ``data_dir`` unless already there.

    Returns what was generated: the spec (with the generator's version) and events per day.
    """
    marker = data_dir / _MARKER
    wanted = {
        "start": spec.start.isoformat(),
        "days": spec.days,
        "orders_per_day": spec.orders_per_day,
        "seed": spec.seed,
        "generator": generator_version(),
    }
    if marker.exists():
        found = json.loads(marker.read_text())
        if found.get("spec") == wanted:
            return found
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    log(f"generating {spec.days} day(s) x {spec.orders_per_day:,} orders/day (seed {spec.seed})")
    info = {"spec": wanted, "events": generate(spec, data_dir)}
    marker.write_text(json.dumps(info, indent=1))
    return info


def new_state(root: Path, landing_from: Path, dagster_yaml: Path) -> Path:
    """A fresh system directory: ``data/`` (with the landing area linked in) and a Dagster home."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    (root / "data" / "landing").symlink_to((landing_from / "landing").resolve())
    (root / "dagster_home").mkdir()
    shutil.copy(dagster_yaml, root / "dagster_home" / "dagster.yaml")
    return root


def copy_state(source: Path, target: Path) -> Path:
    """Replace ``target`` by a copy of ``source`` (symlinks kept as links)."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=True)
    return target
