"""deploy/: the production instance, workspace and image are valid for the installed Dagster.

``deploy/dagster.yaml`` goes through the loader Dagster itself uses (``InstanceRef.from_dir``:
the instance schema), then every pluggable class it names (storage, run launcher, compute
logs, ...) is imported and its ``config`` processed against that class's own
``config_type()``, as ``rehydrate`` would do without connecting to Postgres or AWS.
"""

import importlib
import json
import re
import shlex
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.ref import InstanceRef
from dagster._core.workspace.config_schema import process_workspace_config
from dagster_aws.ecs import EcsRunLauncher
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_postgres import DagsterPostgresStorage

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
INSTANCE_ENV = {
    "DAGSTER_PG_HOST": "dagster-db.internal",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "dummy-password",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_COMPUTE_LOGS_BUCKET": "compute-logs-bucket",
    "DAGSTER_COMPUTE_LOGS_PREFIX": "platform/compute-logs",
}
WORKSPACE_ENV = {"DAGSTER_CODE_LOCATION_HOST": "platform-assets.dagster.local"}
DUMMY_ENV = {**INSTANCE_ENV, **WORKSPACE_ENV}
CLASS_FIELDS = [
    "storage_data",
    "run_storage_data",
    "event_storage_data",
    "schedule_storage_data",
    "run_coordinator_data",
    "run_launcher_data",
    "compute_logs_data",
    "scheduler_data",
    "local_artifact_storage_data",
]
SECRET_KEYS = {"password", "aws_access_key_id", "aws_secret_access_key", "aws_session_token"}


@pytest.fixture(autouse=True)
def dummy_env(monkeypatch):
    """The environment variables the deploy files reference, set to dummy values."""
    for name, value in DUMMY_ENV.items():
        monkeypatch.setenv(name, value)


def load_instance(yaml_text: str, home: Path) -> tuple[InstanceRef, dict[str, dict]]:
    """Load an instance yaml as Dagster does; process each named class's config.

    Returns the ref and, per class field, the processed config. Raises
    ``DagsterInvalidConfigError`` for any error, in the instance schema or a class's.
    """
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml_text)
    ref = InstanceRef.from_dir(str(home))
    processed = {}
    for name in CLASS_FIELDS:
        data = getattr(ref, name)
        klass = getattr(importlib.import_module(data.module_name), data.class_name)
        config = yaml.safe_load(data.config_yaml) or {}
        result = process_config(resolve_to_config_type(klass.config_type()), config)
        if not result.success:
            raise DagsterInvalidConfigError(
                f"{data.module_name}.{data.class_name} in {name}", result.errors, config
            )
        processed[name] = result.value
    return ref, processed


def deploy_text(name: str) -> str:
    """The text of a file under deploy/."""
    return (DEPLOY / name).read_text()


