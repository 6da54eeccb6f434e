"""The customers dataset: a full snapshot per day, published by overwriting the day."""

from platform_assets.datasets.customers.dataset import DECLARATIONS

__all__ = ["DECLARATIONS"]
