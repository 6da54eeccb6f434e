"""Write-audit-publish: data checks on staged partitions and the publication gate.

Checks run on the staged data of each partition. Their outcomes are reported to
Dagster as asset check results (visible in the UI with counts and a sample of
failing rows) and kept in ``platform.check_results``, keyed by the staged
artifact they evaluated (its checksum), next to the ledger (the warehouse file,
or PostgreSQL with ``PLATFORM_LEDGER_URL``). Publishing assets gate on
:func:`blocking_problems` of the artifact they read: whatever launched the run,
a partition whose staged artifact failed an ERROR check (or was never checked)
is not published.
"""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg
import polars as pl

from platform_assets.io.metadata import markdown_preview
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
ALTER TABLE platform.check_results ADD COLUMN IF NOT EXISTS artifact VARCHAR;
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
    """Days of a run were not published (failed blocking checks, input changed while read,
    upstream missing); the run's other days were.

    A ``dg.Failure``: the UI shows the reason and the days as the step's failure (not
    a bare traceback), and Dagster does not retry it (rerunning cannot pass until the
    landing files are fixed).
    """

    def __init__(self, scope: str, problems: dict[str, list[str]]):
        described = "; ".join(f"{key}: {p}" for key, items in problems.items() for p in items)
        super().__init__(
            description=f"not published in {scope}: {described}"[:8000],
            metadata={
                "partitions_not_published": ", ".join(problems)[:4000],
                "fix": "correct the landing files of these days and rerun; forcing does not "
                "bypass the checks; a rerun recomputes only what is left",
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
    """Check specs from {name: (severity, description)}."""
    return [
        dg.AssetCheckSpec(name, asset=asset_key, description=_described(severity, text))
        for name, (severity, text) in described.items()
    ]


def _described(severity: str, text: str) -> str:
    """A check's description; ERROR checks say that they gate the day's publication.

    Not Dagster ``blocking`` checks: those would stop every day of a multi-day run
    when one day fails; the platform's gate blocks exactly the failing day.
    """
    if severity == ERROR:
        return f"{text} (ERROR: a failing day is not published)"
    return f"{text} (WARN: reported, does not block)"


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
    warehouse: WarehouseResource,
    dataset: str,
    run_id: str,
    outcomes: dict[str, list[CheckOutcome]],
    artifacts: dict[str, str],
) -> None:
    """Store the outcomes of a run's checks, one row per (partition, check), in one statement,
    each naming the staged artifact (``artifacts[partition]``) it evaluated."""
    rows = [(partition, o) for partition, items in outcomes.items() for o in items]
    with _check_results(warehouse) as con:
        con.execute(
            "INSERT INTO platform.check_results (dataset, partition, run_id, check_name, "
            "severity, passed, failing_rows, detail, sample, evaluated_at, artifact) "
            "SELECT ?, unnest(?::VARCHAR[]), ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::BOOLEAN[]), unnest(?::BIGINT[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), ?, unnest(?::VARCHAR[]) "
            "ON CONFLICT (dataset, partition, run_id, check_name) DO UPDATE SET "
            "severity = excluded.severity, passed = excluded.passed, "
            "failing_rows = excluded.failing_rows, detail = excluded.detail, "
            "sample = excluded.sample, evaluated_at = excluded.evaluated_at, "
            "artifact = excluded.artifact",
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
                [artifacts[partition] for partition, _ in rows],
            ],
        )


def artifact_outcomes(
    warehouse: WarehouseResource, dataset: str, artifacts: dict[str, str]
) -> dict[str, list[CheckOutcome]]:
    """The recorded outcomes of each partition's given staged artifact (latest per check)."""
    keys = sorted(artifacts)
    result: dict[str, list[CheckOutcome]] = {key: [] for key in keys}
    if not keys:
        return result
    with _check_results(warehouse) as con:
        rows = con.query(
            "SELECT DISTINCT ON (c.partition, c.check_name) c.partition, c.check_name, "
            "c.severity, c.passed, c.failing_rows, c.detail, c.sample "
            "FROM platform.check_results c JOIN (SELECT unnest(?::VARCHAR[]) AS partition, "
            "unnest(?::VARCHAR[]) AS artifact) k "
            "ON c.partition = k.partition AND c.artifact = k.artifact "
            "WHERE c.dataset = ? ORDER BY c.partition, c.check_name, c.evaluated_at DESC",
            [keys, [artifacts[key] for key in keys], dataset],
        )
    for partition, *outcome in rows:
        result[partition].append(CheckOutcome(*outcome))
    return result


def blocking_problems(outcomes: dict[str, list[CheckOutcome]]) -> dict[str, list[str]]:
    """Per partition, why it must not be published: failed ERROR checks, or none evaluated."""
    problems: dict[str, list[str]] = {}
    for partition, items in outcomes.items():
        failed = [
            f"{o.name} failed ({o.detail})" for o in items if o.severity == ERROR and not o.passed
        ]
        if not items:
            failed = ["checks were never evaluated"]
        if failed:
            problems[partition] = failed
    return problems
