"""Write-audit-publish: data checks on staged partitions and the publication gate.

Checks run on the staged data of each partition. Their outcomes are reported to
Dagster as asset check results (visible in the UI with counts and a sample of
failing rows) and kept in ``platform.check_results``, keyed by the run that
wrote the staged file, next to the ledger (the warehouse file, or PostgreSQL with
``PLATFORM_LEDGER_URL``). Publishing assets call :func:`assert_publishable`
before writing: whatever launched the run, a partition whose staged data
failed an ERROR check is not published.
"""

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg
import polars as pl

from platform_assets.io.metadata import markdown_preview
from platform_assets.ledger import Ledger
from platform_assets.metadata_db import MetadataConnection
from platform_assets.warehouse_resource import WarehouseResource

ERROR, WARN = "ERROR", "WARN"
CHECK_RESULTS = "platform.check_results"
SAMPLE_ROWS = 5
_DDL = """
CREATE SCHEMA IF NOT EXISTS platform;
CREATE TABLE IF NOT EXISTS platform.check_results (
    dataset VARCHAR NOT NULL,
    partition VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    check_name VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    passed BOOLEAN NOT NULL,
    failing_rows BIGINT NOT NULL,
    detail VARCHAR,
    sample VARCHAR,
    evaluated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (dataset, partition, run_id, check_name)
);
"""


@dataclass(frozen=True)
class RowRule:
    """A check that fails for every row matching ``failing``."""

    name: str
    description: str
    failing: pl.Expr
    severity: str = ERROR


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check on one partition."""

    name: str
    severity: str
    passed: bool
    failing_rows: int
    detail: str
    sample: str = ""


class PublicationBlocked(dg.Failure):
    """A partition's staged data failed a blocking check; it must not be published.

    A ``dg.Failure``: the UI shows the reason and the blocked partitions as the step's
    failure (not a bare traceback), and Dagster does not retry it (rerunning cannot pass).
    """

    def __init__(self, dataset: str, problems: dict[str, list[str]]):
        described = "; ".join(f"{key}: {p}" for key, items in problems.items() for p in items)
        super().__init__(
            description=f"not publishing: blocking checks on {dataset} did not pass: {described}",
            metadata={
                "blocked_partitions": ", ".join(problems),
                "staged_dataset": dataset,
                "fix": "correct the landing files of these days and rerun; forcing does not "
                "bypass the checks",
            },
            allow_retries=False,
        )


def evaluate_rule(frame: pl.DataFrame, rule: RowRule) -> CheckOutcome:
    """Apply one row rule to a partition's staged rows."""
    failing = frame.filter(rule.failing.fill_null(True))
    detail = f"{failing.height} of {frame.height} row(s) fail: {rule.description}"
    sample = markdown_preview(failing, SAMPLE_ROWS) if failing.height else ""
    return CheckOutcome(
        rule.name, rule.severity, failing.height == 0, failing.height, detail, sample
    )


def unique_key(frame: pl.DataFrame, key: list[str]) -> CheckOutcome:
    """Business key present and unique after dedupe."""
    nulls = frame.filter(pl.any_horizontal(pl.col(key).is_null()))
    dupes = frame.filter(pl.struct(key).is_duplicated())
    failing = pl.concat([nulls, dupes]).unique()
    detail = f"{nulls.height} null key(s), {dupes.height} row(s) with a duplicated key {key}"
    sample = markdown_preview(failing, SAMPLE_ROWS) if failing.height else ""
    return CheckOutcome(
        "business_key_unique", ERROR, failing.height == 0, failing.height, detail, sample
    )


def schema_contract(frame: pl.DataFrame, expected: pl.Schema) -> CheckOutcome:
    """Staged column names and types equal the contract."""
    actual = frame.schema
    problems = [f"missing {c}" for c in expected if c not in actual]
    problems += [f"unexpected {c}" for c in actual if c not in expected]
    problems += [
        f"{c}: {actual[c]} instead of {t}"
        for c, t in expected.items()
        if c in actual and actual[c] != t
    ]
    detail = "; ".join(problems) or f"{len(expected)} columns match the contract"
    return CheckOutcome("schema_contract", ERROR, not problems, 0, detail)


