"""``python -m platform_assets.tools.verify``: name the published days whose rows changed
behind the platform's back (see :mod:`platform_assets.orchestration.drift`); exit 1
when there are any. ``python -m platform_assets.launch --repair`` recomputes them.
"""

from __future__ import annotations

import argparse
import datetime as dt

from platform_assets.orchestration.drift import overwrite_targets, verify_all


def main(argv: list[str] | None = None) -> int:
    """Print the drifted days; exit 1 when there are any."""
    from platform_assets.definitions import environment_definitions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    defs = environment_definitions()
    began = dt.datetime.now(dt.UTC)
    drifted = verify_all(defs)
    for item in drifted:
        print(item.describe())
    checked = ", ".join(t.dataset for t in overwrite_targets(defs))
    print(f"{len(drifted)} drifted day(s) in {checked} (verified at {began:%Y-%m-%d %H:%M:%SZ})")
    if drifted:
        print("repair: python -m platform_assets.launch --repair")
    return 1 if drifted else 0


if __name__ == "__main__":
    raise SystemExit(main())