def env_refs(node) -> set[str]:
    """Names of all ``env:`` references in a parsed yaml tree."""
    if isinstance(node, dict):
        found = {node["env"]} if set(node) == {"env"} else set()
        return found.union(*(env_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(env_refs(value) for value in node))
    return set()


def secret_values(node) -> list[object]:
    """Values stored under a secret-looking key anywhere in a parsed yaml tree."""
    if isinstance(node, dict):
        here = [value for key, value in node.items() if key in SECRET_KEYS]
        return here + [v for value in node.values() for v in secret_values(value)]
    if isinstance(node, list):
        return [v for value in node for v in secret_values(value)]
    return []


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", deploy_text("Dockerfile"))
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_instance_yaml_is_valid_for_the_installed_dagster(tmp_path):
    ref, processed = load_instance(deploy_text("dagster.yaml"), tmp_path)
    assert (ref.storage_data.module_name, ref.storage_data.class_name) == (
        "dagster_postgres",
        "DagsterPostgresStorage",
    )
    assert {getattr(ref, f).module_name for f in CLASS_FIELDS[1:4]} == {"dagster_postgres"}
    postgres = processed["storage_data"]["postgres_db"]
    assert postgres["hostname"] == DUMMY_ENV["DAGSTER_PG_HOST"]
    assert postgres["password"] == DUMMY_ENV["DAGSTER_PG_PASSWORD"]
    assert processed["compute_logs_data"]["bucket"] == DUMMY_ENV["DAGSTER_COMPUTE_LOGS_BUCKET"]
    assert processed["compute_logs_data"]["prefix"] == DUMMY_ENV["DAGSTER_COMPUTE_LOGS_PREFIX"]
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"


def test_named_classes_are_the_ecs_launcher_s3_logs_and_postgres(tmp_path):
    ref, _ = load_instance(deploy_text("dagster.yaml"), tmp_path)

    def klass(field: str) -> type:
        data = getattr(ref, field)
        return getattr(importlib.import_module(data.module_name), data.class_name)

    assert klass("run_launcher_data") is EcsRunLauncher
    assert klass("compute_logs_data") is S3ComputeLogManager
    assert klass("storage_data") is DagsterPostgresStorage


def test_limits_match_the_local_instance(tmp_path):
    deploy = yaml.safe_load(deploy_text("dagster.yaml"))
    local = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert deploy["concurrency"] == local["concurrency"]
    assert deploy["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    for key in ("enabled", "poll_interval_seconds", "free_slots_after_run_end_seconds"):
        assert deploy["run_monitoring"][key] == local["run_monitoring"][key], key
    assert deploy["run_monitoring"]["enabled"] is True
    assert deploy["telemetry"] == {"enabled": False}
    ref, _ = load_instance(deploy_text("dagster.yaml"), tmp_path)
    assert ref.settings["concurrency"]["runs"]["max_concurrent_runs"] == 4


@pytest.mark.parametrize(
    ("right", "wrong", "rejected_by"),
    [
        ("max_concurrent_runs:", "max_concurent_runs:", "dagster instance config"),
        ("    container_name: run", "    container_nme: run", "EcsRunLauncher"),
        ("skip_empty_files:", "skip_empty_file:", "S3ComputeLogManager"),
        ("      hostname:", "      host_name:", "dagster instance config"),
    ],
)
def test_a_misspelt_key_is_rejected(tmp_path, right, wrong, rejected_by):
    text = deploy_text("dagster.yaml")
    assert text.count(right) == 1
    with pytest.raises(DagsterInvalidConfigError, match=rejected_by):
        load_instance(text.replace(right, wrong), tmp_path)


def test_the_deploy_files_reference_exactly_the_known_variables():
    assert env_refs(yaml.safe_load(deploy_text("dagster.yaml"))) == set(INSTANCE_ENV)
    assert env_refs(yaml.safe_load(deploy_text("workspace.yaml"))) == set(WORKSPACE_ENV)


@pytest.mark.parametrize("name", sorted(INSTANCE_ENV))
def test_a_missing_variable_is_an_error_naming_it(tmp_path, monkeypatch, name):
    monkeypatch.delenv(name)
    with pytest.raises(DagsterInvalidConfigError, match=name):
        load_instance(deploy_text("dagster.yaml"), tmp_path)


def test_no_literal_secrets_in_deploy_files():
    for name in ("dagster.yaml", "workspace.yaml"):
        tree = yaml.safe_load(deploy_text(name))
        for value in secret_values(tree):
            assert isinstance(value, dict) and set(value) == {"env"}, (name, value)
    tree = yaml.safe_load(deploy_text("dagster.yaml"))
    assert secret_values(tree) == [{"env": "DAGSTER_PG_PASSWORD"}]
    for name in ("dagster.yaml", "workspace.yaml", "Dockerfile", "README.md"):
        text = deploy_text(name)
        assert not re.search(r"\bAKIA[0-9A-Z]{16}\b", text), name
        assert DUMMY_ENV["DAGSTER_PG_PASSWORD"] not in text, name


def test_readme_documents_every_environment_variable():
    settings_source = (REPO / "platform_assets" / "settings.py").read_text()
    read_by_platform = set(re.findall(r"env\.get\(\s*\"([A-Z0-9_]+)\"", settings_source))
    assert {"PLATFORM_STORAGE", "PLATFORM_S3_MAX_ATTEMPTS"} <= read_by_platform
    referenced = env_refs(yaml.safe_load(deploy_text("dagster.yaml")))
    referenced |= env_refs(yaml.safe_load(deploy_text("workspace.yaml")))
    table_rows = [line for line in deploy_text("README.md").splitlines() if line.startswith("|")]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", "\n".join(table_rows)))
    expected = read_by_platform | referenced | {"DAGSTER_HOME", "DAGSTER_CURRENT_IMAGE"}
    assert expected - documented == set()
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} <= documented


def test_workspace_points_at_the_code_server_of_the_image():
    config = yaml.safe_load(deploy_text("workspace.yaml"))
    result = process_workspace_config(config)
    assert result.success, result.errors
    [entry] = result.value["load_from"]
    server = entry["grpc_server"]
    assert server["host"] == DUMMY_ENV["DAGSTER_CODE_LOCATION_HOST"]
    cmd = dict(dockerfile_instructions())["CMD"]
    args = json.loads(cmd)
    assert str(server["port"]) == args[args.index("--port") + 1]
    assert server["location_name"] == args[args.index("--location-name") + 1]


def test_dockerfile_serves_the_real_definitions_as_non_root():
    instructions = dockerfile_instructions()
    values = dict(instructions)  # the last of each instruction wins, as in Docker
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert ("RUN", "pip install .") in instructions
    assert values["USER"] not in {"root", "0"}
    assert values["EXPOSE"] == "4000"

    args = json.loads(values["CMD"])  # exec form
    assert args[:3] == ["dagster", "code-server", "start"]
    assert args[args.index("--port") + 1] == "4000"
    assert args[args.index("--host") + 1] == "0.0.0.0"
    module = importlib.import_module(args[args.index("--module-name") + 1])
    target = getattr(module, args[args.index("--attribute") + 1])  # a @dg.definitions loader
    assert isinstance(target(), dg.Definitions)


def test_dockerfile_copies_existing_files_and_the_instance_into_dagster_home():
    instructions = dockerfile_instructions()
    env = " ".join(args for kind, args in instructions if kind == "ENV")
    dagster_home = re.search(r"DAGSTER_HOME=(\S+)", env).group(1)
    copies = [shlex.split(args) for kind, args in instructions if kind == "COPY"]
    for *sources, _ in copies:
        for source in (s for s in sources if not s.startswith("--")):
            assert (REPO / source).exists(), source
    [instance_copy] = [c for c in copies if "deploy/dagster.yaml" in c]
    assert instance_copy[-1].rstrip("/") == dagster_home
