"""Deterministic generator of AWS DMS-style CDC files for the orders dataset.

Usage::

    python -m platform_assets.sample --start 2024-01-01 --days 7 \
        --orders-per-day 1000 --seed 42 [--dest DIR] [--format csv|parquet]

Each day gets several files under ``landing/orders/dt=YYYY-MM-DD/`` with what
real CDC feeds deliver: inserts, updates and deletes (``op`` I/U/D); the same
event delivered twice, also across files and again on a later day; events out
of order within a file; late updates to orders created on earlier days; and
``updated_at`` ties that only ``seq`` breaks. Same arguments give
byte-identical files. Orders are generated in chunks, so memory stays bounded
whatever ``--orders-per-day`` is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from platform_assets.core.partition_keys import validate_partition_key
from platform_assets.settings import load_settings
from platform_assets.tools.sample_common import uniform_hash, write_atomic
from platform_assets.tools.sample_customers import write_customer_snapshot
from platform_assets.tools.sample_payments import write_payments

CDC_COLUMNS = [
    "op",
    "seq",
    "order_id",
    "customer_id",
    "status",
    "amount",
    "currency",
    "created_at",
    "updated_at",
]
SAME_DAY_STATUSES = np.array(["paid", "shipped", "cancelled"])
LATE_STATUSES = np.array(["delivered", "refunded"])
CURRENCIES = np.array(["USD", "EUR", "GBP"])
CUSTOMERS = 100_000
MAX_CHUNK_ORDERS = 250_000
MIN_FILES_PER_DAY = 3
EPOCH = dt.date(2000, 1, 1)
ORDER_ID_STRIDE = 10_000_000
SEQ_DAY_STRIDE = 10**11
US_PER_DAY = 86_400 * 10**6
UNIX_OFFSET_US = (EPOCH - dt.date(1970, 1, 1)).days * US_PER_DAY
UPDATE_RATE = 0.5
TIE_RATE = 0.1
DELETE_PER_MILLE = 30
DUPLICATE_RATE = 0.02
LATE_UPDATE_RATE = 0.05
REDELIVERY_RATE = 0.01
LATE_LOOKBACK_DAYS = 3


@dataclass(frozen=True)
class SampleSpec:
    """Arguments of one generation: what to write and from which seed."""

    start: dt.date
    days: int
    orders_per_day: int
    seed: int
    fmt: str = "csv"
    with_customers: bool = True  # also the other datasets: customer snapshots, payments

    @property
    def chunk_orders(self) -> int:
        """Orders per chunk: at least three files a day, at most 250k orders each."""
        return max(1, min(MAX_CHUNK_ORDERS, math.ceil(self.orders_per_day / MIN_FILES_PER_DAY)))

    @property
    def customers(self) -> int:
        """Size of the customer universe: one customer per daily order, 200 to 100k."""
        return min(CUSTOMERS, max(200, self.orders_per_day))

    @property
    def chunks_per_day(self) -> int:
        """Number of order chunks (and so of main files) per day."""
        return math.ceil(self.orders_per_day / self.chunk_orders)


def _day_code(day: dt.date) -> int:
    return (day - EPOCH).days


def _rng(seed: int, *parts: int) -> np.random.Generator:
    return np.random.default_rng([seed, *parts])


def _orders(order_ids: np.ndarray, seed: int, customers: int) -> dict[str, np.ndarray]:
    """The immutable attributes of orders, each a pure function of (seed, order_id)."""
    day_code = order_ids // ORDER_ID_STRIDE
    created = day_code * US_PER_DAY + uniform_hash(order_ids, seed, 1, 0, 78_000 * 10**6)
    return {
        "order_id": order_ids,
        "customer_id": uniform_hash(order_ids, seed, 2, 1, customers + 1),
        "cents": uniform_hash(order_ids, seed, 3, 500, 50_000),
        "created_us": created,
    }


def _events(orders: dict[str, np.ndarray], mask, op, seq, status, updated) -> pl.DataFrame:
    count = int(mask.sum())
    return pl.DataFrame(
        {
            "op": np.full(count, op),
            "seq": seq[mask],
            "order_id": orders["order_id"][mask],
            "customer_id": orders["customer_id"][mask],
            "status": np.broadcast_to(status, mask.shape)[mask],
            "cents": orders["cents"][mask],
            "created_us": orders["created_us"][mask],
            "updated_us": updated[mask],
        }
    )


def _chunk_events(spec: SampleSpec, day: dt.date, chunk: int) -> pl.DataFrame:
    """All same-day I/U/D events of the orders created in one chunk of one day."""
    first = chunk * spec.chunk_orders
    count = min(spec.chunk_orders, spec.orders_per_day - first)
    local = np.arange(first, first + count, dtype=np.int64)
    ids = _day_code(day) * ORDER_ID_STRIDE + local
    orders = _orders(ids, spec.seed, spec.customers)
    created = orders["created_us"]
    seq_base = _day_code(day) * SEQ_DAY_STRIDE + local * 4
    has_update = uniform_hash(ids, spec.seed, 4, 0, 1000) < UPDATE_RATE * 1000
    tie = uniform_hash(ids, spec.seed, 5, 0, 1000) < TIE_RATE * 1000
    update_at = np.where(tie, created, created + uniform_hash(ids, spec.seed, 6, 1, 3_600 * 10**6))
    status = SAME_DAY_STATUSES[uniform_hash(ids, spec.seed, 7, 0, len(SAME_DAY_STATUSES))]
    deleted = uniform_hash(ids, spec.seed, 8, 0, 1000) < DELETE_PER_MILLE
    delete_at = np.maximum(created, update_at) + uniform_hash(ids, spec.seed, 9, 1, 3_600 * 10**6)
    everyone = np.ones(count, dtype=bool)
    return pl.concat(
        [
            _events(orders, everyone, "I", seq_base, np.array("placed"), created),
            _events(orders, has_update, "U", seq_base + 1, status, update_at),
            _events(orders, deleted, "D", seq_base + 2, status, delete_at),
        ]
    )


def _late_updates(spec: SampleSpec, day_index: int, chunk: int) -> pl.DataFrame:
    """Status changes on ``day`` to orders created on the previous few days."""
    if day_index == 0:
        return _empty_events()
    day = spec.start + dt.timedelta(days=day_index)
    rng = _rng(spec.seed, _day_code(day), chunk, 1)
    count = max(1, int(spec.chunk_orders * LATE_UPDATE_RATE))
    target_day = rng.integers(max(0, day_index - LATE_LOOKBACK_DAYS), day_index, count)
    target_code = _day_code(spec.start) + target_day
    ids = target_code * ORDER_ID_STRIDE + rng.integers(0, spec.orders_per_day, count)
    live = uniform_hash(ids, spec.seed, 8, 0, 1000) >= DELETE_PER_MILLE
    orders = _orders(ids, spec.seed, spec.customers)
    seq = (
        _day_code(day) * SEQ_DAY_STRIDE
        + spec.orders_per_day * 4
        + chunk * spec.chunk_orders
        + np.arange(count, dtype=np.int64)
    )
    status = LATE_STATUSES[rng.integers(0, len(LATE_STATUSES), count)]
    updated = _day_code(day) * US_PER_DAY + rng.integers(0, US_PER_DAY, count)
    return _events(orders, live, "U", seq, status, updated)


def _redeliveries(spec: SampleSpec, day_index: int) -> pl.DataFrame:
    """Events of the previous day delivered again (a DMS task restart)."""
    if day_index == 0:
        return _empty_events()
    previous = spec.start + dt.timedelta(days=day_index - 1)
    events = _chunk_events(spec, previous, 0)
    rng = _rng(spec.seed, _day_code(previous), 0, 3)
    return events.filter(pl.Series(rng.random(events.height) < REDELIVERY_RATE))


def _empty_events() -> pl.DataFrame:
    return _chunk_events(SampleSpec(EPOCH, 1, 1, 0), EPOCH, 0).clear()


def _to_cdc(events: pl.DataFrame) -> pl.DataFrame:
    """Internal integer columns to the DMS file layout, in the contract column order."""
    micros = pl.Datetime("us")
    return events.select(
        "op",
        "seq",
        "order_id",
        "customer_id",
        "status",
        (pl.col("cents").cast(pl.Decimal(18, 2)) / 100).cast(pl.Decimal(18, 2)).alias("amount"),
        currency=pl.lit(pl.Series(CURRENCIES)).get(pl.col("customer_id") % len(CURRENCIES)),
        created_at=(pl.col("created_us") + UNIX_OFFSET_US).cast(micros),
        updated_at=(pl.col("updated_us") + UNIX_OFFSET_US).cast(micros),
    ).select(CDC_COLUMNS)


def _shuffled(events: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    return events[rng.permutation(events.height)] if events.height else events


def generate_day(spec: SampleSpec, day_index: int, dest: Path, progress=None) -> tuple[int, int]:
    """Write one day's CDC files under ``dest``; return (files written, events)."""
    day = spec.start + dt.timedelta(days=day_index)
    folder = dest / "landing" / "orders" / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    files = events_total = 0
    carried = _empty_events()
    for chunk in range(spec.chunks_per_day):
        rng = _rng(spec.seed, _day_code(day), chunk, 4)
        events = pl.concat([_chunk_events(spec, day, chunk), _late_updates(spec, day_index, chunk)])
        duplicates = events.filter(pl.Series(rng.random(events.height) < DUPLICATE_RATE))
        body = _shuffled(pl.concat([events, carried]), rng)
        name = f"cdc-{day:%Y%m%d}-{chunk + 1:05d}.{spec.fmt}"
        write_atomic(_to_cdc(body), folder / name, spec.fmt)
        carried = duplicates
        files += 1
        events_total += body.height
        if progress:
            progress(day, chunk + 1, spec.chunks_per_day, events_total)
    tail = _shuffled(pl.concat([carried, _redeliveries(spec, day_index)]), _rng(spec.seed, 0, 5))
    name = f"cdc-{day:%Y%m%d}-{spec.chunks_per_day + 1:05d}.{spec.fmt}"
    write_atomic(_to_cdc(tail), folder / name, spec.fmt)
    return files + 1, events_total + tail.height


