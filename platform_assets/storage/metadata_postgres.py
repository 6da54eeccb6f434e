"""Run metadata in PostgreSQL (``PLATFORM_LEDGER_URL``), shared by every run and ECS task.

Connections are short-lived (one per bookkeeping burst) and autocommit unless in
a transaction; :func:`postgres_session` shares one across a burst. The password
comes from the URL or from libpq's standard ``PGPASSWORD`` variable and never
appears in an error raised here: see :func:`redact_url`.
"""

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import polars as pl
import psycopg2
import psycopg2.extensions

from platform_assets.core.metadata import POSTGRES, MetadataConnection
from platform_assets.storage.metadata_session import SharedConnections

CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "platform_assets"
SCHEMES = ("postgresql", "postgres")
# First key of this package's advisory locks (the second is a hash of the locked name).
LOCK_NAMESPACE = 0x706C6174
_SESSIONS: SharedConnections = SharedConnections("platform_metadata_session")
_ENSURED: set[tuple[str, str]] = set()
_ENSURED_LOCK = threading.Lock()


class MetadataDatabaseError(RuntimeError):
    """The run-metadata database cannot be reached or the URL is invalid (no password shown)."""


def _passwords(url: str) -> set[str]:
    """Every password ``url`` carries: in its userinfo or as a ``password=`` parameter."""
    parts = urlsplit(url)
    found = {parts.password or ""}
    found |= set(parse_qs(parts.query).get("password", []))
    return {p for secret in found for p in (secret, unquote(secret), quote(secret)) if p}


def has_password(url: str) -> bool:
    """Whether ``url`` carries a password (userinfo or ``password=`` parameter)."""
    return bool(_passwords(url))


def redact_url(url: str) -> str:
    """``url`` with its password, if any (userinfo or ``password=``), replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    query = [
        (key, "***" if key == "password" else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def _scrub(text: str, url: str) -> str:
    """``text`` with the URL's passwords (raw and percent-coded) replaced by ``***``."""
    for secret in sorted(_passwords(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _error(what: str, url: str, exc: Exception) -> MetadataDatabaseError:
    detail = _scrub(str(exc).strip(), url)
    return MetadataDatabaseError(f"{what} {redact_url(url)}: {detail}")


def _connection_parameters(url: str) -> dict[str, str]:
    """libpq parameters of ``url`` with this package's defaults for what it leaves unset."""
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        raise MetadataDatabaseError("PLATFORM_LEDGER_URL is not a valid URL") from None
    if scheme not in SCHEMES:
        # Not the value: a libpq "key=value" string would show its password.
        raise MetadataDatabaseError(
            f"PLATFORM_LEDGER_URL must be a postgresql:// URL, not scheme {scheme!r}"
        )
    try:
        parsed = psycopg2.extensions.parse_dsn(url)
    except psycopg2.Error as exc:
        raise _error("invalid PLATFORM_LEDGER_URL", url, exc) from None
    defaults = {"connect_timeout": str(CONNECT_TIMEOUT_S), "application_name": APPLICATION_NAME}
    return {**defaults, **parsed}


@contextmanager
def _open(url: str) -> Iterator[psycopg2.extensions.connection]:
    """A new autocommit connection in UTC (whatever the server default), closed after the block."""
    parameters = _connection_parameters(url)
    try:
        con = psycopg2.connect(**parameters)
    except psycopg2.Error as exc:
        # Not chained: the driver's own exception text is not guaranteed to be password-free.
        raise _error("cannot connect to the run-metadata database", url, exc) from None
    con.autocommit = True
    try:
        with con.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
        yield con
    finally:
        con.close()


@contextmanager
def postgres_connection(url: str) -> Iterator["PostgresMetadata"]:
    """The open session's connection to ``url``, or a new one closed after the block."""
    with _SESSIONS.connect(url, partial(_open, url)) as con:
        yield PostgresMetadata(con, url)


def postgres_session(url: str) -> AbstractContextManager[None]:
    """Share one connection to ``url`` (opened on first use) inside the block."""
    return _SESSIONS.session(url, partial(_open, url))


def _placeholders(sql: str) -> str:
    """DuckDB-style ``?`` placeholders as psycopg2's ``%s`` (literal ``%`` doubled).

    The package's metadata SQL has no ``?`` inside literals or identifiers.
    """
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresMetadata(MetadataConnection):
    """Run metadata in a PostgreSQL database, through one psycopg2 connection."""

    dialect = POSTGRES

    def __init__(self, con: psycopg2.extensions.connection, url: str):
        self.con = con
        self._url = url

    def _run(self, sql: str, params: Sequence | None) -> psycopg2.extensions.cursor:
        cursor = self.con.cursor()
        if params is None:
            cursor.execute(sql)
        else:
            cursor.execute(_placeholders(sql), list(params))
        return cursor

    def execute(self, sql: str, params: Sequence | None = None) -> None:
        """Run one statement with ``?`` placeholders bound to ``params``."""
        self._run(sql, params).close()

    def query(self, sql: str, params: Sequence | None = None) -> list[tuple]:
        """Run a query and return all its rows."""
        with self._run(sql, params if params is not None else []) as cursor:
            return cursor.fetchall()

    def frame(self, sql: str, params: Sequence | None = None) -> pl.DataFrame:
        """Run a query and return its rows as a polars DataFrame."""
        with self._run(sql, params if params is not None else []) as cursor:
            names = [column.name for column in cursor.description]
            return pl.DataFrame(cursor.fetchall(), schema=names, orient="row")

    def ensure(self, name: str, ddl: str) -> None:
        """Run ``ddl`` once per process and database, serialized across processes.

        Concurrent ``CREATE TABLE IF NOT EXISTS`` can fail in PostgreSQL, so the
        DDL runs under a transaction-scoped advisory lock.
        """
        key = (self._url, name)
        with _ENSURED_LOCK:
            if key in _ENSURED:
                return
        if self.con.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            # Inside a transaction that may still roll back (and take the DDL with it while
            # this process would remember it as done): create on a connection of its own.
            # The open transaction holds no lock on this table yet: every use ensures first.
            with _open(self._url) as own:
                PostgresMetadata(own, self._url).ensure(name, ddl)
            return
        with self.transaction():
            self.lock([f"ddl:{name}"])
            self.execute(ddl)
        with _ENSURED_LOCK:
            _ENSURED.add(key)

    def lock(self, keys: Iterable[str]) -> None:
        """Take a transaction-scoped advisory lock per key, in sorted order (no deadlocks)."""
        for key in sorted(set(keys)):
            self.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", [LOCK_NAMESPACE, key])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction, or the block joins the one already open on this connection."""
        status = self.con.info.transaction_status
        if status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            yield
            return
        with super().transaction():
            yield
