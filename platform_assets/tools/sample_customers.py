"""Deterministic daily customer snapshots: every active customer, every day.

Each customer's attributes are a pure function of (seed, customer_id, day): a
base segment and country, with a few customers changing segment (and fewer
their country) on a given day; about 5% of customers join during the first
ten days after the sample start, and about 1% leave on a day of their own.
"""

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from platform_assets.tools.sample_common import uniform_hash, write_atomic

SEGMENTS = np.array(["consumer", "consumer", "consumer", "smb", "smb", "enterprise"])
COUNTRIES = np.array(["US", "GB", "DE", "FR", "NL", "ES", "IT", "SE"])
CHUNK_CUSTOMERS = 250_000


def customer_snapshot(customers: int, seed: int, start: dt.date, day_index: int) -> pl.DataFrame:
    """The snapshot of day ``start + day_index``: active customers with that day's attributes."""
    ids = np.arange(1, customers + 1, dtype=np.int64)
    day_code = (start - dt.date(2000, 1, 1)).days + day_index
    joins = uniform_hash(ids, seed, 101, 0, 100) < 5
    join_day = np.where(joins, uniform_hash(ids, seed, 102, 0, 10), 0)
    leaves = uniform_hash(ids, seed, 103, 0, 100) < 1
    leave_day = np.where(leaves, uniform_hash(ids, seed, 104, 1, 10), 1_000_000)
    active = (join_day <= day_index) & (day_index < leave_day)
    days = np.full(customers, day_code, dtype=np.int64)
    segment_shift = (uniform_hash(ids * 100_003 + days, seed, 105, 0, 100) < 3).astype(np.int64)
    segment = (uniform_hash(ids, seed, 106, 0, len(SEGMENTS)) + segment_shift) % len(SEGMENTS)
    country_shift = (uniform_hash(ids * 100_003 + days, seed, 107, 0, 1000) < 2).astype(np.int64)
    country = (uniform_hash(ids, seed, 108, 0, len(COUNTRIES)) + country_shift) % len(COUNTRIES)
    signup = np.where(joins, join_day, -uniform_hash(ids, seed, 109, 1, 730))
    frame = pl.DataFrame(
        {
            "customer_id": ids,
            "segment": SEGMENTS[segment],
            "country": COUNTRIES[country],
            "signup_date": pl.Series(signup, dtype=pl.Int64),
        }
    ).filter(pl.Series(active))
    start_offset = (start - dt.date(1970, 1, 1)).days
    return frame.with_columns((pl.col("signup_date") + start_offset).cast(pl.Date))


def write_customer_snapshot(spec, day_index: int, dest: Path) -> int:
    """Write one day's snapshot under ``landing/customers/dt=YYYY-MM-DD/``; return its rows."""
    day = spec.start + dt.timedelta(days=day_index)
    folder = dest / "landing" / "customers" / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    snapshot = customer_snapshot(spec.customers, spec.seed, spec.start, day_index)
    for number, first in enumerate(range(0, max(snapshot.height, 1), CHUNK_CUSTOMERS), start=1):
        name = f"customers-{day:%Y%m%d}-{number:05d}.{spec.fmt}"
        write_atomic(snapshot.slice(first, CHUNK_CUSTOMERS), folder / name, spec.fmt)
    return snapshot.height
