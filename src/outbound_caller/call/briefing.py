"""How the call describes its appointments: to the model in its instructions, and to the
front desk before a warm transfer."""

from __future__ import annotations

from ..store.scheduling import Appointment
from . import prompts
from .speech import speak_when
from .state import CallState, as_data


def describe_appointments(state: CallState) -> str:
    """The instructions' line about the appointments the call is for."""
    zone, today = state.practice.zone, state.today()

    def one(appt: Appointment) -> str:
        when = speak_when(appt.start, zone, today=today)
        kind = f"{as_data(appt.type_name)} " if appt.type_name else ""
        return f"{kind}{when} with {as_data(appt.provider)} (status {appt.status})"

    if not state.appointments:
        return "Their appointment: none on file; you can still offer to book one"
    if len(state.appointments) == 1:
        return f"Their appointment: {one(state.appointments[0])}"
    listed = "; ".join(f"appointment {n}: {one(a)}" for n, a in enumerate(state.appointments, 1))
    return (
        f"Their appointments, {len(state.appointments)} on the same day: {listed}. This call is "
        "about all of them: ask about each in turn and pass its number as `appointment` to "
        "every appointment tool"
    )


def desk_briefing(state: CallState) -> str:
    """What the front desk is told before the patient is put through."""
    if not state.identified:
        speaker = "someone who has not yet confirmed being the patient"
    elif state.speaker == "patient":
        speaker = "the patient"
    else:
        speaker = "the patient's parent or guardian"
    return prompts.render(
        "desk_briefing",
        practice_name=state.practice.name,
        patient=as_data(state.patient_name) if state.patient_name else "name not on file",
        speaker=speaker,
        appointments=describe_appointments(state),
    )
