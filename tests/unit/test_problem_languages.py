# ruff: noqa: RUF001 - Chinese text is written with Chinese (full-width) punctuation
"""Problems in the reader's language: `Accept-Language` negotiated (q-values, wildcards, bad
headers never an error), every title the gateway can emit in both languages, details and
violations from the catalogues with fields and rule codes kept, English where no entry fits."""

from __future__ import annotations

import ast
import re
from collections.abc import AsyncIterator, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

import gateway
from gateway import problem_texts
from gateway.app import observe
from gateway.languages import CHINESE, ENGLISH, negotiate
from gateway.problems import Problem, from_domain, response
from runtime import errors, identifiers
from runtime.errors import FieldViolation
from services.catalog import domain as catalog_domain
from services.identity import sessions

# --- negotiation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, ENGLISH),
        ("", ENGLISH),
        ("zh-CN", CHINESE),
        ("zh", CHINESE),
        ("zh-Hans", CHINESE),
        ("zh-Hans-CN", CHINESE),
        ("ZH-cn", CHINESE),
        ("en", ENGLISH),
        ("en-US", ENGLISH),
        ("en-GB,en;q=0.9", ENGLISH),
        ("fr-FR, de", ENGLISH),  # names neither: the default
        ("zh-TW", ENGLISH),  # Traditional: the gateway writes none
        ("zh-Hant, zh;q=0.5", CHINESE),  # ... unless the reader also reads zh
    ],
)
def test_a_language_range_is_served_the_language_it_names(
    header: str | None, language: str
) -> None:
    assert negotiate(header) == language


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("en;q=0.5, zh-CN;q=0.8", CHINESE),
        ("zh-CN;q=0.5, en;q=0.8", ENGLISH),
        ("zh-CN;q=0.7, en;q=0.7", CHINESE),  # equal weights: the one named first
        ("en;q=0.7, zh-CN;q=0.7", ENGLISH),
        ("fr, zh;q=0.1", CHINESE),  # a low weight still beats not named
        ("zh-CN;q=0", ENGLISH),  # refused
        ("zh-CN;q=0, zh", ENGLISH),  # the most specific range decides
        ("zh;q=0, zh-CN", CHINESE),
        ("zh-CN, en;q=0", CHINESE),
        ("en;q=0, zh;q=0", ENGLISH),  # both refused: the default rather than nothing
        ("zh-CN; q=0.9 , en ;q=0.8", CHINESE),  # whitespace around the parts
        ("en;Q=0.1, zh", CHINESE),
    ],
)
def test_weights_choose_between_english_and_chinese(header: str, language: str) -> None:
    assert negotiate(header) == language


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("*", ENGLISH),  # anything: the default
        ("fr, *;q=0.5", ENGLISH),
        ("en;q=0, *", CHINESE),  # anything but English
        ("zh-CN;q=0, *", ENGLISH),
        ("*;q=0.9, zh", CHINESE),
        ("*;q=0", ENGLISH),
    ],
)
def test_a_wildcard_weighs_the_languages_no_other_range_names(header: str, language: str) -> None:
    assert negotiate(header) == language


@pytest.mark.parametrize(
    "header",
    [
        ";;;,,",
        "zh-CN;q=2",  # a weight above 1
        "zh-CN;q=0.0001",  # more than three decimals
        "zh-CN;q=abc",
        "zh-CN;level=1",  # Accept-Language has no other parameter
        "zh_CN",
        "中文",
        "zh-CN\x00",
        "\udcff",
        "zh-" + "a" * 9,
        "en-" * 5000,
    ],
)
def test_a_malformed_element_is_skipped_and_english_served(header: str) -> None:
    assert negotiate(header) == ENGLISH


def test_a_well_formed_element_beside_a_malformed_one_is_heard() -> None:
    assert negotiate("zh-CN;q=2, ;;, zh;q=0.3") == CHINESE


@given(st.text(max_size=200))
def test_no_header_makes_negotiation_fail(header: str) -> None:
    assert negotiate(header) in (ENGLISH, CHINESE)


# --- titles: every problem the gateway can emit ------------------------------------------------