def reject_rate(rejected: int, total: int, threshold: float) -> CheckOutcome:
    """Share of landing rows quarantined, against a threshold."""
    rate = rejected / total if total else 0.0
    detail = (
        f"{rejected} of {total} landing row(s) quarantined ({rate:.2%}; threshold {threshold:.2%})"
    )
    return CheckOutcome("reject_rate", ERROR, rate <= threshold, rejected, detail)


def row_count_near_trailing(
    rows: int, trailing: list[int], factor: float = 3.0, severity: str = WARN
) -> CheckOutcome:
    """Row count within ``factor`` x of the median of the trailing partitions."""
    if not trailing:
        return CheckOutcome(
            "row_count_vs_trailing", severity, True, 0, "no trailing partitions yet"
        )
    median = sorted(trailing)[len(trailing) // 2]
    low, high = median / factor, median * factor
    passed = low <= rows <= high
    detail = f"{rows} rows; trailing median {median} over {len(trailing)} partition(s)"
    detail += f"; expected {low:.0f}..{high:.0f}"
    return CheckOutcome("row_count_vs_trailing", severity, passed, 0 if passed else rows, detail)


def check_specs(
    asset_key: dg.AssetKey, described: dict[str, tuple[str, str]]
) -> list[dg.AssetCheckSpec]:
    """Check specs from {name: (severity, description)}; ERROR checks are blocking."""
    return [
        dg.AssetCheckSpec(name, asset=asset_key, description=text, blocking=severity == ERROR)
        for name, (severity, text) in described.items()
    ]


def to_check_results(
    asset_key: dg.AssetKey, outcomes: dict[str, list[CheckOutcome]], extra: dict | None = None
) -> list[dg.AssetCheckResult]:
    """One Dagster result per check, over all partitions of the run (per-partition detail)."""
    by_name: dict[str, list[tuple[str, CheckOutcome]]] = {}
    for partition, items in sorted(outcomes.items()):
        for outcome in items:
            by_name.setdefault(outcome.name, []).append((partition, outcome))
    results = []
    for name, items in by_name.items():
        severity = items[0][1].severity
        failed = [(p, o) for p, o in items if not o.passed]
        metadata = {
            "failing_rows": sum(o.failing_rows for _, o in items),
            "partitions_failed": ", ".join(p for p, _ in failed) or "none",
            "detail": "\n".join(f"{p}: {o.detail}" for p, o in items)[:4000],
            **(extra or {}),
        }
        sample = next((o.sample for _, o in failed if o.sample), "")
        if sample:
            metadata["failing_rows_sample"] = dg.MetadataValue.md(sample)
        results.append(
            dg.AssetCheckResult(
                asset_key=asset_key,
                check_name=name,
                passed=not failed,
                severity=dg.AssetCheckSeverity(severity),
                metadata=metadata,
            )
        )
    return results


@contextmanager
def _check_results(warehouse: WarehouseResource) -> Iterator[MetadataConnection]:
    """A run-metadata connection (next to the ledger) on which ``platform.check_results`` exists."""
    with warehouse.metadata_db() as con:
        con.ensure(CHECK_RESULTS, _DDL)
        yield con


def record_outcomes(
    warehouse: WarehouseResource, dataset: str, run_id: str, outcomes: dict[str, list[CheckOutcome]]
) -> None:
    """Store the outcomes of a run's checks, one row per (partition, check), in one statement."""
    rows = [(partition, o) for partition, items in outcomes.items() for o in items]
    with _check_results(warehouse) as con:
        con.execute(
            "INSERT INTO platform.check_results (dataset, partition, run_id, check_name, "
            "severity, passed, failing_rows, detail, sample, evaluated_at) "
            "SELECT ?, unnest(?::VARCHAR[]), ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::BOOLEAN[]), unnest(?::BIGINT[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), ? "
            "ON CONFLICT (dataset, partition, run_id, check_name) DO UPDATE SET "
            "severity = excluded.severity, passed = excluded.passed, "
            "failing_rows = excluded.failing_rows, detail = excluded.detail, "
            "sample = excluded.sample, evaluated_at = excluded.evaluated_at",
            [
                dataset,
                [partition for partition, _ in rows],
                run_id,
                [o.name for _, o in rows],
                [o.severity for _, o in rows],
                [o.passed for _, o in rows],
                [o.failing_rows for _, o in rows],
                [o.detail for _, o in rows],
                [o.sample for _, o in rows],
                dt.datetime.now(dt.UTC),
            ],
        )


def stored_outcomes(
    warehouse: WarehouseResource, dataset: str, runs_by_partition: dict[str, str]
) -> dict[str, list[CheckOutcome]]:
    """The outcomes recorded by the given run for each partition."""
    keys = sorted(runs_by_partition)
    result: dict[str, list[CheckOutcome]] = {key: [] for key in runs_by_partition}
    with _check_results(warehouse) as con:
        rows = con.query(
            "SELECT c.partition, c.check_name, c.severity, c.passed, c.failing_rows, c.detail, "
            "c.sample FROM platform.check_results c JOIN (SELECT unnest(?::VARCHAR[]) AS "
            "partition, unnest(?::VARCHAR[]) AS run_id) k "
            "ON c.partition = k.partition AND c.run_id = k.run_id "
            "WHERE c.dataset = ? ORDER BY c.partition, c.check_name",
            [keys, [runs_by_partition[key] for key in keys], dataset],
        )
    for partition, *outcome in rows:
        result[partition].append(CheckOutcome(*outcome))
    return result


def assert_publishable(
    warehouse: WarehouseResource, dataset: str, runs_by_partition: dict[str, str]
) -> None:
    """Raise :class:`PublicationBlocked` unless every ERROR check of each partition's
    staged data (as written by the given run) was evaluated and passed."""
    problems: dict[str, list[str]] = {}
    for partition, items in stored_outcomes(warehouse, dataset, runs_by_partition).items():
        failed = [
            f"{o.name} failed ({o.detail})" for o in items if o.severity == ERROR and not o.passed
        ]
        if not items:
            failed = ["checks were never evaluated"]
        if failed:
            problems[partition] = failed
    if problems:
        raise PublicationBlocked(dataset, problems)


@dataclass(frozen=True)
class StagedEvidence:
    """What the checks of one staged partition look at."""

    staged: pl.DataFrame
    rejected: int
    total: int


def audit_staged(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    dataset: str,
    evidence: dict[str, StagedEvidence],
    audit_partition: Callable[[pl.DataFrame, int, int, list[int]], list[CheckOutcome]],
    publishes: list[str],
    trailing: int = 7,
) -> list[dg.AssetCheckResult]:
    """Check results for the run's staged partitions.

    Computed partitions are audited now and recorded; skipped ones (no
    evidence) re-report the outcomes recorded by the run that staged them.
    Partitions failing an ERROR check get failed ledger rows for ``publishes``.
    """
    ledger = Ledger(warehouse)
    with warehouse.session():  # no lock is held while the checks run
        history = {key: ledger.trailing_rows(dataset, key, trailing) for key in evidence}
    outcomes = {
        key: audit_partition(e.staged, e.rejected, e.total, history[key])
        for key, e in evidence.items()
    }
    with warehouse.session():  # the check bookkeeping on one connection
        if outcomes:
            record_outcomes(warehouse, dataset, context.run_id, outcomes)
        skipped = [key for key in context.partition_keys if key not in evidence]
        published = ledger.published(dataset, skipped) if skipped else {}
        runs = {key: pub.run_id for key, pub in published.items() if pub}
        stored = stored_outcomes(warehouse, dataset, runs)
        failing = {
            key: [o for o in items if o.severity == ERROR and not o.passed]
            for key, items in outcomes.items()
        }
        blocked = {
            key: f"blocked by failed checks on {dataset}: "
            + "; ".join(f"{o.name} ({o.detail})" for o in failed)
            for key, failed in failing.items()
            if failed
        }
        for key, error in blocked.items():
            context.log.error(f"{dataset} {key}: {error}; not published")
        if blocked:
            ledger.record_blocked(context.run_id, publishes, blocked, {})
        evaluated_by = sorted({*runs.values(), *([context.run_id] if outcomes else [])})
        extra = {"evaluated_by_run": ", ".join(evaluated_by)}
        return to_check_results(context.asset_key, {**stored, **outcomes}, extra)
