"""A Python client generated from /openapi.json by a standard generator (openapi-python-client)
completes the platform's journeys: what a partner's developer does with the document, done here
on every run. A document the generator chokes on, or whose types the answers break, fails here.

The client is generated into a temporary folder at test time, never committed.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import types
import typing
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from conftest import Platform, eventually, open_body, remember_secret, resource_body
from services.identity import demo as people
from services.licences.demo import sample_fields

pytestmark = pytest.mark.integration

PACKAGE = "generated_gateway_client"
# the generator formats its output with ruff when it can; the tests need no formatting
CONFIG = "post_hooks: []\n"


def _generate(document: dict[str, Any], folder: Path) -> None:
    (folder / "openapi.json").write_text(json.dumps(document))
    (folder / "config.yaml").write_text(CONFIG)


@pytest.fixture(scope="module")
def client_package(
    platform_document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[types.ModuleType]:
    folder = tmp_path_factory.mktemp("client")
    _generate(platform_document, folder)
    generator = Path(sys.executable).with_name("openapi-python-client")
    done = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(folder / "openapi.json"),
            "--meta",
            "none",
            "--config",
            str(folder / "config.yaml"),
            "--output-path",
            str(folder / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # the generator says "Warning(s)" for every piece of the document it could not turn into code
    assert done.returncode == 0 and "Warning" not in done.stdout + done.stderr, (
        done.stdout + done.stderr
    )
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest_asyncio.fixture(scope="module")
async def platform_document(platform: Platform) -> dict[str, Any]:
    status, document, _ = await platform.request("GET", "/openapi.json")
    assert status == 200
    return dict(document)


def api(package: types.ModuleType, tag: str, operation: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation}")


def body(module: Any, data: dict[str, Any]) -> Any:
    """The operation's body model (as its signature names it), made from JSON data."""
    hint = typing.get_type_hints(module._get_kwargs)["body"]
    # `Model | Unset` where the body is optional, `Model` where it is required
    model = next(t for t in typing.get_args(hint) or (hint,) if hasattr(t, "from_dict"))
    return model.from_dict(data)


def client(package: types.ModuleType, platform: Platform, token: str | None = None) -> Any:
    if token is None:
        return package.Client(base_url=platform.url, raise_on_unexpected_status=True)
    return package.AuthenticatedClient(
        base_url=platform.url, token=token, raise_on_unexpected_status=True
    )


async def call(module: Any, *args: Any, status: int = 200, **kwargs: Any) -> Any:
    """Call an operation; its answer, typed by the generated models, with its status checked."""
    answer = await module.asyncio_detailed(*args, **kwargs)
    assert answer.status_code == status, answer.content[:2000]
    return answer.parsed


async def test_a_resource_registered_and_published_is_in_the_open_catalog(
    platform: Platform, client_package: types.ModuleType
) -> None:
    word = uuid.uuid4().hex[:10]
    officer = client(client_package, platform, await platform.login("hrss.officer"))
    bureau = client(client_package, platform, await platform.login("bdb.admin"))
    # the department registers a draft and submits it
    create = api(client_package, "catalog", "create_catalog_resource")
    draft = await call(create, client=officer, body=body(create, open_body(word=word)), status=201)
    assert draft.state == "draft" and draft.id
    await call(api(client_package, "catalog", "submit_catalog_resource"), draft.id, client=officer)
    # the Bureau confirms and publishes it to both catalogs
    confirm = api(client_package, "catalog", "confirm_catalog_resource")
    await call(confirm, draft.id, client=bureau, body=body(confirm, {}))
    publish = api(client_package, "catalog", "publish_catalog_resource")
    published = await call(
        publish,
        draft.id,
        client=bureau,
        body=body(publish, {"share_catalog": True, "open_catalog": True}),
    )
    assert published.state == "published" and published.in_open_catalog
    # then anyone finds it in the open catalog
    search = api(client_package, "catalog", "search_open_catalog")
    page = await call(search, client=client(client_package, platform), q=word)
    assert [r.id for r in page.resources] == [draft.id]


async def test_a_licence_presented_is_verified(
    platform: Platform, client_package: types.ModuleType
) -> None:
    # human resources issue a social security card to the demo citizen (a holder may have
    # several; an ID card or a driving licence is one at a time, and other tests hold those)
    fields = sample_fields("social_security_card", people.CITIZEN.resident_id)
    remember_secret(*fields.values())
    officer = client(client_package, platform, await platform.login("hrss.officer"))
    issue = api(client_package, "licences", "issue_licence")
    licence = await call(
        issue,
        client=officer,
        body=body(issue, {"licence_type": "social_security_card", "fields": fields}),
        status=201,
    )
    # the citizen presents it, revealing no field
    holder = client(client_package, platform, await platform.login("demo.citizen", entry="public"))
    present = api(client_package, "licences", "create_licence_presentation")
    presentation = await call(
        present, licence.id, client=holder, body=body(present, {"disclose": []}), status=201
    )
    remember_secret(presentation.presentation)
    # and anyone verifies it
    verify = api(client_package, "licences", "verify_licence_presentation")
    result = await call(
        verify,
        client=client(client_package, platform),
        body=body(verify, {"presentation": presentation.presentation}),
    )
    assert result.result == "valid" and result.licence_id == licence.id


async def test_a_share_request_is_decided_and_queried(
    platform: Platform, client_package: types.ModuleType
) -> None:
    # given a conditional share of the police's vehicle registrations, published
    psb = client(client_package, platform, await platform.login("psb.officer"))
    bureau = client(client_package, platform, await platform.login("bdb.admin"))
    create = api(client_package, "catalog", "create_catalog_resource")
    draft = await call(create, client=psb, body=body(create, resource_body("psb")), status=201)
    await call(api(client_package, "catalog", "submit_catalog_resource"), draft.id, client=psb)
    confirm = api(client_package, "catalog", "confirm_catalog_resource")
    await call(confirm, draft.id, client=bureau, body=body(confirm, {}))
    publish = api(client_package, "catalog", "publish_catalog_resource")
    await call(publish, draft.id, client=bureau, body=body(publish, {"share_catalog": True}))
    # when human resources asks for one field
    hrss = client(client_package, platform, await platform.login("hrss.officer"))
    ask = api(client_package, "exchange", "create_share_request")
    request_body = {
        "resource_id": draft.id,
        "purpose": "就业服务 employment services",
        "legal_basis": "《海口市智慧城市促进条例》第十三条",
        "fields": ["plate_number"],
        "duration_days": 30,
    }

    async def asked() -> Any:
        answer = await ask.asyncio_detailed(client=hrss, body=body(ask, request_body))
        return answer.parsed if answer.status_code == 201 else None

    pending = await eventually(asked)  # the exchange hears of the publication by event
    assert pending.state == "pending"
    # and the police's share approver grants it
    decide = api(client_package, "exchange", "decide_share_request")
    decided = await call(
        decide, pending.id, client=psb, body=body(decide, {"grant": True, "duration_days": 7})
    )
    assert decided.state == "granted" and decided.grant_id
    # then the requester reads the decision
    get = api(client_package, "exchange", "get_share_request")
    read = await call(get, pending.id, client=hrss)
    assert (read.state, read.grant_id) == ("granted", decided.grant_id)
