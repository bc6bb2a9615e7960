"""The sign-in, consent and error pages of the authorization endpoint, in Chinese and English.

Every string is in `TEXT`, once per language (a unit test checks both exist for every key).
Every value that comes from a request or a client's registration goes through `html.escape`
here, at the one place it meets markup: the handlers pass plain text. No scripts and no inline
styles: the pages' Content-Security-Policy allows one stylesheet, `STYLESHEET`, and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape

ZH = "zh-CN"
EN = "en"
LANGUAGES: tuple[str, ...] = (ZH, EN)
DEFAULT_LANGUAGE = ZH
STYLESHEET_PATH = "/oauth2/static/signin.css"

TEXT: Mapping[str, Mapping[str, str]] = {
    "platform": {ZH: "海口市智慧城市平台", EN: "Haikou Smart City Platform"},
    "other_language": {ZH: "English", EN: "中文"},
    "sign_in": {ZH: "登录", EN: "Sign in"},
    "sign_in_to": {ZH: "登录后继续使用 {app}", EN: "Sign in to continue to {app}"},
    "who_public": {
        ZH: "市民和企业经办人使用本平台账户登录。",
        EN: "Citizens and enterprise agents sign in with their platform account.",
    },
    "who_office": {
        ZH: "政府工作人员使用本平台账户和动态验证码登录。",
        EN: "Government staff sign in with their platform account and authenticator code.",
    },
    "username": {ZH: "用户名", EN: "Username"},
    "password": {ZH: "密码", EN: "Password"},
    "totp_code": {ZH: "动态验证码 (6 位数字)", EN: "Authenticator code (6 digits)"},
    "totp_hint": {
        ZH: "首次登录、尚未绑定动态验证码的, 请留空, 登录后按提示绑定。",
        EN: "First sign-in, no authenticator yet? Leave it empty and set it up next.",
    },
    "enterprise_id": {
        ZH: "代表企业办理 (可选): 企业编号",
        EN: "Act for an enterprise (optional): enterprise ID",
    },
    "enterprise_hint": {
        ZH: "以个人身份登录时请留空。",
        EN: "Leave empty to sign in for yourself.",
    },
    "refused": {
        ZH: "用户名、密码或验证码不正确, 或该账户不能在此登录。",
        EN: "The username, password or code is not correct, or the account cannot sign in here.",
    },
    "not_for_enterprise": {
        ZH: "你未获授权代表该企业办理。",
        EN: "You are not authorised to act for this enterprise.",
    },
    "check_field": {
        ZH: "请检查填写的内容: {detail}",
        EN: "Please check what you entered: {detail}",
    },
    "consent": {ZH: "授权访问", EN: "Allow access"},
    "consent_intro": {
        ZH: "{app} 请求访问你在本平台的以下信息:",
        EN: "{app} asks to see the following from your platform account:",
    },
    "scope_openid": {ZH: "一个代表你的标识符", EN: "an identifier for you"},
    "scope_profile": {ZH: "你的姓名和用户名", EN: "your name and username"},
    "scope_offline_access": {
        ZH: "在你离开后继续保持访问, 最长至登录会话结束",
        EN: "keep access while you are away, up to the session's lifetime",
    },
    "duration_offline": {
        ZH: "期限: 直至你退出登录或撤销授权, 最长 12 小时。",
        EN: "For how long: until you sign out or revoke it, at most 12 hours.",
    },
    "duration_online": {
        ZH: "期限: 仅限现在, 约 5 分钟。",
        EN: "For how long: only now, for about 5 minutes.",
    },
    "approve": {ZH: "允许", EN: "Allow"},
    "deny": {ZH: "拒绝", EN: "Deny"},
    "error": {ZH: "无法继续", EN: "Cannot continue"},
    "unknown_client": {
        ZH: "该应用未在本平台登记, 无法为其登录。",
        EN: "This application is not registered with the platform: you cannot sign in to it.",
    },
    "unregistered_redirect": {
        ZH: "该应用要求返回的地址未在本平台登记。为保护你的账户, 不会跳转到该地址。",
        EN: "The address this application asked to return to is not registered with the "
        "platform. To protect your account you are not sent there.",
    },
    "bad_request": {
        ZH: "该登录请求无效。",
        EN: "This sign-in request is not valid.",
    },
    "forged": {
        ZH: "该表单已过期, 或并非来自本平台的页面。",
        EN: "This form has expired, or it did not come from the platform's own page.",
    },
    "consent_expired": {
        ZH: "该授权请求已过期或已处理。",
        EN: "This request for access has expired or was already answered.",
    },
    "too_many": {
        ZH: "尝试次数过多。请在 {seconds} 秒后重试。",
        EN: "Too many attempts. Try again in {seconds} seconds.",
    },
    "unavailable": {
        ZH: "登录服务暂时不可用, 请稍后重试。",
        EN: "Sign-in is unavailable for the moment; try again shortly.",
    },
    "failed": {
        ZH: "平台出错, 请稍后重试。",
        EN: "The platform failed; try again shortly.",
    },
    "start_again": {
        ZH: "请返回你正在使用的应用, 重新开始登录。",
        EN: "Go back to the application you were using and start again.",
    },
    "details": {ZH: "详细信息", EN: "Details"},
}


def text(lang: str, key: str, **values: str) -> str:
    """The string in `lang`, with `values` filled in and everything escaped."""
    template = escape(TEXT[key][lang])
    return template.format(**{k: escape(v) for k, v in values.items()})


@dataclass(frozen=True, kw_only=True)
class Chrome:
    """What every page has around its content: language, title and the language switch."""

    lang: str
    title_key: str
    switch_url: str = ""


def page(chrome: Chrome, content: str) -> str:
    lang = chrome.lang
    switch = ""
    if chrome.switch_url:
        other = EN if lang == ZH else ZH
        switch = (
            f'<footer><a href="{escape(chrome.switch_url)}" lang="{other}" hreflang="{other}">'
            f"{text(lang, 'other_language')}</a></footer>"
        )
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{text(lang, chrome.title_key)} · {text(lang, 'platform')}</title>\n"
        f'<link rel="stylesheet" href="{STYLESHEET_PATH}">\n</head>\n<body>\n'
        f'<header><p class="platform">{text(lang, "platform")}</p></header>\n'
        f"<main>\n{content}\n</main>\n{switch}\n</body>\n</html>\n"
    )


def hidden(fields: Iterable[tuple[str, str]]) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">\n'
        for name, value in fields
    )


def _input(
    lang: str, name: str, *, kind: str, autocomplete: str, value: str = "", extra: str = ""
) -> str:
    return (
        f'<label for="{name}">{text(lang, name)}</label>\n'
        f'<input id="{name}" name="{name}" type="{kind}" autocomplete="{autocomplete}" '
        f'value="{escape(value)}"{extra}>\n'
    )


def sign_in(
    *,
    chrome: Chrome,
    application: str,
    entry_point: str,
    action: str,
    fields: Iterable[tuple[str, str]],
    username: str = "",
    message: str = "",
) -> str:
    """The sign-in form: username and password, a TOTP code for staff, and for citizens an
    optional enterprise to act for. `message` is a key of TEXT (the refusal), already chosen."""
    lang = chrome.lang
    alert = f'<p class="alert" role="alert">{message}</p>\n' if message else ""
    focus_user = " autofocus" if not username else ""
    focus_password = "" if not username else " autofocus"
    inputs = _input(
        lang,
        "username",
        kind="text",
        autocomplete="username",
        value=username,
        extra=f' required maxlength="128" autocapitalize="none" spellcheck="false"{focus_user}',
    )
    inputs += _input(
        lang,
        "password",
        kind="password",
        autocomplete="current-password",
        extra=f' required maxlength="1024"{focus_password}',
    )
    if entry_point == "office":
        inputs += _input(
            lang,
            "totp_code",
            kind="text",
            autocomplete="one-time-code",
            # not `required`: staff without a second factor yet sign in with the password
            # alone and are asked to enrol it (the identity service decides who may)
            extra=(
                ' inputmode="numeric" pattern="[0-9]{6}" maxlength="6" aria-describedby="totp_hint"'
            ),
        )
        inputs += f'<p id="totp_hint" class="hint">{text(lang, "totp_hint")}</p>\n'
    else:
        inputs += _input(
            lang,
            "enterprise_id",
            kind="text",
            autocomplete="off",
            extra=' maxlength="64" aria-describedby="enterprise_hint" spellcheck="false"',
        )
        inputs += f'<p id="enterprise_hint" class="hint">{text(lang, "enterprise_hint")}</p>\n'
    who = "who_office" if entry_point == "office" else "who_public"
    return page(
        chrome,
        f"<h1>{text(lang, 'sign_in_to', app=application)}</h1>\n"
        f'<p class="lead">{text(lang, who)}</p>\n{alert}'
        f'<form method="post" action="{escape(action)}">\n{hidden(fields)}{inputs}'
        f'<button type="submit">{text(lang, "sign_in")}</button>\n</form>',
    )


def consent(
    *,
    chrome: Chrome,
    application: str,
    scopes: Iterable[str],
    action: str,
    fields: Iterable[tuple[str, str]],
) -> str:
    """What the application will see, per scope, and for how long; allow or deny."""
    lang = chrome.lang
    asked = list(scopes)
    items = "".join(
        f"<li>{text(lang, f'scope_{scope}')}</li>\n" for scope in asked if f"scope_{scope}" in TEXT
    )
    duration = "duration_offline" if "offline_access" in asked else "duration_online"
    return page(
        chrome,
        f"<h1>{text(lang, 'consent')}</h1>\n"
        f"<p>{text(lang, 'consent_intro', app=application)}</p>\n<ul>\n{items}</ul>\n"
        f"<p>{text(lang, duration)}</p>\n"
        f'<form method="post" action="{escape(action)}">\n{hidden(fields)}'
        '<div class="actions">\n'
        f'<button type="submit" name="decision" value="approve">{text(lang, "approve")}</button>\n'
        f'<button type="submit" name="decision" value="deny" class="secondary">'
        f"{text(lang, 'deny')}</button>\n</div>\n</form>",
    )


def error(*, chrome: Chrome, message: str, detail: str = "", start_again: bool = True) -> str:
    """An error page: `message` is already text(); `detail` (plain, English) is escaped."""
    lang = chrome.lang
    more = ""
    if detail:
        label = text(lang, "details")
        more = f'<p class="detail">{label}: <span lang="en">{escape(detail)}</span></p>\n'
    again = f"<p>{text(lang, 'start_again')}</p>\n" if start_again else ""
    return page(
        chrome,
        f'<h1>{text(lang, "error")}</h1>\n<p role="alert">{message}</p>\n{more}{again}',
    )


STYLESHEET = """\
:root { color-scheme: light; --ink: #1a1a1a; --muted: #4a4a4a; --accent: #0b5394;
  --line: #767676; --alert: #a4000f; --paper: #ffffff; --wash: #f3f5f8; }
* { box-sizing: border-box; }
html { font-size: 100%; }
body { margin: 0; background: var(--wash); color: var(--ink); line-height: 1.5;
  font-family: system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC",
  sans-serif; }
header, main, footer { max-width: 28rem; margin: 0 auto; padding: 0 1rem; }
header .platform { margin: 1.5rem 0 0.5rem; font-weight: 600; color: var(--accent); }
main { background: var(--paper); border: 1px solid #d0d7de; border-radius: 8px;
  padding: 1.25rem 1rem 1.5rem; }
footer { padding: 1rem; text-align: center; }
h1 { font-size: 1.35rem; line-height: 1.3; margin: 0 0 0.75rem; overflow-wrap: anywhere; }
p, li { overflow-wrap: anywhere; }
.lead, .hint, .detail { color: var(--muted); }
.hint { font-size: 0.9rem; margin: -0.5rem 0 1rem; }
label { display: block; font-weight: 600; margin: 0 0 0.25rem; }
input { display: block; width: 100%; font: inherit; padding: 0.6rem 0.7rem; margin: 0 0 1rem;
  border: 1px solid var(--line); border-radius: 4px; color: var(--ink); background: var(--paper); }
button { font: inherit; font-weight: 600; padding: 0.65rem 1.25rem; min-height: 44px;
  border: 1px solid var(--accent); border-radius: 4px; background: var(--accent); color: #fff;
  cursor: pointer; }
button.secondary { background: var(--paper); color: var(--accent); }
form > button { width: 100%; }
.actions { display: flex; gap: 0.75rem; flex-wrap: wrap; }
.actions button { flex: 1 1 8rem; }
input:focus, button:focus, a:focus { outline: 3px solid #ffbf47; outline-offset: 1px; }
a { color: var(--accent); }
.alert { color: var(--alert); border-left: 4px solid var(--alert); padding: 0.25rem 0.75rem;
  background: #fdf0f0; }
"""
