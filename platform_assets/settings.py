"""Runtime settings: the only module that reads environment variables."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_START_DATE = "2024-01-01"
S3_RETRY_MODES = ("standard", "adaptive")


@dataclass(frozen=True)
class Settings:
    """Where the platform keeps its data and how it is configured.

    Built from the environment by :func:`load_settings`; nothing else in the
    package reads ``os.environ``.
    """

    data_dir: Path
    storage: str
    start_date: str
    s3_bucket: str | None
    s3_prefix: str
    s3_endpoint_url: str | None
    warehouse_lock_timeout_s: float
    sensor_interval_s: int
    landing_quiet_s: float
    artifact_retention_days: float
    max_partitions_per_run: int
    s3_max_attempts: int
    s3_retry_mode: str
    s3_connect_timeout_s: float
    s3_read_timeout_s: float
    ledger_url: str | None = None

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB warehouse file."""
        return self.data_dir / "warehouse.duckdb"

    @property
    def landing_dir(self) -> Path:
        """Root of the landing area (raw CDC files)."""
        return self.data_dir / "landing"

    @property
    def lake_dir(self) -> Path:
        """Root of the lake (staging Parquet partitions)."""
        return self.data_dir / "lake"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (defaults to ``os.environ``)."""
    env = os.environ if environ is None else environ
    storage = env.get("PLATFORM_STORAGE", "local").strip().lower()
    if storage not in {"local", "s3"}:
        raise ValueError(f"PLATFORM_STORAGE must be 'local' or 's3', got {storage!r}")
    if storage == "s3" and not env.get("PLATFORM_S3_BUCKET"):
        raise ValueError("PLATFORM_STORAGE=s3 requires PLATFORM_S3_BUCKET")
    s3_retry_mode = env.get("PLATFORM_S3_RETRY_MODE", "standard").strip().lower()
    if s3_retry_mode not in S3_RETRY_MODES:
        raise ValueError(
            f"PLATFORM_S3_RETRY_MODE must be one of {S3_RETRY_MODES}, got {s3_retry_mode!r}"
        )
    # Local files may be half-written; S3 lists an object only once it is complete.
    quiet_default = "10" if storage == "local" else "0"
    # A local tick reads only changed days (a stat signature); on S3 each tick lists objects.
    interval_default = "10" if storage == "local" else "30"
    landing_quiet_s = float(env.get("PLATFORM_LANDING_QUIET_S", quiet_default))
    if not math.isfinite(landing_quiet_s) or landing_quiet_s < 0:
        raise ValueError(
            "PLATFORM_LANDING_QUIET_S must be a non-negative number of seconds, "
            f"got {landing_quiet_s}"
        )
    retention = float(env.get("PLATFORM_ARTIFACT_RETENTION_DAYS", "7"))
    if not math.isfinite(retention) or retention < 0:
        raise ValueError(
            f"PLATFORM_ARTIFACT_RETENTION_DAYS must be a non-negative number, got {retention}"
        )
    s3_max_attempts = int(env.get("PLATFORM_S3_MAX_ATTEMPTS", "5"))
    if s3_max_attempts < 1:
        raise ValueError(f"PLATFORM_S3_MAX_ATTEMPTS must be at least 1, got {s3_max_attempts}")
    return Settings(
        data_dir=Path(env.get("PLATFORM_DATA_DIR", "./data")).expanduser().resolve(),
        storage=storage,
        start_date=env.get("PLATFORM_START_DATE", DEFAULT_START_DATE),
        s3_bucket=env.get("PLATFORM_S3_BUCKET") or None,
        s3_prefix=env.get("PLATFORM_S3_PREFIX", "").strip("/"),
        s3_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        warehouse_lock_timeout_s=float(env.get("PLATFORM_WAREHOUSE_LOCK_TIMEOUT_S", "120")),
        sensor_interval_s=int(env.get("PLATFORM_SENSOR_INTERVAL_S", interval_default)),
        landing_quiet_s=landing_quiet_s,
        artifact_retention_days=retention,
        max_partitions_per_run=int(env.get("PLATFORM_MAX_PARTITIONS_PER_RUN", "31")),
        s3_max_attempts=s3_max_attempts,
        s3_retry_mode=s3_retry_mode,
        s3_connect_timeout_s=float(env.get("PLATFORM_S3_CONNECT_TIMEOUT_S", "10")),
        s3_read_timeout_s=float(env.get("PLATFORM_S3_READ_TIMEOUT_S", "30")),
        ledger_url=env.get("PLATFORM_LEDGER_URL", "").strip() or None,
    )
