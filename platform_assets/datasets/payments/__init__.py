"""The payments dataset: CDC events of payments and refunds, merged into current state."""

from platform_assets.datasets.payments.assets import DECLARATIONS

__all__ = ["DECLARATIONS"]
