"""LocalLake: atomic Parquet replace under SIGKILL and concurrency, and no escaping the root."""

from __future__ import annotations

import collections
import random
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from platform_assets.storage.lake import LocalLake
from tests.io.writer_child import lake_frame

REPO = Path(__file__).resolve().parents[2]
RELPATH = "staging/orders/dt=2024-01-02/part-00000.parquet"
ROWS = 500_000
KILLS = 12


def _spawn(root: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.io.writer_child", "lake", str(root), RELPATH, str(ROWS)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return proc


def _wait_ready(proc: subprocess.Popen) -> None:
    readable, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline().decode() if readable else ""
    if not line.startswith("ready"):
        proc.kill()
        pytest.fail(f"lake child did not start: {line!r} {proc.communicate()[1].decode()[-2000:]}")


def test_sigkilled_writer_never_leaves_a_partial_file(tmp_path):
    root = tmp_path / "lake"
    lake = LocalLake(root)
    versions = [lake_frame(0, ROWS), lake_frame(1, ROWS)]
    lake.write_parquet(RELPATH, versions[0])
    final = root / RELPATH
    rng = random.Random(7)
    phases: collections.Counter[str] = collections.Counter()
    spare = [_spawn(root)]
    try:
        for kill in range(KILLS):
            proc = spare.pop()
            spare.append(_spawn(root))
            _wait_ready(proc)
            go = time.monotonic()
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
            delay = 0.02 + 0.3 * (kill + rng.random()) / KILLS  # spread over several writes
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=delay)  # the child writes in a loop until it is killed
            proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            markers = [line.split()[0] for line in out.decode().splitlines()]
            last = markers[-1] if markers else "ready"
            phases["mid-write" if last.startswith("writing") else "between writes"] += 1
            # the final path always holds a complete file: one of the two versions
            on_disk = pl.read_parquet(final)
            matches = [i for i, frame in enumerate(versions) if on_disk.equals(frame)]
            assert len(matches) == 1, f"partial or foreign file after a kill at {last}"
            if last.startswith("written-"):
                assert matches == [int(last[-1])], "a completed replace is not visible"
            assert time.monotonic() - go < 30
    finally:
        for proc in spare:
            proc.kill()
            proc.communicate()
    visible = [p.name for p in final.parent.iterdir() if not p.name.startswith(".")]
    assert visible == ["part-00000.parquet"]  # leftovers of killed writers are hidden temps
    print(f"\n[lake] kills={KILLS} {dict(phases)}")
    assert phases["mid-write"] >= 3


def test_concurrent_writers_in_one_process_do_not_share_a_temp_file(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    versions = [lake_frame(0, 20_000), lake_frame(1, 20_000)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(version: int) -> None:
        start.wait(timeout=30)
        try:
            for _ in range(25):
                lake.write_parquet(RELPATH, versions[version])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(v,)) for v in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    on_disk = pl.read_parquet(tmp_path / "lake" / RELPATH)
    assert on_disk.equals(versions[0]) or on_disk.equals(versions[1])
    assert sorted(p.name for p in (tmp_path / "lake" / RELPATH).parent.iterdir()) == [
        "part-00000.parquet"
    ]


@pytest.mark.parametrize(
    "relpath",
    ["../outside.parquet", "a/../../outside.parquet", "/tmp/outside.parquet", "", ".", "link/x"],
)
def test_paths_escaping_the_root_are_rejected(tmp_path, relpath):
    root = tmp_path / "lake"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    lake = LocalLake(root)
    frame = lake_frame(0, 10)
    with pytest.raises(ValueError, match="escapes the lake root"):
        lake.write_parquet(relpath, frame)
    with pytest.raises(ValueError, match="escapes the lake root"):
        lake.read_parquet([relpath])
    with pytest.raises(ValueError, match="escapes the lake root"):
        lake.exists(relpath)
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "lake"]


def test_write_replaces_and_reads_back(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    assert not lake.exists(RELPATH)
    lake.write_parquet(RELPATH, lake_frame(0, 100))
    lake.write_parquet(RELPATH, lake_frame(1, 100))
    assert lake.exists(RELPATH)
    assert lake.read_parquet([RELPATH]).equals(lake_frame(1, 100))
    folder = (tmp_path / "lake" / RELPATH).parent
    assert [p.name for p in folder.iterdir()] == ["part-00000.parquet"]  # no temp file left
