"""File-level rejects on S3 (issue 17, item 5): an object S3 refuses to return (here:
archived in Glacier, 403 InvalidObjectState) is one quarantine row; the rest publishes."""

import datetime as dt

import dagster as dg

from platform_assets.definitions import build_definitions
from platform_assets.tools.launch import describe, launch_job
from tests.aws.test_pipeline_on_s3 import PREFIX, delta_store
from tests.test_bad_files import BAD_DAY, DAYS, orders

ARCHIVED = f"{PREFIX}/landing/orders/dt={BAD_DAY}/archived.csv"
REASON = (
    "cannot be read: The operation is not valid for the object's storage class (InvalidObjectState)"
)


def curated(settings) -> list[tuple]:
    frame = delta_store(settings).read("curated.orders")
    return frame.sort(frame.columns).rows()


def test_an_object_s3_refuses_to_return_is_one_quarantine_row(s3_settings, s3, bucket):
    for n, day in enumerate(DAYS):
        key = f"{PREFIX}/landing/orders/dt={day}/cdc-1.csv"
        s3.put_object(Bucket=bucket, Key=key, Body=orders(day, 1000 * (n + 1)).encode())
    defs, instance = build_definitions(s3_settings), dg.DagsterInstance.ephemeral()
    assert launch_job("orders_daily_job", DAYS, instance, definitions=defs).success
    before = curated(s3_settings)
    body = orders(BAD_DAY, 9000).encode()
    s3.put_object(Bucket=bucket, Key=ARCHIVED, Body=body, StorageClass="GLACIER")

    launched = launch_job("orders_daily_job", DAYS, instance, definitions=defs)
    assert launched.success, describe(launched)
    assert launched.plan.assets[0].todo == [BAD_DAY]
    quarantine = delta_store(s3_settings).read("quarantine.orders")
    assert quarantine.select("landing_date", "source_file", "line", "reason", "raw").rows() == [
        (dt.date.fromisoformat(BAD_DAY), "archived.csv", 0, REASON, "")
    ]
    assert curated(s3_settings) == before
    logs = [e.user_message for run in launched.runs for e in instance.all_logs(run.run_id)]
    assert any("archived.csv" in line and REASON in line for line in logs)

    # restored: the same bytes (the same ETag), readable; the next launch stages them
    s3.put_object(Bucket=bucket, Key=ARCHIVED, Body=body)
    restored = launch_job("orders_daily_job", DAYS, instance, definitions=defs)
    assert restored.success and restored.plan.assets[0].todo == [BAD_DAY]
    assert len(curated(s3_settings)) == 4 * 60
    assert delta_store(s3_settings).read("quarantine.orders").is_empty()
