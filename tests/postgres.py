"""A private PostgreSQL cluster for the tests: Debian's server binaries, one database per test.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres``
user (``runuser -u postgres --``). The server listens on a free loopback port and a
socket in its own directory, with trust authentication except for :data:`PASSWORD_USER`,
who must give a password (to test how a wrong one is reported).
"""

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

READY_DEADLINE_S = 30.0
SUPERUSER = "postgres"
PASSWORD_USER = "ledger_pw_user"
PASSWORD = "pg-canary-Secret-7f3a"
_DATABASES = itertools.count()
_HBA = f"""\
local all all trust
host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
"""


@dataclass(frozen=True)
class PostgresServer:
    """A running cluster on loopback."""

    port: int
    socket_dir: Path

    def url(self, database: str, user: str = SUPERUSER, password: str | None = None) -> str:
        """A ``postgresql://`` URL for ``database`` on this server."""
        login = f"{user}:{password}" if password is not None else user
        return f"postgresql://{login}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database; return its name."""
        name = f"test_{os.getpid()}_{next(_DATABASES)}"
        self.admin(f'CREATE DATABASE "{name}"')
        return name

    def admin(self, sql: str) -> None:
        """Run one statement as the superuser, outside a transaction."""
        con = psycopg2.connect(self.url("postgres"))
        con.autocommit = True
        try:
            with con.cursor() as cursor:
                cursor.execute(sql)
        finally:
            con.close()


def _bin_dir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        pytest.fail(
            "PostgreSQL server binaries not found: apt-get install postgresql (.ci/run does)"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_owner(args: list[str]) -> list[str]:
    """``args`` run as the cluster's owner: ``postgres`` when we are root, else ourselves."""
    return ["runuser", "-u", SUPERUSER, "--", *args] if os.geteuid() == 0 else args


def _accepts_connections(url: str) -> bool:
    try:
        psycopg2.connect(url, connect_timeout=1).close()
    except psycopg2.OperationalError:
        return False
    return True


def _wait_until_ready(server: PostgresServer, log: Path) -> None:
    deadline = time.monotonic() + READY_DEADLINE_S
    url = server.url("postgres")
    delay = 0.02
    while not _accepts_connections(url):
        if time.monotonic() > deadline:
            detail = log.read_text() if log.exists() else "(no log)"
            raise RuntimeError(f"PostgreSQL not ready after {READY_DEADLINE_S}s:\n{detail}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


@pytest.fixture(scope="session")
def postgres_server():
    """Start a private cluster for the session; stop and delete it at the end."""
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="platform-pg-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    if os.geteuid() == 0:
        owner = pwd.getpwnam(SUPERUSER)
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust"]
    subprocess.run(
        _as_owner([*initdb, "-E", "UTF8", "--no-sync", "--no-instructions"]),
        check=True,
        capture_output=True,
    )
    (data / "pg_hba.conf").write_text(_HBA)
    server = PostgresServer(_free_port(), sockets)
    options = (
        f"-p {server.port} -c listen_addresses=127.0.0.1 -k {sockets} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    pg_ctl = str(bin_dir / "pg_ctl")
    subprocess.run(
        _as_owner([pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-W", "start"]),
        check=True,
        capture_output=True,
    )
    try:
        _wait_until_ready(server, log)
        server.admin(f"CREATE ROLE {PASSWORD_USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
        yield server
    finally:
        subprocess.run(
            _as_owner([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A new, empty database on the session's cluster (superuser, trust auth)."""
    return postgres_server.url(postgres_server.new_database())
