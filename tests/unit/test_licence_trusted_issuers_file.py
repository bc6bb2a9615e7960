"""The file of other platforms' licence issuers (`SMARTCITY_LICENCE_TRUSTED_ISSUERS`): a sound one
loads as external trust-list entries; every bad entry stops the start with a message naming the
entry and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime import algorithms, config
from runtime.config import ConfigError
from runtime.departments import DEPARTMENTS
from services.licences import external
from services.licences.credential import TrustList

OURS = frozenset({"psb", "hrss", "msa"})


def key(name: str) -> dict[str, Any]:
    pem = algorithms.public_key_pem("sm2", algorithms.generate("sm2")).decode()
    return {"name": name, "version": 1, "algorithm": "sm2", "public_key_pem": pem}


def hefei(**overrides: Any) -> dict[str, Any]:
    return {
        "department": "hefei",
        "issuer_codes": ["340100"],
        "licence_types": ["driving_licence"],
        "keys": [key("hefei.licence-signing")],
        "platform_keys": [key("hefei.platform-signing")],
        **overrides,
    }


def load(tmp_path: Path, issuers: list[Any]) -> list[dict[str, Any]]:
    path = tmp_path / "trusted.json"
    path.write_text(json.dumps({"issuers": issuers}))
    return external.load(str(path), own_departments=OURS)


def test_the_variable_names_the_file_and_none_means_no_external_issuer(tmp_path: Path) -> None:
    settings = config.load({"SMARTCITY_LICENCE_TRUSTED_ISSUERS": str(tmp_path / "t.json")})
    assert settings.licence_trusted_issuers == str(tmp_path / "t.json")
    assert config.load({}).licence_trusted_issuers == ""
    assert external.load("", own_departments=OURS) == []


def test_a_sound_file_loads_as_external_entries_of_the_trust_list(tmp_path: Path) -> None:
    entries = load(tmp_path, [hefei()])
    assert entries[0]["external"] is True
    trust = TrustList.from_json({"issuers": entries, "platform": {"keys": []}})
    issuer = trust.issuers["hefei"]
    assert issuer.external and issuer.issuer_codes == {"340100"} and issuer.platform_keys


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        (hefei(issuer_codes=["340199"]), "issuers[0] (hefei).issuer_codes[0]"),  # no such region
        (hefei(issuer_codes=["91340100MA2T0X0X0X"]), "issuers[0] (hefei).issuer_codes[0]"),
        (hefei(issuer_codes=[]), "issuers[0] (hefei).issuer_codes"),
        (
            hefei(keys=[{**key("hefei.licence-signing"), "public_key_pem": "-----BEGIN PUBLIC"}]),
            "issuers[0] (hefei).keys[0].public_key_pem",
        ),
        (hefei(platform_keys=[]), "issuers[0] (hefei).platform_keys"),
        (hefei(department="psb"), "issuers[0] (psb): the department is one of this platform"),
        (hefei(licence_types="driving_licence"), "issuers[0] (hefei).licence_types"),
        ({"issuer_codes": ["340100"]}, "issuers[0].department"),
        ("hefei", "issuers[0] must be an object"),
    ],
)
def test_a_bad_entry_stops_the_start_naming_it(tmp_path: Path, entry: Any, named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, [entry])
    message = str(raised.value)
    assert message.startswith("SMARTCITY_LICENCE_TRUSTED_ISSUERS: "), message
    assert named in message, message


def test_two_entries_may_not_share_a_name_or_a_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"issuers\[1\] \(hefei\): the department appears"):
        load(tmp_path, [hefei(), hefei()])
    shared = hefei()
    wuhan = hefei(department="wuhan", issuer_codes=["420100"], keys=shared["keys"])
    with pytest.raises(ConfigError, match=r"issuers\[1\]\.keys\[0\] appears twice"):
        load(tmp_path, [shared, wuhan])


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SMARTCITY_LICENCE_TRUSTED_ISSUERS: cannot read"):
        external.load(str(tmp_path / "absent.json"), own_departments=OURS)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        external.load(str(tmp_path / "bad.json"), own_departments=OURS)


def test_no_entry_vouches_for_this_platforms_issuer_codes_or_anothers(tmp_path: Path) -> None:
    # Another platform's issuer listed with a department's credit code as its own signed
    # identifiers that read as that department's licences (1.2.156.3005.2.<type>.<our code>...);
    # two entries sharing a code could each pass for the other (T27).
    ours = DEPARTMENTS["psb"].credit_code
    with pytest.raises(ConfigError, match=r"issuers\[0\] \(hefei\)\.issuer_codes\[1\]: .*own"):
        load(tmp_path, [hefei(issuer_codes=["340100", ours])])
    wuhan = hefei(
        department="wuhan",
        issuer_codes=["420100", "340100"],
        keys=[key("wuhan.licence-signing")],
        platform_keys=[key("wuhan.platform-signing")],
    )
    with pytest.raises(ConfigError, match=r"issuers\[1\] \(wuhan\)\.issuer_codes\[1\]: .*hefei"):
        load(tmp_path, [hefei(), wuhan])
