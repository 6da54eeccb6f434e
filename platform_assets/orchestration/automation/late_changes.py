"""The late-changes sensor: recompute exactly the mart days a merge changed.

Every merge into a current-state table records, in the ledger, the business days
it changes (before it writes). This sensor reads those ledger rows of finished
attempts in order, with a cursor, finds the named days whose current state differs
from what a mart last published, and requests one run per range of consecutive such
days, selecting every mart stale on a day of it, with run key
``<first>..<last>:<digest of every (mart, day, state checksum, publishing run)>`` so
the same change never runs twice. Days no merge touched are never looked at. The marts' inputs
are read from the published tables (``tables``: the warehouse file or Delta
tables); the ledger from the warehouse.
"""

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import dagster as dg

from platform_assets.core.ledger import Ledger, rewind
from platform_assets.core.partition_keys import day_ranges, validate_partition_key
from platform_assets.orchestration.declarations import Mart, readers_of
from platform_assets.orchestration.idempotency import REASON_TAG
from platform_assets.orchestration.partitions import (
    RANGE_END,
    RANGE_START,
    name_keys,
    outside_partitions,
    partition_range,
)
from platform_assets.orchestration.resources import TablesResource
from platform_assets.orchestration.warehouse_resource import WarehouseResource
from platform_assets.storage.table_store import TableStore

CURSOR_LOOKBACK = dt.timedelta(minutes=10)
_FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@dataclass(frozen=True)
class ChangesCursor:
    """How far the sensor has read: the last mark, and the rows it read within the
    lookback before it (read again each tick, but counted once)."""

    after: str = ""
    recent: frozenset[str] = frozenset()

    @classmethod
    def load(cls, raw: str | None) -> "ChangesCursor":
        """Parse a cursor string (an old one without ``recent`` reads as none seen)."""
        if not raw:
            return cls()
        state = json.loads(raw)
        return cls(state.get("after", ""), frozenset(state.get("recent", [])))

    def dump(self) -> str:
        """Serialize deterministically."""
        return json.dumps({"after": self.after, "recent": sorted(self.recent)})


def pending_changes(
    instance: dg.DagsterInstance, warehouse: WarehouseResource, dataset: str, seen: ChangesCursor
) -> tuple[dict[str, set[str]], ChangesCursor]:
    """Business day -> landing days that changed it, from finished runs; and the new cursor.

    Rows a little before the cursor (:data:`CURSOR_LOOKBACK`) are read again: on a
    ledger shared by several hosts (Postgres) a row stamped earlier can commit after
    one stamped later, or a host's clock can lag. Rows already read are counted once.
    """
    since = rewind(seen.after, CURSOR_LOOKBACK)
    rows = Ledger(warehouse).changed_days_after(dataset, since)
    changes: dict[str, set[str]] = {}
    after, read = seen.after, set(seen.recent)
    for mark, run_id, landing_day, days in rows:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status not in _FINISHED:
            break
        row = f"{mark}|{landing_day}"
        if row not in read:
            for day in filter(None, days.split(",")):
                changes.setdefault(day, set()).add(landing_day)
            read.add(row)
        after = max(after, mark)  # re-read rows never move the cursor back
    horizon = rewind(after, CURSOR_LOOKBACK)
    return changes, ChangesCursor(after, frozenset(r for r in read if r >= horizon))


