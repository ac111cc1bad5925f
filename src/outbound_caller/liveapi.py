"""Operator-side LiveKit server API calls: place a call (an explicit agent dispatch) and
create or check the outbound SIP trunk. Failures become one clear LiveKitError."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
from livekit import api

from .config import LiveKitSettings
from .dispatch import AGENT_NAME, DispatchMetadata
from .errors import CannotDial, OutboundCallerError
from .phone import to_e164

TLS_PORT = 5061

MediaEncryption = Literal["off", "allow", "require"]
# SRTP for the patient's voice. Seen with livekit-sip v1.8.0: "allow" and "require" both make
# an SRTP-only offer (RTP/SAVP with SDES keys), which a carrier without SRTP refuses with 488,
# so the default stays "off" (plain RTP works with every carrier) and trunk check warns.
MEDIA_ENCRYPTION: dict[MediaEncryption, api.SIPMediaEncryption] = {
    "allow": api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_ALLOW,
    "require": api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_REQUIRE,
    "off": api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_DISABLE,
}
MEDIA_WORDS = {
    api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_ALLOW: "SRTP offered",
    api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_REQUIRE: "SRTP required",
    api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_DISABLE: "plain RTP",
}


class LiveKitError(OutboundCallerError):
    """The LiveKit server API could not be reached or refused the request."""


class CredentialsRejected(LiveKitError, CannotDial):
    """LiveKit rejected the API key or secret: no request will succeed."""


REQUEST_ERRORS = (api.TwirpError, TimeoutError, aiohttp.ClientError)
"""What a LiveKit API request raises when it fails; :func:`explain` says which."""


def explain(exc: BaseException, url: str) -> LiveKitError:
    """One clear error for a failed request (one of :data:`REQUEST_ERRORS`)."""
    if isinstance(exc, api.TwirpError):
        if exc.code in (api.TwirpErrorCode.UNAUTHENTICATED, api.TwirpErrorCode.PERMISSION_DENIED):
            return CredentialsRejected(
                "LiveKit rejected the credentials; check LIVEKIT_API_KEY and LIVEKIT_API_SECRET"
            )
        return LiveKitError(f"LiveKit refused the request: {exc.code}: {exc.message}")
    return LiveKitError(f"cannot reach LiveKit at {url}: {exc or type(exc).__name__}")


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
    except REQUEST_ERRORS as exc:
        raise explain(exc, settings.livekit_url) from None
    finally:
        await client.aclose()


class NoWorker(CannotDial):
    """No worker took a dispatch: every call would wait for one (the run stops)."""


async def worker_took(
    lkapi: api.LiveKitAPI,
    room: str,
    *,
    within: float,
    every: float = 0.25,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Whether a worker took the dispatch into ``room`` within ``within`` seconds: the
    server lists a job under a dispatch once a worker has accepted it (a dispatch nobody
    takes has none)."""
    deadline = clock() + within
    while True:
        dispatches = await lkapi.agent_dispatch.list_dispatch(room)
        if any(d.state.jobs for d in dispatches):
            return True
        if clock() >= deadline:
            return False
        await sleep(every)


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
    media_encryption: MediaEncryption = "off",
) -> str:
    """Create an outbound trunk with TLS transport, digest credentials and SRTP (see
    ``MEDIA_ENCRYPTION``); returns its id."""
    trunk = api.SIPOutboundTrunkInfo(
        name=name,
        address=parse_address(address),
        numbers=[to_e164(n) for n in numbers],
        transport=api.SIPTransport.SIP_TRANSPORT_TLS,
        auth_username=username,
        auth_password=password,
        media_encryption=MEDIA_ENCRYPTION[media_encryption],
    )
    created = await lkapi.sip.create_outbound_trunk(api.CreateSIPOutboundTrunkRequest(trunk=trunk))
    return created.sip_trunk_id


@dataclass(frozen=True)
class TrunkCheck:
    trunk_id: str
    problems: list[str]
    media: str = ""  # how the voice travels, in words
    warnings: list[str] = field(default_factory=list)

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
    warnings = []
    if trunk.media_encryption == api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_DISABLE:
        warnings.append(
            f"trunk {trunk_id} sends the patient's voice as plain RTP; if your carrier supports "
            "SRTP, create the trunk again with --media-encryption require"
        )
    media = MEDIA_WORDS.get(trunk.media_encryption, "plain RTP")
    return TrunkCheck(trunk_id, problems, media=media, warnings=warnings)
