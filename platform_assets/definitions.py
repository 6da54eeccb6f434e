"""The code location: assets, jobs, sensors, schedules and resources for the environment.

Assembled from the datasets' declarations (:func:`platform_assets.datasets.declarations`)
and the settings given. Nothing is read from the environment at import: ``defs`` (what
``dagster dev`` loads) and :func:`environment_definitions` (what the commands use) build
the environment's code location when they are called.
"""

import functools
from collections.abc import Sequence

import dagster as dg

from platform_assets.datasets import declarations as dataset_declarations
from platform_assets.orchestration.assembly import Automation, Declaration, assemble
from platform_assets.orchestration.io_managers import LakeIOManager, WarehouseIOManager
from platform_assets.orchestration.partitions import Cadence
from platform_assets.orchestration.planner import CATALOG
from platform_assets.orchestration.resources import (
    LakeResource,
    LandingResource,
    LocalLakeResource,
    TablesResource,
    WarehouseTablesResource,
)
from platform_assets.orchestration.warehouse_resource import WarehouseResource
from platform_assets.settings import Settings, load_settings
from platform_assets.storage.delta_location import s3_root

# The S3, Delta and Postgres stacks are imported where the settings ask for them (in the
# functions below), so a local code location never loads them.


def build_s3(settings: Settings):
    """The S3 client resource: endpoint, retries and timeouts from the settings."""
    from platform_assets.orchestration.resources_s3 import RetryingS3Resource

    return RetryingS3Resource(
        endpoint_url=settings.s3_endpoint_url,
        max_attempts=settings.s3_max_attempts,
        retry_mode=settings.s3_retry_mode,
        connect_timeout_s=settings.s3_connect_timeout_s,
        read_timeout_s=settings.s3_read_timeout_s,
    )


def build_landing(settings: Settings) -> dg.ConfigurableResource:
    """The landing resource for the storage switch (local folder or S3 prefix)."""
    if settings.storage == "s3":
        from platform_assets.orchestration.resources_s3 import S3LandingResource

        return S3LandingResource(
            s3=build_s3(settings), bucket=settings.s3_bucket or "", prefix=settings.s3_prefix
        )
    return LandingResource(root=str(settings.landing_dir))


def build_lake(settings: Settings) -> LakeResource:
    """The lake for the storage switch: ``$PLATFORM_DATA_DIR/lake`` or ``<prefix>/lake/``."""
    if settings.storage == "s3":
        from platform_assets.orchestration.resources_s3 import S3LakeResource

        return S3LakeResource(
            s3=build_s3(settings), bucket=settings.s3_bucket or "", prefix=settings.s3_prefix
        )
    return LocalLakeResource(root=str(settings.lake_dir))


def build_tables(settings: Settings, warehouse: WarehouseResource) -> TablesResource:
    """Published tables for the storage switch: the warehouse file, or Delta tables under
    ``s3://<bucket>/<prefix>/tables``."""
    if settings.storage == "s3":
        from platform_assets.orchestration.resources_s3 import DeltaTablesResource

        return DeltaTablesResource(
            uri=f"{s3_root(settings)}/tables",
            endpoint_url=settings.s3_endpoint_url,
            max_attempts=settings.s3_max_attempts,
            connect_timeout_s=settings.s3_connect_timeout_s,
            request_timeout_s=settings.s3_read_timeout_s,
        )
    return WarehouseTablesResource(warehouse=warehouse)


def build_warehouse(settings: Settings) -> WarehouseResource:
    """The DuckDB warehouse file (quarantine tables, and locally the published tables) and
    where run metadata lives: the ledger and check results in that file, or in Postgres
    with ``PLATFORM_LEDGER_URL``.

    The URL becomes resource configuration, which Dagster shows in the UI, so a URL
    carrying a password is refused: the password belongs in ``PGPASSWORD``.
    """
    if settings.ledger_url:
        from platform_assets.storage.metadata_postgres import has_password

        if has_password(settings.ledger_url):
            raise ValueError(
                "PLATFORM_LEDGER_URL carries a password, which Dagster would show in the UI "
                "with the resource configuration; put the password in PGPASSWORD instead"
            )
    return WarehouseResource(
        path=str(settings.warehouse_path),
        lock_timeout_s=settings.warehouse_lock_timeout_s,
        ledger_url=settings.ledger_url,
    )


def build_resources(settings: Settings) -> dict[str, object]:
    """Resources for the environment: landing, lake and published tables on disk or in S3.

    Quarantine tables stay in the local DuckDB warehouse file; the ledger and check
    results too, unless ``PLATFORM_LEDGER_URL`` points them at Postgres.
    """
    warehouse = build_warehouse(settings)
    lake = build_lake(settings)
    tables = build_tables(settings, warehouse)
    return {
        "landing": build_landing(settings),
        "lake": lake,
        "tables": tables,
        "warehouse": warehouse,
        "lake_io_manager": LakeIOManager(lake=lake, warehouse=warehouse),
        "warehouse_io_manager": WarehouseIOManager(warehouse=warehouse, tables=tables),
    }


STEP_EXECUTOR = dg.multiprocess_executor.configured(
    {
        "max_concurrent": 1,
        "start_method": {"forkserver": {"preload_modules": ["platform_assets.tools.step_warmup"]}},
    }
)
"""Each step in a process of its own, forked from one that imported Dagster and built the
code location once per run: a step killed (out of memory, say) fails that step, and the run
goes on and ends; a step does not pay for starting Python, importing everything and
assembling the definitions again. One step at a time: every step that writes the warehouse
waits for the one-slot ``warehouse`` pool anyway, and a step blocked on the pool is retried
only after a growing back-off (1 s and up), which left the slot idle between steps."""


def build_definitions(
    settings: Settings | None = None, declarations: Sequence[Declaration] | None = None
) -> dg.Definitions:
    """All definitions of the platform for ``settings`` (default: from the environment) and
    ``declarations`` (default: every dataset module's)."""
    settings = settings or load_settings()
    resources = build_resources(settings)
    assembly = assemble(
        dataset_declarations() if declarations is None else declarations,
        Cadence.daily(settings.start_date, settings.max_partitions_per_run),
        Automation(settings.sensor_interval_s, settings.landing_quiet_s),
        resources["tables"],
    )
    return dg.Definitions(
        assets=assembly.assets,
        jobs=assembly.jobs,
        sensors=assembly.sensors,
        schedules=assembly.schedules,
        resources={**resources, CATALOG: assembly.catalog},
        executor=STEP_EXECUTOR,
    )


@functools.cache
def environment_definitions() -> dg.Definitions:
    """The code location for the environment's settings (built once per process)."""
    return build_definitions()


@dg.definitions
def defs() -> dg.Definitions:
    """What ``dagster dev`` loads: the environment's code location."""
    return environment_definitions()