def build_late_changes_sensor(
    name: str,
    source_dataset: str,
    marts: list[Mart],
    interval_s: int,
    tables: TablesResource,
    partitions: dg.PartitionsDefinition,
    max_days: int,
) -> dg.SensorDefinition:
    """A sensor that recomputes the days of ``marts`` whose inputs a merge changed, one run
    per range of consecutive such days (at most ``max_days`` each).

    ``tables`` is where the marts' inputs are published (the same resource the
    assets get), so the sensor compares the state the mart would be built from.
    """
    names = ", ".join(m.asset_key.to_user_string() for m in marts)
    source = dg.AssetKey.from_user_string(source_dataset)
    direct = [m for m in marts if source in m.deps]  # the others read these

    @dg.sensor(
        name=name,
        asset_selection=[m.asset_key for m in marts],
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Recomputes exactly the days of {names} whose inputs a {source_dataset} merge "
            "changed (late updates, deletes, corrections): one run per range of consecutive "
            "such days, selecting every mart stale on a day of it; a mart that reads one of "
            "them runs in the same run, after it. Re-delivered old events change nothing and "
            "trigger nothing; run key '<first day>..<last day>:<digest of every (mart, day, "
            "input checksum, publishing run)>'."
        ),
    )
    def late_changes_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        changes, cursor = pending_changes(
            context.instance, warehouse, source_dataset, ChangesCursor.load(context.cursor)
        )
        outside = outside_partitions(partitions, list(changes))
        if outside:
            context.log.warning(
                f"business day(s) {name_keys(outside)} of {names} changed but are outside the "
                f"partitions {partition_range(partitions)}; not requested"
            )
        days = sorted(set(changes) - set(outside))
        store = tables.store()
        requests = _requests(warehouse, store, marts, direct, days, changes, name, max_days)
        context.update_cursor(cursor.dump())
        if not requests:
            return dg.SkipReason(f"no day of {names} changed since the last tick")
        return requests

    return late_changes_sensor


def _stale_days(
    warehouse: WarehouseResource, store: TableStore, mart: Mart, days: list[str]
) -> dict[str, str]:
    """Day -> ``<input checksum>[:after:<publishing run>]`` for the days whose current
    inputs differ from what ``mart`` published.

    The publication a day would replace is part of the value: a day whose state goes
    back to an earlier one (S1 -> S2 -> S1) is requested again, not dropped as launched.
    """
    if not days:
        return {}
    with store.query(mart.reads) as con:
        state = mart.input_checksums(con, [validate_partition_key(d) for d in days])
    published = Ledger(warehouse).published(mart.asset_key.to_user_string(), days)
    stale = {}
    for day in days:
        checksum = state[validate_partition_key(day)]
        if published[day] and published[day].input_checksum == checksum:
            continue
        stale[day] = checksum + (f":after:{published[day].run_id}" if published[day] else "")
    return stale


def _requests(
    warehouse: WarehouseResource,
    store: TableStore,
    marts: list[Mart],
    direct: list[Mart],
    days: list[str],
    changes: dict[str, set[str]],
    sensor: str,
    max_days: int,
) -> list[dg.RunRequest]:
    """One run request per range of consecutive days on which a ``direct`` mart is stale
    (at most ``max_days`` days each).

    The run selects every mart stale on a day of the range and the marts that read
    them (only their new rows tell whether those changed); a selected mart skips the
    days of the range whose inputs it already published. The run key is the range
    and a digest of every (mart, day, state) it brings up to date, so the same change
    never runs twice and a new change of any of them runs again.
    """
    stale: dict[str, dict[str, str]] = {}
    for mart in direct:
        for day, state in _stale_days(warehouse, store, mart, days).items():
            stale.setdefault(day, {})[mart.asset_key.to_user_string()] = state
    requests = []
    for first, last in day_ranges(list(stale), max_days):
        group = {day: by_mart for day, by_mart in stale.items() if first <= day <= last}
        names = {name for by_mart in group.values() for name in by_mart}
        reached = [m for m in direct if m.asset_key.to_user_string() in names]
        below = readers_of(marts, [m.asset_key for m in reached])
        selected = {m.asset_key for m in [*reached, *below]}
        states = sorted(f"{n}|{d}|{s}" for d, by_mart in group.items() for n, s in by_mart.items())
        digest = hashlib.sha256("\n".join(states).encode()).hexdigest()[:16]
        landing = ", ".join(sorted(set().union(*(changes[day] for day in group))))
        tags = {
            REASON_TAG: f"late changes from landing day(s) {landing}",
            "platform/trigger": sensor,
        }
        if first != last:
            tags |= {RANGE_START: first, RANGE_END: last}
        requests.append(
            dg.RunRequest(
                run_key=f"{first}..{last}:{digest}",
                partition_key=first if first == last else None,
                asset_selection=[m.asset_key for m in marts if m.asset_key in selected],
                tags=tags,
            )
        )
    return requests
