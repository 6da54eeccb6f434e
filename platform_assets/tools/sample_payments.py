"""Deterministic payment CDC files: a payment for every order on the day it is placed, and
a refund of about 3% of the previous day's orders, each a pure function of (seed, order).

Payment ids are ``2 * order_id`` (payments) and ``2 * order_id + 1`` (refunds); amounts and
currencies are the orders' (:func:`platform_assets.tools.sample.order_attributes`).
"""

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from platform_assets.tools.sample_common import uniform_hash, write_atomic

REFUND_PER_MILLE = 30
US_PER_SECOND = 10**6
PAYMENT_COLUMNS = [
    "op",
    "seq",
    "payment_id",
    "order_id",
    "kind",
    "amount",
    "currency",
    "created_at",
    "updated_at",
]


def payment_events(spec, day_index: int, attributes, currencies) -> pl.DataFrame:
    """The payment events of day ``spec.start + day_index`` (see the module docstring).

    ``attributes(order_ids)``: the orders' attributes (cents, customer, created_us).
    """
    from platform_assets.tools.sample import EPOCH, ORDER_ID_STRIDE, UNIX_OFFSET_US, US_PER_DAY

    day = spec.start + dt.timedelta(days=day_index)
    day_code = (day - EPOCH).days
    local = np.arange(spec.orders_per_day, dtype=np.int64)
    today = attributes(day_code * ORDER_ID_STRIDE + local)
    delay = uniform_hash(today["order_id"], spec.seed, 201, 1, 1800) * US_PER_SECOND
    frames = [_events(today, today["order_id"] * 2, "payment", today["created_us"] + delay)]
    if day_index > 0:
        before = attributes((day_code - 1) * ORDER_ID_STRIDE + local)
        refunded = uniform_hash(before["order_id"], spec.seed, 202, 0, 1000) < REFUND_PER_MILLE
        chosen = {k: v[refunded] for k, v in before.items()}
        second = uniform_hash(chosen["order_id"], spec.seed, 203, 0, 86_000)
        at = day_code * US_PER_DAY + second * US_PER_SECOND
        frames.append(_events(chosen, chosen["order_id"] * 2 + 1, "refund", at))
    events = pl.concat(frames)
    micros = pl.Datetime("us")
    return (
        events.with_columns(
            op=pl.lit("I"),
            seq=pl.col("payment_id") + day_code * 10**12,
            amount=(pl.col("cents").cast(pl.Decimal(18, 2)) / 100).cast(pl.Decimal(18, 2)),
            currency=pl.lit(pl.Series(currencies)).get(pl.col("customer_id") % len(currencies)),
            created_at=(pl.col("at_us") + UNIX_OFFSET_US).cast(micros),
        )
        .with_columns(updated_at=pl.col("created_at"))
        .select(PAYMENT_COLUMNS)
        .sort("payment_id")
    )


def _events(orders, payment_ids: np.ndarray, kind: str, at_us: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "payment_id": payment_ids,
            "order_id": orders["order_id"],
            "kind": np.full(len(payment_ids), kind),
            "cents": orders["cents"],
            "customer_id": orders["customer_id"],
            "at_us": at_us,
        }
    )


def write_payments(spec, day_index: int, dest: Path, attributes, currencies) -> int:
    """Write one day's payment events under ``landing/payments/dt=YYYY-MM-DD/``."""
    day = spec.start + dt.timedelta(days=day_index)
    folder = dest / "landing" / "payments" / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    events = payment_events(spec, day_index, attributes, currencies)
    write_atomic(events, folder / f"payments-{day:%Y%m%d}-00001.{spec.fmt}", spec.fmt)
    return events.height
