"""Operator-side LiveKit server API calls: place a call (an explicit agent dispatch) and
create or check the outbound SIP trunk. Failures become one clear LiveKitError."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from livekit import api

from .config import LiveKitSettings
from .dispatch import AGENT_NAME, DispatchMetadata
from .errors import OutboundCallerError
from .phone import to_e164

TLS_PORT = 5061


class LiveKitError(OutboundCallerError):
    """The LiveKit server API could not be reached or refused the request."""


@asynccontextmanager
async def livekit_api(settings: LiveKitSettings) -> AsyncIterator[api.LiveKitAPI]:
    """A LiveKit API client whose failures are explained, not dumped."""
    client = api.LiveKitAPI(
        url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret.get_secret_value(),
        timeout=aiohttp.ClientTimeout(total=15),
    )
    try:
        yield client
    except api.TwirpError as exc:
        if exc.code in (api.TwirpErrorCode.UNAUTHENTICATED, api.TwirpErrorCode.PERMISSION_DENIED):
            raise LiveKitError(
                "LiveKit rejected the credentials; check LIVEKIT_API_KEY and LIVEKIT_API_SECRET"
            ) from None
        raise LiveKitError(f"LiveKit refused the request: {exc.code}: {exc.message}") from None
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise LiveKitError(
            f"cannot reach LiveKit at {settings.livekit_url}: {exc or type(exc).__name__}"
        ) from None
    finally:
        await client.aclose()


def new_room_name(prefix: str = "call") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def create_call(
    lkapi: api.LiveKitAPI, meta: DispatchMetadata, *, room: str
) -> api.AgentDispatch:
    """Dispatch the ``outbound-caller`` agent into a new room with ``meta`` as its job
    metadata: the same JSON `lk dispatch create` would send."""
    request = api.CreateAgentDispatchRequest(
        agent_name=AGENT_NAME, room=room, metadata=meta.model_dump_json(exclude_none=True)
    )
    return await lkapi.agent_dispatch.create_dispatch(request)


def parse_address(address: str) -> str:
    """``HOST[:PORT]`` of the provider's SIP server; the port defaults to 5061 (TLS)."""
    text = address.strip()
    if not text or "/" in text or " " in text or text.count(":") > 1:
        raise ValueError(f"{address!r} is not HOST or HOST:PORT")
    host, _, port = text.partition(":")
    if not host:
        raise ValueError(f"{address!r} has no host")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError(f"{address!r} has a bad port")
    return f"{host}:{port or TLS_PORT}"


async def create_trunk(
    lkapi: api.LiveKitAPI,
    *,
    name: str,
    address: str,
    numbers: list[str],
    username: str,
    password: str,
) -> str:
    """Create an outbound trunk with TLS transport and digest credentials; returns its id."""
    trunk = api.SIPOutboundTrunkInfo(
        name=name,
        address=parse_address(address),
        numbers=[to_e164(n) for n in numbers],
        transport=api.SIPTransport.SIP_TRANSPORT_TLS,
        auth_username=username,
        auth_password=password,
    )
    created = await lkapi.sip.create_outbound_trunk(api.CreateSIPOutboundTrunkRequest(trunk=trunk))
    return created.sip_trunk_id


@dataclass(frozen=True)
class TrunkCheck:
    trunk_id: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


async def check_trunk(lkapi: api.LiveKitAPI, trunk_id: str) -> TrunkCheck:
    """The trunk exists, uses TLS (SPEC T2) and authenticates with credentials (T4)."""
    found = await lkapi.sip.list_outbound_trunk(
        api.ListSIPOutboundTrunkRequest(trunk_ids=[trunk_id])
    )
    trunk = next((t for t in found.items if t.sip_trunk_id == trunk_id), None)
    if trunk is None:
        return TrunkCheck(trunk_id, [f"no outbound trunk {trunk_id} in this LiveKit project"])
    problems = []
    if trunk.transport != api.SIPTransport.SIP_TRANSPORT_TLS:
        name = api.SIPTransport.Name(trunk.transport).removeprefix("SIP_TRANSPORT_")
        problems.append(f"trunk {trunk_id} uses {name} transport, not TLS")
    if not trunk.auth_username:
        problems.append(f"trunk {trunk_id} has no username/password authentication")
    return TrunkCheck(trunk_id, problems)
