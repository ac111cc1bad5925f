"""The phone line, through the LiveKit server API: dial, transfer, hang up.

Everything here goes through the real ``livekit-api`` client, so a test can point
it at a stand-in server that speaks the Twirp wire format.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from google.protobuf.duration_pb2 import Duration
from livekit import api

from ..errors import TransferFailed
from ..outcome import CallStatus, status_for_sip
from ..phone import mask

logger = logging.getLogger(__name__)

CALLEE_IDENTITY = "callee"
# livekit-server gives a wait-until-answered CreateSIPParticipant at most 80 s in all (join
# the room, INVITE, ring), so RINGING_TIMEOUT stays below it and the client waits it out:
# a client that gave up first would report no answer while the patient's phone still rings.
SERVER_DIAL_CAP_S = 80
DIAL_TIMEOUT_S = SERVER_DIAL_CAP_S + 10
# delete_room and the other short requests; the framework gives shutdown callbacks ~10 s
REQUEST_TIMEOUT_S = 5.0


def call_control_api(*, url: str, api_key: str, api_secret: str) -> api.LiveKitAPI:
    """The client a call dials, transfers and hangs up with. It never retries: the SDK's
    failover (on LiveKit Cloud hosts) would repeat a CreateSIPParticipant that timed out or
    hit a 5xx, ringing the patient a second time, and the retry's duplicate identity drops
    the first leg."""
    return api.LiveKitAPI(
        url=url,
        api_key=api_key,
        api_secret=api_secret,
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        failover=False,
    )


@dataclass(frozen=True)
class DialResult:
    status: CallStatus
    sip_code: int | None = None
    sip_status: str | None = None
    detail: str | None = None

    @property
    def answered(self) -> bool:
        return self.status is CallStatus.ANSWERED


# Twirp codes with which a dial ends without any SIP final response: the SIP service gave up
# when RINGING_TIMEOUT ran out (it answers ``canceled``, with no SIP metadata), or the
# server's own deadline passed. Nobody picked up, so the call was not answered.
UNANSWERED = {api.TwirpErrorCode.CANCELED, api.TwirpErrorCode.DEADLINE_EXCEEDED}


def _without_sip_response(exc: api.TwirpError) -> DialResult:
    if exc.code in UNANSWERED:
        return DialResult(CallStatus.NO_ANSWER, detail="no answer within the ringing timeout")
    if exc.code == api.TwirpErrorCode.FAILED_PRECONDITION:
        # livekit-sip's answer when the trunk refused our digest credentials ("max auth retry
        # attempts reached") or the TLS connection to it failed: every call would fail alike
        return DialResult(CallStatus.TRUNK_FAILED, detail=f"the SIP trunk refused: {exc.message}")
    return DialResult(CallStatus.FAILED, detail=f"{exc.code}: {exc.message}")


class Telephony:
    """One call's view of the LiveKit SIP and room services."""

    def __init__(
        self,
        lkapi: api.LiveKitAPI,
        *,
        room_name: str,
        trunk_id: str,
        ringing_timeout: int,
        max_call_duration: int,
        identity: str = CALLEE_IDENTITY,
        log_extra: dict[str, Any] | None = None,
        dial_timeout: float = DIAL_TIMEOUT_S,
    ) -> None:
        self._api = lkapi
        self._dial_timeout = dial_timeout
        self.room_name = room_name
        self.trunk_id = trunk_id
        self.identity = identity
        self._ringing_timeout = ringing_timeout
        self._max_call_duration = max_call_duration
        self._extra = log_extra or {}

    @property
    def client(self) -> api.LiveKitAPI:
        """The call's own client (it never retries; see :func:`call_control_api`)."""
        return self._api

    def dial_request(self, phone_number: str) -> api.CreateSIPParticipantRequest:
        return api.CreateSIPParticipantRequest(
            room_name=self.room_name,
            sip_trunk_id=self.trunk_id,
            sip_call_to=phone_number,
            participant_identity=self.identity,
            participant_name="Patient",
            wait_until_answered=True,
            ringing_timeout=Duration(seconds=self._ringing_timeout),
            max_call_duration=Duration(seconds=self._max_call_duration),
        )

    async def dial(self, phone_number: str) -> DialResult:
        """Dial and wait until the callee answers or the call fails. Never raises for
        a failed call: the result says how it ended."""
        logger.info("dialing", extra={**self._extra, "phone": mask(phone_number)})
        try:
            await self._api.sip.create_sip_participant(
                self.dial_request(phone_number), timeout=self._dial_timeout
            )
        except api.SipCallError as exc:
            if exc.sip_status_code is not None:
                return DialResult(
                    status_for_sip(exc.sip_status_code), exc.sip_status_code, exc.sip_status
                )
            return _without_sip_response(exc)
        except api.TwirpError as exc:
            return _without_sip_response(exc)
        except TimeoutError:
            return DialResult(CallStatus.NO_ANSWER, detail="no answer before the dial timed out")
        except aiohttp.ClientError as exc:
            return DialResult(CallStatus.FAILED, detail=f"LiveKit unreachable: {exc}")
        return DialResult(CallStatus.ANSWERED, 200, "OK")  # the callee's 200 OK to the INVITE

    async def transfer(self, to_number: str) -> None:
        """Cold-transfer the callee to ``to_number`` (E.164), as ``tel:+...``."""
        request = api.TransferSIPParticipantRequest(
            room_name=self.room_name,
            participant_identity=self.identity,
            transfer_to=f"tel:{to_number}",
            play_dialtone=False,
        )
        try:
            response = await self._api.sip.transfer_sip_participant(request)
        except (TimeoutError, api.TwirpError, aiohttp.ClientError) as exc:
            logger.warning("transfer failed: %s", exc, extra=self._extra)
            raise TransferFailed(str(exc)) from exc
        # a success carries no status today (livekit-sip leaves it empty): log what is there
        logger.info(
            "transfer accepted",
            extra={**self._extra, "transfer_id": response.transfer_id or None},
        )

    async def delete_room(self) -> None:
        """Hang up: deleting the room disconnects the SIP leg. A gone room is fine."""
        try:
            await self._api.room.delete_room(api.DeleteRoomRequest(room=self.room_name))
        except api.TwirpError as exc:
            if exc.code != api.TwirpErrorCode.NOT_FOUND:
                logger.warning("could not delete the room: %s", exc, extra=self._extra)
        except (TimeoutError, aiohttp.ClientError) as exc:
            logger.warning("could not delete the room: %s", exc, extra=self._extra)
