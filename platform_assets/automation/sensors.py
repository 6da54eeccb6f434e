"""The landing sensor: one run per landing day whose content changed."""

import dagster as dg

from platform_assets.automation.landing_cursor import DayState, dump_cursor, load_cursor
from platform_assets.resources import LandingResource


def changed_days(
    landing: LandingResource, dataset: str, valid_keys: set[str], cursor: dict[str, DayState]
) -> tuple[list[tuple[str, str]], dict[str, DayState]]:
    """(day, new checksum) for each day whose content changed, and the next cursor."""
    store = landing.store()
    requests, next_cursor = [], dict(cursor)
    for day, files in store.files_by_day(dataset).items():
        if day not in valid_keys:
            continue
        stat = store.change_signature(files)
        seen = cursor.get(day)
        if seen and seen.stat == stat:
            continue
        checksum = store.fingerprint(files)
        next_cursor[day] = DayState(stat, checksum)
        if not seen or seen.checksum != checksum:
            requests.append((day, checksum))
    return requests, next_cursor


def build_landing_sensor(name: str, dataset: str, job, interval_s: int) -> dg.SensorDefinition:
    """A sensor that watches ``landing/<dataset>/`` and runs ``job`` for changed days."""

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Watches landing/{dataset}/dt=YYYY-MM-DD/ every {interval_s}s and launches "
            f"{job.name} for each day whose files changed (content checksum), with run key "
            "'<day>:<checksum>' so the same change never runs twice."
        ),
    )
    def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
        partitions = job.partitions_def
        valid = set(partitions.get_partition_keys(dynamic_partitions_store=context.instance))
        cursor = load_cursor(context.cursor)
        requests, next_cursor = changed_days(landing, dataset, valid, cursor)
        for day, checksum in requests:
            context.log.info(f"landing/{dataset} {day} changed: {checksum}")
            yield dg.RunRequest(
                run_key=f"{day}:{checksum}",
                partition_key=day,
                tags={"platform/trigger": "landing_sensor", "platform/input_checksum": checksum},
            )
        if not requests:
            yield dg.SkipReason(f"no landing/{dataset} day changed")
        context.update_cursor(dump_cursor(next_cursor))

    return landing_sensor
