from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from livekit import api
from livekit.agents import AgentSession

from livekit_stub import API_KEY, API_SECRET, LiveKitStub
from outbound_caller.call.identity import first_agent
from outbound_caller.call.line import Call
from outbound_caller.call.state import CallState, Practice
from outbound_caller.call.telephony import Telephony
from outbound_caller.call.voicemail import voicemail_message
from outbound_caller.cli.scripted import Rule, ScriptedLLM
from outbound_caller.outcome import CallRecord
from outbound_caller.store.appointments import Store
from outbound_caller.store.scheduling import Appointment, InMemoryScheduler

pytest_plugins = ["pass_k"]

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=NY)  # a Monday morning
ROOM = "call-7f3a"
TRUNK = "ST_trunk123"
PATIENT_PHONE = "+14155550123"
TRANSFER_TO = "+14155550199"
LOG = {"job_id": "AJ_test1", "room": ROOM}
PRACTICE = Practice("Bright Smile Dental", NY, "+14155550100")
MESSAGE_QUIET_S = 0.2  # the quiet before a voicemail message, short for the tests
VOICEMAIL_MESSAGE = voicemail_message(
    practice_name="Bright Smile Dental", callback_number="+14155550100"
)


def jane_appointment() -> Appointment:
    return Appointment(
        "appt-1",
        "Jane Doe",
        datetime(2026, 12, 1, 14, 30, tzinfo=NY),
        datetime(2026, 12, 1, 15, 0, tzinfo=NY),
        "Dr. Rivera",
    )


def other_patients_appointment() -> Appointment:
    return Appointment(
        "appt-2",
        "John Roe",
        datetime(2026, 12, 3, 9, 0, tzinfo=NY),
        datetime(2026, 12, 3, 9, 30, tzinfo=NY),
        "Dr. Rivera",
    )


@pytest.fixture
async def livekit_server() -> AsyncIterator[LiveKitStub]:
    stub = LiveKitStub()
    await stub.start()
    try:
        yield stub
    finally:
        await stub.stop()


@pytest.fixture
async def lkapi(livekit_server: LiveKitStub) -> AsyncIterator[api.LiveKitAPI]:
    client = api.LiveKitAPI(url=livekit_server.url, api_key=API_KEY, api_secret=API_SECRET)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def telephony(lkapi: api.LiveKitAPI) -> Telephony:
    return Telephony(
        lkapi,
        room_name=ROOM,
        trunk_id=TRUNK,
        ringing_timeout=25,
        max_call_duration=900,
        log_extra=LOG,
    )


@dataclass
class LiveCall:
    """A call in progress: the real session, agent, tools and call control."""

    session: AgentSession[CallState]
    state: CallState
    call: Call
    llm: ScriptedLLM
    scheduler: InMemoryScheduler


StartCall = Callable[..., Awaitable[LiveCall]]


@pytest.fixture
async def start_call(telephony: Telephony) -> AsyncIterator[StartCall]:
    sessions: list[AgentSession[CallState]] = []

    async def _start(
        rules: list[Rule],
        *,
        transfer_to: str | None = TRANSFER_TO,
        appointment: Appointment | None = None,
        appointments: list[Appointment] | None = None,
        patient_name: str | None = "Jane Doe",
        date_of_birth: date | None = None,
        identified: bool | None = None,
        voicemail_policy: str = "hangup",
        providers: tuple[str, ...] = ("Dr. Rivera",),
        **llm_options: Any,
    ) -> LiveCall:
        """A call at the scheduling stage (the person confirmed), or, with a date of birth
        to check or ``identified=False``, at the identity check."""
        own = appointments if appointments is not None else [appointment or jane_appointment()]
        scheduler = InMemoryScheduler(
            zone=NY,
            now=lambda: NOW,
            providers=providers,
            appointments=[*own, other_patients_appointment()],
        )
        model = ScriptedLLM(rules, **llm_options)
        session: AgentSession[CallState] = AgentSession(llm=model)
        record = CallRecord(started_at=NOW)
        call = Call(
            telephony=telephony,
            session=session,
            record=record,
            now=lambda: NOW,
            log_extra=LOG,
            voicemail_policy=voicemail_policy,  # type: ignore[arg-type]
            voicemail_message=VOICEMAIL_MESSAGE,
            message_quiet_s=MESSAGE_QUIET_S,
        )
        state = CallState(
            practice=PRACTICE,
            scheduler=scheduler,
            line=call,
            record=record,
            now=lambda: NOW,
            patient_name=patient_name,
            appointments=list(own),
            transfer_to=transfer_to,
            log_extra=LOG,
            verify_date_of_birth=date_of_birth is not None,
            date_of_birth=date_of_birth,
            identified=identified if identified is not None else date_of_birth is None,
        )
        session.userdata = state
        await session.start(first_agent(state), record=False)
        sessions.append(session)
        return LiveCall(session, state, call, model, scheduler)

    yield _start
    for s in sessions:
        await s.aclose()


# -- the scheduling store on both backends ------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    from postgres import PostgresUnavailable, postgres_server

    try:
        with postgres_server() as url:
            yield url
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL could not be started: {exc}", pytrace=False)


_db_counter = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return
    import asyncpg

    server = request.getfixturevalue("postgres_url")
    name = f"t{os.getpid()}_{next(_db_counter)}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield (
        "postgresql+asyncpg://"
        + server.removeprefix("postgresql://").rsplit("/", 1)[0]
        + "/"
        + name
    )
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = Store(store_url, now=lambda: NOW.astimezone(UTC))
    await s.upgrade()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def livekit_thread() -> Iterator[LiveKitStub]:
    """The stand-in server on its own thread and loop, for commands that run their own
    event loop (the CLI)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    stub = LiveKitStub()
    asyncio.run_coroutine_threadsafe(stub.start(), loop).result(timeout=10)
    try:
        yield stub
    finally:
        asyncio.run_coroutine_threadsafe(stub.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture
def operator(
    livekit_thread: LiveKitStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> LiveKitStub:
    """An operator's shell: an empty working directory (the default SQLite store) and
    LiveKit credentials that point at the stand-in server."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("LIVEKIT_URL", livekit_thread.url)
    monkeypatch.setenv("LIVEKIT_API_KEY", API_KEY)
    monkeypatch.setenv("LIVEKIT_API_SECRET", API_SECRET)
    return livekit_thread
