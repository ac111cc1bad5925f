"""A patient who asks for a person, through the real stack: the agent's TransferSIPParticipant
becomes a REFER to ``tel:+<transfer_to>`` that the test phone takes (and carries out, as a
carrier would, by calling the desk) or refuses."""

from __future__ import annotations

from typing import Any

from e2e.expect import AGENT_LINES, heard, line_of, no_traceback
from e2e.world import OFFER_TRANSFER, TRANSFER_FAILED, TRANSFER_TO, PhoneRun, World, place_call

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
    assert (row["status"], row["hangup_reason"]) == ("answered", "transferred")
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
    assert (row["status"], row["hangup_reason"]) == ("answered", "completed")
    handset.stop()
    speech = heard(handset, appointment.patient, TRANSFER_LINES)
    after_refusal = [
        line_of(u, TRANSFER_LINES, appointment.patient) for u in speech if u.start > refused_at
    ]
    assert after_refusal[0] == TRANSFER_FAILED, speech
    assert (speech[-1].text or "").endswith("goodbye"), speech
    no_traceback(world, log_start)
