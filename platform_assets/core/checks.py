"""Data checks on staged partitions: rules, outcomes and the publication verdict.

Pure functions over polars frames; no Dagster, no storage. The Dagster face turns
outcomes into asset check results (:mod:`platform_assets.orchestration.audit`), and
:mod:`platform_assets.core.check_results` keeps them next to the ledger.
"""

from dataclasses import dataclass

import polars as pl

from platform_assets.core.frame_keys import ascending_unique

ERROR, WARN = "ERROR", "WARN"
SAMPLE_ROWS = 5


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


def markdown_preview(frame: pl.DataFrame, rows: int) -> str:
    """The first ``rows`` rows as a Markdown table."""
    head = frame.head(rows)
    lines = [
        "| " + " | ".join(head.columns) + " |",
        "| " + " | ".join("---" for _ in head.columns) + " |",
    ]
    for row in head.iter_rows():
        lines.append("| " + " | ".join("" if v is None else str(v) for v in row) + " |")
    return "\n".join(lines)


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
    dupes = (
        frame.clear()
        if ascending_unique(frame, key)
        else frame.filter(pl.struct(key).is_duplicated())
    )
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


def audit_staged(
    staged: pl.DataFrame,
    rejected: int,
    total: int,
    trailing: list[int],
    *,
    key: list[str],
    schema: pl.Schema,
    reject_threshold: float,
    rules: list[RowRule],
) -> list[CheckOutcome]:
    """Every check of one partition's staged rows, as each dataset declares them: its key
    unique, its schema, its landing reject rate, its row rules, its row count against
    the ``trailing`` partitions' (a dataset binds the keywords with ``functools.partial``)."""
    return [
        unique_key(staged, key),
        schema_contract(staged, schema),
        reject_rate(rejected, total, reject_threshold),
        *[evaluate_rule(staged, rule) for rule in rules],
        row_count_near_trailing(staged.height, trailing),
    ]


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
