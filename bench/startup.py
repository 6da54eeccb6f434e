"""Start-up cost: importing the definitions against importing Dagster alone (issue 18).

Each import runs in a fresh interpreter (``python -c``) with the local settings, after one
warm-up of each so both read the page cache; the figure is the median wall time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "python": "pass",
    "dagster": "import dagster",
    "definitions": "import platform_assets.definitions",
    "code_location": (
        "from platform_assets.definitions import environment_definitions\n"
        "environment_definitions().get_repository_def()"
    ),
}


def _wall(code: str, env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True)
    return time.perf_counter() - began


def bench_imports(data_dir: Path, repeats: int) -> dict[str, float]:
    """Median seconds of a fresh ``python -c`` doing each of :data:`COMMANDS`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_", "AWS_"))}
    env |= {"PLATFORM_DATA_DIR": str(data_dir), "DAGSTER_DISABLE_TELEMETRY": "yes"}
    for code in COMMANDS.values():  # warm-up
        _wall(code, env)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(max(repeats, 5)):
        for name, code in COMMANDS.items():  # interleaved: load changes hit all alike
            times[name].append(_wall(code, env))
    return {f"{name}_s": statistics.median(values) for name, values in times.items()}
