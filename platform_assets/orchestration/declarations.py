"""What a dataset declares: its landing contract and staging, publications and marts.

Declarations are plain values; :mod:`platform_assets.orchestration.assembly` turns them
into assets, jobs, sensors and schedules for given settings. Every field but the
descriptions and graph wiring counts in the code version of the asset it shapes
(:mod:`platform_assets.core.code_version`).
"""

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dagster as dg
import duckdb
import polars as pl

from platform_assets.core import checks
from platform_assets.core.code_version import UNVERSIONED
from platform_assets.core.landing_parser import LandingContract
from platform_assets.core.write_spec import WriteSpec

PARTITION_COLUMN = "landing_date"

StageFn = Callable[[pl.DataFrame, dt.date], pl.DataFrame]
AuditFn = Callable[[pl.DataFrame, int, int, list[int]], list[checks.CheckOutcome]]


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that makes a dataset different from another; the rest is shared.

    Every field but the descriptions counts in the staging asset's code version.
    """

    name: str
    landing_description: str = field(metadata=UNVERSIONED)
    contract: LandingContract
    stage: StageFn
    staging_description: str = field(metadata=UNVERSIONED)
    checks: dict[str, tuple[str, str]]
    audit: AuditFn

    @property
    def landing_key(self) -> dg.AssetKey:
        """``landing/<name>``."""
        return dg.AssetKey(["landing", self.name])

    @property
    def staging_key(self) -> dg.AssetKey:
        """``staging/<name>``."""
        return dg.AssetKey(["staging", self.name])

    @property
    def staging_dataset(self) -> str:
        """The staging asset's name in the ledger."""
        return f"staging/{self.name}"

    @property
    def quarantine_table(self) -> str:
        """``quarantine.<name>``: landing rows that could not be parsed."""
        return f"quarantine.{self.name}"


@dataclass(frozen=True)
class Publish:
    """How a dataset's staged partitions are published: the asset ``key``, the
    ``transform`` of a staged day into published rows and the ``write`` that puts
    them in their table."""

    key: list[str]
    write: WriteSpec
    description: str = field(metadata=UNVERSIONED)
    transform: Callable[[pl.DataFrame], pl.DataFrame]

    @property
    def table(self) -> str:
        """The published table."""
        return self.write.table


DayChecksums = Callable[[duckdb.DuckDBPyConnection, list[dt.date]], dict[dt.date, str]]
BuildMart = Callable[
    [duckdb.DuckDBPyConnection, list[dt.date]], tuple[pl.DataFrame, dict[str, int]]
]


@dataclass(frozen=True)
class Mart:
    """A per-business-day mart over published tables, replaced day by day.

    ``input_checksums`` fingerprints what a day's figures are computed from (the
    skip rule and the late-changes sensor use it); ``build`` computes the
    figures of some days and the rows read per day; both get a DuckDB
    connection on which the published tables in ``reads`` have their warehouse
    names (the warehouse file, or views of Delta tables). A mart needs no gate
    of its own: it reads only published tables, and nothing reaches them
    without passing its checks.
    """

    key: list[str]
    group: str = field(metadata=UNVERSIONED)
    deps: list[dg.AssetKey] = field(metadata=UNVERSIONED)  # graph wiring; ``reads`` counts
    table: str
    description: str = field(metadata=UNVERSIONED)
    input_checksums: DayChecksums
    build: BuildMart
    reads: list[str]
    partition_column: str = "business_date"

    @property
    def asset_key(self) -> dg.AssetKey:
        """The mart's asset key."""
        return dg.AssetKey(self.key)


def readers_of(marts: Sequence[Mart], keys: Sequence[dg.AssetKey]) -> list[Mart]:
    """The marts that read any of ``keys``, directly or through another mart, in order."""
    found: list[Mart] = []
    reached = set(keys)
    grew = True
    while grew:
        grew = False
        for mart in marts:
            if mart not in found and reached & set(mart.deps):
                found.append(mart)
                reached.add(mart.asset_key)
                grew = True
    return [m for m in marts if m in found]


@dataclass(frozen=True)
class Dataset:
    """One dataset: its landing and staging (``spec``), what it publishes and its marts.

    The assembly gives it a job (``<name>_daily_job``: staging, publications and every
    mart that reads them), a landing sensor, a daily schedule and, for a current-state
    publication with an impact day column, a late-changes sensor over the marts that
    read it. A mart reading several datasets' tables is declared on its own (a
    :class:`Mart` in a module's ``DECLARATIONS``) and joins each of their jobs.
    """

    spec: DatasetSpec
    publications: tuple[Publish, ...]
    marts: tuple[Mart, ...] = ()
    job_description: str = field(default="", metadata=UNVERSIONED)

    @property
    def name(self) -> str:
        """The dataset's name (landing folder, group, job prefix)."""
        return self.spec.name
