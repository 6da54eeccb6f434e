"""The sample CDC generator: deterministic, and as messy as a real DMS feed."""

import datetime as dt
import filecmp
from pathlib import Path

import duckdb
import polars as pl
import pytest

from platform_assets.tools.sample import SampleSpec, generate, main


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _events(root: Path):
    con = duckdb.connect()
    try:
        return con.sql(
            "SELECT *, filename AS file "
            "FROM read_csv(?, filename = true, hive_partitioning = true)",
            params=[f"{root}/landing/orders/*/*.csv"],
        ).pl()
    finally:
        con.close()


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sample")
    generate(SampleSpec(dt.date(2024, 1, 1), 4, 400, 42), root)
    return root


def test_same_arguments_give_byte_identical_files(tmp_path):
    args = ["--start", "2024-01-01", "--days", "3", "--orders-per-day", "500", "--seed", "7"]
    assert main([*args, "--dest", str(tmp_path / "a")]) == 0
    assert main([*args, "--dest", str(tmp_path / "b")]) == 0
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a and a == b
    assert len(a) >= 3 * 3


def test_different_seeds_differ(tmp_path):
    generate(SampleSpec(dt.date(2024, 1, 1), 1, 300, 1), tmp_path / "a")
    generate(SampleSpec(dt.date(2024, 1, 1), 1, 300, 2), tmp_path / "b")
    cmp = filecmp.dircmp(
        tmp_path / "a/landing/orders/dt=2024-01-01", tmp_path / "b/landing/orders/dt=2024-01-01"
    )
    assert cmp.diff_files


def test_parquet_format_is_deterministic(tmp_path):
    for name in ("a", "b"):
        generate(SampleSpec(dt.date(2024, 1, 1), 2, 300, 3, fmt="parquet"), tmp_path / name)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a == b and all(k.endswith(".parquet") for k in a)


def test_several_files_per_day_with_all_ops(sample_root):
    events = _events(sample_root)
    assert set(events["op"].unique()) == {"I", "U", "D"}
    files_per_day = events.group_by("dt").agg(files=pl.col("file").n_unique())
    assert files_per_day.height == 4
    assert files_per_day["files"].min() >= 3


def test_duplicates_across_files_and_days(sample_root):
    spread = (
        _events(sample_root)
        .group_by("seq")
        .agg(copies=pl.len(), files=pl.col("file").n_unique(), days=pl.col("dt").n_unique())
    )
    assert spread.filter(pl.col("files") > 1).height > 0
    assert spread.filter(pl.col("days") > 1).height > 0
    assert spread["copies"].max() >= 2


def test_late_updates_and_ties(sample_root):
    events = _events(sample_root)
    late = events.filter(pl.col("created_at").dt.date() < pl.col("dt").cast(pl.Date))
    assert late.filter(pl.col("op") == "U").height > 0
    ties = events.unique("seq").group_by(["order_id", "updated_at"]).len()
    assert ties.filter(pl.col("len") > 1).height > 0


def test_events_out_of_order_within_a_file(sample_root):
    events = _events(sample_root).filter(pl.col("dt").cast(pl.String) == "2024-01-02")
    first_file = events.filter(pl.col("file") == events["file"].min())
    assert not first_file["updated_at"].is_sorted()
    assert not first_file["seq"].is_sorted()


def test_if_empty_leaves_existing_landing_alone(tmp_path, capsys):
    args = ["--days", "1", "--orders-per-day", "10", "--dest", str(tmp_path)]
    assert main(args) == 0
    before = _files(tmp_path)
    assert main([*args, "--seed", "9", "--if-empty"]) == 0
    assert _files(tmp_path) == before
    assert "already has data" in capsys.readouterr().out


def test_every_event_belongs_to_its_landing_day(tmp_path):
    """No event is stamped after the end of the day it lands in (250k orders; with seed 42
    an earlier generator let a delete of 2024-01-05 spill past midnight)."""
    generate(SampleSpec(dt.date(2024, 1, 1), 5, 50_000, 42, with_customers=False), tmp_path)
    events = _events(tmp_path)
    landing_end = pl.col("dt").cast(pl.Date).cast(pl.Datetime("us")) + pl.duration(days=1)
    assert events.filter(pl.col("updated_at") >= landing_end).height == 0
    assert events.filter(pl.col("created_at") > pl.col("updated_at")).height == 0
    assert events.height > 350_000
