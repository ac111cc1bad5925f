"""Whole calls through the real stack: operator command → dispatch → worker → room → SIP
INVITE over TLS with digest auth → the test phone, and back to the store."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.hearing import Utterance, sentences, utterances
from e2e.rig import PHONE_TLS_PORT, RIG_IP
from e2e.world import (
    ASK,
    CONFIRMED,
    GOODBYE,
    OPENING,
    PRACTICE,
    RINGING_TIMEOUT,
    TRUNK_PASSWORD,
    TRUNK_USER,
    VENV,
    PhoneRun,
    World,
    place_call,
)

AGENT_LINES = [OPENING, ASK, CONFIRMED, GOODBYE]


def said(template: str, patient: str) -> str:
    return template.format(practice=PRACTICE, patient=patient, first=patient.split()[0])


def heard(handset: PhoneRun, patient: str) -> list[Utterance]:
    pcm, started = handset.recording()
    return utterances(pcm, started, [said(t, patient) for t in AGENT_LINES])


def assert_opening(first: Utterance, patient: str) -> None:
    """The first utterance is the opening: the practice's sentence, then the question with
    the patient's first name (the recogniser misreads some surnames in espeak's voice, such
    as "Mendes", so the surname is not required)."""
    practice, question = sentences([said(OPENING, patient)])
    text = first.text or ""
    assert practice in text, first
    assert question.rsplit(" ", len(patient.split()) - 1)[0] in text, first


def no_traceback(world: World, since: int) -> None:
    log = world.worker_log_since(since)
    assert "Traceback" not in log, log


def test_an_answered_call_confirms_the_appointment_and_hangs_up(world: World, phone: Any) -> None:
    appointment = world.take_appointment()
    handset: PhoneRun = phone("answer", say=["hello", "speaking", "confirm", "bye"])
    log_start = len(world.worker.text())

    room = place_call(world, appointment)

    handset.wait_event("disconnected", timeout=90)
    names = handset.names()
    # the INVITE came over TLS, was challenged, and the digest matched the trunk's password
    assert names[:4] == ["ready", "invite", "challenge", "invite"], names
    assert "auth ok" in names
    assert "auth failed" not in names
    assert handset.first("media up")["codec"] == "PCMU"
    assert "bye received" in names
    assert "bye sent" not in names

    row = world.call_row(room)
    assert (row["status"], row["sip_code"]) == ("answered", 200)
    assert row["hangup_reason"] == "completed"
    assert row["duration_s"]
    assert row["duration_s"] > 5
    (after,) = world.query("SELECT status FROM appointments WHERE id = ?", appointment.id)
    assert after["status"] == "confirmed"
    world.wait_room_gone(room)

    handset.stop()
    speech = heard(handset, appointment.patient)
    hello = handset.first("said")
    # nothing reached the phone before the patient's "Hello?" had been said
    assert speech, "the phone heard nothing"
    assert speech[0].start > hello["end"], (speech, hello)
    # the recogniser reads each utterance as the agent's candidate sentences: the opening
    # names the practice and the patient; the last words before the BYE are a goodbye
    assert_opening(speech[0], appointment.patient)
    assert (speech[-1].text or "").endswith("goodbye"), speech

    no_traceback(world, log_start)
    assert appointment.phone not in world.worker_log_since(log_start)  # numbers are masked


def test_a_silent_callee_hears_the_opening_only_after_the_greeting_delay(
    world: World, phone: Any
) -> None:
    appointment = world.take_appointment()
    handset: PhoneRun = phone("answer", say=["bye"], listen_first=True)
    log_start = len(world.worker.text())

    room = place_call(world, appointment)

    handset.wait_event("disconnected", timeout=90)
    answered = handset.first("answered")["t"]
    row = world.call_row(room)
    assert (row["status"], row["sip_code"]) == ("answered", 200)
    assert row["hangup_reason"] == "completed"
    handset.stop()
    speech = heard(handset, appointment.patient)
    # silence while it rang and after the answer, until the agent opened the call itself
    assert speech, "the agent never spoke"
    assert speech[0].start - answered > 2.5, (speech[0], answered)
    assert_opening(speech[0], appointment.patient)
    no_traceback(world, log_start)


@pytest.mark.parametrize(
    ("mode", "outcome", "sip_code"),
    [
        ("busy", "busy", 486),
        ("decline", "declined", 603),
        ("unavailable", "no_answer", 480),
    ],
)
def test_a_rejected_call_is_recorded_with_its_sip_code(
    world: World, phone: Any, mode: str, outcome: str, sip_code: int
) -> None:
    appointment = world.take_appointment()
    handset: PhoneRun = phone(mode)
    log_start = len(world.worker.text())

    room = place_call(world, appointment)

    row = world.call_row(room)
    assert (row["status"], row["sip_code"]) == (outcome, sip_code)
    # the rejected leg leaves the room before the dial's error arrives: the dial decides
    assert row["hangup_reason"] == outcome
    assert handset.first("rejected")["code"] == sip_code
    assert "media up" not in handset.names()
    world.wait_room_gone(room)
    (after,) = world.query("SELECT status FROM appointments WHERE id = ?", appointment.id)
    assert after["status"] == "scheduled"
    no_traceback(world, log_start)


def test_a_phone_that_never_answers_is_recorded_as_no_answer(world: World, phone: Any) -> None:
    appointment = world.take_appointment()
    handset: PhoneRun = phone("ring")
    log_start = len(world.worker.text())

    room = place_call(world, appointment)

    row = world.call_row(room, timeout=RINGING_TIMEOUT + 30)
    assert row["status"] == "no_answer", dict(row)
    assert "ringing" in handset.names()
    assert "answered" not in handset.names()
    world.wait_room_gone(room)
    no_traceback(world, log_start)


@pytest.mark.parametrize(
    ("carrier", "outcome", "sip_code"),
    [
        ("forbid", "failed", 403),  # the carrier answers a wrong digest with 403 Forbidden
        ("challenge", "trunk_failed", None),  # it challenges again; livekit-sip gives up
    ],
)
def test_a_wrong_trunk_password_fails_the_call_without_dialing_on(
    world: World, phone: Any, carrier: str, outcome: str, sip_code: int | None
) -> None:
    appointment = world.take_appointment()
    handset: PhoneRun = phone("answer", password="not-the-trunk-password", bad_digest=carrier)
    log_start = len(world.worker.text())

    room = place_call(world, appointment)

    row = world.call_row(room)
    assert (row["status"], row["sip_code"], row["hangup_reason"]) == (outcome, sip_code, outcome)
    assert "auth failed" in handset.names()
    assert "answered" not in handset.names()
    world.wait_room_gone(room)
    no_traceback(world, log_start)


def test_the_patient_hanging_up_mid_sentence_ends_the_call(world: World, phone: Any) -> None:
    appointment = world.take_appointment()
    handset: PhoneRun = phone("answer", say=["hello"], hangup_mid_speech=1)
    log_start = len(world.worker.text())

    room = place_call(world, appointment)

    handset.wait_event("bye sent", timeout=60)
    row = world.call_row(room)
    assert row["status"] == "answered"
    assert row["hangup_reason"].startswith("callee left"), dict(row)
    world.wait_room_gone(room)
    (after,) = world.query("SELECT status FROM appointments WHERE id = ?", appointment.id)
    assert after["status"] == "scheduled"
    no_traceback(world, log_start)


@pytest.mark.parametrize("media", ["require", "allow"])
def test_an_srtp_trunk_offers_srtp_only_and_a_phone_without_it_refuses(
    world: World, phone: Any, media: str
) -> None:
    # what the README says of --media-encryption: both modes make an SRTP-only offer
    made = world.operator(
        "trunk", "create", "--address", f"{RIG_IP}:{PHONE_TLS_PORT}", "--numbers", "+14155550100",
        "--username", TRUNK_USER, "--password", TRUNK_PASSWORD, "--media-encryption", media,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    checked = world.operator("trunk", "check", env={"SIP_OUTBOUND_TRUNK_ID": made.stdout.strip()})
    assert "SRTP" in checked.stdout, checked.stdout + checked.stderr
    handset: PhoneRun = phone("answer")  # plain RTP only, like a carrier without SRTP

    code = (
        "import asyncio, sys\nfrom livekit import api\n"
        "async def main():\n"
        "    async with api.LiveKitAPI() as lk:\n"
        "        try:\n"
        "            await lk.sip.create_sip_participant(api.CreateSIPParticipantRequest(\n"
        f"                room_name='srtp-{media}', sip_trunk_id={made.stdout.strip()!r},\n"
        "                sip_call_to='+14155550123', participant_identity='callee',\n"
        "                wait_until_answered=True), timeout=30)\n"
        "            print('answered')\n"
        "        except api.SipCallError as e:\n"
        "            print(e.sip_status_code)\n"
        "asyncio.run(main())\n"
    )
    done = world.rig.run([str(VENV / "python"), "-c", code], env=world.env, timeout=60)

    # the phone's media layer refuses the SRTP-only offer before it reaches the application
    assert done.stdout.strip() == "488", done.stdout + done.stderr
    assert "answered" not in handset.names()