def _titles_in_gateway_source() -> Iterator[tuple[str, str]]:
    """(module, title) for each `Problem(status, "title", ...)` written in the gateway."""
    for path in sorted(Path(gateway.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Problem"):
                continue
            title = node.args[1] if len(node.args) > 1 else None
            title = next((k.value for k in node.keywords if k.arg == "title"), title)
            if isinstance(title, ast.Constant) and isinstance(title.value, str):
                yield path.name, title.value


def _aiohttp_reasons() -> set[str]:
    """The titles of aiohttp's own refusals (`_as_problem`): their reason phrases."""

    def walk(cls: type[Any]) -> Iterator[type[Any]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    codes = {getattr(c, "status_code", -1) for c in walk(web.HTTPError)}
    return {HTTPStatus(code).phrase for code in codes if code >= 400}


def test_the_scan_finds_the_gateways_own_problems() -> None:
    found = dict(_titles_in_gateway_source())
    assert {"connection.py", "endpoints.py", "app.py"} <= set(found)
    assert len(list(_titles_in_gateway_source())) >= 20


def test_every_title_the_gateway_can_emit_has_english_and_chinese() -> None:
    titles = {title for _, title in errors.HTTP_FOR_CODE.values()}
    titles |= {errors.http_for_code(-1)[1]}  # anything unexpected: a bad gateway
    titles |= {title for _, title in _titles_in_gateway_source()}
    titles |= _aiohttp_reasons()
    missing = sorted(t for t in titles if problem_texts.title(t) is None)
    assert not missing, f"add these titles to gateway.problem_texts.TITLES: {missing}"


def test_titles_are_one_table_without_duplicates_or_blanks() -> None:
    keys = [english.casefold() for english in problem_texts.TITLES]
    assert len(keys) == len(set(keys))
    assert all(chinese.strip() for chinese in problem_texts.TITLES.values())


# --- catalogues -----------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _entries() -> Iterator[tuple[str, str]]:
    yield from problem_texts.DETAILS.items()
    yield from problem_texts.VIOLATIONS.items()
    for entries in problem_texts.RULES.values():
        yield from entries.items()


@pytest.mark.parametrize(("english", "chinese"), list(_entries()))
def test_a_catalogue_entry_keeps_every_placeholder(english: str, chinese: str) -> None:
    assert sorted(_PLACEHOLDER.findall(english)) == sorted(_PLACEHOLDER.findall(chinese))
    assert re.search(r"[\u4e00-\u9fff]", chinese), "an entry that is not Chinese"


@pytest.mark.parametrize(
    ("english", "chinese"),
    [
        (sessions.WRONG_CREDENTIALS, "用户名或密码错误"),
        (sessions.WRONG_STAFF_CREDENTIALS, "用户名、密码或 TOTP 验证码错误"),
        (sessions._locked(45).message, "登录失败次数过多：账户已锁定 45 秒"),
        ("the access token has expired", "访问令牌已过期"),
        ("the access token is not for this entry point", "此访问令牌不适用于该入口"),
        (
            "too many login attempts for this account; retry after 1 second",
            "此账户的登录尝试过多；请 1 秒后重试",
        ),
        (
            "too many registrations from this client; retry after 12 seconds",
            "来自此客户端的注册过多；请 12 秒后重试",
        ),
        (errors.NotFound("resource", "r-1").message, "未找到资源 'r-1'"),
        (errors.NotFound("resource version", "r-1@2").message, "未找到资源版本 'r-1@2'"),
        (
            errors.NotFound("resource in the share catalog", "x").message,
            "未找到共享目录中的资源 'x'",
        ),
        (
            errors.UpstreamUnavailable(
                "partners", cause="the event bus is not connected yet; retry"
            ).message,
            "partners 服务不可用：事件总线尚未连接；请稍后重试",
        ),
        ("invalid request: name, data_items[0].type", "请求无效：name, data_items[0].type"),
    ],
)
def test_a_known_detail_is_translated_with_its_values_verbatim(english: str, chinese: str) -> None:
    assert problem_texts.detail(english) == chinese


@pytest.mark.parametrize(
    "english",
    [
        "flux capacitor not found",  # a kind the vocabulary does not know
        "the catalog service is unavailable: something new; retry shortly",
        "the access token has expired!",  # a catalogue entry matches whole or not at all
        "",
    ],
)
def test_an_unknown_detail_has_no_translation(english: str) -> None:
    assert problem_texts.detail(english) is None


@pytest.mark.parametrize(
    ("description", "rule", "chinese"),
    [
        ("is required", "required", "必填"),
        ("is longer than 200 characters", "max-length", "超过 200 个字符"),
        ("has no value 9", "known-value", "没有取值 9"),
        ("must be one of csv, json", "known-value", "必须是以下之一：csv, json"),
        ("must be between 0 and 2147483647", "range", "必须在 0 到 2147483647 之间"),
        ("is required", "", "必填"),  # no rule: by the description
        ("is not a known field", "", "不是已知字段"),
        ("is required", "a-rule-added-later", "必填"),
    ],
)
def test_a_violation_is_translated_by_its_rule(description: str, rule: str, chinese: str) -> None:
    assert problem_texts.violation(description, rule) == chinese


def test_every_rule_the_catalog_domain_breaks_has_an_entry() -> None:
    source = Path(catalog_domain.__file__).read_text(encoding="utf-8")
    rules = set(re.findall(r'\.broken\(\s*[^,]+,\s*"([a-z-]+)"', source))
    assert len(rules) >= 15
    assert rules <= set(problem_texts.RULES), sorted(rules - set(problem_texts.RULES))


# --- the response ------------------------------------------------------------------------------


def _body(answer: web.Response) -> Any:
    assert isinstance(answer.body, bytes)
    return orjson.loads(answer.body)


def test_a_422_in_chinese_keeps_type_status_fields_and_rules() -> None:
    violations = [
        FieldViolation("name", "is longer than 200 characters", "max-length"),
        FieldViolation("data_items[0].type", "must be one of int, text", "known-value"),
    ]
    problem = from_domain(errors.InvalidArgument(violations))
    english = _body(response(problem, "/office/v1/x"))
    chinese_answer = response(problem, "/office/v1/x", language=CHINESE)
    chinese = _body(chinese_answer)
    assert chinese_answer.headers["Content-Language"] == "zh-CN"
    assert chinese_answer.headers["Vary"] == "Accept-Language"
    assert chinese["title"] == "请求无效"
    assert chinese["detail"] == "请求无效：name, data_items[0].type"
    assert [e["detail"] for e in chinese["errors"]] == [
        "超过 200 个字符",
        "必须是以下之一：int, text",
    ]
    for key in ("type", "status", "instance"):
        assert chinese[key] == english[key]
    assert [(e["field"], e["rule"]) for e in chinese["errors"]] == [
        ("name", "max-length"),
        ("data_items[0].type", "known-value"),
    ]


def test_english_is_today_s_document_with_its_language_named() -> None:
    problem = Problem(404, "Not found", "no such route")
    answer = response(problem, "/nowhere")
    assert answer.body == problem.to_json("/nowhere")
    assert answer.headers["Content-Language"] == "en"
    assert answer.headers["Vary"] == "Accept-Language"


def test_a_detail_without_translation_stays_english_and_the_header_says_so() -> None:
    problem = from_domain(errors.FailedPrecondition("a brand-new refusal nobody translated"))
    answer = response(problem, None, language=CHINESE)
    body = _body(answer)
    assert body["title"] == "与当前状态冲突"
    assert body["detail"] == "a brand-new refusal nobody translated"
    assert answer.headers["Content-Language"] == "zh-CN, en"


def test_the_type_of_a_problem_is_the_same_in_both_languages() -> None:
    problem = Problem(400, "Malformed JSON", "the body is not valid JSON: unexpected character")
    english = _body(response(problem, None))
    chinese = _body(response(problem, None, language=CHINESE))
    assert chinese["type"] == english["type"] == "urn:smartcity:problem:malformed-json"
    assert chinese["detail"] == "请求体不是有效的 JSON：unexpected character"


def test_a_detail_made_of_its_violations_is_made_again_in_chinese() -> None:
    violations = [FieldViolation("page_size", "must be between 0 and 1000", "range")]
    problem = Problem(400, "Number out of range", "page_size must be between 0 and 1000")
    problem.violations = violations
    body = _body(response(problem, None, language=CHINESE))
    assert body["detail"] == "page_size：必须在 0 到 1000 之间"


def test_vary_keeps_what_the_problem_already_varies_on() -> None:
    problem = Problem(403, "Origin not allowed", "x", headers={"Vary": "Origin"})
    assert response(problem, None).headers["Vary"] == "Origin, Accept-Language"


# --- through the middleware --------------------------------------------------------------------


async def _refused(request: web.Request) -> web.StreamResponse:
    raise from_domain(errors.Unauthenticated("the access token has expired"))


@pytest_asyncio.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application(middlewares=[observe])
    app.router.add_get("/refused", _refused)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.mark.parametrize(
    ("accept", "title", "language"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "未认证", "zh-CN"),
        ("en-US,en;q=0.9", "Unauthenticated", "en"),
        (None, "Unauthenticated", "en"),
        ("q=;;,*;q=x", "Unauthenticated", "en"),
    ],
)
async def test_the_middleware_answers_in_the_negotiated_language(
    client: TestClient[web.Request, web.Application],
    accept: str | None,
    title: str,
    language: str,
) -> None:
    headers = {"Accept-Language": accept} if accept is not None else {}
    async with client.get("/refused", headers=headers) as answer:
        body = await answer.json(content_type=None)
        assert answer.status == 401
        assert answer.headers["Content-Language"] == language
        assert "Accept-Language" in answer.headers["Vary"]
    assert body["title"] == title
    assert body["type"] == "urn:smartcity:problem:unauthenticated"


async def test_aiohttp_s_own_404_is_answered_in_chinese(
    client: TestClient[web.Request, web.Application],
) -> None:
    async with client.get("/nowhere", headers={"Accept-Language": "zh"}) as answer:
        body = await answer.json(content_type=None)
    assert (answer.status, body["title"], body["detail"]) == (404, "未找到", "不存在此路由")
    assert body["type"] == "urn:smartcity:problem:not-found"


def test_a_very_long_detail_stays_english_quickly() -> None:
    origin = " is not allowed to call the " * 1000
    english = f"the origin {origin!r} is not allowed to call the public entry point from a browser"
    assert problem_texts.detail(english) is None
    assert problem_texts.detail(english[:3000]) is None  # not the whole sentence: no match


def test_every_rule_an_identity_number_breaks_has_an_entry_that_translates_it() -> None:
    # given the refusals of runtime/identifiers.py, each naming its rule
    source = Path(identifiers.__file__).read_text(encoding="utf-8")
    rules = set(re.findall(r'"((?:resident-id|credit-code)-[a-z-]+)"', source))
    assert len(rules) >= 10
    assert rules <= set(problem_texts.RULES), sorted(rules - set(problem_texts.RULES))
    # then a refusal of each kind reads in Chinese, by its rule
    for bad in ("11010519491231002", "11010519491231002Y", "110105194912310020"):
        with pytest.raises(identifiers.IdentifierError) as refused:
            identifiers.parse_resident_id(bad)
        assert refused.value.rule.startswith("resident-id-")
        said = problem_texts.violation(refused.value.reason, refused.value.rule)
        assert said and not said.isascii(), refused.value.reason
    for bad in ("91460100MA5T", "I1460100MA5T00000X", "91460100MA5T000001"):
        with pytest.raises(identifiers.IdentifierError) as refused:
            identifiers.parse_credit_code(bad)
        assert refused.value.rule.startswith("credit-code-")
        said = problem_texts.violation(refused.value.reason, refused.value.rule)
        assert said and not said.isascii(), refused.value.reason


_RESOURCE_STATES = (
    catalog_domain.DRAFT,
    catalog_domain.SUBMITTED,
    catalog_domain.RETURNED,
    catalog_domain.CONFIRMED,
    catalog_domain.PUBLISHED,
    catalog_domain.WITHDRAWN,
)


def _refusal(step: str, state: int, *, listed: bool = False) -> str | None:
    try:
        catalog_domain.next_state(step, state, listed=listed)
    except errors.FailedPrecondition as refused:
        return refused.message
    return None


def test_every_refused_catalog_step_is_said_in_chinese() -> None:
    """The office console shows a refused step (the resource changed meanwhile) in Chinese."""
    said = {
        refusal
        for step in catalog_domain.TRANSITIONS
        for state in _RESOURCE_STATES
        for listed in (False, True)
        if (refusal := _refusal(step, state, listed=listed)) is not None
    }
    assert len(said) >= 10
    untranslated = sorted(english for english in said if problem_texts.detail(english) is None)
    assert not untranslated, untranslated
    assert (
        problem_texts.detail(_refusal("submit", catalog_domain.PUBLISHED) or "")
        == "资源当前为已发布，不能提交；须为草稿或已退回"
    )
    with pytest.raises(errors.FailedPrecondition) as refused:
        catalog_domain.check_editable(catalog_domain.WITHDRAWN)
    assert problem_texts.detail(refused.value.message) == (
        "已撤回的资源不能修改；只能修改草稿、已退回、已确认或已发布的资源"
    )
