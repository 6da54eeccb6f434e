"""The daily schedule: the last complete day, every night (a safety net for the sensor)."""

import dagster as dg


def build_daily_schedule(job, hour: int = 1) -> dg.ScheduleDefinition:
    """Run ``job`` for the last complete day at ``hour``:00 UTC every day."""
    return dg.build_schedule_from_partitioned_job(
        job,
        name=f"{job.name}_nightly",
        hour_of_day=hour,
        minute_of_hour=0,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Every night at {hour:02d}:00 UTC, runs {job.name} for the day that just ended. "
            "Unchanged partitions skip, so a re-fired or duplicate tick is harmless."
        ),
    )
