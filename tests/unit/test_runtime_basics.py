"""Settings, cursors, sealing at rest, error mapping and CloudEvents headers."""

from __future__ import annotations

import base64
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from hypothesis import given
from hypothesis import strategies as st

from runtime import config, crypto, errors, pagination
from runtime.bus import events
from runtime.config import ConfigError
from runtime.crypto import SealError
from runtime.errors import FieldViolation, InvalidArgument
from runtime.ttlcache import TtlCache

# ---------------------------------------------------------------- config


def test_no_environment_gives_the_embedded_defaults() -> None:
    # given an empty environment / when loaded
    settings = config.load({})
    # then everything runs on one machine with demo accounts
    assert settings.ports == dict(config.DEFAULT_PORTS)
    assert settings.nats_url == "nats://127.0.0.1:14222"
    assert settings.grpc_target("catalog") == "127.0.0.1:50062"
    assert settings.database_url is None
    assert settings.production is False
    assert settings.demo is True
    assert settings.demo_password == "smartcity-demo"
    assert settings.master_key is None
    assert settings.log_level == "info"
    assert settings.otlp_endpoint is None
    assert settings.bind_address == "127.0.0.1"
    assert settings.data_dir == Path("var").resolve()
    assert settings.traces_dir == settings.data_dir / "traces"


def test_load_reads_the_given_mapping_not_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMARTCITY_GATEWAY_PORT", "9999")
    assert config.load({}).port("gateway") == 8080


def test_empty_variables_mean_the_default() -> None:
    settings = config.load(
        {"SMARTCITY_GATEWAY_PORT": "", "SMARTCITY_DEMO": "", "SMARTCITY_LOG_LEVEL": ""}
    )
    assert settings.port("gateway") == 8080
    assert settings.demo is True
    assert settings.log_level == "info"


def test_ports_and_addresses_are_configurable() -> None:
    settings = config.load(
        {
            "SMARTCITY_NATS_PORT": "4222",
            "SMARTCITY_CATALOG_PORT": "6000",
            "SMARTCITY_EXCHANGE_ADDR": "exchange.svc:443",
        }
    )
    assert settings.port("catalog") == 6000
    assert settings.port("identity") == 50061
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert settings.grpc_target("catalog") == "127.0.0.1:6000"
    assert settings.grpc_target("exchange") == "exchange.svc:443"


def test_an_explicit_nats_url_wins_over_the_port() -> None:
    settings = config.load({"SMARTCITY_NATS_PORT": "4222", "SMARTCITY_NATS_URL": "nats://bus:4222"})
    assert settings.nats_url == "nats://bus:4222"


@pytest.mark.parametrize(
    "name", ["SMARTCITY_GATEWAY_PORT", "SMARTCITY_NATS_PORT", "SMARTCITY_IDENTITY_PORT"]
)
@pytest.mark.parametrize("raw", ["eighty", "80.0", "0x50"])
def test_a_malformed_port_names_its_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name) as caught:
        config.load({name: raw})
    assert repr(raw) in str(caught.value)


@pytest.mark.parametrize("raw", ["-1", "65536", "99999"])
def test_a_port_out_of_range_names_its_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="SMARTCITY_GATEWAY_PORT must be a port between"):
        config.load({"SMARTCITY_GATEWAY_PORT": raw})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SMARTCITY_ISSUER": "localhost:8080"}, "SMARTCITY_ISSUER must be the gateway's"),
        ({"SMARTCITY_ISSUER": "https://gov.example/"}, "without a trailing slash"),
        ({"SMARTCITY_KEY_ROTATION_HOURS": "0"}, "SMARTCITY_KEY_ROTATION_HOURS must be at least 1"),
        ({"SMARTCITY_KEY_ROTATION_HOURS": "daily"}, "SMARTCITY_KEY_ROTATION_HOURS must be an"),
    ],
)
def test_identity_settings_name_the_variable_when_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.load(env)


