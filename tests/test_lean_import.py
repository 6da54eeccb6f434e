"""The local path loads nothing of the S3, Delta or Postgres stacks, nor pyarrow (issue 18, item 3).

A real child process imports the definitions, builds the code location for local
settings, and launches the sample's first day through every job (staging, merge,
marts, checks, ledger), as ``make demo`` does; then it lists the modules it loaded.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REMOTE_STACKS = {"boto3", "botocore", "s3transfer", "dagster_aws", "deltalake", "psycopg2"}
# pyarrow too: polars frames reach DuckDB and back through the Arrow C stream interface
NOT_ON_THE_LOCAL_PATH = REMOTE_STACKS | {"pyarrow"}

CHILD = """
import json, sys
from platform_assets.tools import launch
code = launch.main(["--start", "2024-01-01", "--days", "1"])
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def loaded_by(code: str, data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_", "AWS_"))}
    env |= {"PLATFORM_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "home")}
    (data_dir / "home").mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_local_launch_loads_no_remote_stack(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "platform_assets.sample",
            "--start",
            "2024-01-01",
            "--days",
            "1",
            "--orders-per-day",
            "20",
            "--seed",
            "1",
        ],
        cwd=REPO,
        env={**os.environ, "PLATFORM_DATA_DIR": str(tmp_path)},
        check=True,
        capture_output=True,
    )
    child = loaded_by(CHILD, tmp_path)
    assert child["code"] == 0
    assert "dagster" in child["modules"] and "duckdb" in child["modules"]  # it did run
    assert NOT_ON_THE_LOCAL_PATH & set(child["modules"]) == set()


def test_the_check_sees_a_remote_stack_when_one_is_loaded(tmp_path):
    """Not vacuous: the same listing names boto3 once anything imports it."""
    child = loaded_by(CHILD.replace("import json, sys", "import json, sys, boto3"), tmp_path)
    assert "boto3" in child["modules"]
