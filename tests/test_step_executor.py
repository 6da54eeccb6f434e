"""The jobs' executor: a step killed from outside fails that step only, the run ends and
frees its pool slot (the local run launcher cannot see a dead run process)."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg

from platform_assets.definitions import STEP_EXECUTOR
from platform_assets.orchestration.planner import catalog_of

POOL = "warehouse"
REPO = Path(__file__).resolve().parents[1]


@dg.asset(pool=POOL)
def killed() -> None:
    """Dies as an out-of-memory kill would take it."""
    os.kill(os.getpid(), signal.SIGKILL)


@dg.asset(pool=POOL)
def independent() -> int:
    return 1


def killing_job() -> dg.JobDefinition:
    """A job of the two assets on the platform's executor."""
    defs = dg.Definitions(
        assets=[killed, independent],
        jobs=[dg.define_asset_job("killing_job", executor_def=STEP_EXECUTOR)],
    )
    return defs.resolve_job_def("killing_job")


def test_every_job_runs_on_the_step_executor(defs):
    for job in catalog_of(defs).jobs:
        assert defs.resolve_job_def(job).executor_def is STEP_EXECUTOR, job


def test_a_killed_step_fails_alone_and_the_run_ends_and_frees_its_slot(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "concurrency:\n  pools:\n    default_limit: 1\n    granularity: op\n"
        "telemetry:\n  enabled: false\n"
    )
    worker = textwrap.dedent(
        """
        import dagster as dg
        from tests.test_step_executor import killing_job
        with dg.DagsterInstance.get() as instance:
            dg.execute_job(dg.reconstructable(killing_job), instance, raise_on_error=False)
        """
    )
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)}
    # the run worker, as the run launcher starts it
    done = subprocess.run([sys.executable, "-c", worker], cwd=REPO, env=env, timeout=300)
    assert done.returncode == 0, "the killed step took the run's process with it"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        steps = {
            event.dagster_event.step_key: event.dagster_event_type
            for event in instance.all_logs(run.run_id)
            if event.dagster_event_type
            in {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
        }
        assert run.status == dg.DagsterRunStatus.FAILURE
        assert steps == {
            "killed": dg.DagsterEventType.STEP_FAILURE,
            "independent": dg.DagsterEventType.STEP_SUCCESS,
        }
        assert instance.event_log_storage.get_concurrency_info(POOL).claimed_slots == []


@dg.asset
def plain() -> int:
    return 1


def plain_job() -> dg.JobDefinition:
    """A one-asset job on the platform's executor (not the environment's code location)."""
    defs = dg.Definitions(
        assets=[plain], jobs=[dg.define_asset_job("plain_job", executor_def=STEP_EXECUTOR)]
    )
    return defs.resolve_job_def("plain_job")


def test_steps_run_when_the_warm_up_cannot_build_the_code_location(tmp_path):
    """The forkserver's warm-up builds the environment's code location; settings it cannot
    read must not kill the forkserver (and with it every step: "unexpected EOF")."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    worker = textwrap.dedent(
        """
        import dagster as dg
        from tests.test_step_executor import plain_job
        with dg.DagsterInstance.get() as instance:
            result = dg.execute_job(dg.reconstructable(plain_job), instance, raise_on_error=False)
            raise SystemExit(0 if result.success else 1)
        """
    )
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)}
    env["PLATFORM_SENSOR_INTERVAL_S"] = "not a number"  # load_settings raises ValueError
    done = subprocess.run([sys.executable, "-c", worker], cwd=REPO, env=env, timeout=300)
    assert done.returncode == 0, "the run failed: the warm-up's error reached the steps"