def test_the_issuer_defaults_to_the_local_gateway() -> None:
    assert config.load({"SMARTCITY_GATEWAY_PORT": "9090"}).issuer == "http://localhost:9090"
    issuer = config.load({"SMARTCITY_ISSUER": "https://id.haikou.example"}).issuer
    assert issuer == "https://id.haikou.example"


def test_a_malformed_boolean_names_its_variable() -> None:
    with pytest.raises(ConfigError, match="SMARTCITY_PRODUCTION"):
        config.load({"SMARTCITY_PRODUCTION": "maybe"})


@pytest.mark.parametrize(
    ("raw", "value"), [("1", True), ("TRUE", True), ("on", True), ("no", False), ("0", False)]
)
def test_booleans_accept_the_usual_spellings(raw: str, value: bool) -> None:
    assert config.load({"SMARTCITY_PRODUCTION": raw}).production is value


def test_demo_accounts_are_never_enabled_in_production() -> None:
    settings = config.load({"SMARTCITY_PRODUCTION": "true", "SMARTCITY_DEMO": "true"})
    assert settings.demo is False


def test_demo_accounts_are_never_enabled_on_a_shared_database() -> None:
    settings = config.load(
        {"SMARTCITY_DATABASE_URL": "postgresql+asyncpg://db/smartcity", "SMARTCITY_DEMO": "true"}
    )
    assert settings.demo is False


def test_demo_accounts_can_be_switched_off_in_the_embedded_mode() -> None:
    assert config.load({"SMARTCITY_DEMO": "false"}).demo is False


@pytest.mark.parametrize(
    ("raw", "level"), [("DEBUG", "debug"), ("Warning", "warning"), ("error", "error")]
)
def test_log_levels_are_case_insensitive(raw: str, level: str) -> None:
    assert config.load({"SMARTCITY_LOG_LEVEL": raw}).log_level == level


@pytest.mark.parametrize("raw", ["trace", "verbose", "critical"])
def test_an_unknown_log_level_names_its_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="SMARTCITY_LOG_LEVEL"):
        config.load({"SMARTCITY_LOG_LEVEL": raw})


def test_each_service_gets_its_own_sqlite_file_under_the_data_dir(tmp_path: Path) -> None:
    settings = config.load({"SMARTCITY_DATA_DIR": str(tmp_path)})
    urls = {service: settings.database_url_for(service) for service in config.SERVICES}
    for service, url in urls.items():
        assert url == f"sqlite+aiosqlite:///{tmp_path / service / f'{service}.db'}"
    assert len(set(urls.values())) == len(config.SERVICES)


def test_a_configured_database_url_is_shared_by_every_service() -> None:
    url = "postgresql+asyncpg://db/smartcity"
    settings = config.load({"SMARTCITY_DATABASE_URL": url})
    assert {settings.database_url_for(s) for s in config.SERVICES} == {url}


# ---------------------------------------------------------------- pagination


@given(st.integers(min_value=0, max_value=2**70))
def test_any_position_survives_encode_then_decode(position: int) -> None:
    token = pagination.encode_cursor(position)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)  # safe in a URL query, no padding
    assert pagination.decode_cursor(token) == position