def generate(spec: SampleSpec, dest: Path, progress=None) -> dict[str, int]:
    """Write every day of ``spec`` under ``dest``; return events per partition key."""
    written = {}
    for day_index in range(spec.days):
        day = spec.start + dt.timedelta(days=day_index)
        _, events = generate_day(spec, day_index, dest, progress)
        if spec.with_customers:
            write_customer_snapshot(spec, day_index, dest)
            write_payments(
                spec,
                day_index,
                dest,
                lambda ids: _orders(ids, spec.seed, spec.customers),
                CURRENCIES,
            )
        written[day.isoformat()] = events
    return written


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Generate deterministic DMS-style order CDC files."
    )
    parser.add_argument("--start", default="2024-01-01", help="first day, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--orders-per-day", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dest", type=Path, default=None, help="data root (PLATFORM_DATA_DIR)")
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument(
        "--if-empty", action="store_true", help="do nothing if landing/orders already has data"
    )
    args = parser.parse_args(argv)
    if args.days < 1 or args.orders_per_day < 1:
        parser.error("--days and --orders-per-day must be positive")
    if args.orders_per_day >= ORDER_ID_STRIDE:
        parser.error(f"--orders-per-day must be below {ORDER_ID_STRIDE:,}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    args = _parse_args(argv)
    spec = SampleSpec(
        start=validate_partition_key(args.start),
        days=args.days,
        orders_per_day=args.orders_per_day,
        seed=args.seed,
        fmt=args.format,
    )
    dest = args.dest.resolve() if args.dest else load_settings().data_dir
    landing = dest / "landing" / "orders"
    if args.if_empty and landing.is_dir() and any(landing.iterdir()):
        print(f"{landing} already has data; not generating samples")
        return 0
    started = time.monotonic()
    verbose = spec.chunks_per_day > MIN_FILES_PER_DAY

    def progress(day, chunk, chunks, events):
        if verbose:
            print(f"  {day}: chunk {chunk}/{chunks}, {events:,} events", file=sys.stderr)

    for key, events in generate(spec, dest, progress).items():
        print(f"{key}: {events:,} events -> {dest / 'landing' / 'orders' / ('dt=' + key)}")
    print(f"done in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
