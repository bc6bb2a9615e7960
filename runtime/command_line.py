"""What every `smartcity` command shares: `--data-dir` and `--gateway` with the defaults `make run`
uses, databases opened for reading only when they exist, and expected failures as one line.

- The data directory is `--data-dir`, else `$SMARTCITY_DATA_DIR`, else `./var`: where
  `smartcity up` keeps every service's database, the traces and the logs.
- The gateway is `--gateway URL`, else the one `smartcity up` runs for that data directory (its
  port in `DIR/run/platform.json`, while that gateway process lives), else `$SMARTCITY_ISSUER`,
  else `http://localhost:$SMARTCITY_GATEWAY_PORT` (8080): the issuer's own default.
- An expected failure (no database, an unreachable gateway, bad input) is a `CommandFailed`:
  `runtime.cli` prints its message on one line and exits with its status, no traceback.
"""

from __future__ import annotations

import argparse
import os
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from runtime import config
from runtime.config import ConfigError, Settings
from runtime.storage import Database

__all__ = [
    "NOT_RUNNING_HINT",
    "CommandFailed",
    "Gateway",
    "add_data_dir",
    "add_gateway",
    "data_dir",
    "gateway",
    "parse",
    "reading_database",
    "reason",
    "settings",
    "shown",
]

NOT_RUNNING_HINT = "is --data-dir right? start the platform with make run"
STATE_FILE = Path("run") / "platform.json"  # written by `smartcity up` (runtime.launcher)


class CommandFailed(Exception):
    """An expected failure: the message is one line saying what to do; `status` the exit code
    (1: what was asked for is not there, 2: a usage error or an unreachable service)."""

    def __init__(self, message: str, *, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def parse(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace | int:
    """Parse a command's arguments; an exit status instead when argparse has answered (0 after
    --help, 2 after a usage error it printed)."""
    try:
        return parser.parse_args(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2


def add_data_dir(parser: argparse.ArgumentParser, *, holds: str) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"the platform's data directory (default: $SMARTCITY_DATA_DIR or ./var, as for "
        f"make run); {holds}",
    )


def add_gateway(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gateway",
        metavar="URL",
        help="the gateway's base URL (default: the gateway make run started for --data-dir, "
        "else $SMARTCITY_ISSUER, else http://localhost:$SMARTCITY_GATEWAY_PORT, port 8080)",
    )


def data_dir(option: Path | None) -> Path:
    """The data directory as the user named it (relative paths stay relative, for messages)."""
    if option is not None:
        return option
    return Path(os.environ.get("SMARTCITY_DATA_DIR") or "var")


def settings(data_dir_option: Path | None) -> Settings:
    """The platform's settings from the environment, with `--data-dir` over SMARTCITY_DATA_DIR."""
    env = dict(os.environ)
    if data_dir_option is not None:
        env["SMARTCITY_DATA_DIR"] = str(data_dir_option)
    try:
        return config.load(env)
    except ConfigError as exc:
        raise CommandFailed(str(exc), status=2) from None


def shown(path: Path) -> str:
    """A path as short as it can be said: relative to the working directory when under it."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


@dataclass(frozen=True)
class Gateway:
    """A gateway's base URL, and where it came from (for the message when it does not answer)."""

    url: str
    source: str

    def unreachable(self, url: str, reason: object) -> CommandFailed:
        return CommandFailed(
            f"cannot reach {url} ({self.source}): {reason}; is the platform running? "
            "(make run starts it; --gateway URL names another)",
            status=2,
        )


def gateway(option: str | None, data_dir_option: Path | None) -> Gateway:
    """The gateway a command calls: `--gateway`, else the running platform's, else the issuer."""
    if option:
        if urllib.parse.urlsplit(option).scheme not in ("http", "https") or not (
            urllib.parse.urlsplit(option).netloc
        ):
            raise CommandFailed(f"--gateway must be an http or https URL, not {option!r}", status=2)
        return Gateway(option.rstrip("/"), "--gateway")
    state = data_dir(data_dir_option) / STATE_FILE
    port = _running_gateway_port(state)
    if port is not None:
        return Gateway(f"http://127.0.0.1:{port}", f"the platform running from {shown(state)}")
    issuer = settings(data_dir_option).issuer
    if os.environ.get("SMARTCITY_ISSUER"):
        return Gateway(issuer, "$SMARTCITY_ISSUER")
    return Gateway(issuer, "the default: $SMARTCITY_GATEWAY_PORT, else 8080")


def _running_gateway_port(state: Path) -> int | None:
    """The gateway port in `smartcity up`'s state file, if its gateway process still runs."""
    try:
        recorded = orjson.loads(state.read_bytes())
        port = int(recorded["ports"]["gateway"])
        pid = int(recorded["pids"]["gateway"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # left by a platform that has stopped
    except PermissionError:
        pass  # running, as another user
    return port


@asynccontextmanager
async def reading_database(settings: Settings, service: str) -> AsyncIterator[Database]:
    """`service`'s database, to read. A SQLite file that is not there is a CommandFailed, never a
    new empty database; an unreadable one (not that service's, PostgreSQL down) one too."""
    if settings.database_url:
        url = settings.database_url
        where = sa.make_url(url).render_as_string(hide_password=True)
    else:
        path = settings.data_dir / service / f"{service}.db"
        where = shown(path)
        if not path.is_file():
            raise CommandFailed(f"no {service} database at {where} ({NOT_RUNNING_HINT})")
        url = settings.database_url_for(service)
    db = Database(url, service=service)
    try:
        yield db
    except (SQLAlchemyError, OSError) as exc:
        raise CommandFailed(
            f"cannot read the {service} database at {where}: {reason(exc)}"
        ) from None
    finally:
        await db.close()


def reason(exc: BaseException) -> str:
    """A database failure in one line: the driver's own first line, without SQLAlchemy's SQL."""
    cause = getattr(exc, "orig", None) or exc
    return (str(cause).splitlines() or [type(cause).__name__])[0]
