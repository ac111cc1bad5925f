"""The campaign runner's dialer through LiveKit, shared by ``campaign run`` and the web
console: each dial is a dispatch (``create_call``); the run's first one also waits for a
worker to take it, so a campaign with no worker running stops instead of queueing calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from livekit import api

from ..config import LiveKitSettings, load_livekit
from ..dispatch import DispatchMetadata
from ..liveapi import REQUEST_ERRORS, NoWorker, create_call, explain, livekit_api, worker_took
from .runner import Dialer

WORKER_WAIT_S = 20.0


def livekit_dialer(
    lkapi: api.LiveKitAPI,
    livekit: LiveKitSettings,
    campaign_id: int,
    *,
    worker_wait: float = WORKER_WAIT_S,
    carry_on: str,
) -> Dialer:
    """``carry_on``: how the operator resumes the campaign (said if no worker is there)."""
    checked = False

    async def dial(room: str, meta: DispatchMetadata) -> str:
        nonlocal checked
        try:
            dispatch = await create_call(lkapi, meta, room=room)
            if not checked:  # the run's first call: is a worker there to take it?
                if not await worker_took(lkapi, room, within=worker_wait):
                    await lkapi.room.delete_room(api.DeleteRoomRequest(room=room))
                    raise NoWorker(
                        f"no worker took the first call within {worker_wait:g} s, "
                        "so nobody was called: start one (python agent.py start) "
                        f"on the same LiveKit project, then {carry_on}"
                    )
                checked = True
        except REQUEST_ERRORS as exc:  # this call failed; the campaign goes on
            raise explain(exc, livekit.livekit_url) from None
        return dispatch.id

    return dial


def livekit_dialers(
    env: Mapping[str, str], *, carry_on: str
) -> Callable[[int], AbstractAsyncContextManager[Dialer]]:
    """A dialer per campaign run, through the LiveKit project the settings in ``env`` name
    (read at each run: ConfigError says which are missing)."""

    @asynccontextmanager
    async def dialers(campaign_id: int) -> AsyncIterator[Dialer]:
        livekit = load_livekit(env)
        async with livekit_api(livekit) as lkapi:
            yield livekit_dialer(lkapi, livekit, campaign_id, carry_on=carry_on)

    return dialers
