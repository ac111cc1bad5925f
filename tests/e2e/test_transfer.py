"""A patient who asks for a person, through the real stack.

Cold (the default): the agent's TransferSIPParticipant becomes a REFER to
``tel:+<transfer_to>`` that the test phone takes (and carries out, as a carrier would, by
calling the desk) or refuses. Warm (``TRANSFER_MODE=warm``): the patient holds while the
agent calls the desk (a second number of the test phone), briefs whoever answers, and
connects them; a desk that does not answer brings the agent back to the patient."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from e2e.expect import AGENT_LINES, heard, line_of, no_traceback, said
from e2e.world import (
    BRIEFING,
    CALLBACK_NOTED,
    DESK_UNANSWERED,
    LINES,
    OFFER_TRANSFER,
    ON_HOLD,
    TRANSFER_FAILED,
    TRANSFER_TO,
    PhoneRun,
    World,
    place_call,
)

TRANSFER_LINES = [*AGENT_LINES, OFFER_TRANSFER, TRANSFER_FAILED]


def test_a_patient_who_asks_for_a_person_is_transferred_and_the_agent_leaves(
    world: World, phone: Any
) -> None:
    appointment = world.take_appointment()
    handset: PhoneRun = phone("answer", say=["hello", "speaking", "a_person", "please_do"])
    log_start = len(world.worker.text())

    with world.open_around_the_clock():
        room = place_call(world, appointment, "--transfer-to", TRANSFER_TO)
        handset.wait_event("disconnected", timeout=90)

    names = handset.names()
    refer = handset.first("refer")
    assert refer["to"].strip("<>") == f"tel:{TRANSFER_TO}", refer
    # the phone took it and placed the new call to the desk, which answered; then the
    # agent's side hung up its leg
    assert names.index("refer accepted") < names.index("desk invite"), names
    assert handset.first("desk invite")["uri"] == f"tel:{TRANSFER_TO}"
    assert names.index("desk answered") < names.index("bye received"), names

    row = world.call_row(room)
    assert (row["status"], row["hangup_reason"]) == ("answered", "transferred"), world.conversation(
        handset
    )
    assert "transfer_call" in row["tools_used"]
    (after,) = world.query("SELECT status FROM appointments WHERE id = ?", appointment.id)
    assert after["status"] == "scheduled"  # nothing was settled on the call
    world.wait_room_gone(room)

    handset.stop()
    speech = heard(handset, appointment.patient, TRANSFER_LINES)
    asked = [u for u in speech if line_of(u, TRANSFER_LINES, appointment.patient) == OFFER_TRANSFER]
    assert asked, speech
    # once the patient said yes, the agent said nothing more on the line
    yes = [e for e in handset.events() if e["event"] == "said"][-1]
    assert [u for u in speech if u.start > yes["end"]] == [], speech
    no_traceback(world, log_start)
    log = world.worker_log_since(log_start)
    assert TRANSFER_TO not in log  # numbers are masked
    assert appointment.phone not in log


def test_a_refused_transfer_gets_an_apology_and_the_call_goes_on(world: World, phone: Any) -> None:
    appointment = world.take_appointment()
    handset: PhoneRun = phone(
        "answer", say=["hello", "speaking", "a_person", "please_do", "bye"], refer="reject"
    )
    log_start = len(world.worker.text())

    with world.open_around_the_clock():
        room = place_call(world, appointment, "--transfer-to", TRANSFER_TO)
        handset.wait_event("disconnected", timeout=120)

    names = handset.names()
    assert "refer rejected" in names, names
    assert "desk invite" not in names, names
    # the patient's goodbye was said after the REFER, and the agent hung up after it
    refused_at = handset.first("refer rejected")["t"]
    goodbye = [e for e in handset.events() if e["event"] == "said"][-1]
    assert goodbye["start"] > refused_at
    assert "bye received" in names

    row = world.call_row(room)
    assert (row["status"], row["hangup_reason"]) == ("answered", "completed"), world.conversation(
        handset
    )
    handset.stop()
    speech = heard(handset, appointment.patient, TRANSFER_LINES)
    after_refusal = [
        line_of(u, TRANSFER_LINES, appointment.patient) for u in speech if u.start > refused_at
    ]
    assert after_refusal[0] == TRANSFER_FAILED, speech
    assert (speech[-1].text or "").endswith("goodbye"), speech
    no_traceback(world, log_start)


@pytest.fixture(scope="module")
def warm(world: World) -> Iterator[None]:
    """The world's worker with TRANSFER_MODE=warm, the desk given 8 s to answer."""
    with world.worker_replaced({"TRANSFER_MODE": "warm", "TRANSFER_RING_TIMEOUT": "8"}):
        yield


