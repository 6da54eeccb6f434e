"""platform_assets: an idempotent, asset-based ETL platform on Dagster."""

import warnings

# Dagster marks these parameters beta; the platform relies on them deliberately.
for _parameter in ("backfill_policy", "data_version"):
    warnings.filterwarnings("ignore", message=f"Parameter `{_parameter}` .* is currently in beta")
