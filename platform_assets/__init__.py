"""platform_assets: an idempotent, asset-based ETL platform on Dagster."""
