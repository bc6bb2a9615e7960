"""Failure injection, so that an SRE can rehearse incidents: off unless `SMARTCITY_FAULTS` says.

One variable, read once per process at startup, a comma-separated list of flags:

    SMARTCITY_FAULTS="catalog:slow=300ms,exchange:fail=0.2,licences:fail=1.0@VerifyPresentation,nats:stall=5s"

- `<service>:slow=<duration>[@<Method>]`: every call (of that method only, with `@`) waits that
  long after its caller is authorised and before the handler runs.
- `<service>:fail=<ratio>[@<Method>]`: that share of calls (0 to 1) fails with UNAVAILABLE,
  the message saying that the failure was injected.
- `nats:stall=<duration>`: each service's outbox relay holds its publishing for that long, once a
  minute (the first time a minute after the start): events wait in the outbox as they would
  while NATS does not acknowledge, and the outbox gauges show it.

Durations are `300ms`, `1.5s` or `2m`. An injected fault is recorded on the call's span (the
attribute and event `smartcity.fault.injected`), logged (`fault_injected`) and counted in the
metric `smartcity.faults.injected`. Malformed flags stop the process with a ConfigError naming
the variable. With no flag for a method the gRPC interceptor pays one `is None` per call.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry import trace

from runtime import errors, logs, metrics, telemetry
from runtime.config import SERVICES, ConfigError

__all__ = ["VARIABLE", "Fault", "Faults", "MethodFaults", "load"]

log = logs.get(__name__)

VARIABLE = "SMARTCITY_FAULTS"
# How often the outbox relay stalls under `nats:stall`.
STALL_EVERY_SECONDS = 60.0

ATTRIBUTE = "smartcity.fault.injected"
_FLAG = re.compile(
    r"(?P<target>[a-z]+):(?P<kind>[a-z]+)=(?P<value>[0-9.]+[a-z]*)(?:@(?P<method>[A-Za-z0-9_]+))?"
)
_DURATION = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>ms|s|m)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0}


@dataclass(frozen=True)
class Fault:
    """One flag: a delay or a failure ratio for a service's calls, or one method's."""

    service: str
    kind: str  # "slow" or "fail"
    delay_seconds: float = 0.0
    ratio: float = 0.0
    method: str | None = None  # the RPC's short name, e.g. "VerifyPresentation"

    @property
    def flag(self) -> str:
        """The flag as written, for logs and spans (no request data in it)."""
        value = f"{self.delay_seconds * 1000:g}ms" if self.kind == "slow" else f"{self.ratio:g}"
        at = f"@{self.method}" if self.method else ""
        return f"{self.service}:{self.kind}={value}{at}"


@dataclass(frozen=True)
class Faults:
    """Every flag of the process's environment."""

    calls: tuple[Fault, ...] = ()
    nats_stall_seconds: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.calls) or self.nats_stall_seconds > 0

    def for_method(self, service: str, method: str) -> MethodFaults | None:
        """The faults of one gRPC method (`/package.Service/Method`) of `service`, or None when it
        has none: the interceptor binds this once per method."""
        rpc = method.rpartition("/")[2]
        matching = tuple(f for f in self.calls if f.service == service and f.method in (None, rpc))
        return MethodFaults(method=method, faults=matching) if matching else None


@dataclass(frozen=True)
class MethodFaults:
    """The faults that apply to one method, applied after authorisation, before the handler."""

    method: str
    faults: tuple[Fault, ...]

    async def apply(self, span: trace.Span) -> None:
        for fault in self.faults:
            if fault.kind == "slow":
                _record(span, fault, self.method)
                await asyncio.sleep(fault.delay_seconds)
            elif random.random() < fault.ratio:  # a rehearsal, not a secret
                _record(span, fault, self.method)
                raise errors.Unavailable(f"injected fault ({fault.flag}): {VARIABLE} is set")


def _record(span: trace.Span, fault: Fault, method: str) -> None:
    span.set_attribute(ATTRIBUTE, fault.flag)
    span.add_event(ATTRIBUTE, {"smartcity.fault.kind": fault.kind, "smartcity.fault": fault.flag})
    metrics.fault_injected(service=fault.service, kind=fault.kind)
    log.warning("fault_injected", fault=fault.flag, kind=fault.kind, method=method)


async def stall_nats(seconds: float, *, service: str) -> None:
    """One stall of the outbox relay's publishing, in a span of its own so that it is found."""
    flag = f"nats:stall={seconds:g}s"
    with telemetry.tracer().start_as_current_span("outbox stall", attributes={ATTRIBUTE: flag}):
        metrics.fault_injected(service=service, kind="stall")
        log.warning("fault_injected", fault=flag, kind="stall")
        await asyncio.sleep(seconds)


def _duration(text: str, flag: str) -> float:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ConfigError(
            f"{VARIABLE}: {flag!r}: the duration must be like 300ms, 1.5s or 2m, got {text!r}"
        )
    return float(match["number"]) * _UNIT_SECONDS[match["unit"]]


def _ratio(text: str, flag: str) -> float:
    try:
        ratio = float(text)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"{VARIABLE}: {flag!r}: the ratio must be between 0 and 1, got {text!r}")
    return ratio


def parse(text: str) -> Faults:
    """The flags of `text`; ConfigError naming the variable and the flag when one is malformed."""
    calls: list[Fault] = []
    stall = 0.0
    for raw in text.split(","):
        flag = raw.strip()
        if not flag:
            continue
        match = _FLAG.fullmatch(flag)
        if match is None:
            raise ConfigError(
                f"{VARIABLE}: {flag!r} is not <service>:slow=<duration>[@Method], "
                f"<service>:fail=<ratio>[@Method] or nats:stall=<duration>"
            )
        target, kind, value, method = match.group("target", "kind", "value", "method")
        if target == "nats":
            if kind != "stall" or method:
                raise ConfigError(f"{VARIABLE}: {flag!r}: NATS takes only stall=<duration>")
            stall = _duration(value, flag)
        elif target not in SERVICES:
            raise ConfigError(
                f"{VARIABLE}: {flag!r}: unknown service {target!r} "
                f"(one of {', '.join(SERVICES)}, or nats)"
            )
        elif kind == "slow":
            calls.append(Fault(target, "slow", delay_seconds=_duration(value, flag), method=method))
        elif kind == "fail":
            calls.append(Fault(target, "fail", ratio=_ratio(value, flag), method=method))
        else:
            raise ConfigError(f"{VARIABLE}: {flag!r}: a service takes slow= or fail=, not {kind}=")
    return Faults(calls=tuple(calls), nats_stall_seconds=stall)


def load(env: Mapping[str, str] | None = None) -> Faults:
    """The flags of the environment (none: no fault); call once at startup."""
    env = os.environ if env is None else env
    return parse(env.get(VARIABLE, ""))
