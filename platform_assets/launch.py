"""``python -m platform_assets.launch``: the public name of :mod:`platform_assets.tools.launch`."""

from platform_assets.tools.launch import main, run_as_command

if __name__ == "__main__":
    run_as_command(main)
