"""Stateless hashing and atomic file writes shared by the sample generators."""

import os
from pathlib import Path

import numpy as np
import polars as pl


def _mix(order_ids: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """A splitmix64 hash of (seed, salt, order_id): per-order attributes without state."""
    with np.errstate(over="ignore"):
        z = order_ids.astype(np.uint64) + np.uint64((seed * 1_000_003 + salt) % 2**64)
        z = z * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform_hash(order_ids: np.ndarray, seed: int, salt: int, low: int, high: int) -> np.ndarray:
    """A per-id integer in ``[low, high)`` derived from (seed, salt, id), without state."""
    span = np.uint64(high - low)
    return (_mix(order_ids, seed, salt) % span).astype(np.int64) + low


def write_atomic(frame: pl.DataFrame, path: Path, fmt: str) -> None:
    """Write ``frame`` as CSV or Parquet to a temp file, fsync it, rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    if fmt == "csv":
        frame.write_csv(tmp, datetime_format="%Y-%m-%d %H:%M:%S%.6f")
    else:
        frame.write_parquet(tmp, compression="zstd", statistics=False)
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
