"""Benchmark harness (``make bench``): the platform against the raw-DuckDB floor and stock."""
