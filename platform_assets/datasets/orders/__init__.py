"""The orders dataset: CDC events of an orders table, merged into current state."""

from platform_assets.datasets.orders.assets import DECLARATIONS

__all__ = ["DECLARATIONS"]
