"""Commands: launch, sample, demo, ledger, verify and artifacts.

Run as ``python -m platform_assets.tools.<name>``; ``launch`` and ``sample`` also as
``python -m platform_assets.<name>``.
"""
