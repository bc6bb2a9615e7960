# ruff: noqa: RUF001 - Chinese text is written with Chinese (full-width) punctuation
"""The words of a problem in the reader's language: the gateway's problems are made in English
(`gateway.problems`) and written in Chinese here, from three catalogues.

- `TITLES`: every problem title, English and Chinese, in one table. A problem's `type` is made
  from the English title or the service's reason, so it stays the same in every language.
- `RULES`: a violation's words by its rule code (`errors[].rule`), the field kept verbatim; and
  `VIOLATIONS` for the violations that name no rule.
- `DETAILS`: the fixed English details the gateway and the services say (a gRPC status message
  is free text), with `{placeholders}` for what varies (numbers, names, identifiers), which are
  kept verbatim or, for a closed set of words (`VOCABULARY`), translated too.

A text with no entry stays English, never a guessed translation: `Content-Language` then names
both languages (`zh-CN, en`), so a client can tell that some member stayed English. The
machine-readable members (`type`, `status`, `errors[].field`, `errors[].rule`, `instance`,
`service`, `trace_id`) are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway import languages

# English title -> Chinese title; looked up without regard to case ("Not Found" is aiohttp's).
TITLES: Mapping[str, str] = {
    # runtime.errors.HTTP_FOR_CODE: the titles of statuses from the services
    "Invalid request": "请求无效",
    "Not found": "未找到",
    "Already exists": "已存在",
    "Conflict with the current state": "与当前状态冲突",
    "Conflict, retry": "冲突，请重试",
    "Unauthenticated": "未认证",
    "Forbidden": "禁止访问",
    "Too many requests": "请求过多",
    "Service unavailable": "服务不可用",
    "Not implemented": "未实现",
    "Bad gateway": "网关错误",
    # the gateway's own problems
    "Internal error": "内部错误",
    "Incomplete request": "请求不完整",
    "Request header fields too large": "请求头字段过大",
    "Invalid request target": "请求目标无效",
    "Malformed request line": "请求行格式错误",
    "Invalid header": "请求头无效",
    "Malformed request": "请求格式错误",
    "Missing body": "缺少请求体",
    "Unsupported media type": "不支持的媒体类型",
    "Malformed JSON": "JSON 格式错误",
    "Duplicate key": "重复的键",
    "Malformed body": "请求体格式错误",
    "Number out of range": "数值超出范围",
    "Invalid Last-Event-ID": "Last-Event-ID 无效",
    "Invalid query": "查询参数无效",
    "Origin not allowed": "不允许的来源",
    # aiohttp's own refusals carry the HTTP reason phrase as their title
    "Bad Request": "错误的请求",
    "Unauthorized": "未授权",
    "Payment Required": "需要付款",
    "Method Not Allowed": "不允许的方法",
    "Not Acceptable": "无法接受",
    "Proxy Authentication Required": "需要代理认证",
    "Request Timeout": "请求超时",
    "Conflict": "冲突",
    "Gone": "已不存在",
    "Length Required": "需要内容长度",
    "Precondition Failed": "前提条件不满足",
    "Request Entity Too Large": "请求体过大",
    "Content Too Large": "请求体过大",
    "Request-URI Too Long": "请求 URI 过长",
    "Requested Range Not Satisfiable": "无法满足请求的范围",
    "Expectation Failed": "无法满足期望",
    "Misdirected Request": "请求被错误定向",
    "Unprocessable Entity": "无法处理的内容",
    "Unprocessable Content": "无法处理的内容",
    "Failed Dependency": "依赖失败",
    "Upgrade Required": "需要升级协议",
    "Precondition Required": "需要前提条件",
    "Unavailable For Legal Reasons": "因法律原因不可用",
    "Internal Server Error": "服务器内部错误",
    "Gateway Timeout": "网关超时",
    "HTTP Version Not Supported": "不支持的 HTTP 版本",
    "Variant Also Negotiates": "变体协商循环",
    "Insufficient Storage": "存储空间不足",
    "Not Extended": "缺少扩展",
    "Network Authentication Required": "需要网络认证",
}
_TITLES = {english.casefold(): chinese for english, chinese in TITLES.items()}

# Closed sets of words that fill a placeholder of the same name, translated with the sentence.
VOCABULARY: Mapping[str, Mapping[str, str]] = {
    # runtime.errors.NotFound(kind, ...)
    "kind": {
        "account": "账户",
        "agent": "经办人",
        "authorisation code": "授权码",
        "dataset": "数据集",
        "demand": "数据需求",
        "enterprise": "企业",
        "entitlement": "权限",
        "evidence batch": "证据批次",
        "grant": "授权",
        "incident": "安全事件",
        "interface service": "接口服务",
        "key": "密钥",
        "licence": "证照",
        "partner client": "合作方客户端",
        "public key": "公钥",
        "resource in the share catalog": "共享目录中的资源",
        "resource version": "资源版本",
        "resource": "资源",
        "share request": "共享申请",
        "subscription": "订阅",
        "use grant": "用证授权",
        "webhook": "Webhook",
        "NATS key of partner": "合作方的 NATS 密钥",
    },
    # services.catalog.domain.next_state: a lifecycle step and the states it starts from
    "step": {
        "submit": "提交",
        "return": "退回",
        "confirm": "确认",
        "publish": "发布",
        "withdraw": "撤回",
    },
    "state": {
        "draft": "草稿",
        "submitted": "待审核",
        "returned": "已退回",
        "confirmed": "已确认",
        "published": "已发布",
        "withdrawn": "已撤回",
    },
    "states": {
        "draft or returned": "草稿或已退回",
        "submitted": "待审核",
        "confirmed or published": "已确认或已发布",
        "confirmed or draft or published or returned or submitted": (
            "已确认、草稿、已发布、已退回或待审核"
        ),
    },
    # gateway.ratelimit: what was too many
    "what": {
        "login attempts from this client": "来自此客户端的登录尝试",
        "login attempts for this account": "此账户的登录尝试",
        "registrations from this client": "来自此客户端的注册",
    },
}

# English detail (with placeholders) -> Chinese detail. A placeholder named in VOCABULARY is
# translated; `said` is translated through this same catalogue; any other is kept verbatim.
DETAILS: Mapping[str, str] = {
    # the gateway
    "no such route": "不存在此路由",
    "the route does not accept this method": "此路由不接受该请求方法",
    "the body is larger than {n} bytes": "请求体超过 {n} 字节",
    "the connection closed before the whole body": "请求体未完整送达，连接已关闭",
    "the gateway failed; the trace id identifies it": "网关出错；trace_id 可用于查找此请求",
    "an upstream service failed; the trace id identifies the request": (
        "上游服务出错；trace_id 可用于查找此请求"
    ),
    "the request line or a header field is longer than {n} bytes": (
        "请求行或某个请求头字段超过 {n} 字节"
    ),
    "more than {n} headers": "请求头超过 {n} 个",
    "the URL is malformed or holds a character that must be percent-encoded (RFC 3986), e.g. a "
    "control character or text that is not UTF-8": (
        "URL 格式错误，或含有必须百分号编码的字符（RFC 3986），例如控制字符或非 UTF-8 文本"
    ),
    "the request does not start with a method": "请求没有以方法开头",
    "write METHOD /path HTTP/1.1": "请写成 METHOD /path HTTP/1.1",
    "a header field is malformed, or repeated or missing where it may not be (Host)": (
        "某个请求头字段格式错误，或在不允许时重复或缺失（Host）"
    ),
    "the request is not valid HTTP/1.1 (RFC 9112)": "请求不是有效的 HTTP/1.1（RFC 9112）",
    "send the body as application/json": "请以 application/json 发送请求体",
    "the body is not valid JSON: {error}": "请求体不是有效的 JSON：{error}",
    "a JSON object names a key twice: {paths}": "JSON 对象中有重复的键：{paths}",
    "the body must be a JSON object": "请求体必须是 JSON 对象",
    "a {method} needs a JSON object body: what to change": (
        "{method} 请求需要 JSON 对象作为请求体，写明要修改的内容"
    ),
    "the Authorization header must be 'Bearer <token>', in ASCII": (
        "Authorization 请求头必须是 'Bearer <token>'，且只含 ASCII 字符"
    ),
    "{header} must not contain control characters (found {character})": (
        "{header} 不得包含控制字符（发现 {character}）"
    ),
    "Last-Event-ID must be a sequence number": "Last-Event-ID 必须是序号",
    "from_time must be an RFC 3339 time, e.g. 2026-11-29T08:00:00Z": (
        "from_time 必须是 RFC 3339 时间，例如 2026-11-29T08:00:00Z"
    ),
    "the origin {origin} is not allowed to call the {entry} entry point from a browser": (
        "不允许来源 {origin} 从浏览器调用 {entry} 入口"
    ),
    "this installation does not carry the AsyncAPI document": "此安装不含 AsyncAPI 文档",
    "too many {what}; retry after {n} second": "{what}过多；请 {n} 秒后重试",
    "too many {what}; retry after {n} seconds": "{what}过多；请 {n} 秒后重试",
    "invalid request: {fields}": "请求无效：{fields}",
    # statuses every service may send (runtime)
    "{kind} {name} not found": "未找到{kind} {name}",
    "an access token is required": "需要访问令牌",
    "the Authorization header must be 'Bearer <token>'": (
        "Authorization 请求头必须是 'Bearer <token>'"
    ),
    "the token was signed with an unknown key": "令牌由未知的密钥签名",
    "the access token is not for this entry point": "此访问令牌不适用于该入口",
    "the access token is malformed": "访问令牌格式错误",
    "the access token has no kid or an unsupported algorithm": (
        "访问令牌缺少 kid，或使用了不支持的算法"
    ),
    "the token is not an access token (typ {typ})": "该令牌不是访问令牌（typ {typ}）",
    "the access token has expired": "访问令牌已过期",
    "the access token is not valid yet": "访问令牌尚未生效",
    "the access token was issued by someone else": "访问令牌不是本平台签发的",
    "the access token is invalid": "访问令牌无效",
    "the session of this access token has ended": "此访问令牌所属的会话已结束",
    "tokens for audience {audience} may not call this": "受众为 {audience} 的令牌不能调用此接口",
    "callers of type {type} may not call this": "类型为 {type} 的调用方不能调用此接口",
    "requires one of the roles: {roles}": "需要以下角色之一：{roles}",
    "{operation} needs one of the roles: {roles}": "{operation} 需要以下角色之一：{roles}",
    "{method} has no access policy": "{method} 没有访问策略",
    "the {service} service is not answering; retry shortly": "{service} 服务无响应，请稍后重试",
    "the {service} service is unavailable: {said}": "{service} 服务不可用：{said}",
    "the {service} service is unavailable: {said}; retry shortly": (
        "{service} 服务不可用：{said}；请稍后重试"
    ),
    "the event bus is not connected yet; retry": "事件总线尚未连接，请重试",
    "the event bus is not connected yet": "事件总线尚未连接",
    # identity: signing in, sessions, accounts
    "wrong username or password": "用户名或密码错误",
    "wrong username, password or TOTP code": "用户名、密码或 TOTP 验证码错误",
    "too many failed logins: the account is locked for {n} s": (
        "登录失败次数过多：账户已锁定 {n} 秒"
    ),
    "the session has expired; sign in again": "会话已过期，请重新登录",
    "the session has ended; sign in again": "会话已结束，请重新登录",
    "the refresh token was already used: the session is ended": "刷新令牌已被使用过：会话已结束",
    "the refresh token is not valid": "刷新令牌无效",
    "the account may no longer use this session": "该账户已不能使用此会话",
    "enrol a second factor (TOTP) first": "请先登记第二因素（TOTP）",
    "the account may not act for this enterprise": "该账户不能代表此企业办理",
    "only the enterprise's legal representative manages its agents": (
        "只有企业的法定代表人可以管理其经办人"
    ),
    "the username {username} is taken": "用户名 {username} 已被占用",
    "the username or identity number is already registered": "用户名或证件号码已注册",
    "an account is already registered for this resident ID number": "此居民身份证号码已注册账户",
    "an enterprise with this credit code is already registered": ("此统一社会信用代码的企业已注册"),
    "a second factor is already enrolled": "已登记第二因素",
    "a second factor is already enrolled; an administrator can reset it": (
        "已登记第二因素；管理员可以重置"
    ),
    "begin the enrolment first": "请先开始登记",
    # catalog and exchange
    "officers edit resources of their own department only": "工作人员只能编辑本部门的资源",
    "editing resources requires the catalog_officer role": "编辑资源需要 catalog_officer 角色",
    "only the Big Data Bureau's catalog officers review the catalog": (
        "只有大数据管理局的目录工作人员可以审核目录"
    ),
    "cannot {step} a resource that is {state}; it must be {states}": (
        "资源当前为{state}，不能{step}；须为{states}"
    ),
    "a resource that is {state} cannot be edited; edit a draft, a returned, a confirmed or a "
    "published resource": "{state}的资源不能修改；只能修改草稿、已退回、已确认或已发布的资源",
    "only the provider's share approvers decide": "只有提供部门的共享审批人可以决定",
    "only departments and partner systems ask for shared data": (
        "只有部门和合作方系统可以申请共享数据"
    ),
    "a provider does not ask for its own data": "提供部门无需申请自己的数据",
    "the department holds no live grant of this resource": "该部门没有此资源的有效授权",
    "the department subscribes to this resource already": "该部门已订阅此资源",
    "this batch was pushed already (same Idempotency-Key)": (
        "此批次已推送过（相同的 Idempotency-Key）"
    ),
    # licences
    "issuing licences needs the licence_issuer role": "签发证照需要 licence_issuer 角色",
    "listing a department's licences needs the licence_issuer role": (
        "列出部门的证照需要 licence_issuer 角色"
    ),
    "the licence changed meanwhile; read it and try again": "证照已被修改；请重新读取后再试",
    "the grant is already withdrawn": "该授权已撤回",
}

# A violation's description by its rule code (`errors[].rule`): English -> Chinese.
RULES: Mapping[str, Mapping[str, str]] = {
    "required": {
        "is required": "必填",
        "is required (the department's credit code)": "必填（部门的统一社会信用代码）",
        "needs at least one data item": "至少需要一个数据项",
    },
    "max-length": {"is longer than {n} characters": "超过 {n} 个字符"},
    "max-items": {
        "has more than {n} items": "超过 {n} 项",
        "has more than {n} codes": "超过 {n} 个代码",
        "has more than {n} keywords": "超过 {n} 个关键词",
    },
    "known-value": {
        "has no value {value}": "没有取值 {value}",
        "must be one of {values}": "必须是以下之一：{values}",
    },
    "department-code": {
        "must be a department code": "必须是部门代码",
        "must be a department code, e.g. 'psb'": "必须是部门代码，例如 'psb'",
    },
    "credit-code": {
        "is not a unified social credit code: {reason}": "不是统一社会信用代码：{reason}",
        "must be written in capitals without spaces": "必须用大写字母书写，不含空格",
    },
    "classification": {
        "must be 1 (basic), 2 (theme) or 3 (department)": "必须是 1（基础）、2（主题）或 3（部门）",
        "must be two digits, e.g. '01'": "必须是两位数字，例如 '01'",
        "must be three digits, e.g. '001'": "必须是三位数字，例如 '001'",
        "must be 1 to 6 digits, e.g. '3' or '301001'": "必须是 1 到 6 位数字，例如 '3' 或 '301001'",
    },
    "unique-item-name": {"repeats another data item's name": "与另一个数据项重名"},
    "item-grade-within-resource-grade": {
        "cannot exceed the resource's data_grade": "不能高于资源的 data_grade"
    },
    "protected-data-not-unconditional": {
        "a resource with personal or sensitive data cannot be shared unconditionally": (
            "含个人信息或敏感数据的资源不能无条件共享"
        )
    },
    "conditions-stated": {
        "a conditional share must state them": "有条件共享必须写明条件",
        "a conditional opening must state them": "有条件开放必须写明条件",
    },
    "not-shared-cites-legal-basis": {
        "a resource that is not shared must cite its legal basis": "不予共享的资源必须注明法律依据"
    },
    "no-method-when-not-shared": {"must be empty when not shared": "不共享时必须为空"},
    "share-method": {
        "a shared resource needs at least one method": "共享的资源至少需要一种共享方式"
    },
    "unique": {"repeats a method": "共享方式重复"},
    "protected-data-not-open": {
        "a resource with personal or sensitive data cannot be open without conditions": (
            "含个人信息或敏感数据的资源不能无条件开放"
        )
    },
    "important-data-not-open": {
        "important or core data is never open": "重要数据和核心数据不予开放"
    },
    "not-shared-not-open": {
        "a resource not shared between departments cannot be opened to the public": (
            "不在部门间共享的资源不能向社会开放"
        )
    },
    "resource-code": {"must be a code like '301001/000001'": "必须是形如 '301001/000001' 的代码"},
    "a-catalog": {
        "publish to the share catalog, the open one, or both": "请发布到共享目录、开放目录或两者"
    },
    "open-type-allows": {
        "a resource that is not open stays out of it": "不予开放的资源不能进入开放目录"
    },
    "due-days": {"must be 1 to {n} days": "必须是 1 到 {n} 天"},
    "editable": {"{path} cannot be changed": "{path} 不能修改"},
    "version-range": {
        "versions must satisfy 1 <= from < to <= {n}": "版本必须满足 1 <= from < to <= {n}"
    },
    "opened-names-resource": {
        "name the resource now open": "请写明现已开放的资源",
        "is not a resource of your department in the open catalog": "不是本部门在开放目录中的资源",
    },
    "plain-text": {
        "must not contain control or bidirectional formatting characters (found {character})": (
            "不得包含控制字符或双向格式字符（发现 {character}）"
        ),
        "has a key with control or bidirectional formatting characters (found {character})": (
            "有键包含控制字符或双向格式字符（发现 {character}）"
        ),
    },
    "range": {"must be between {low} and {high}": "必须在 {low} 到 {high} 之间"},
    # accounts: a citizen's registration, a password (services/identity/domain.py)
    "username": {
        "must be 3 to 64 characters: lowercase letters, digits, '.', '_' or '-', starting with "
        "a letter or digit": (
            "须为 3 到 64 个字符：小写字母、数字、'.'、'_' 或 '-'，以字母或数字开头"
        )
    },
    "min-length": {"must be at least {n} characters": "至少需要 {n} 个字符"},
    "not-the-username": {"must not be the username": "不能与用户名相同"},
    # a resident ID number (GB 11643) and a unified social credit code (GB 32100), as
    # runtime/identifiers.py names the rule each refusal breaks
    "resident-id-length": {
        "a resident ID number has 18 characters, not {n}": "居民身份证号码应为 18 位，而不是 {n} 位"
    },
    "resident-id-shape": {
        "a resident ID number is 17 digits followed by a digit or X": (
            "居民身份证号码由 17 位数字和 1 位数字或 X 组成"
        ),
        "the first 17 characters of a resident ID number must be digits": (
            "居民身份证号码的前 17 位必须是数字"
        ),
    },
    "resident-id-check": {"the check character does not match": "校验码（第 18 位）不符"},
    "resident-id-region": {
        "the region code (characters 1-6) is not a known division": (
            "地址码（第 1 至 6 位）不是已知的行政区划"
        )
    },
    "resident-id-birth-date": {
        "the birth date (characters 7-14) is not a real calendar date": (
            "出生日期（第 7 至 14 位）不是真实的日期"
        ),
        "the birth date (characters 7-14) is before 1900": "出生日期（第 7 至 14 位）早于 1900 年",
        "the birth date (characters 7-14) is in the future": "出生日期（第 7 至 14 位）在未来",
    },
    "resident-id-sequence": {
        "the sequence number (characters 15-17) 000 is never issued": (
            "顺序码（第 15 至 17 位）000 从不签发"
        )
    },
    "credit-code-length": {
        "a unified social credit code has 18 characters, not {n}": (
            "统一社会信用代码应为 18 位，而不是 {n} 位"
        )
    },
    "credit-code-characters": {
        "character {n} of the credit code is not a digit or an allowed letter (I, O, S, V and Z "
        "are never used)": "统一社会信用代码第 {n} 位不是数字或允许的字母（不使用 I、O、S、V、Z）",
        "the first 17 characters of a credit code must be digits or letters other than I, O, S, "
        "V and Z": "统一社会信用代码前 17 位必须是数字或 I、O、S、V、Z 以外的字母",
        "the first 8 characters of an organisation code must be digits or letters other than I, "
        "O, S, V and Z": "组织机构代码前 8 位必须是数字或 I、O、S、V、Z 以外的字母",
    },
    "credit-code-check": {"the check character does not match": "校验码（第 18 位）不符"},
    "credit-code-authority": {
        "{code} is not a registration authority code (character 1)": (
            "{code} 不是登记管理部门代码（第 1 位）"
        )
    },
    "credit-code-category": {
        "{code} is not an entity category (character 2) of registration authority {authority}": (
            "{code} 不是登记管理部门 {authority} 的机构类别代码（第 2 位）"
        )
    },
    "credit-code-region": {
        "the region code (characters 3-8) must be 6 digits": (
            "登记管理机关行政区划码（第 3 至 8 位）必须是 6 位数字"
        ),
        "the region code (characters 3-8) is not a known division": (
            "登记管理机关行政区划码（第 3 至 8 位）不是已知的行政区划"
        ),
    },
    "credit-code-organisation-check": {
        "the organisation code check character (character 17) does not match": (
            "组织机构代码校验码（第 17 位）不符"
        )
    },
}

# Violations that name no rule, by their description: English -> Chinese.
VIOLATIONS: Mapping[str, str] = {
    "is required": "必填",
    "is longer than {n} characters": "超过 {n} 个字符",
    "must be at least {n} characters": "至少需要 {n} 个字符",
    # declared in proto (runtime.constraints)
    "must be {n} characters": "必须是 {n} 个字符",
    "must match {pattern}": "必须匹配 {pattern}",
    "must be one of {values}": "必须是以下之一：{values}",
    "has no value {value}": "没有取值 {value}",
    "has more than {n} items": "超过 {n} 项",
    "needs at least {n} items": "至少需要 {n} 项",
    "repeats an item": "有重复项",
    "must be at least {n}": "不能小于 {n}",
    "must be at most {n}": "不能大于 {n}",
    "must be greater than {n}": "必须大于 {n}",
    "must be less than {n}": "必须小于 {n}",
    "cannot be negative": "不能为负数",
    "is not a token from a previous page": "不是上一页返回的令牌",
    "must be in the future": "必须是将来的时间",
    "must be a JSON object": "必须是 JSON 对象",
    "must be a JSON array": "必须是 JSON 数组",
    "is not a known field": "不是已知字段",
    "is set by the server and cannot be sent": "由服务器设置，不能发送",
    "appears twice in its object": "在其对象中出现了两次",
    "must be an integer": "必须是整数",
    "must be true or false": "必须是 true 或 false",
    "must be a string": "必须是字符串",
    "must be a boolean": "必须是布尔值",
    "must be a number": "必须是数字",
    "must be an RFC 3339 time with a zone, e.g. 2026-01-31T08:00:00Z": (
        "必须是带时区的 RFC 3339 时间，例如 2026-01-31T08:00:00Z"
    ),
    "must not be the username": "不能与用户名相同",
    "must differ from the current one": "必须与当前密码不同",
    "does not match the account's password": "与账户的密码不符",
    "must be 6 digits": "必须是 6 位数字",
    "lists a role twice": "重复列出了同一角色",
    "at least one role is required": "至少需要一个角色",
    "at least one is required": "至少需要一个",
}


@dataclass(frozen=True)
class _Phrase:
    """One catalogue entry: an English sentence with placeholders, matched whole."""

    pattern: re.Pattern[str]
    chinese: str
    names: tuple[str, ...]


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _phrase(english: str, chinese: str) -> _Phrase:
    parts = _PLACEHOLDER.split(english)
    regex = ""
    names: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex += re.escape(part)
        else:
            names.append(part)
            words = VOCABULARY.get(part)
            if words is not None:  # the longest first: "resource version" before "resource"
                choices = sorted(words, key=len, reverse=True)
                regex += f"(?P<{part}>{'|'.join(map(re.escape, choices))})"
            else:
                regex += f"(?P<{part}>.+?)"
    return _Phrase(re.compile(regex, re.DOTALL), chinese, tuple(names))


def _compile(entries: Mapping[str, str]) -> tuple[_Phrase, ...]:
    # fixed sentences before patterns, so a sentence never matches a looser pattern first
    ordered = sorted(entries.items(), key=lambda item: "{" in item[0])
    return tuple(_phrase(english, chinese) for english, chinese in ordered)


_DETAILS = _compile(DETAILS)
_RULES = {rule: _compile(entries) for rule, entries in RULES.items()}
_VIOLATIONS = _compile(VIOLATIONS)


# Details quote what clients sent (a path, an origin): longer ones stay English, which bounds
# the matching work an error can cost.
MAX_TEXT = 4096


def _translate(text: str, phrases: tuple[_Phrase, ...], *, depth: int = 0) -> str | None:
    if len(text) > MAX_TEXT:
        return None
    for phrase in phrases:
        matched = phrase.pattern.fullmatch(text)
        if matched is None:
            continue
        values: dict[str, str] = {}
        for name in phrase.names:
            said = matched[name]
            if name in VOCABULARY:
                said = VOCABULARY[name][said]
            elif name == "said":
                inner = _translate(said, _DETAILS, depth=depth + 1) if depth < 2 else None
                if inner is None:
                    break
                said = inner
            values[name] = said
        else:
            return phrase.chinese.format_map(values)
    return None


def title(english: str) -> str | None:
    """The Chinese title, or None when the table has none."""
    return _TITLES.get(english.casefold())


def detail(english: str) -> str | None:
    """The Chinese of a problem's detail, or None when no catalogue entry fits."""
    return _translate(english, _DETAILS)


