"""The core: artifacts, fingerprints, checks, the ledger and the Publisher.

No Dagster and no storage imports: it declares the ports it needs
(:mod:`~platform_assets.core.metadata`, :mod:`~platform_assets.core.landing`) and the
storage layer implements them.
"""
