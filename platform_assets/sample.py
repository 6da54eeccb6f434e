"""``python -m platform_assets.sample``: the public name of :mod:`platform_assets.tools.sample`."""

from platform_assets.tools.sample import main

if __name__ == "__main__":
    raise SystemExit(main())
