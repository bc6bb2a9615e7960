"""Storage with SQLAlchemy Core (async): SQLite by default, PostgreSQL when configured.

One code path, two engines. Each service owns its data: its own SQLite file, or its own schema
when several services share one PostgreSQL database. Migrations are ordered, named steps applied
once each and recorded in `schema_migrations`, under a lock so that replicas can start together.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import orjson
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import event
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.base import Executable

from runtime import logs

log = logs.get(__name__)


# An increasing row number: BIGINT on PostgreSQL, INTEGER on SQLite (only an INTEGER PRIMARY KEY
# is SQLite's auto-incrementing rowid).
SEQUENCE = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def now_us() -> int:
    """Timestamps are stored as integer microseconds since the epoch: portable and fast."""
    return time.time_ns() // 1000


def timestamp(us: int) -> Timestamp:
    """A stored time as the contract's `google.protobuf.Timestamp`."""
    return Timestamp(seconds=us // 1_000_000, nanos=(us % 1_000_000) * 1000)


async def page(
    conn: Reader, query: sa.Select[Any], *, position: sa.ColumnElement[Any], after: int, limit: int
) -> tuple[list[sa.Row[Any]], int | None]:
    """One page of `query` ordered by `position` (an increasing integer column), starting after
    `after`, and the position to continue after (None on the last page)."""
    rows = list(
        (
            await conn.execute(query.where(position > after).order_by(position).limit(limit + 1))
        ).all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (int(rows[-1]._mapping[position.key]) if more else None)


async def page_newest_first(
    conn: Reader, query: sa.Select[Any], *, position: sa.ColumnElement[Any], before: int, limit: int
) -> tuple[list[sa.Row[Any]], int | None]:
    """One page of `query`, newest first by `position` (an increasing integer column), below
    `before` (0: from the newest), and the position to continue below (None on the last page)."""
    if before:
        query = query.where(position < before)
    rows = list((await conn.execute(query.order_by(position.desc()).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (int(rows[-1]._mapping[position.key]) if more else None)


@dataclass(frozen=True)
class Migration:
    """One schema step; `apply` runs inside the migration transaction."""

    id: str
    apply: Callable[[Connection], None]


migrations_table = sa.Table(
    "schema_migrations",
    sa.MetaData(),
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("applied_us", sa.BigInteger, nullable=False),
)


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the writer; FULL makes an acknowledged commit survive power loss.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class SQLiteReader:
    """Reads on SQLite, run inline on the event loop through one read-only connection.

    A primary-key read from SQLite's page cache takes tens of microseconds; sending it to
    aiosqlite's worker thread and back costs ten times that. Writes still go through the async
    engine, so an fsync never blocks the loop. Results are buffered: no read snapshot stays open.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        return self._conn.execute(statement, parameters, execution_options=_BUFFERED)

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any:
        return self._conn.scalar(statement, parameters)

    async def first_row(self, statement: sa.Select[Any], parameters: dict[str, Any]) -> Any:
        """The first row of a select built once, as sqlite3's plain tuple (or None), straight
        from the driver: for the hottest reads, where SQLAlchemy's execution layer costs more
        than SQLite's read itself. Column types must need no conversion (text, integers)."""
        sql, names = _sqlite_sql(statement)
        driver = self._conn.connection.driver_connection
        assert driver is not None
        return driver.execute(sql, [parameters[n] for n in names]).fetchone()


@functools.lru_cache(maxsize=64)
def _sqlite_sql(statement: sa.Select[Any]) -> tuple[str, tuple[str, ...]]:
    compiled = statement.compile(dialect=_SQLITE)
    return compiled.string, tuple(compiled.positiontup or ())


_SQLITE = sqlite_dialect.dialect()


_BUFFERED = {"prebuffer_rows": True}
# Set while the current task holds the SQLite write turn (see `Database.begin`).
_writing: contextvars.ContextVar[bool] = contextvars.ContextVar("smartcity_writing", default=False)

# What a store's read functions accept: an async connection, or the inline SQLite reader.
Reader: TypeAlias = AsyncConnection | SQLiteReader


def _sqlite_reader_pragmas(dbapi_conn: Any, _: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA query_only=ON")
    cur.close()


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


class Database:
    """An async engine for one service, with its migrations."""

    def __init__(self, url: str, *, service: str) -> None:
        self.service = service
        self.url = sa.make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        # Errors never echo statement parameters: they may hold personal data.
        # JSON as UTF-8 text, not \u escapes: SQLite's json_extract compares a path with a
        # key's text as stored, so an escaped Chinese key would never match.
        kwargs: dict[str, Any] = {"hide_parameters": True, "json_serializer": _json_text}
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            # Each service lives in its own schema when services share one database.
            kwargs["connect_args"] = {"server_settings": {"search_path": service}}
            kwargs["pool_size"] = 10
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._reader: Connection | None = None
        self._write_turn = asyncio.Lock()
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            self._read_engine = sa.create_engine(
                self.url.set(drivername="sqlite+pysqlite"), hide_parameters=True
            )
            event.listen(self._read_engine, "connect", _sqlite_reader_pragmas)

    @property
    def backend(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    def begin(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A transaction: `async with db.begin() as conn:`; commits on exit, rolls back on error."""
        if self.is_sqlite:
            return self._one_writer()
        return self.engine.begin()

    @asynccontextmanager
    async def _one_writer(self) -> AsyncIterator[AsyncConnection]:
        """SQLite has one writer: transactions take turns in the process rather than race for
        its lock on pooled connections, where the losers sleep in its busy handler (1 to 100
        ms a time: bench/README.md, licences). A transaction opened inside another, in the same
        task, goes ahead as before."""
        if _writing.get():
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_turn:
            token = _writing.set(True)
            try:
                async with self.engine.begin() as conn:
                    yield conn
            finally:
                _writing.reset(token)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Reader]:
        """A connection for reads: each statement sees everything committed before it."""
        if not self.is_sqlite:
            async with self.engine.connect() as conn:
                yield conn
            return
        if self._reader is None:
            self._reader = self._read_engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            )
        yield SQLiteReader(self._reader)

    async def migrate(self, migrations: Sequence[Migration]) -> list[str]:
        """Apply the migrations not yet applied, in order; return the ids applied now."""
        applied_now: list[str] = []
        if not self.is_sqlite:
            async with self.engine.begin() as conn:
                await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.service}"'))
        async with self.engine.begin() as conn:
            # SQLite serves one process per file (the embedded mode); PostgreSQL replicas may race.
            if not self.is_sqlite:
                lock = zlib.crc32(f"smartcity-migrate-{self.service}".encode())
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})
            await conn.run_sync(lambda c: migrations_table.create(c, checkfirst=True))
            done = set((await conn.execute(sa.select(migrations_table.c.id))).scalars())
            for migration in migrations:
                if migration.id in done:
                    continue
                await conn.run_sync(migration.apply)
                await conn.execute(
                    migrations_table.insert().values(id=migration.id, applied_us=now_us())
                )
                applied_now.append(migration.id)
        if applied_now:
            log.info("migrated", service=self.service, applied=applied_now, backend=self.backend)
        return applied_now

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._read_engine.dispose()
        await self.engine.dispose()


def create_tables(*tables: sa.Table) -> Callable[[Connection], None]:
    """A migration step that creates the given tables (and their indexes)."""

    def apply(conn: Connection) -> None:
        for table in tables:
            table.create(conn)

    return apply


def add_missing_columns(table: sa.Table) -> Callable[[Connection], None]:
    """A migration step that brings an existing table up to its definition: adds the columns
    and indexes it lacks (new columns must be nullable or have a server default)."""

    def apply(conn: Connection) -> None:
        present = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
                conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))
        for index in table.indexes:
            index.create(conn, checkfirst=True)

    return apply
