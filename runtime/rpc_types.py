"""The gRPC types the services, the gateway and the runtime share: a servicer method's context,
and a generated stub's unary method, generic over its request and reply messages, so that a call
through `runtime.grpcclient.call` returns the reply type the stub declares in `proto/`."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeAlias, TypeVar

from google.protobuf.message import Message

if TYPE_CHECKING:
    import grpc

Request = TypeVar("Request", bound=Message, contravariant=True)
Reply = TypeVar("Reply", bound=Message, covariant=True)

# The context every servicer method receives (the server's, whatever the method's messages).
Context: TypeAlias = "grpc.aio.ServicerContext[Message, Message]"


class UnaryMethod(Protocol[Request, Reply]):
    """A unary method of a generated stub (`KeysServiceAsyncStub.GetKey`): called with its
    request message, awaited for its reply message."""

    def __call__(
        self, request: Request, *, timeout: float | None = ..., metadata: Sequence[tuple[str, str]]
    ) -> Awaitable[Reply]: ...
