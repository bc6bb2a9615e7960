"""The platform's composition root: what the shared runtime asks of the services it runs
(`runtime.platform`), registered here so that `runtime/` imports nothing from `services/`.
Every service module is imported only when its part is asked for."""

from __future__ import annotations

from collections.abc import Sequence

from runtime.natsauth import Participant
from runtime.platform import Command, Platform


def _audit() -> Command:
    from services.keys.audit_cli import run

    return run


def _assessment() -> Command:
    from services.keys.audit_cli import assess

    return assess


def _licence() -> Command:
    from services.licences.verify_cli import run

    return run


def _totp() -> Command:
    from services.identity.totp_cli import run

    return run


def _participants() -> Sequence[Participant]:
    from services import registry  # every service's declaration

    return registry.participants()


def _demo_banner(demo_password: str) -> list[str]:
    from services.identity import demo

    return demo.banner_lines(demo_password)


PLATFORM = Platform(
    commands={"audit": _audit, "assessment": _assessment, "licence": _licence, "totp": _totp},
    participants=_participants,
    demo_banner=_demo_banner,
)
