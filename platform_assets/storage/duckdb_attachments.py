"""Cheap DuckDB connections to a database file: the file attached to a kept instance.

Creating a DuckDB instance costs about 15 ms (its catalog of built-in functions), and
closing one that wrote checkpoints it; a step opening a handful of short connections
paid that each time. Here each process keeps one in-memory instance per database file
and attaches the file (``ATTACH ... AS warehouse``) while at least one connection of the
process uses it; a connection is a cursor of that instance whose default catalog is the
file. When the last connection closes, the file is detached, which checkpoints it and
releases its lock, exactly as closing a connection of its own instance did: other
processes can open the file between two bursts of this one.

An instance belongs to the process that made it (a forked child makes its own). Fork
only while the process has no connection open (the step executor's forkserver opens
none): DuckDB keeps the files attached in a registry a forked child inherits, so a child
forked during a connection cannot attach that file. A read-only attachment is shared by
readers; a writer waits until it is released (a reader may share a writer's attachment).
"""

from __future__ import annotations

import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

ALIAS = "warehouse"
MAX_IDLE_INSTANCES = 4  # instances kept for files no connection uses (tests use many files)


@dataclass
class _Instance:
    """One in-memory instance and the file attached to it while ``users`` > 0."""

    base: duckdb.DuckDBPyConnection
    changed: threading.Condition = field(default_factory=threading.Condition)
    users: int = 0  # open connections (under ``changed``)
    claims: int = 0  # connections open or being opened (under ``_registry``): never closed
    read_only: bool = False
    closed: bool = False  # closed after a failed detach: a new instance takes over
    readers: Counter[int] = field(default_factory=Counter)  # read-only users per thread


_instances: OrderedDict[tuple[int, str], _Instance] = OrderedDict()
_registry = threading.Lock()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _claim(path: Path) -> _Instance:
    """This process's instance for ``path`` (made on first use), claimed by the caller until
    :func:`_unclaim`; unclaimed ones beyond :data:`MAX_IDLE_INSTANCES` are closed."""
    key = (os.getpid(), str(path.absolute()))
    with _registry:
        found = _instances.get(key)
        if found is None:
            idle = [k for k, v in _instances.items() if k[0] == key[0] and not v.claims]
            for old in idle[: max(0, len(idle) - MAX_IDLE_INSTANCES + 1)]:
                _instances.pop(old).base.close()
            # spills go where DuckDB puts a file database's: beside the file
            config = {"temp_directory": f"{path.absolute()}.tmp"}
            found = _instances[key] = _Instance(duckdb.connect(":memory:", config=config))
        _instances.move_to_end(key)
        found.claims += 1
        return found


def _unclaim(instance: _Instance) -> None:
    with _registry:
        instance.claims -= 1


def open_attached(
    path: Path, read_only: bool, attach: Callable[[Callable[[], None]], None], wait_s: float
) -> tuple[duckdb.DuckDBPyConnection, Callable[[], None]]:
    """A connection whose default catalog is the file ``path``, and its release.

    ``attach(do)`` runs ``do`` (which attaches the file) and may retry it while another
    process holds the file's lock (other threads of this process wanting the file wait
    meanwhile); ``wait_s`` bounds the wait for this process's own readers when a writer
    needs the file (:class:`TimeoutError` after it).
    """
    thread = threading.get_ident()
    while True:
        instance = _claim(path)
        try:
            con = _open(instance, path, read_only, attach, wait_s, thread)
        except BaseException:
            _unclaim(instance)
            raise
        if con is not None:
            break
        _unclaim(instance)  # closed while this thread waited: a new instance takes over

    def release() -> None:
        try:
            con.close()
        finally:
            try:
                _release(instance, thread, read_only)
            finally:
                _unclaim(instance)

    return con, release


def _open(
    instance: _Instance,
    path: Path,
    read_only: bool,
    attach: Callable[[Callable[[], None]], None],
    wait_s: float,
    thread: int,
) -> duckdb.DuckDBPyConnection | None:
    """A cursor of ``instance`` using the file (attached first if no one uses it); None
    when the instance was closed meanwhile."""
    with instance.changed:
        if instance.read_only and instance.readers[thread] and not read_only:
            raise RuntimeError(
                f"{path}: a write connection was asked for while this thread holds a "
                "read-only one; open the write first (or share one in a session)"
            )
        if not instance.changed.wait_for(
            lambda: (
                instance.closed or not (instance.users and instance.read_only and not read_only)
            ),
            wait_s,
        ):
            raise TimeoutError(f"{path} stayed open read-only in this process for {wait_s:g}s")
        if instance.closed:
            return None
        if instance.users == 0:
            mode = " (READ_ONLY)" if read_only else ""
            attach(lambda: instance.base.execute(f"ATTACH {_literal(str(path))} AS {ALIAS}{mode}"))
            instance.read_only = read_only
        instance.users += 1
        instance.readers[thread] += read_only
        con = instance.base.cursor()
    try:
        con.execute(f"USE {ALIAS}")
    except BaseException:
        con.close()
        _release(instance, thread, read_only)
        raise
    return con


def _release(instance: _Instance, thread: int, read_only: bool) -> None:
    """One connection fewer; the last one detaches the file (checkpoint, lock released)."""
    with instance.changed:
        instance.users -= 1
        instance.readers[thread] -= read_only
        if not instance.readers[thread]:
            del instance.readers[thread]
        if instance.users == 0:
            try:
                instance.base.execute(f"DETACH {ALIAS}")
            except duckdb.Error:
                _close(instance)  # closing the instance releases the file whatever failed
                raise
            finally:
                instance.changed.notify_all()


def _close(instance: _Instance) -> None:
    instance.closed = True
    with _registry:
        for key, value in list(_instances.items()):
            if value is instance:
                del _instances[key]
    instance.base.close()
