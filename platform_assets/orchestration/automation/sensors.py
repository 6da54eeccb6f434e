"""The landing sensor: one run per range of consecutive landing days whose content changed
and has gone quiet."""

import datetime as dt
import hashlib

import dagster as dg

from platform_assets.core.landing import LandingRefused
from platform_assets.core.partition_keys import day_ranges
from platform_assets.orchestration.automation.landing_cursor import (
    DayState,
    dump_cursor,
    load_cursor,
)
from platform_assets.orchestration.partitions import (
    RANGE_END,
    RANGE_START,
    name_keys,
    partition_range,
)
from platform_assets.orchestration.resources import LandingResource


def changed_days(
    landing: LandingResource,
    dataset: str,
    valid_keys: set[str],
    cursor: dict[str, DayState],
    *,
    now: dt.datetime,
    quiet_s: float,
) -> tuple[list[tuple[str, str]], dict[str, DayState], dict[str, float], list[str]]:
    """(day, new checksum) for each day whose content changed, the next cursor, the
    changed days still changing (day -> seconds since its newest file was modified), and
    the landing days outside ``valid_keys`` (never requested).

    A day whose newest file was modified less than ``quiet_s`` before ``now`` (UTC) is
    neither requested nor recorded in the cursor: a tick after it went quiet takes it.
    A day seen before whose folder is gone was withdrawn: it is requested (checksum
    ``empty``), so its contributions are retracted.
    """
    store = landing.store()
    requests, next_cursor, waiting, outside = [], dict(cursor), {}, []
    listed = store.files_by_day(dataset)
    for day in cursor.keys() - listed.keys():  # a withdrawn day: its folder is gone
        listed[day] = []
    for day, files in sorted(listed.items()):
        if day not in valid_keys:
            outside.append(day)
            continue
        stat = store.change_signature(files)
        seen = cursor.get(day)
        if seen and seen.stat == stat:
            continue
        if quiet_s and files:
            age = (now - max(file.modified for file in files)).total_seconds()
            if age < quiet_s:
                waiting[day] = age
                continue
        checksum = store.fingerprint(files)
        changed = not seen or seen.checksum != checksum
        changes = (seen.changes if seen else 0) + (1 if changed else 0)
        next_cursor[day] = DayState(stat, checksum, changes)
        if changed:
            requests.append((day, checksum))
    return requests, next_cursor, waiting, outside


def day_key(day: str, state: DayState) -> str:
    """A day's run key part: ``<day>:<checksum>`` and, from its second change on, the
    change count (a day that goes back to earlier files, A -> B -> A, gets a new key,
    which the daemon does not drop as already launched)."""
    suffix = f":{state.changes}" if state.changes > 1 else ""
    return f"{day}:{state.checksum}{suffix}"


def landing_requests(
    changed: list[str], cursor: dict[str, DayState], max_days: int
) -> list[dg.RunRequest]:
    """One run request per range of consecutive changed days (at most ``max_days`` each).

    A single day keeps the key ``<day>:<checksum>[:<n-th change>]``; a range's key is
    ``<first>..<last>:<digest of its days' keys>``, so the same change never runs twice.
    """
    requests = []
    for first, last in day_ranges(changed, max_days):
        keys = [day_key(day, cursor[day]) for day in changed if first <= day <= last]
        trigger = {"platform/trigger": "landing_sensor"}
        if first == last:
            tags = {**trigger, "platform/input_checksum": cursor[first].checksum}
            requests.append(dg.RunRequest(run_key=keys[0], partition_key=first, tags=tags))
            continue
        # a range's days each have their input checksum (in the ledger and the metadata)
        digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
        tags = {**trigger, RANGE_START: first, RANGE_END: last}
        requests.append(dg.RunRequest(run_key=f"{first}..{last}:{digest}", tags=tags))
    return requests


def build_landing_sensor(
    name: str, dataset: str, job, interval_s: int, quiet_s: float, max_days: int
) -> dg.SensorDefinition:
    """A sensor that watches ``landing/<dataset>/`` and runs ``job`` for changed days.

    A changed day is requested once its files have not been modified for ``quiet_s``
    seconds (a local file may still be being written; an S3 object appears whole);
    consecutive changed days are one run over their range (at most ``max_days`` days).
    Landing days outside the partitions are never requested; each tick names them.
    """

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Watches landing/{dataset}/dt=YYYY-MM-DD/ every {interval_s}s and launches "
            f"{job.name} for the days whose files changed (content checksum) and then stayed "
            f"unmodified for {quiet_s:g}s: one run per range of consecutive such days (at most "
            f"{max_days}), with run key '<day>:<checksum>[:<n-th change>]' for a single day and "
            "'<first>..<last>:<digest>' for a range, so the same change never runs twice."
        ),
    )
    def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
        partitions = job.partitions_def
        valid = set(partitions.get_partition_keys(dynamic_partitions_store=context.instance))
        cursor = load_cursor(context.cursor)
        try:
            requests, next_cursor, waiting, outside = changed_days(
                landing, dataset, valid, cursor, now=dt.datetime.now(dt.UTC), quiet_s=quiet_s
            )
        except LandingRefused as exc:  # nothing of the dataset is read, nor withdrawn
            context.log.error(str(exc))
            yield dg.SkipReason(str(exc))
            return
        skipped = ""
        if outside:
            skipped = (
                f"landing/{dataset} {name_keys([f'dt={day}' for day in outside])}: outside the "
                f"partitions {partition_range(partitions)}; not requested"
            )
            context.log.warning(skipped)
        for day, age in waiting.items():
            context.log.info(
                f"landing/{dataset} {day}: files still changing (newest modified {age:.1f}s ago, "
                f"quiet period {quiet_s:g}s); waiting"
            )
        for day, checksum in requests:
            context.log.info(f"landing/{dataset} {day} changed: {checksum}")
        yield from landing_requests([day for day, _ in requests], next_cursor, max_days)
        if waiting and not requests:
            message = f"landing/{dataset} {', '.join(waiting)} still changing; waiting"
        else:
            message = f"no landing/{dataset} day changed"
        if not requests:
            yield dg.SkipReason("; ".join(filter(None, [message, skipped])))
        context.update_cursor(dump_cursor(next_cursor))

    return landing_sensor
