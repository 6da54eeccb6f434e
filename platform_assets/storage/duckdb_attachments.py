"""Cheap DuckDB connections to a database file: the file attached to a kept instance.

Creating a DuckDB instance costs about 15 ms (its catalog of built-in functions), and
closing one that wrote checkpoints it; a step opening a handful of short connections
paid that each time. Here each process keeps one in-memory instance per database file
and attaches the file (``ATTACH ... AS warehouse``) while at least one connection of the
process uses it; a connection is a cursor of that instance whose default catalog is the
file. When the last connection closes, the file is detached, which checkpoints it and
releases its lock, exactly as closing a connection of its own instance did: other
processes can open the file between two bursts of this one.

An instance belongs to the process that made it (a forked child makes its own). A
read-only attachment is shared by readers; a writer waits until it is released (a
reader may share a writer's attachment).
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
    users: int = 0
    read_only: bool = False
    readers: Counter[int] = field(default_factory=Counter)  # read-only users per thread


_instances: OrderedDict[tuple[int, str], _Instance] = OrderedDict()
_registry = threading.Lock()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _instance(path: Path) -> _Instance:
    """This process's instance for ``path``, made on first use (idle ones beyond
    :data:`MAX_IDLE_INSTANCES` are closed)."""
    key = (os.getpid(), str(path.absolute()))
    with _registry:
        found = _instances.get(key)
        if found is not None:
            _instances.move_to_end(key)
            return found
        idle = [k for k, v in _instances.items() if k[0] == key[0] and v.users == 0]
        for old in idle[: max(0, len(idle) - MAX_IDLE_INSTANCES + 1)]:
            _instances.pop(old).base.close()
        # spills go where DuckDB puts a file database's: beside the file
        config = {"temp_directory": f"{path.absolute()}.tmp"}
        made = _Instance(duckdb.connect(":memory:", config=config))
        _instances[key] = made
        return made


def open_attached(
    path: Path, read_only: bool, attach: Callable[[Callable[[], None]], None], wait_s: float
) -> tuple[duckdb.DuckDBPyConnection, Callable[[], None]]:
    """A connection whose default catalog is the file ``path``, and its release.

    ``attach(do)`` runs ``do`` (which attaches the file) and may retry it while another
    process holds the file's lock; ``wait_s`` bounds the wait for this process's own
    readers when a writer needs the file (:class:`TimeoutError` after it).
    """
    instance = _instance(path)
    thread = threading.get_ident()
    with instance.changed:
        if instance.read_only and instance.readers[thread] and not read_only:
            raise RuntimeError(
                f"{path}: a write connection was asked for while this thread holds a "
                "read-only one; open the write first (or share one in a session)"
            )
        if not instance.changed.wait_for(
            lambda: not (instance.users and instance.read_only and not read_only), wait_s
        ):
            raise TimeoutError(f"{path} stayed open read-only in this process for {wait_s:g}s")
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
    return con, lambda: (con.close(), _release(instance, thread, read_only))


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
                _forget(instance)  # closing the instance releases the file whatever failed
                raise
            finally:
                instance.changed.notify_all()


def _forget(instance: _Instance) -> None:
    with _registry:
        for key, value in list(_instances.items()):
            if value is instance:
                del _instances[key]
    instance.base.close()
