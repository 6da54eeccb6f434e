"""Invariants checked after every step: no published row fails a blocking check.

Rules are the blocking (ERROR) checks of the orders dataset as plain SQL, applied to
the published tables: a row that breaks one can only come from data that failed its
checks, so it must never be visible, not even for a moment in mid-history.
"""

from __future__ import annotations

import duckdb

from tests.history.oracle import Published

ALLOWED_STATUSES = ("placed", "paid", "shipped", "cancelled", "delivered", "refunded")
SEGMENTS = ("consumer", "smb", "enterprise", "unknown")
_STATUS = "(" + ", ".join(f"'{s}'" for s in ALLOWED_STATUSES) + ")"
_SEGMENT = "(" + ", ".join(f"'{s}'" for s in SEGMENTS) + ")"
_CURRENCY = "NOT regexp_full_match(currency, '[A-Z]{3}')"

# table -> {rule: SQL condition true for a row that breaks it}
RULES = {
    "curated.orders": {
        "amount_non_negative": "amount < 0",
        "status_allowed": f"status NOT IN {_STATUS}",
        "currency_well_formed": _CURRENCY,
        "timestamps_consistent": "created_at > updated_at",
    },
    "marts.daily_orders": {
        "status_allowed": f"status NOT IN {_STATUS}",
        "currency_well_formed": _CURRENCY,
        "revenue_non_negative": "revenue < 0",
    },
    "marts.daily_revenue_by_segment": {
        "segment_known": f"segment NOT IN {_SEGMENT}",
        "currency_well_formed": _CURRENCY,
        "revenue_non_negative": "revenue < 0",
    },
}


def violations(published: Published) -> list[str]:
    """One line per (table, rule) that published rows break, with a count and an example."""
    con = duckdb.connect()
    try:
        if not published.attach(con):
            return []
        tables = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'w'"
            ).fetchall()
        }
        found = []
        for table, rules in RULES.items():
            if table not in tables:
                continue
            for rule, broken in rules.items():
                rows = con.execute(
                    f"SELECT * FROM w.{table} WHERE coalesce({broken}, false) ORDER BY ALL"  # noqa: S608
                ).fetchall()
                if rows:
                    example = "(" + ", ".join(str(v) for v in rows[0]) + ")"
                    found.append(f"{table}: {len(rows)} row(s) break {rule}, e.g. {example}")
        return found
    finally:
        con.close()
