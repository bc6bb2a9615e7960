"""TOTP (RFC 6238) codes match authenticator apps, expire, and work only once."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.identity import totp

# RFC 6238 appendix B: the SHA1 secret is the ASCII string "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode("ascii")
NOW = 1_700_000_000.0
STEP = int(NOW // 30)


@pytest.mark.parametrize(
    ("at", "code"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_rfc6238_appendix_b_sha1_vectors(at: int, code: str) -> None:
    assert totp.code_at(RFC_SECRET, at, digits=8) == code


def test_six_digit_codes_are_the_last_six_digits_of_the_rfc_vectors() -> None:
    assert totp.code_at(RFC_SECRET, 59) == "287082"
    assert totp.code_at(RFC_SECRET, 1111111109) == "081804"  # leading zero kept


def test_new_secret_is_160_random_bits_in_unpadded_base32() -> None:
    secret = totp.new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert len(base64.b32decode(secret)) == 20
    assert totp.new_secret() != secret


def test_secret_typed_in_lowercase_groups_gives_the_same_codes() -> None:
    grouped = " ".join(RFC_SECRET[i : i + 4] for i in range(0, len(RFC_SECRET), 4)).lower()
    assert totp.code_at(grouped, NOW) == totp.code_at(RFC_SECRET, NOW)


@pytest.mark.parametrize("secret", ["", "not base32!", "A"])
def test_a_secret_that_is_not_base32_is_an_error(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        totp.code_at(secret, NOW)


def test_the_current_code_is_accepted_and_its_time_step_returned() -> None:
    code = totp.code_at(RFC_SECRET, NOW)
    assert totp.verify(RFC_SECRET, code, at=NOW, last_used_step=None) == STEP


def test_a_code_already_used_is_refused_as_a_replay() -> None:
    code = totp.code_at(RFC_SECRET, NOW)
    used = totp.verify(RFC_SECRET, code, at=NOW, last_used_step=None)
    assert totp.verify(RFC_SECRET, code, at=NOW + 5, last_used_step=used) is None


def test_an_older_code_is_refused_once_a_newer_one_was_used() -> None:
    older = totp.code_at(RFC_SECRET, NOW - 30)
    assert totp.verify(RFC_SECRET, older, at=NOW, last_used_step=STEP) is None
    assert totp.verify(RFC_SECRET, older, at=NOW, last_used_step=STEP - 2) == STEP - 1


def test_codes_one_step_either_side_are_accepted_for_clock_drift() -> None:
    for drift in (-1, 1):
        code = totp.code_at(RFC_SECRET, NOW + 30 * drift)
        assert totp.verify(RFC_SECRET, code, at=NOW, last_used_step=None) == STEP + drift


def test_codes_outside_the_window_are_refused() -> None:
    stale = totp.code_at(RFC_SECRET, NOW - 60)
    assert totp.verify(RFC_SECRET, stale, at=NOW, last_used_step=None) is None
    assert totp.verify(RFC_SECRET, stale, at=NOW, last_used_step=None, window=2) == STEP - 2
    previous = totp.code_at(RFC_SECRET, NOW - 30)
    assert totp.verify(RFC_SECRET, previous, at=NOW, last_used_step=None, window=0) is None


def test_a_negative_window_is_an_error() -> None:
    with pytest.raises(ValueError, match="window"):
        totp.verify(RFC_SECRET, "123456", at=NOW, last_used_step=None, window=-1)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "12345",
        "1234567",
        "12a456",
        " 12345",
        "12 345",
        "".join(chr(ord(c) + 0xFEE0) for c in "123456"),
        "-12345",
    ],
)
def test_codes_that_are_not_six_ascii_digits_are_refused(code: str) -> None:
    assert totp.verify(RFC_SECRET, code, at=NOW, last_used_step=None) is None


def test_a_wrong_code_is_refused() -> None:
    right = totp.code_at(RFC_SECRET, NOW)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert totp.verify(RFC_SECRET, wrong, at=NOW, last_used_step=None) is None


@given(
    st.binary(min_size=10, max_size=64),
    st.floats(min_value=0, max_value=2**40, allow_nan=False),
)
def test_a_code_verifies_at_the_time_it_was_shown(key: bytes, at: float) -> None:
    secret = base64.b32encode(key).decode("ascii").rstrip("=")
    code = totp.code_at(secret, at)
    assert re.fullmatch(r"[0-9]{6}", code)
    assert totp.verify(secret, code, at=at, last_used_step=None) == int(at // 30)


def test_provisioning_uri_follows_the_key_uri_format() -> None:
    uri = totp.provisioning_uri(
        "jbsw y3dp ehpk 3pxp", account="alice@example.org", issuer="Haikou City"
    )
    assert uri == (
        "otpauth://totp/Haikou%20City:alice%40example.org?secret=JBSWY3DPEHPK3PXP"
        "&issuer=Haikou%20City&algorithm=SHA1&digits=6&period=30"
    )


def test_provisioning_uri_quotes_chinese_and_reserved_characters() -> None:
    uri = totp.provisioning_uri(RFC_SECRET, account="张三&co/1?", issuer="海口市 政务")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/海口市 政务:张三&co/1?"
    assert parts.path.count("/") == 1
    assert parse_qs(parts.query) == {
        "secret": [RFC_SECRET],
        "issuer": ["海口市 政务"],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }


@pytest.mark.parametrize(("account", "issuer"), [("a:b", "Haikou"), ("alice", "Hai:kou")])
def test_provisioning_uri_refuses_a_colon_in_account_or_issuer(account: str, issuer: str) -> None:
    with pytest.raises(ValueError, match="colon"):
        totp.provisioning_uri(RFC_SECRET, account=account, issuer=issuer)