def violation(description: str, rule: str = "") -> str | None:
    """The Chinese of a violation's description (without its field), or None."""
    if rule in _RULES and (said := _translate(description, _RULES[rule])) is not None:
        return said
    return _translate(description, _VIOLATIONS)


def _composed(doc: Mapping[str, Any], errors: list[dict[str, Any]]) -> str | None:
    """A detail made of its violations ("a must be ...; b must be ..."), in Chinese."""
    if not errors:
        return None
    english = "; ".join(f"{e['field']} {e['detail']}" for e in errors)
    if doc.get("detail") != english:
        return None
    said = [violation(str(e["detail"]), str(e.get("rule", ""))) for e in errors]
    if any(s is None for s in said):
        return None
    return "；".join(f"{e['field']}：{s}" for e, s in zip(errors, said, strict=True))


def written_in(doc: dict[str, Any], language: str) -> tuple[dict[str, Any], str]:
    """The problem document `doc` (in English) with its words in `language` where the
    catalogues know them, and the `Content-Language` that says which languages it holds."""
    if language == languages.ENGLISH:
        return doc, languages.ENGLISH
    out = dict(doc)
    kept_english = False

    def put(key: str, said: str | None, into: dict[str, Any]) -> None:
        nonlocal kept_english
        if said is None:
            kept_english = True
        else:
            into[key] = said

    put("title", title(str(doc["title"])), out)
    original_errors = [dict(e) for e in doc.get("errors", ())]
    if "detail" in doc:
        put("detail", detail(str(doc["detail"])) or _composed(doc, original_errors), out)
    if original_errors:
        translated = []
        for error in original_errors:
            item = dict(error)
            put("detail", violation(str(error["detail"]), str(error.get("rule", ""))), item)
            translated.append(item)
        out["errors"] = translated
    if kept_english:
        return out, f"{language}, {languages.ENGLISH}"
    return out, language
