"""Sessions: one connection per key shared by everything inside a ``with`` block.

A session opens its connection on first use (so a session that never touches a
database never connects to it, nor locks its file) and closes it when the block ends.
"""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

Connection = TypeVar("Connection")
Opener = Callable[[], AbstractContextManager[Connection]]


class _Lazy(Generic[Connection]):
    """A connection opened on first use and closed with :meth:`close`."""

    def __init__(self, opener: Opener):
        self._opener = opener
        self._stack = ExitStack()
        self._connection: Connection | None = None

    def get(self) -> Connection:
        if self._connection is None:
            self._connection = self._stack.enter_context(self._opener())
        return self._connection

    def close(self) -> None:
        self._connection = None
        self._stack.close()


class SharedConnections(Generic[Connection]):
    """Per context (thread, task): the open sessions' connections by key (path or URL)."""

    def __init__(self, name: str):
        self._sessions: ContextVar[dict[str, _Lazy] | None] = ContextVar(name, default=None)

    @contextmanager
    def connect(self, key: str, opener: Opener) -> Iterator[Connection]:
        """The open session's connection for ``key``, else a new one closed after the block."""
        shared = (self._sessions.get() or {}).get(key)
        if shared is not None:
            yield shared.get()
            return
        with opener() as connection:
            yield connection

    @contextmanager
    def session(self, key: str, opener: Opener) -> Iterator[None]:
        """Share one connection for ``key`` (opened on first use) inside the block."""
        current = self._sessions.get() or {}
        if key in current:
            yield
            return
        shared = _Lazy(opener)
        token = self._sessions.set({**current, key: shared})
        try:
            yield
        finally:
            self._sessions.reset(token)
            shared.close()
