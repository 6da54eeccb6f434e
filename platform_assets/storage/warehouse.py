"""Short-lived, retrying connections to the DuckDB warehouse file.

The write path (``connect`` and the write strategies) does not import Dagster,
so writer processes start fast; the Dagster resource around :func:`connect` is
:class:`platform_assets.orchestration.warehouse_resource.WarehouseResource`.
"""

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path

import duckdb
import polars as pl

from platform_assets.storage.duckdb_attachments import open_attached

# Another process holds the file, or is creating it right now (a new file's header is
# written just after the file appears: several first writers at once see it half-made).
_LOCK_MARKERS = ("could not set lock", "conflicting lock", "not a valid duckdb database file")
_jitter = random.Random()


class WarehouseLockTimeout(RuntimeError):
    """The warehouse file stayed locked by another process for longer than allowed."""


def quote_ident(name: str) -> str:
    """Quote one SQL identifier for DuckDB (doubling embedded quotes)."""
    return '"' + name.replace('"', '""') + '"'


def qualified(table: str) -> str:
    """Quote a ``schema.table`` name part by part."""
    return ".".join(quote_ident(part) for part in table.split("."))


def _is_lock_error(exc: Exception) -> bool:
    return any(marker in str(exc).lower() for marker in _LOCK_MARKERS)


@contextmanager
def connect(
    path: Path, timeout_s: float = 120.0, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open ``path``, retrying with jittered backoff while another process holds the lock.

    The connection is always closed on exit, also when the body raises, so a
    failed write never leaves the file locked (the file is attached to a DuckDB
    instance this process keeps, and detached when its last connection closes:
    :mod:`~platform_assets.storage.duckdb_attachments`). After ``timeout_s`` seconds
    of waiting, :class:`WarehouseLockTimeout` is raised. The session's time zone is
    UTC whatever the machine's ``TZ`` (see :func:`use_utc`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s

    def attach(do: Callable[[], None]) -> None:
        delay = 0.01
        while True:
            try:
                do()
                return
            except duckdb.Error as exc:
                if not _is_lock_error(exc):
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WarehouseLockTimeout(
                        f"warehouse {path} stayed locked by another process for "
                        f"{timeout_s:g}s: {exc}"
                    ) from exc
                time.sleep(min(remaining, delay * (0.5 + _jitter.random())))
                delay = min(delay * 2, 0.25)

    try:
        con, release = open_attached(path, read_only and path.exists(), attach, timeout_s)
    except TimeoutError as exc:
        raise WarehouseLockTimeout(str(exc)) from exc
    try:
        use_utc(con)
        yield con
    finally:
        release()


def use_utc(con: duckdb.DuckDBPyConnection) -> None:
    """Set the session's time zone to UTC (built-in ICU).

    DuckDB formats, truncates and casts ``TIMESTAMPTZ`` values in the session's
    time zone, which defaults to the machine's ``TZ``.
    """
    con.execute("SET TimeZone = 'UTC'")


def query_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None
) -> pl.DataFrame:
    """Run a query with bound parameters (positional or ``$named``) as a polars DataFrame
    (through the Arrow C stream interface: no pyarrow, no copy through it)."""
    return pl.DataFrame(con.sql(sql, params=params or []))


class FrameStream:
    """A polars frame as DuckDB scans it: an Arrow C stream, opened anew by every scan.

    Registering the frame itself would convert it with pyarrow (importing it, about 75 ms,
    and copying every column); the stream hands polars' buffers over as they are.
    """

    def __init__(self, frame: pl.DataFrame):
        self.frame = frame

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """The frame's Arrow C stream (the PyCapsule interface)."""
        return self.frame.__arrow_c_stream__(requested_schema)


_OPEN_TRANSACTION: ContextVar[duckdb.DuckDBPyConnection | None] = ContextVar(
    "platform_open_transaction", default=None
)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction on ``con``: committed at the end, rolled back on error.

    Reentrant: inside an open transaction on the same connection the block joins
    it, so a table write and its ledger record can commit together. On failure
    the original error is raised (a failing ROLLBACK, e.g. after a failed COMMIT
    that already ended the transaction, does not mask it).
    """
    if _OPEN_TRANSACTION.get() is con:
        yield
        return
    con.execute("BEGIN TRANSACTION")
    token = _OPEN_TRANSACTION.set(con)
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        with suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        _OPEN_TRANSACTION.reset(token)
