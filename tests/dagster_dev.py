"""A real ``dagster dev`` (webserver + daemon) for tests: free port, temporary home and data.

Polls real conditions with deadlines; never sleeps as synchronisation.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCATION = "platform_assets"
REPOSITORY = "__repository__"
POLL_S = 0.5
FINISHED_RUN = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout_s: float, what: str):
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(POLL_S)
    raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what} (last: {last!r})")


class DagsterDev:
    """One ``dagster dev`` process group with its own DAGSTER_HOME and data root."""

    def __init__(self, root: Path, extra_env: dict[str, str] | None = None):
        self.home = root / "dagster_home"
        self.data_dir = root / "data"
        self.log_path = root / "dagster_dev.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home.mkdir(parents=True)
        self.data_dir.mkdir(parents=True)
        shutil.copy(REPO / "dagster.yaml", self.home / "dagster.yaml")
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "PLATFORM_DATA_DIR": str(self.data_dir),
            "PLATFORM_SENSOR_INTERVAL_S": "2",
            "DAGSTER_DISABLE_TELEMETRY": "yes",
            **(extra_env or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 180) -> "DagsterDev":
        """Start webserver + daemon and wait until the code location is loaded."""
        dagster = Path(sys.executable).with_name("dagster")
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(self.port), "-w", "workspace.yaml"],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(
            self._location_loaded, timeout_s, f"dagster dev on {self.url} (log {self.log_path})"
        )
        return self

    def _location_loaded(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"dagster dev exited: {self.log_path.read_text()[-3000:]}")
        try:
            data = self.graphql(
                "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
            )
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
        entries = data["workspaceOrError"]["locationEntries"]
        loaded = [e for e in entries if e["name"] == LOCATION and e["loadStatus"] == "LOADED"]
        if loaded and loaded[0]["locationOrLoadError"]["__typename"] == "PythonError":
            raise RuntimeError(loaded[0]["locationOrLoadError"]["message"])
        return bool(loaded)

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        """POST a GraphQL query to the webserver; raise on GraphQL errors."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def runs(self, tags: dict[str, str]) -> list[dict]:
        """Runs carrying all ``tags``: id, status and tags."""
        data = self.graphql(
            "query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results { "
            "runId status tags { key value } } } } }",
            {"f": {"tags": [{"key": k, "value": v} for k, v in tags.items()]}},
        )
        return data["runsOrError"]["results"]

    def launch_backfill(self, params: dict) -> str:
        """Launch a partition backfill (the UI's mutation); return its id."""
        data = self.graphql(
            "mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) "
            "{ __typename ... on LaunchBackfillSuccess { backfillId } "
            "... on PythonError { message } ... on InvalidSubsetError { message } } }",
            {"p": params},
        )
        result = data["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"backfill not launched: {result}")
        return result["backfillId"]

    def backfill_status(self, backfill_id: str) -> str:
        """The backfill's status (REQUESTED, COMPLETED_SUCCESS, ...)."""
        data = self.graphql(
            "query($id: String!) { partitionBackfillOrError(backfillId: $id) { "
            "... on PartitionBackfill { status } } }",
            {"id": backfill_id},
        )
        return data["partitionBackfillOrError"]["status"]

    def poll_graphql(self, query: str, variables: dict | None = None) -> dict | None:
        """``graphql`` for polling loops: a transient server error (HTTP 5xx, e.g. SQLite
        busy while the daemon writes) gives None, so the caller's deadline decides."""
        try:
            return self.graphql(query, variables)
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                raise
            return None

    def run_status(self, run_id: str) -> str | None:
        """The run's status (QUEUED, STARTED, SUCCESS, FAILURE, ...); None on a server hiccup."""
        data = self.poll_graphql(
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id}
        )
        return data and data["runOrError"]["status"]

    def wait_run(self, run_id: str, timeout_s: float) -> str:
        """Wait until the run has finished; return its final status."""
        return wait_for(
            lambda: (status := self.run_status(run_id)) in FINISHED_RUN and status,
            timeout_s,
            f"run {run_id} to finish",
        )

    def wait_backfill(self, backfill_id: str, timeout_s: float) -> str:
        """Wait until the backfill is no longer in progress; return its final status."""

        def finished() -> str | None:
            data = self.poll_graphql(
                "query($id: String!) { partitionBackfillOrError(backfillId: $id) { "
                "... on PartitionBackfill { status } } }",
                {"id": backfill_id},
            )
            status = data and data["partitionBackfillOrError"]["status"]
            return status if status not in {None, "REQUESTED", "CANCELING"} else None

        return wait_for(finished, timeout_s, f"backfill {backfill_id} to finish")

    def stop_automation(self, timeout_s: float = 60) -> dict[str, str]:
        """Stop every sensor and schedule of the code location (the UI's toggles).

        Returns each instigator's status afterwards, for the caller to assert on.
        """
        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
        query = (
            "query($r: RepositorySelector!) { repositoryOrError(repositorySelector: $r) { "
            "... on Repository { sensors { id name sensorState { status } } "
            "schedules { id name scheduleState { status } } } } }"
        )
        stop_sensor = "mutation($id: String) { stopSensor(id: $id) { __typename } }"
        stop_schedule = "mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }"

        def all_stopped() -> dict[str, str] | None:
            data = self.poll_graphql(query, {"r": selector})
            if data is None:
                return None
            repository = data["repositoryOrError"]
            states = {
                **{
                    s["name"]: (s["id"], s["sensorState"]["status"], stop_sensor)
                    for s in repository["sensors"]
                },
                **{
                    s["name"]: (s["id"], s["scheduleState"]["status"], stop_schedule)
                    for s in repository["schedules"]
                },
            }
            for state_id, status, mutation in states.values():
                if status != "STOPPED":
                    self.poll_graphql(mutation, {"id": state_id})
            statuses = {name: status for name, (_, status, _) in states.items()}
            return statuses if set(statuses.values()) == {"STOPPED"} else None

        return wait_for(all_stopped, timeout_s, "every sensor and schedule to stop")

    def stop(self) -> None:
        """Stop the whole process group (webserver, daemon, code servers, runs)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
