"""``platform.check_results``: every check outcome, keyed by the staged artifact it evaluated
and the code version of the checks that evaluated it.

Kept in the run-metadata database next to the ledger (the warehouse file, or
PostgreSQL with ``PLATFORM_LEDGER_URL``). Publishing assets gate on
:func:`platform_assets.core.checks.blocking_problems` of the outcomes of the artifact
they read (:func:`artifact_outcomes`) under the current checks: an outcome of another
code version (a check added, changed or removed since) never decides a gate.
"""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from platform_assets.core.checks import CheckOutcome
from platform_assets.core.metadata import MetadataConnection, MetadataSource

CHECK_RESULTS = "platform.check_results"
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
ALTER TABLE platform.check_results ADD COLUMN IF NOT EXISTS code_version VARCHAR;
"""


@contextmanager
def _check_results(warehouse: MetadataSource) -> Iterator[MetadataConnection]:
    """A run-metadata connection (next to the ledger) on which ``platform.check_results`` exists."""
    with warehouse.metadata_db() as con:
        con.ensure(CHECK_RESULTS, _DDL)
        yield con


def record_outcomes(
    warehouse: MetadataSource,
    dataset: str,
    run_id: str,
    outcomes: dict[str, list[CheckOutcome]],
    artifacts: dict[str, str],
    code_version: str,
) -> None:
    """Store the outcomes of a run's checks, one row per (partition, check), in one statement,
    each naming the staged artifact (``artifacts[partition]``) it evaluated and the code
    version of the staging asset whose checks ran."""
    rows = [(partition, o) for partition, items in outcomes.items() for o in items]
    with _check_results(warehouse) as con:
        con.execute(
            "INSERT INTO platform.check_results (dataset, partition, run_id, check_name, "
            "severity, passed, failing_rows, detail, sample, evaluated_at, artifact, code_version) "
            "SELECT ?, unnest(?::VARCHAR[]), ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::BOOLEAN[]), unnest(?::BIGINT[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), ?, unnest(?::VARCHAR[]), ? "
            "ON CONFLICT (dataset, partition, run_id, check_name) DO UPDATE SET "
            "severity = excluded.severity, passed = excluded.passed, "
            "failing_rows = excluded.failing_rows, detail = excluded.detail, "
            "sample = excluded.sample, evaluated_at = excluded.evaluated_at, "
            "artifact = excluded.artifact, code_version = excluded.code_version",
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
                code_version,
            ],
        )


def artifact_outcomes(
    warehouse: MetadataSource, dataset: str, artifacts: dict[str, str], code_version: str
) -> dict[str, list[CheckOutcome]]:
    """The recorded outcomes of each partition's given staged artifact under the checks of
    ``code_version`` (latest per check); none when those checks never evaluated it."""
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
            "WHERE c.dataset = ? AND c.code_version = ? "
            "ORDER BY c.partition, c.check_name, c.evaluated_at DESC",
            [keys, [artifacts[key] for key in keys], dataset, code_version],
        )
    for partition, *outcome in rows:
        result[partition].append(CheckOutcome(*outcome))
    return result