def log_t0(handset: PhoneRun) -> float:
    """When ``handset`` was ready: the providers' log before it is another call's."""
    return float(handset.first("ready")["t"])


WARM_LINES = [*TRANSFER_LINES, ON_HOLD, DESK_UNANSWERED, CALLBACK_NOTED, LINES["desk_help"]]
PATIENT_SAYS = ["hello", "speaking", "a_person", "please_do"]
# the patient waits longer before each reply than the gap between "please hold" and the hold
# music, so their next line comes once the hold is over
PATIENT_GAP = {"turn_gap": 2.5}


def test_a_warm_transfer_briefs_the_desk_then_connects_the_patient(
    world: World, phones: Any, warm: None
) -> None:
    appointment = world.take_appointment()
    lines = phones(
        {
            appointment.phone: ("answer", [*PATIENT_SAYS, "hello", "thanks_bye"]),
            TRANSFER_TO: ("answer", ["front_desk", "put_through", "desk_help"]),
        },
        # the desk's first words come once its leg is heard in the room (a second after
        # the answer: its track is published and subscribed only then)
        options={
            appointment.phone: {**PATIENT_GAP, "hangup_after_last": 1.0},
            TRANSFER_TO: {"first_delay": 1.5},
        },
    )
    patient, desk = lines[appointment.phone], lines[TRANSFER_TO]
    log_start = len(world.worker.text())

    with world.open_around_the_clock():
        room = place_call(world, appointment, "--transfer-to", TRANSFER_TO)
        try:
            patient.wait_event("disconnected", timeout=150)
            desk.wait_event("disconnected", timeout=20)
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{world.conversation(patient, desk)}") from None

    # the desk was called on its own number once the patient said yes, and answered
    assert f"sip:{TRANSFER_TO}@" in desk.first("invite")["to"]
    yes = [e for e in patient.events() if e["event"] == "said"][3]
    assert desk.first("invite")["t"] > yes["end"]
    # the patient hung up after talking with the desk; the desk's leg went with the call
    assert "bye sent" in patient.names()
    assert "bye received" in desk.names(), desk.names()

    row = world.call_row(room)
    assert (row["status"], row["hangup_reason"]) == ("answered", "transferred"), world.conversation(
        patient, desk
    )
    assert "transfer_call" in row["tools_used"]
    world.wait_room_gone(room)
    world.wait_room_gone(f"{room}-human-agent")

    # the desk's briefing was given from the call: the patient's name and what they said
    desk_turns = [
        r
        for r in world.providers_log()
        if r["kind"] == "llm" and r["reply"].get("say") == said(BRIEFING, appointment.patient)
    ]
    assert desk_turns, "the desk was never briefed"

    patient.stop()
    # a blip of noise as the desk's leg joins (0.4 s, nothing recognised) is not a line
    at_desk = [
        u
        for u in heard(desk, appointment.patient, [BRIEFING, *WARM_LINES, LINES["hello"]])
        if u.text is not None or u.end - u.start >= 1.0
    ]
    assert line_of(at_desk[0], [BRIEFING], appointment.patient) == BRIEFING, at_desk
    # through the connection, the desk heard the patient's "hello?" (said once the hold
    # music had stopped) after the briefing, and the patient heard the desk: the desk's
    # words, never the agent's after the hold
    put_through = [e for e in desk.events() if e["event"] == "said"][1]
    hello_again = [e for e in patient.events() if e["event"] == "said"][4]
    assert hello_again["start"] > put_through["end"]
    after_briefing = [line_of(u, [LINES["hello"]], appointment.patient) for u in at_desk[1:]]
    assert LINES["hello"] in after_briefing, at_desk

    speech = heard(patient, appointment.patient, WARM_LINES)
    named = [line_of(u, WARM_LINES, appointment.patient) for u in speech]
    assert ON_HOLD in named, speech
    after_hold = named[named.index(ON_HOLD) + 1 :]
    assert LINES["desk_help"] in after_hold, speech
    assert not {OFFER_TRANSFER, TRANSFER_FAILED, DESK_UNANSWERED} & set(after_hold), speech

    no_traceback(world, log_start)
    log = world.worker_log_since(log_start)
    assert "relaying between the two rooms" in log  # self-hosted livekit-server cannot move
    assert TRANSFER_TO not in log
    assert appointment.phone not in log


