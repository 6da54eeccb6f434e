"""Write-audit-publish in Dagster: check specs, check results, and the failure of a run
whose days were not all published.

Checks (:mod:`platform_assets.core.checks`) run on the staged data of each partition.
Their outcomes are reported to Dagster as asset check results (visible in the UI with
counts and a sample of failing rows) and kept in ``platform.check_results``
(:mod:`platform_assets.core.check_results`). Publishing assets gate on the outcomes of
the artifact they read: whatever launched the run, a partition whose staged artifact
failed an ERROR check (or was never checked) is not published.
"""

import dagster as dg

from platform_assets.core.checks import ERROR, CheckOutcome


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