def test_no_next_page_is_an_empty_token_and_an_empty_token_is_the_first_page() -> None:
    assert pagination.encode_cursor(None) == ""
    assert pagination.decode_cursor("") == 0


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "%%%",
        "a",
        _b64(b"c1:-1"),
        _b64(b"c2:5"),
        _b64(b"c1:abc"),
        _b64(b"c1:"),
        _b64(b"5"),
        _b64(b"\xff\xfe\xfd"),
    ],
)
def test_a_forged_page_token_is_refused_naming_the_field(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        pagination.decode_cursor(token)
    assert caught.value.violations == [
        FieldViolation("page_token", "is not a token from a previous page")
    ]


def test_a_forged_token_names_the_field_it_came_in() -> None:
    with pytest.raises(InvalidArgument) as caught:
        pagination.decode_cursor("garbage!", field="after")
    assert [v.field for v in caught.value.violations] == ["after"]


@pytest.mark.parametrize(
    ("requested", "served"), [(0, 20), (1, 1), (20, 20), (100, 100), (101, 100), (10**9, 100)]
)
def test_page_size_defaults_and_is_capped(requested: int, served: int) -> None:
    assert pagination.page_size(requested) == served


@pytest.mark.parametrize("requested", [-1, -100])
def test_a_negative_page_size_is_refused(requested: int) -> None:
    with pytest.raises(InvalidArgument) as caught:
        pagination.page_size(requested)
    assert [v.field for v in caught.value.violations] == ["page_size"]


# ---------------------------------------------------------------- crypto

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
OTHER_KEY = bytes.fromhex("ffeeddccbbaa99887766554433221100")


@given(st.binary(max_size=512), st.binary(max_size=64))
def test_any_plaintext_survives_seal_then_unseal(plaintext: bytes, context: bytes) -> None:
    blob = crypto.seal(KEY, plaintext, context=context)
    assert len(blob) == 1 + 12 + len(plaintext) + 16
    assert crypto.unseal(KEY, blob, context=context) == plaintext


def test_a_sealed_blob_does_not_contain_its_plaintext() -> None:
    plaintext = b"-----BEGIN PRIVATE KEY----- 110101199003077777"
    assert plaintext[:8] not in crypto.seal(KEY, plaintext, context=b"kid-1")


def test_sealing_twice_gives_different_blobs() -> None:
    assert crypto.seal(KEY, b"secret", context=b"k1") != crypto.seal(KEY, b"secret", context=b"k1")


SEALED = crypto.seal(KEY, b"-----BEGIN PRIVATE KEY-----", context=b"kid-1")


@given(st.integers(min_value=0, max_value=len(SEALED) - 1), st.integers(min_value=1, max_value=255))
def test_a_tampered_blob_does_not_unseal(index: int, flip: int) -> None:
    tampered = bytearray(SEALED)
    tampered[index] ^= flip
    with pytest.raises(SealError):
        crypto.unseal(KEY, bytes(tampered), context=b"kid-1")


@pytest.mark.parametrize(
    "blob", [b"", SEALED[:28], SEALED[:-1], SEALED + b"x", b"\x02" + SEALED[1:]]
)
def test_a_truncated_extended_or_unknown_version_blob_does_not_unseal(blob: bytes) -> None:
    with pytest.raises(SealError):
        crypto.unseal(KEY, blob, context=b"kid-1")


def test_a_blob_sealed_for_another_context_does_not_unseal() -> None:
    with pytest.raises(SealError):
        crypto.unseal(KEY, SEALED, context=b"kid-2")


def test_a_blob_sealed_under_another_key_does_not_unseal() -> None:
    with pytest.raises(SealError):
        crypto.unseal(OTHER_KEY, SEALED, context=b"kid-1")


def test_the_master_key_comes_from_the_environment_as_hex() -> None:
    settings = config.load({"SMARTCITY_MASTER_KEY": KEY.hex().upper()})
    assert crypto.master_key(settings) == KEY


@pytest.mark.parametrize("raw", ["xyz", "00" * 15, "00" * 17, "0" * 31, "g" * 32])
def test_a_malformed_master_key_names_its_variable(raw: str, tmp_path: Path) -> None:
    settings = config.load({"SMARTCITY_MASTER_KEY": raw, "SMARTCITY_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="SMARTCITY_MASTER_KEY"):
        crypto.master_key(settings)
    assert not (tmp_path / "master.key").exists()


def test_production_without_a_master_key_is_refused(tmp_path: Path) -> None:
    settings = config.load({"SMARTCITY_PRODUCTION": "true", "SMARTCITY_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="SMARTCITY_MASTER_KEY"):
        crypto.master_key(settings)
    assert not (tmp_path / "master.key").exists()


def test_the_embedded_mode_creates_a_private_key_file_once_and_reuses_it(tmp_path: Path) -> None:
    # given an embedded-mode data directory that does not exist yet
    settings = config.load({"SMARTCITY_DATA_DIR": str(tmp_path / "var")})
    # when the master key is asked for twice
    first = crypto.master_key(settings)
    path = tmp_path / "var" / "master.key"
    written = path.read_text()
    second = crypto.master_key(settings)
    # then one 128-bit key was created, readable by its owner only, and reused
    assert len(first) == 16
    assert second == first
    assert path.read_text() == written
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # and a value sealed under it unseals under the reloaded key
    assert crypto.unseal(second, crypto.seal(first, b"x", context=b"c"), context=b"c") == b"x"


# ---------------------------------------------------------------- errors


def test_invalid_argument_becomes_a_status_whose_violations_read_back() -> None:
    # given a domain error with two violations
    error = InvalidArgument(
        [FieldViolation("code", "is required"), FieldViolation("data_items[0].name", "is required")]
    )
    # when mapped to a gRPC status and sent over the wire
    wire = errors.to_status(error).SerializeToString()
    status = status_pb2.Status()
    status.ParseFromString(wire)
    # then the code, message and field violations survive
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert status.message == "invalid request: code, data_items[0].name"
    assert errors.field_violations(status) == error.violations
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details if d.Is(info.DESCRIPTOR))
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", errors.DOMAIN)


def test_other_errors_carry_no_field_violations() -> None:
    status = errors.to_status(errors.NotFound("resource", "r-1"))
    assert status.code == code_pb2.NOT_FOUND
    assert status.message == "resource 'r-1' not found"
    assert errors.field_violations(status) == []


def test_the_rich_status_is_read_back_from_the_trailing_metadata() -> None:
    sent = errors.to_status(InvalidArgument([FieldViolation("name", "is required")]))
    rpc_error = grpc.aio.AioRpcError(
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.aio.Metadata(),
        grpc.aio.Metadata((errors.DETAILS_KEY, sent.SerializeToString())),
        details=sent.message,
    )
    assert errors.status_from_error(rpc_error) == sent


def test_a_plain_rpc_error_becomes_a_plain_status() -> None:
    rpc_error = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), details="down"
    )
    assert errors.status_from_error(rpc_error) == status_pb2.Status(
        code=code_pb2.UNAVAILABLE, message="down"
    )


def test_field_violations_ignores_details_of_other_kinds() -> None:
    packed = any_pb2.Any()
    packed.Pack(error_details_pb2.ErrorInfo(reason="X"))
    assert errors.field_violations(status_pb2.Status(details=[packed])) == []


@pytest.mark.parametrize(
    ("code", "http"),
    [
        (code_pb2.INVALID_ARGUMENT, 422),
        (code_pb2.OUT_OF_RANGE, 422),
        (code_pb2.NOT_FOUND, 404),
        (code_pb2.ALREADY_EXISTS, 409),
        (code_pb2.FAILED_PRECONDITION, 409),
        (code_pb2.UNAUTHENTICATED, 401),
        (code_pb2.PERMISSION_DENIED, 403),
        (code_pb2.RESOURCE_EXHAUSTED, 429),
        (code_pb2.UNAVAILABLE, 503),
        (code_pb2.DEADLINE_EXCEEDED, 503),
        (code_pb2.UNIMPLEMENTED, 501),
        (code_pb2.UNKNOWN, 502),
        (code_pb2.INTERNAL, 502),
        (code_pb2.DATA_LOSS, 502),
        (12345, 502),
    ],
)
def test_grpc_codes_map_to_http_statuses(code: int, http: int) -> None:
    status, title = errors.http_for_code(code)
    assert status == http
    assert title


@pytest.mark.parametrize(
    "error",
    [
        InvalidArgument([FieldViolation("x", "y")]),
        errors.NotFound("r", "1"),
        errors.AlreadyExists("dup"),
        errors.Unauthenticated("who"),
        errors.PermissionDenied("no"),
    ],
)
def test_every_domain_error_maps_to_a_client_error_not_a_bad_gateway(
    error: errors.DomainError,
) -> None:
    http, _ = errors.http_for_code(errors.to_status(error).code)
    assert 400 <= http < 500


# ---------------------------------------------------------------- events

CE_HEADERS = {
    "ce-specversion",
    "ce-id",
    "ce-source",
    "ce-type",
    "ce-time",
    "ce-subject",
    "content-type",
}


def test_cloudevent_headers_carry_every_binary_mode_attribute() -> None:
    # given a catalog event / when its headers are built
    headers = events.cloudevent_headers(
        event_id="evt-1",
        subject="smartcity.catalog.resource.created",
        source="/smartcity/catalog",
        entity_id="r-1",
        time_us=1_700_000_000_123_456,
        content_type="application/protobuf; messageType=smartcity.catalog.v1.ResourceCreated",
    )
    # then every CloudEvents 1.0 binary-mode header is present, and JetStream dedups on the id
    assert set(headers) == {*CE_HEADERS, "Nats-Msg-Id"}
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == headers["Nats-Msg-Id"] == "evt-1"
    assert headers["ce-type"] == "smartcity.catalog.resource.created"
    assert headers["ce-source"] == "/smartcity/catalog"
    assert headers["ce-subject"] == "r-1"
    assert headers["ce-time"] == "2023-11-14T22:13:20.123456Z"
    assert headers["content-type"].startswith("application/protobuf")


def test_an_event_about_no_one_entity_has_no_ce_subject() -> None:
    # CloudEvents 1.0: `subject`, when present, must be a non-empty string
    headers = events.cloudevent_headers(
        event_id="evt-2",
        subject="smartcity.licences.audit.recorded",
        source="/smartcity/licences",
        entity_id="",
        time_us=1_700_000_000_000_000,
        content_type="application/protobuf",
    )
    assert "ce-subject" not in headers and headers["ce-id"] == "evt-2"


@given(st.integers(min_value=0, max_value=2**32 * 10**6 - 1))
def test_ce_time_is_rfc3339_utc_and_names_the_exact_microsecond(time_us: int) -> None:
    headers = events.cloudevent_headers(
        event_id="e",
        subject="smartcity.x.y.z",
        source="s",
        entity_id="i",
        time_us=time_us,
        content_type="c",
    )
    text = headers["ce-time"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z", text)
    when = datetime.fromisoformat(text)
    assert when.tzinfo is not None and when.utcoffset() == UTC.utcoffset(None)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    assert delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds == time_us


def test_an_event_type_knows_its_service_content_type_and_payload() -> None:
    from smartcity.catalog.v1 import events_pb2

    created = events.EventType("smartcity.catalog.resource.created", events_pb2.ResourceCreated)
    payload = events_pb2.ResourceCreated(resource_id="r-1", version=2)
    assert created.service == "catalog"
    assert created.content_type == (
        "application/protobuf; messageType=smartcity.catalog.v1.ResourceCreated"
    )
    assert created.parse(payload.SerializeToString()) == payload
    assert events.stream_name("catalog") == "CATALOG"
    assert events.stream_subjects("catalog") == ["smartcity.catalog.>"]


# --- runtime.ttlcache ---------------------------------------------------------------------------


def test_a_cached_value_expires_and_the_least_recently_used_goes_first() -> None:
    now = [0.0]
    cache: TtlCache[str, int] = TtlCache(seconds=1.0, size=2, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    now[0] = 1.0
    assert cache.get("a") is None and len(cache) == 1
    cache.clear()
    assert cache.get("c") is None


def test_a_cache_of_zero_seconds_keeps_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(seconds=0, size=10)
    cache.put("a", 1)
    assert cache.get("a") is None and len(cache) == 0


def test_the_catalog_reads_the_exchange_events_the_exchange_publishes() -> None:
    # the catalog declares what it consumes beside its handlers; the contract is the exchange's
    from services.catalog import events as catalog_events
    from services.exchange import events as exchange_events

    for name in ("DATASET_UPDATED", "SHARE_REQUEST_SUBMITTED", "SHARE_REQUEST_DECIDED"):
        assert getattr(catalog_events, name) == getattr(exchange_events, name), name
