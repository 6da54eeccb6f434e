"""Datasets: each module or package here lists what it declares in ``DECLARATIONS``
(:class:`~platform_assets.orchestration.declarations.Dataset` values, and marts over
several datasets); the code location is assembled from all of them, so adding a dataset
is adding a module here."""

import importlib
import pkgutil


def declarations() -> list:
    """Every declaration of every dataset module, in module name order."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found += list(getattr(module, "DECLARATIONS", ()))
    return found
