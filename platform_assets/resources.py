"""Resources shared by every dataset: the landing area."""

from pathlib import Path

import dagster as dg

from platform_assets.landing import LocalLanding


class LandingResource(dg.ConfigurableResource):
    """The landing area where CDC files are delivered (a local folder for now)."""

    root: str

    def store(self) -> LocalLanding:
        """The landing store to list and read files from."""
        return LocalLanding(Path(self.root))