def test_a_desk_that_hangs_up_after_helping_ends_the_patients_call(
    world: World, phones: Any, warm: None
) -> None:
    appointment = world.take_appointment()
    lines = phones(
        {
            # the patient says "hello?" once through to the desk, and never hangs up
            appointment.phone: ("answer", [*PATIENT_SAYS, "hello"]),
            TRANSFER_TO: ("answer", ["front_desk", "put_through", "desk_help"]),
        },
        options={
            appointment.phone: PATIENT_GAP,
            TRANSFER_TO: {"first_delay": 1.5, "hangup_after_last": 1.0},
        },
    )
    patient, desk = lines[appointment.phone], lines[TRANSFER_TO]
    log_start = len(world.worker.text())

    with world.open_around_the_clock():
        room = place_call(world, appointment, "--transfer-to", TRANSFER_TO)
        try:
            desk.wait_event("bye sent", timeout=150)
            patient.wait_event("bye received", timeout=15)
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{world.conversation(patient, desk)}") from None

    # the patient's line went with the desk's, promptly, and was never the patient's doing
    assert patient.first("bye received")["t"] - desk.first("bye sent")["t"] < 5.0
    assert "bye sent" not in patient.names()
    row = world.call_row(room)
    assert (row["status"], row["hangup_reason"]) == ("answered", "transferred"), world.conversation(
        patient, desk
    )
    world.wait_room_gone(room)
    world.wait_room_gone(f"{room}-human-agent")
    patient.stop()
    # after the hold the patient heard the desk, and the agent never came back
    speech = heard(patient, appointment.patient, WARM_LINES)
    named = [line_of(u, WARM_LINES, appointment.patient) for u in speech]
    after_hold = named[named.index(ON_HOLD) + 1 :]
    assert LINES["desk_help"] in after_hold, speech
    assert not {OFFER_TRANSFER, TRANSFER_FAILED, DESK_UNANSWERED} & set(after_hold), speech
    no_traceback(world, log_start)
    log = world.worker_log_since(log_start)
    assert "relaying between the two rooms" in log


def test_a_desk_that_does_not_answer_gets_the_patient_an_apology_and_a_callback(
    world: World, phones: Any, warm: None
) -> None:
    appointment = world.take_appointment()
    lines = phones(
        {
            appointment.phone: ("answer", [*PATIENT_SAYS, "call_me_back"]),
            TRANSFER_TO: ("ring", []),
        },
        options={appointment.phone: PATIENT_GAP},
    )
    patient, desk = lines[appointment.phone], lines[TRANSFER_TO]
    log_start = len(world.worker.text())

    with world.open_around_the_clock():
        room = place_call(world, appointment, "--transfer-to", TRANSFER_TO)
        patient.wait_event("disconnected", timeout=150)

    # the desk rang for the ringing timeout and was given up on
    assert "ringing" in desk.names()
    assert "answered" not in desk.names(), desk.names()
    row = world.call_row(room)
    assert (row["status"], row["hangup_reason"]) == ("answered", "callback_requested"), (
        world.conversation(patient)
    )
    assert row["callback_at"] is not None
    world.wait_room_gone(room)

    desk_gone = [e for e in desk.events() if e["event"] == "disconnected"]
    assert desk_gone, desk.names()
    given_up = desk_gone[0]["t"]

    # the model was told nobody answered, and its apology was spoken once the desk had been
    # given up on; the patient's "call me back" answered it
    spoken = [r for r in world.providers_log() if r["kind"] == "tts" and r["t"] > log_t0(patient)]
    apology = [r for r in spoken if r["text"] == DESK_UNANSWERED.split(". ")[0] + "."]
    assert apology, spoken
    assert apology[0]["t"] > given_up - 1.0
    call_me_back = [e for e in patient.events() if e["event"] == "said"][4]
    assert call_me_back["start"] > apology[0]["t"]

    patient.stop()
    speech = heard(patient, appointment.patient, WARM_LINES)
    named = [line_of(u, WARM_LINES, appointment.patient) for u in speech]
    assert ON_HOLD in named, speech
    # on hold, the patient heard music (sound without a break) until the desk was given up
    # on (the apology follows it too closely to be told apart), then the callback noted
    hold = speech[named.index(ON_HOLD) + 1]
    assert hold.end >= given_up - 0.5, (hold, given_up)
    assert named[-1] == CALLBACK_NOTED, speech
    no_traceback(world, log_start)
    log = world.worker_log_since(log_start)
    assert "the front desk did not answer" in log
    assert TRANSFER_TO not in log
