"""Placing calls and setting up the trunk, through the real livekit-api client and the
Twirp stand-in (bearer token checked against the API secret)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from livekit import api
from typer.testing import CliRunner

from livekit_stub import API_KEY, API_SECRET, LiveKitStub
from outbound_caller.cli.main import app
from outbound_caller.config import load_settings
from outbound_caller.worker import TrunkRefused, check_trunk_at_start
from test_config import GOOD


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_call_creates_an_explicit_dispatch_with_the_agents_metadata(operator: LiveKitStub) -> None:
    operator.behaviour["CreateDispatch"] = lambda req: api.AgentDispatch(
        id="AD_123", agent_name=req.agent_name, room=req.room, metadata=req.metadata
    )
    code, out = cli("call", "+1 415 555 0123", "--transfer-to", "+14155550199")
    assert code == 0, out
    [request] = operator.calls("CreateDispatch")
    assert request.agent_name == "outbound-caller"
    assert json.loads(request.metadata) == {
        "phone_number": "+14155550123",
        "transfer_to": "+14155550199",
    }
    assert request.room.startswith("call-")
    assert out.strip() == f"dispatch AD_123 created; room {request.room}; calling ***0123"


def test_call_records_the_placed_call_when_there_is_a_store(operator: LiveKitStub) -> None:
    operator.behaviour["CreateDispatch"] = lambda req: api.AgentDispatch(id="AD_9", room=req.room)
    cli("db", "seed-demo")
    # one of the demo's Raj Patel's, as the listing shows it (the demo's appointments, and
    # so their ids, are laid out from the day it is seeded)
    listing = cli("appointments", "list")[1].splitlines()
    raj = next(int(line.split()[0]) for line in listing if "Raj Patel" in line)
    code, out = cli("call", "+17735550177", "--appointment-id", str(raj))
    assert code == 0, out
    assert json.loads(operator.calls("CreateDispatch")[0].metadata)["appointment_id"] == raj
    code, out = cli("calls", "list")
    assert "***0177" in out
    assert "dialing" in out
    assert out.strip().endswith("1 call(s), times in America/New_York")


def test_a_call_that_never_reports_back_is_listed_as_timed_out(
    operator: LiveKitStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no worker took the dispatch (or its job died): the row must not say dialing forever
    from outbound_caller.cli import calls, main
    from outbound_caller.store.calls import GIVE_UP_AFTER

    operator.behaviour["CreateDispatch"] = lambda req: api.AgentDispatch(id="AD_9", room=req.room)
    cli("db", "seed-demo")
    assert cli("call", "+14155550123")[0] == 0
    placed = main.utc_now()
    monkeypatch.setattr(calls, "utc_now", lambda: placed + GIVE_UP_AFTER / 2)
    assert "dialing" in cli("calls", "list")[1]
    monkeypatch.setattr(calls, "utc_now", lambda: placed + GIVE_UP_AFTER + timedelta(minutes=1))
    code, out = cli("calls", "list")
    assert code == 0
    assert "timeout" in out
    assert "dialing" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["call", "555-0123"], "starting with + and the country code"),
        (["call", "+1415"], "not a valid phone number"),
        (["call", "+14155550123", "--transfer-to", "desk"], "transfer_to"),
    ],
)
def test_a_bad_number_exits_2_and_sends_nothing(
    operator: LiveKitStub, args: list[str], message: str
) -> None:
    code, out = cli(*args)
    assert code == 2
    assert message in out
    assert len(out.strip().splitlines()) == 1
    assert operator.requests == []


def test_wrong_credentials_are_a_clear_error(
    operator: LiveKitStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEKIT_API_SECRET", "not-the-right-secret-" * 2)
    code, out = cli("call", "+14155550123")
    assert code == 1
    assert "LiveKit rejected the credentials" in out
    assert "Traceback" not in out


def test_an_unreachable_livekit_is_a_clear_error(
    operator: LiveKitStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEKIT_URL", "http://127.0.0.1:9")
    code, out = cli("call", "+14155550123")
    assert code == 1
    assert "cannot reach LiveKit at http://127.0.0.1:9" in out


def test_missing_livekit_settings_are_named(
    operator: LiveKitStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIVEKIT_URL")
    code, out = cli("call", "+14155550123")
    assert code == 2
    assert "LIVEKIT_URL is not set" in out


def test_trunk_create_asks_for_tls_and_digest_credentials(operator: LiveKitStub) -> None:
    operator.behaviour["CreateSIPOutboundTrunk"] = api.SIPOutboundTrunkInfo(sip_trunk_id="ST_new1")
    code, out = cli(
        "trunk",
        "create",
        "--address",
        "sip.example.net",
        "--numbers",
        "+1 415 555 0100",
        "--username",
        "clinic",
        "--password",
        "s3cret",
    )
    assert code == 0, out
    assert out.splitlines()[0] == "ST_new1"
    [request] = operator.calls("CreateSIPOutboundTrunk")
    assert request.trunk.transport == api.SIPTransport.SIP_TRANSPORT_TLS
    assert request.trunk.address == "sip.example.net:5061"
    assert list(request.trunk.numbers) == ["+14155550100"]
    assert (request.trunk.auth_username, request.trunk.auth_password) == ("clinic", "s3cret")
    # plain RTP unless asked: an SRTP offer is refused (488) by carriers without SRTP
    assert request.trunk.media_encryption == api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_DISABLE


def test_trunk_create_can_require_srtp_and_refuses_an_unknown_mode(operator: LiveKitStub) -> None:
    operator.behaviour["CreateSIPOutboundTrunk"] = api.SIPOutboundTrunkInfo(sip_trunk_id="ST_new2")
    base = ["trunk", "create", "--address", "sip.example.net", "--numbers", "+14155550100"]
    creds = ["--username", "u", "--password", "p"]
    code, out = cli(*base, *creds, "--media-encryption", "require")
    assert code == 0, out
    [request] = operator.calls("CreateSIPOutboundTrunk")
    assert request.trunk.media_encryption == api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_REQUIRE

    code, out = cli(*base, *creds, "--media-encryption", "sometimes")
    assert code == 2
    assert "--media-encryption must be one of: off, allow, require" in out
    assert len(operator.calls("CreateSIPOutboundTrunk")) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--address", "sip.example.net:99999"], "bad port"),
        (["--address", "x y"], "is not HOST or HOST:PORT"),
        (["--address", "sip:sip.example.net"], "leave out the sip: prefix (HOST or HOST:PORT)"),
        (["--address", "SIPS:sip.example.net:5061"], "leave out the sip: prefix"),
    ],
)
def test_trunk_create_refuses_bad_input_without_a_request(
    operator: LiveKitStub, args: list[str], message: str
) -> None:
    code, out = cli(
        "trunk", "create", *args, "--numbers", "+14155550100", "--username", "u", "--password", "p"
    )
    assert code == 2
    assert message in out
    assert operator.requests == []


def test_the_trunk_password_comes_from_the_environment_or_a_prompt_not_only_a_flag(
    operator: LiveKitStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator.behaviour["CreateSIPOutboundTrunk"] = api.SIPOutboundTrunkInfo(sip_trunk_id="ST_p")
    base = ["trunk", "create", "--address", "sip.example.net", "--numbers", "+14155550100"]
    monkeypatch.setenv("SIP_TRUNK_PASSWORD", "from-env")
    assert cli(*base, "--username", "u")[0] == 0
    monkeypatch.delenv("SIP_TRUNK_PASSWORD")
    result = CliRunner().invoke(app, [*base, "--username", "u"], input="typed-in\n")
    assert result.exit_code == 0, result.output
    assert "typed-in" not in result.output  # asked for without echo
    first, second = operator.calls("CreateSIPOutboundTrunk")
    assert (first.trunk.auth_password, second.trunk.auth_password) == ("from-env", "typed-in")
    result = CliRunner().invoke(app, [*base, "--username", "u"], input="\n")
    assert result.exit_code == 2
    assert "--username and the password must not be empty" in result.output
    assert len(operator.calls("CreateSIPOutboundTrunk")) == 2


def _trunk(
    transport: int,
    username: str = "clinic",
    media: int = api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_ALLOW,
) -> api.ListSIPOutboundTrunkResponse:
    return api.ListSIPOutboundTrunkResponse(
        items=[
            api.SIPOutboundTrunkInfo(
                sip_trunk_id="ST_abc123",
                transport=transport,
                auth_username=username,
                media_encryption=media,
            )
        ]
    )


@pytest.mark.parametrize(
    ("listing", "code", "message"),
    [
        (
            _trunk(api.SIPTransport.SIP_TRANSPORT_TLS),
            0,
            "trunk ST_abc123: TLS, with credentials, SRTP offered",
        ),
        (
            _trunk(
                api.SIPTransport.SIP_TRANSPORT_TLS,
                media=api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_DISABLE,
            ),
            0,
            "sends the patient's voice as plain RTP; if your carrier supports SRTP",
        ),
        (_trunk(api.SIPTransport.SIP_TRANSPORT_UDP), 1, "uses UDP transport, not TLS"),
        (_trunk(api.SIPTransport.SIP_TRANSPORT_TLS, ""), 1, "no username/password"),
        (api.ListSIPOutboundTrunkResponse(), 1, "no outbound trunk ST_abc123"),
    ],
)
def test_trunk_check(
    operator: LiveKitStub,
    monkeypatch: pytest.MonkeyPatch,
    listing: api.ListSIPOutboundTrunkResponse,
    code: int,
    message: str,
) -> None:
    monkeypatch.setenv("SIP_OUTBOUND_TRUNK_ID", "ST_abc123")
    operator.behaviour["ListSIPOutboundTrunk"] = listing
    got, out = cli("trunk", "check")
    assert got == code
    assert message in out
    assert list(operator.calls("ListSIPOutboundTrunk")[0].trunk_ids) == ["ST_abc123"]


async def test_the_worker_refuses_an_insecure_trunk_unless_overridden(
    livekit_server: LiveKitStub,
) -> None:
    env = {
        **GOOD,
        "LIVEKIT_URL": livekit_server.url,
        "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": API_SECRET,
        "SIP_OUTBOUND_TRUNK_ID": "ST_abc123",
    }
    livekit_server.behaviour["ListSIPOutboundTrunk"] = _trunk(api.SIPTransport.SIP_TRANSPORT_TCP)
    with pytest.raises(TrunkRefused, match=r"uses TCP transport, not TLS.*ALLOW_INSECURE_TRUNK"):
        await check_trunk_at_start(load_settings(env))
    await check_trunk_at_start(load_settings({**env, "ALLOW_INSECURE_TRUNK": "true"}))
    livekit_server.behaviour["ListSIPOutboundTrunk"] = _trunk(api.SIPTransport.SIP_TRANSPORT_TLS)
    await check_trunk_at_start(load_settings(env))


def test_a_number_on_the_do_not_call_list_is_not_called_unless_overridden(
    operator: LiveKitStub,
) -> None:
    operator.behaviour["CreateDispatch"] = lambda req: api.AgentDispatch(id="AD_9", room=req.room)
    cli("db", "seed-demo")
    assert cli("dnc", "add", "+14155550123", "--reason", "asked on a call")[0] == 0
    code, out = cli("call", "+14155550123")
    assert code == 1
    assert out.strip().splitlines() == [
        "outbound-caller: not calling: ***0123 is on the do-not-call list (asked on a call); "
        "remove it (outbound-caller dnc remove) or pass --override-do-not-call if the patient "
        "has asked to be called"
    ]
    assert operator.calls("CreateDispatch") == []
    code, out = cli("call", "+14155550123", "--override-do-not-call")
    assert code == 0, out
    assert len(operator.calls("CreateDispatch")) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--appointment-id", "9999"], "there is no appointment 9999"),
        (["--appointment-id", "1"], "appointment 1 is not for the patient at this number"),
    ],
)
def test_an_appointment_that_is_not_this_numbers_is_refused_before_dispatch(
    operator: LiveKitStub, args: list[str], message: str
) -> None:
    operator.behaviour["CreateDispatch"] = lambda req: api.AgentDispatch(id="AD_9", room=req.room)
    cli("db", "seed-demo")
    code, out = cli("call", "+14155559999", *args)
    assert code == 1
    assert message in out
    assert "Traceback" not in out
    assert operator.calls("CreateDispatch") == []
