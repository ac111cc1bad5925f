"""A stand-in for the LiveKit server API on 127.0.0.1, speaking the real Twirp wire format.

Requests arrive as protobuf bodies at ``/twirp/livekit.<Service>/<Method>`` with a
bearer JWT; the stub verifies the token against the API secret, decodes the body
with the real protocol classes and records it. Replies are protobuf bodies, or the
JSON error objects LiveKit sends (``{"code", "msg", "meta"}``, with
``sip_status_code`` and ``sip_status`` in ``meta`` for SIP failures).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from google.protobuf.message import Message
from livekit import api

API_KEY = "APIstubkey"
API_SECRET = "stub-secret-0123456789-0123456789-abcdef"

# (service, method) -> (request class, response class)
METHODS: dict[tuple[str, str], tuple[type[Message], type[Message]]] = {
    ("livekit.SIP", "CreateSIPParticipant"): (
        api.CreateSIPParticipantRequest,
        api.SIPParticipantInfo,
    ),
    ("livekit.SIP", "TransferSIPParticipant"): (
        api.TransferSIPParticipantRequest,
        api.TransferSIPParticipantResponse,
    ),
    ("livekit.RoomService", "DeleteRoom"): (api.DeleteRoomRequest, api.DeleteRoomResponse),
    ("livekit.AgentDispatchService", "CreateDispatch"): (
        api.CreateAgentDispatchRequest,
        api.AgentDispatch,
    ),
    ("livekit.AgentDispatchService", "ListDispatch"): (
        api.ListAgentDispatchRequest,
        api.ListAgentDispatchResponse,
    ),
    ("livekit.SIP", "CreateSIPOutboundTrunk"): (
        api.CreateSIPOutboundTrunkRequest,
        api.SIPOutboundTrunkInfo,
    ),
    ("livekit.SIP", "ListSIPOutboundTrunk"): (
        api.ListSIPOutboundTrunkRequest,
        api.ListSIPOutboundTrunkResponse,
    ),
}


@dataclass
class Fail:
    """Answer with a Twirp error."""

    code: str
    msg: str
    http_status: int
    meta: dict[str, str] = field(default_factory=dict)


# How livekit-server reports a SIP final response: the Twirp code comes from
# livekit/protocol's sipCodeToGRPCCode (livekit/sip.go; the codes the project meets), the
# HTTP status from the Twirp spec. Checked against the real server and SIP service in
# tests/e2e (486 and 480 are resource_exhausted, 603 and 403 permission_denied).
TWIRP_FOR_SIP = {
    400: "invalid_argument",
    401: "permission_denied",
    403: "permission_denied",
    404: "not_found",
    407: "unauthenticated",
    408: "deadline_exceeded",
    480: "resource_exhausted",
    486: "resource_exhausted",
    487: "aborted",
    500: "failed_precondition",
    503: "failed_precondition",
    504: "deadline_exceeded",
    600: "resource_exhausted",
    603: "permission_denied",
    604: "not_found",
    607: "permission_denied",
    608: "permission_denied",
}
HTTP_FOR_TWIRP = {
    "canceled": 408,
    "invalid_argument": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
}


def _twirp_for_sip(sip_code: int) -> str:
    if sip_code in TWIRP_FOR_SIP:
        return TWIRP_FOR_SIP[sip_code]
    return "failed_precondition" if 500 <= sip_code < 600 else "invalid_argument"


def sip_failure(sip_code: int, sip_status: str) -> Fail:
    """A failed dial as LiveKit reports it: the SIP response in the error metadata."""
    code = _twirp_for_sip(sip_code)
    return Fail(
        code=code,
        msg=f"twirp error unknown: INVITE failed: sip status: {sip_code}: {sip_status}",
        http_status=HTTP_FOR_TWIRP[code],
        meta={"sip_status_code": str(sip_code), "sip_status": sip_status},
    )


def ringing_timeout() -> Fail:
    """Nobody answered within ``ringing_timeout``: livekit-sip cancels the INVITE and the
    server answers ``canceled`` with no SIP metadata at all."""
    return Fail(code="canceled", msg="twirp error unknown: sip request timed out", http_status=408)


@dataclass
class Hang:
    """Never answer within ``seconds`` (the client times out first)."""

    seconds: float


Reply = Message | Fail
Behaviour = Reply | Hang | Callable[[Message], Reply | Awaitable[Reply]]


@dataclass
class Recorded:
    service: str
    method: str
    request: Any
    identity: str | None
    grants: Any


def worker_took_it(request: api.ListAgentDispatchRequest) -> api.ListAgentDispatchResponse:
    """ListDispatch as the server answers once a worker has accepted the room's dispatch:
    the dispatch lists its job (the default: a worker is running)."""
    job = api.Job(id="AJ_stub", room=api.Room(name=request.room))
    dispatch = api.AgentDispatch(
        id="AD_stub", room=request.room, state=api.AgentDispatchState(jobs=[job])
    )
    return api.ListAgentDispatchResponse(agent_dispatches=[dispatch])


def nobody_took_it(request: api.ListAgentDispatchRequest) -> api.ListAgentDispatchResponse:
    """ListDispatch with no worker running: the dispatch is there, with no job."""
    dispatch = api.AgentDispatch(id="AD_stub", room=request.room, state=api.AgentDispatchState())
    return api.ListAgentDispatchResponse(agent_dispatches=[dispatch])


class LiveKitStub:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.behaviour: dict[str, Behaviour] = {"ListDispatch": worker_took_it}
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    def calls(self, method: str) -> list[Any]:
        return [r.request for r in self.requests if r.method == method]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/twirp/{service}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        assert server.sockets
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._stopping.set()  # release handlers that are hanging on purpose
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        service, method = request.match_info["service"], request.match_info["method"]
        if (service, method) not in METHODS:
            return _error(Fail("bad_route", f"no handler for {service}/{method}", 404))
        auth = request.headers.get("Authorization", "")
        try:
            claims = api.TokenVerifier(API_KEY, API_SECRET).verify(auth.removeprefix("Bearer "))
        except Exception:  # any bad token: the server answers unauthenticated
            return _error(Fail("unauthenticated", "invalid token", 401))
        if request.headers.get("Content-Type") != "application/protobuf":
            return _error(Fail("malformed", "expected application/protobuf", 415))
        req_cls, resp_cls = METHODS[(service, method)]
        message = req_cls.FromString(await request.read())
        self.requests.append(Recorded(service, method, message, claims.identity, claims))
        behaviour = self.behaviour.get(method, resp_cls())
        if isinstance(behaviour, Hang):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), behaviour.seconds)
            behaviour = resp_cls()
        if callable(behaviour) and not isinstance(behaviour, Message):
            behaviour = behaviour(message)
            if inspect.isawaitable(behaviour):  # a reply that takes its time
                behaviour = await behaviour
        if isinstance(behaviour, Fail):
            return _error(behaviour)
        assert isinstance(behaviour, Message)
        return web.Response(body=behaviour.SerializeToString(), content_type="application/protobuf")


def _error(fail: Fail) -> web.Response:
    body: dict[str, Any] = {"code": fail.code, "msg": fail.msg}
    if fail.meta:
        body["meta"] = fail.meta
    return web.json_response(body, status=fail.http_status)
