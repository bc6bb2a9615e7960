"""The `smartcity` command as a new user meets it: outside the repository, with the platform
stopped, or started on another port. It finds the data and the gateway `make run` uses, never
creates a database it was asked to read, and says what is wrong in one line, not a traceback."""

from __future__ import annotations

import http.server
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from runtime.cli import COMMANDS, USAGE, main

SMARTCITY = str(Path(sys.executable).parent / "smartcity")
HINT = "(is --data-dir right? start the platform with make run)"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a shell that set nothing of the platform's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCITY_", "OTEL_"))}
    return {**env, **extra}


def smartcity(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SMARTCITY, *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    "command", [["audit", "verify"], ["audit", "verify", "--json"], ["assessment"]]
)
def test_reading_the_keys_database_outside_the_repository_says_it_is_not_there(
    tmp_path: Path, command: list[str]
) -> None:
    # when an auditor runs the command in a folder with no platform in it
    done = smartcity(tmp_path, *command)

    # then one line names the database it looked for, and nothing was created
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"smartcity {command[0]}: no keys database at var/keys/keys.db {HINT}"
    ]
    assert everything_under(tmp_path) == []


def test_data_dir_chooses_where_the_keys_database_is_looked_for(tmp_path: Path) -> None:
    elsewhere = tmp_path / "platform-data"

    done = smartcity(tmp_path, "audit", "verify", "--data-dir", str(elsewhere))

    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"smartcity audit: no keys database at platform-data/keys/keys.db {HINT}"
    ]
    assert not elsewhere.exists()


def test_data_dir_comes_from_smartcity_data_dir_as_for_make_run(tmp_path: Path) -> None:
    done = smartcity(tmp_path, "assessment", SMARTCITY_DATA_DIR=str(tmp_path / "from-env"))

    assert done.returncode == 1
    assert "no keys database at from-env/keys/keys.db" in done.stderr


def test_a_file_that_is_not_the_keys_database_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a keys.db that some other program made
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var" / "keys").mkdir(parents=True)
    with sqlite3.connect(tmp_path / "var" / "keys" / "keys.db") as other:
        other.execute("CREATE TABLE unrelated (x INTEGER)")

    assert main(["audit", "verify", "--data-dir", "var"]) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("smartcity audit: cannot read the keys database at var/keys/keys.db: ")
    assert "no such table" in line


def test_a_malformed_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    done = smartcity(tmp_path, "licence", "fetch", "--out", "lists", SMARTCITY_GATEWAY_PORT="x")

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "smartcity licence: SMARTCITY_GATEWAY_PORT must be an integer, got 'x'"
    ]


# --- the gateway `smartcity licence` calls ---------------------------------------------------


@dataclass
class Gateway:
    """A stand-in for a gateway that records the paths it was asked for (and answers 503)."""

    port: int
    paths: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(503)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Gateway(int(server.server_address[1]), asked)
    finally:
        server.shutdown()
        server.server_close()


def write_platform_state(data_dir: Path, *, gateway_port: int, gateway_pid: int) -> None:
    """What `smartcity up` writes once the platform is up (runtime.launcher)."""
    state = data_dir / "run" / "platform.json"
    state.parent.mkdir(parents=True)
    state.write_bytes(
        orjson.dumps({"ports": {"gateway": gateway_port}, "pids": {"gateway": gateway_pid}})
    )


def a_finished_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(timeout=30)
    return done.pid


TRUST_LIST = "/public/v1/licences/trust-list"


def test_licence_fetch_calls_the_gateway_make_run_started_for_the_data_dir(
    tmp_path: Path, gateway: Gateway
) -> None:
    # given a platform that `make run` started on another port than 8080, still running
    write_platform_state(tmp_path / "var", gateway_port=gateway.port, gateway_pid=os.getpid())

    # when fetching the lists with no --gateway, from the same folder
    done = smartcity(tmp_path, "licence", "fetch", "--out", "lists")

    # then that gateway was asked (its 503 is the one line, exit 2)
    assert gateway.paths == [TRUST_LIST]
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"smartcity licence: GET {gateway.url}{TRUST_LIST} failed: HTTP 503 Service Unavailable"
    ]


def test_licence_fetch_follows_smartcity_gateway_port_when_the_recorded_platform_stopped(
    tmp_path: Path, gateway: Gateway
) -> None:
    # given the state of a platform that has stopped since, on a port nothing listens on
    write_platform_state(tmp_path / "var", gateway_port=1, gateway_pid=a_finished_pid())

    done = smartcity(
        tmp_path, "licence", "fetch", "--out", "lists", SMARTCITY_GATEWAY_PORT=str(gateway.port)
    )

    assert gateway.paths == [TRUST_LIST]
    assert f"http://localhost:{gateway.port}{TRUST_LIST}" in done.stderr


def test_licence_verify_follows_the_issuer_and_gateway_overrides_everything(
    tmp_path: Path, gateway: Gateway
) -> None:
    issuer = smartcity(tmp_path, "licence", "verify", "x", SMARTCITY_ISSUER=gateway.url)
    assert gateway.paths == [TRUST_LIST]
    assert issuer.returncode == 2

    chosen = smartcity(
        tmp_path,
        "licence",
        "verify",
        "--gateway",
        gateway.url + "/",
        "x",
        SMARTCITY_ISSUER="http://127.0.0.1:1",
    )
    assert gateway.paths == [TRUST_LIST, TRUST_LIST]
    assert chosen.returncode == 2


def test_an_unreachable_gateway_is_one_line_naming_the_url_and_where_it_came_from(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there

    done = smartcity(
        tmp_path, "licence", "fetch", "--out", "lists", SMARTCITY_GATEWAY_PORT=str(port)
    )

    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        f"smartcity licence: cannot reach http://localhost:{port}{TRUST_LIST} "
        "(the default: $SMARTCITY_GATEWAY_PORT, else 8080): "
    )
    assert "make run starts it" in line
    assert not (tmp_path / "lists").exists()


# --- usage ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_that_starts_nothing(tmp_path: Path, command: str) -> None:
    done = smartcity(tmp_path, command, "--help", SMARTCITY_DATA_DIR=str(tmp_path / "data"))

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: smartcity {command}")
    assert command in USAGE
    assert everything_under(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["totp"], "one of the arguments SECRET --demo is required"),
        (["totp", "--demo", "psb.officer", "ABC"], "not allowed with argument --demo"),
        (["totp", "not base32!"], "smartcity totp: the secret is not valid base32"),
        (["audit"], "the following arguments are required: command"),
        (["assessment", "extra"], "unrecognized arguments: extra"),
        (["licence", "fetch", "--gateway", "ftp://x", "--out", "o"], "--gateway must be an http"),
        (["nonsense"], "smartcity: unknown command 'nonsense'"),
    ],
)
def test_bad_input_is_a_usage_error_not_a_traceback(
    args: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert error in err
    assert "Traceback" not in err
