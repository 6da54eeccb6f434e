"""Storage adapters: the DuckDB warehouse, the local and S3 landing areas and lakes,
Delta tables on S3, and the run-metadata databases (DuckDB, PostgreSQL). No Dagster imports.
"""
