"""Whole calls through the real stack: operator command → dispatch → worker → room → SIP
INVITE over TLS with digest auth → the test phone, and back to the store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from e2e.expect import (
    PRACTICE_ZONE,
    assert_opening,
    heard,
    line_of,
    no_traceback,
)
from e2e.hearing import sentences, spans, utterances
from e2e.rig import PHONE_TLS_PORT, RIG_IP
from e2e.world import (
    ASK,
    CHECK_IN,
    GOODBYE,
    MOVED,
    OFFERS,
    OPENING,
    PRACTICE,
    READ_BACK,
    RINGING_TIMEOUT,
    SILENCE_TIMEOUT,
    SILENT_GOODBYE,
    TRUNK_PASSWORD,
    TRUNK_USER,
    VENV,
    PhoneRun,
    World,
    place_call,
)
from outbound_caller.call.voicemail import voicemail_message


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
    assert after["status"] == "confirmed", world.conversation(handset)
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


def next_monday() -> date:
    """The first Monday after today in the practice's zone: the day the scripted patient
    moves to (the stand-in model reads it from the instructions' table of dates)."""
    today = datetime.now(PRACTICE_ZONE).date()
    return today + timedelta(days=(7 - today.weekday()) % 7 or 7)


def test_a_patient_who_asks_for_another_day_is_moved_after_a_read_back(
    world: World, phone: Any
) -> None:
    appointment = world.take_appointment()
    (before,) = world.query("SELECT start_at FROM appointments WHERE id = ?", appointment.id)
    handset: PhoneRun = phone(
        "answer", say=["hello", "speaking", "another_day", "first", "right", "bye"]
    )
    log_start = len(world.worker.text())

    room = place_call(world, appointment)

    handset.wait_event("disconnected", timeout=150)
    assert "bye received" in handset.names()
    row = world.call_row(room)
    assert (row["status"], row["hangup_reason"]) == ("answered", "completed")
    assert row["changes"].startswith("rescheduled"), world.conversation(handset)
    (after,) = world.query("SELECT status, start_at FROM appointments WHERE id = ?", appointment.id)
    assert after["status"] == "rescheduled"
    moved_to = datetime.fromisoformat(after["start_at"]).replace(tzinfo=UTC)
    assert moved_to.astimezone(PRACTICE_ZONE).date() == next_monday(), (before, after)
    # the move was written once, after the patient's yes to the read-back
    history = world.query(
        "SELECT action FROM appointment_history WHERE appointment_id = ?", appointment.id
    )
    assert [h["action"] for h in history].count("rescheduled") == 1, [dict(h) for h in history]

    handset.stop()
    lines = [OPENING, ASK, OFFERS, READ_BACK, MOVED, GOODBYE]
    speech = heard(handset, appointment.patient, lines)
    # what the phone heard, turn by turn: the opening, the question, the offer, the
    # read-back, the move, then the goodbye
    assert [line_of(u, lines, appointment.patient) for u in speech] == lines, speech
    no_traceback(world, log_start)


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


def test_a_line_that_stays_silent_gets_one_check_in_then_the_number_and_a_bye(
    world: World, phone: Any
) -> None:
    appointment = world.take_appointment()
    handset: PhoneRun = phone("answer", listen_first=True)  # answers, then never speaks
    log_start = len(world.worker.text())
    log_lines = len(world.providers_log())

    room = place_call(world, appointment)

    handset.wait_event("bye received", timeout=90)
    row = world.call_row(room)
    assert (row["status"], row["hangup_reason"]) == ("answered", "silence")
    (after,) = world.query("SELECT status FROM appointments WHERE id = ?", appointment.id)
    assert after["status"] == "scheduled"
    # the goodbye the worker asked for carries the practice's number in spoken groups
    asked = [e["last"] for e in world.providers_log()[log_lines:] if e["kind"] == "llm"]
    assert any("reached at 4 1 5, 5 5 5, 0 1 0 0" in a for a in asked), asked

    handset.stop()
    speech = heard(handset, appointment.patient, [OPENING, CHECK_IN, SILENT_GOODBYE])
    assert len(speech) == 3, speech
    opening, check_in, goodbye = speech
    # which line each is, by the most of its words recognised (under load the recogniser has
    # read the opening's first sentence as the goodbye's last word, its question intact)
    lines = [OPENING, CHECK_IN, SILENT_GOODBYE]
    assert [line_of(u, lines, appointment.patient) for u in speech] == lines, speech
    assert check_in.text == sentences([CHECK_IN])[-1], speech
    assert "zero one zero zero" in (goodbye.text or ""), speech
    # one check-in, after the silence timeout, and the goodbye after another wait
    assert check_in.start - opening.end >= SILENCE_TIMEOUT - 1, speech
    assert goodbye.start - check_in.end >= SILENCE_TIMEOUT - 1, speech
    assert handset.first("bye received")["t"] > goodbye.end
    no_traceback(world, log_start)


def test_a_voicemail_greeting_is_hung_up_on_without_a_word(world: World, phone: Any) -> None:
    appointment = world.take_appointment()
    handset: PhoneRun = phone("answer", say=["voicemail"])  # VOICEMAIL_POLICY=hangup
    log_start = len(world.worker.text())

    room = place_call(world, appointment)

    handset.wait_event("bye received", timeout=60)
    row = world.call_row(room)
    assert (row["status"], row["amd"]) == ("voicemail", "machine-vm"), dict(row)
    assert row["hangup_reason"] == "answering machine (machine-vm)"
    handset.stop()
    pcm, started = handset.recording()
    assert spans(pcm, started) == [], "the agent spoke to the answering machine"
    (after,) = world.query("SELECT status FROM appointments WHERE id = ?", appointment.id)
    assert after["status"] == "scheduled"
    log = world.worker_log_since(log_start)
    assert '"amd prediction"' in log  # the detector's verdict is logged, the greeting is not
    assert "park family" not in log.lower()
    no_traceback(world, log_start)


def test_a_voicemail_gets_the_practices_message_after_the_beep(world: World, phone: Any) -> None:
    appointment = world.take_appointment()
    with world.worker_replaced({"VOICEMAIL_POLICY": "message"}):
        handset: PhoneRun = phone("answer", say=["voicemail"])
        log_start = len(world.worker.text())
        room = place_call(world, appointment)
        handset.wait_event("bye received", timeout=120)
        row = world.call_row(room)
        no_traceback(world, log_start)
    assert (row["status"], row["amd"]) == ("voicemail", "machine-vm"), dict(row)
    assert row["hangup_reason"] == "voicemail: message left"
    handset.stop()
    greeting = handset.first("said")
    pcm, started = handset.recording()
    message = voicemail_message(practice_name=PRACTICE, callback_number="+14155550100")
    speech = utterances(pcm, started, [message])
    assert speech, "no message was left"
    # nothing over the greeting or its beep: the message starts once the mailbox records
    assert speech[0].start > greeting["end"], (speech, greeting)
    text = " ".join(u.text or "" for u in speech)
    assert sentences([message])[0] in text, speech
    assert handset.first("bye received")["t"] > speech[-1].end


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
    assert row["hangup_reason"] == "callee left (CLIENT_INITIATED)", dict(row)
    world.wait_room_gone(room)
    (after,) = world.query("SELECT status FROM appointments WHERE id = ?", appointment.id)
    assert after["status"] == "scheduled"
    no_traceback(world, log_start)
    # livekit-sip marks the leg hung up before it leaves, and the agent hangs up on the
    # mark: it is all the agent gets when the server loses the leave
    log = world.worker_log_since(log_start)
    assert '"callee hung up"' in log, log
    assert log.index('"callee hung up"') < log.index('"hanging up"'), log


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
