"""The worker: the composition root that turns a dispatch into a phone call.

``python agent.py dev|start|console|download-files`` lands in :func:`main`.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from livekit import api, rtc
from livekit.agents import AgentServer, AgentSession, JobContext, JobExecutorType, JobProcess, cli

from .call.agent import build_check_in, build_opening, build_silent_goodbye
from .call.context import inline_context, store_context
from .call.identity import first_agent
from .call.line import Call
from .call.pipeline import (
    build_amd,
    build_llm,
    build_session,
    check_turn_detector,
    load_vad,
    noise_filter,
    register_english_runner,
    session_start_options,
)
from .call.state import CallState, Practice
from .call.telephony import Telephony, call_control_api
from .call.transcripts import write_transcript
from .call.voicemail import VERDICT_WAIT_S, Action, opening_delay, voicemail_message
from .config import ENV_FILE, Settings, load_settings, practice_differences, read_env_file
from .dispatch import AGENT_NAME, DispatchMetadata, parse_metadata
from .errors import (
    ConfigError,
    MetadataError,
    ModelFilesMissing,
    OutboundCallerError,
    ScheduleUnavailable,
    StoreError,
)
from .liveapi import LiveKitError, check_trunk, livekit_api
from .outcome import CallRecord
from .redaction import install as redact_content
from .store.appointments import Store, open_store
from .store.calls import dnc_add, record_outcome
from .store.database import DEFAULT_SQLITE_FILE, database_url, store_configured
from .webhooks.sender import start_sender

logger = logging.getLogger(__name__)
# what was said stays out of the log, in this process and in every job process it starts
redact_content()

WORKER_COMMANDS = {"dev", "start", "console", "connect"}
DRAIN_TIMEOUT_S = 900  # a call in progress may take up to MAX_CALL_DURATION to finish
# how a call ended -> why its number is never dialed again
DNC_REASONS = {"do_not_call": "asked on a call", "wrong_number": "wrong number"}


def count_calls(agent_server: AgentServer, max_calls: int) -> None:
    """Make the worker's load its calls in progress out of ``max_calls`` (WORKER_MAX_CALLS)
    instead of the machine's CPU: it takes calls until it has that many, whatever else the
    machine runs."""
    agent_server.load_fnc = lambda s: len(s.active_jobs) / max_calls
    agent_server.update_options(load_threshold=1.0)


def prewarm(proc: JobProcess) -> None:
    """Load the VAD once per process, before any job arrives (with TURN_TAKING's timing; a
    bad value is the job's settings error to report, so it falls back to the default here)."""
    turn_taking = os.environ.get("TURN_TAKING", "").strip()
    proc.userdata["vad"] = load_vad("framework" if turn_taking == "framework" else "tuned")


server = AgentServer(
    setup_fnc=prewarm,
    drain_timeout=DRAIN_TIMEOUT_S,
    # keeps the forkserver alive through a SIGTERM sent to the whole process group
    preload_modules=["outbound_caller.forkserver"],
)


_warned_practices: set[str] = set()


def _warn_if_settings_differ(practice: Practice, extra: dict[str, Any]) -> None:
    """The store's practice speaks on a stored appointment's call; PRACTICE_* settings that
    say otherwise are named once per worker process, never silently ignored."""
    differ = practice_differences(
        os.environ,
        name=practice.name,
        timezone=str(practice.zone),
        callback_number=practice.callback_number,
    )
    if differ and practice.name not in _warned_practices:
        _warned_practices.add(practice.name)
        logger.warning(
            "settings that disagree with the store's practice: %s; calls about stored "
            "appointments use the store's (outbound-caller practice show)",
            ", ".join(differ),
            extra=extra,
        )


def now_utc() -> datetime:
    return datetime.now(UTC)


def console_metadata(settings: Settings) -> str:
    """Console mode has no dispatch: talk as a patient with an appointment tomorrow at 10."""
    tomorrow = (now_utc().astimezone(settings.zone) + timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    return DispatchMetadata(
        phone_number=settings.practice_callback_number,
        patient_name="Alex Morgan",
        appointment_time=tomorrow.isoformat(),
    ).model_dump_json()


@server.rtc_session(agent_name=AGENT_NAME)
async def entrypoint(ctx: JobContext) -> None:
    extra: dict[str, Any] = {"job_id": ctx.job.id, "room": ctx.job.room.name}
    ctx.log_context_fields = {**ctx.log_context_fields, **extra}
    logger.info("dispatch received", extra=extra)

    try:
        settings = load_settings(
            os.environ, require_telephony=not ctx.is_fake_job(), require_practice=False
        )
        raw = ctx.job.metadata or (console_metadata(settings) if ctx.is_fake_job() else "")
        meta = parse_metadata(raw)
    except (ConfigError, MetadataError) as exc:
        logger.error("not dialing: %s", exc, extra=extra)
        ctx.shutdown(reason="invalid dispatch")
        return

    if settings.filters_noise:
        noise_filter()  # Krisp's plugin, loaded before the room connects
    store = open_store(os.environ)
    try:
        if meta.appointment_id is not None:
            if store is None:
                raise MetadataError("appointment_id given, but no scheduling store is set up")
            context = await store_context(store, meta, by=ctx.job.id)
            _warn_if_settings_differ(context.practice, extra)
        else:
            context = inline_context(settings, meta, now=now_utc)
    except (MetadataError, StoreError) as exc:
        logger.error("not dialing: %s", exc, extra=extra)
        if store is not None:
            await store.close()
        ctx.shutdown(reason="invalid dispatch")
        return

    record = CallRecord(started_at=now_utc())
    # our own client for the call's control, not ctx.api: it must never retry a dial
    control = call_control_api(
        url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret.get_secret_value(),
    )
    telephony = Telephony(
        control,
        room_name=ctx.job.room.name,
        trunk_id=settings.sip_outbound_trunk_id or "",
        ringing_timeout=settings.ringing_timeout,
        max_call_duration=settings.max_call_duration,
        log_extra=extra,
    )
    session = build_session(settings, vad_model=ctx.proc.userdata["vad"])
    call = Call(
        telephony=telephony,
        session=session,
        record=record,
        now=now_utc,
        log_extra=extra,
        voicemail_policy=settings.voicemail_policy,
        voicemail_message=voicemail_message(
            practice_name=context.practice.name,
            callback_number=context.practice.callback_number,
        ),
        room=ctx.room,
        desk_ringing_timeout=settings.transfer_ring_timeout,
    )
    state = CallState(
        practice=context.practice,
        scheduler=context.scheduler,
        line=call,
        record=record,
        now=now_utc,
        patient_name=context.patient_name,
        appointments=list(context.appointments),
        transfer_to=meta.transfer_to,
        warm_transfer=settings.transfer_mode == "warm",
        log_extra=extra,
        verify_date_of_birth=settings.verify_date_of_birth,
        date_of_birth=context.date_of_birth,
    )
    session.userdata = state

    async def _on_shutdown(reason: str) -> None:
        await finish_call(
            reason,
            call=call,
            control=control,
            store=store,
            room=ctx.job.room.name,
            meta=meta,
            transcript=lambda: _save_transcript(settings, ctx.job.room.name, record, session),
            extra=extra,
            webhook=settings.webhook_url is not None,
        )

    ctx.add_shutdown_callback(_on_shutdown)
    session.on("close", lambda ev: ctx.shutdown(reason=f"session closed: {ev.reason}"))

    try:
        await ctx.connect()
    except rtc.ConnectError as exc:
        await call.not_joined(exc)
        ctx.shutdown(reason="room join failed")
        return
    call.watch_callee(ctx.room)
    call.watch_silence(
        check_in=build_check_in(),
        goodbye=build_silent_goodbye(state),
        wait=settings.silence_timeout,
    )
    await session.start(
        first_agent(state, llm=build_llm(settings)),
        room=ctx.room,
        **session_start_options(telephony.identity, filter_noise=settings.filters_noise),
    )

    if ctx.is_fake_job():  # console: no phone line, the terminal is the callee
        record.answered_at = now_utc()
        await call.greet_when_ready(delay=settings.greeting_delay, opening=build_opening(state))
        return

    # the detector listens from before the dial, so the greeting is heard from its first word
    async with build_amd(session, settings, identity=telephony.identity) as detector:
        result = await call.place(meta.phone_number)
        if not result.answered:
            ctx.shutdown(reason=result.status.value)
            return
        try:
            verdict = await asyncio.wait_for(
                detector.execute(), VERDICT_WAIT_S[settings.voicemail_policy]
            )
        except (TimeoutError, RuntimeError) as exc:
            # the conversation goes on; the agent's detected_answering_machine tool is the
            # second line against a greeting the detector did not settle
            logger.warning("no answering-machine verdict: %r", exc, extra=extra)
            verdict = None
        # acted on while the detector is still attached: after a machine verdict it keeps
        # the session from answering the rest of the greeting (each sentence is a user
        # turn), which would otherwise be spoken over the greeting before the message
        action = await call.apply_verdict(verdict)
    if action is Action.CONVERSE:
        await call.greet_when_ready(
            delay=opening_delay(verdict, settings.greeting_delay), opening=build_opening(state)
        )


def _save_transcript(
    settings: Settings, room: str, record: CallRecord, session: AgentSession[Any]
) -> None:
    if settings.transcript_dir is None:
        return
    write_transcript(
        settings.transcript_dir,
        room=room,
        started_at=record.started_at,
        outcome=record.status.value,
        history=session.history,
        keep=timedelta(days=settings.transcript_retention_days),
        now=now_utc(),
    )


async def finish_call(
    reason: str,
    *,
    call: Call,
    control: api.LiveKitAPI,
    store: Store | None,
    room: str,
    meta: DispatchMetadata,
    transcript: Callable[[], None],
    extra: dict[str, Any],
    webhook: bool = False,
) -> None:
    """The job's last steps: hang up, save the outcome, write the transcript, close the
    clients. Each step runs whatever happened in the ones before it: every call's outcome
    is saved even when the transcript or the hang-up fails."""
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("hang up", lambda: call.hang_up(f"job shutdown: {reason}")),
    ]
    if store is not None:
        steps.append(
            (
                "save the outcome",
                lambda: save_outcome(store, room, meta, call.record, extra, webhook=webhook),
            )
        )
    steps.append(("write the transcript", lambda: asyncio.to_thread(transcript)))
    try:
        for what, step in steps:
            try:
                await step()
            except Exception:  # one failed step must not cost the others; it is logged
                logger.exception("could not %s", what, extra=extra)
    finally:
        if store is not None:
            await store.close()
        await control.aclose()


class _DropDeprecationNotices(logging.Filter):
    """The framework's script CLI announces its own deprecation on every start; the
    commands of this project stay the documented way to run it, so keep that noise out."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("deprecated" in message and "lk agent" in message) and (
            "in-process auto-reload has been removed" not in message
        )


async def save_outcome(
    store: Store,
    room: str,
    meta: DispatchMetadata,
    record: CallRecord,
    extra: dict[str, Any],
    *,
    webhook: bool = False,
) -> None:
    """Write the call's outcome (how campaigns learn a call finished) and, with ``webhook``,
    queue its event for the practice's webhook; honour a request not to be called again by
    putting the number on the do-not-call list."""
    try:
        await record_outcome(
            store,
            room=room,
            phone=meta.phone_number,
            appointment_id=meta.appointment_id,
            record=record,
            webhook=webhook,
        )
        reason = DNC_REASONS.get(record.hangup_reason or "")
        if reason is not None:
            await dnc_add(store, meta.phone_number, reason=reason, by=room, at=now_utc())
            logger.info("number added to the do-not-call list: %s", reason, extra=extra)
    except ScheduleUnavailable as exc:
        logger.error("could not save the call outcome: %s", exc, extra=extra)


class TrunkRefused(OutboundCallerError):
    """The configured trunk is not safe to dial over, and no override is set."""


async def check_trunk_at_start(settings: Settings) -> None:
    """The trunk must exist, use TLS and have credentials (SPEC T1, T2, T4).

    Raises:
        LiveKitError: LiveKit cannot be reached or refuses the credentials.
        TrunkRefused: the trunk is missing, or insecure without ALLOW_INSECURE_TRUNK.
    """
    assert settings.sip_outbound_trunk_id is not None
    async with livekit_api(settings.livekit) as lkapi:
        result = await check_trunk(lkapi, settings.sip_outbound_trunk_id)
    missing = [p for p in result.problems if p.startswith("no outbound trunk")]
    if missing or (result.problems and not settings.allow_insecure_trunk):
        raise TrunkRefused(
            "; ".join(result.problems)
            + ("" if missing else " (set ALLOW_INSECURE_TRUNK=true to dial over it anyway)")
        )
    for problem in result.problems:
        logger.warning("dialing over an insecure trunk: %s", problem)
    for warning in result.warnings:
        logger.warning("%s", warning)


def check_store(env: MutableMapping[str, str]) -> str | None:
    """Check the scheduling store before taking calls. Without DATABASE_URL and without
    the default SQLite file there is no store: returns a note, calls use inline metadata.

    Raises:
        StoreError: the store is unreachable or not migrated.
    """
    url = database_url(env)
    if not store_configured(env):
        return (
            f"no scheduling store ({DEFAULT_SQLITE_FILE} not found, DATABASE_URL unset): "
            "dispatches with appointment_id will be refused; run `outbound-caller db upgrade` "
            "to create one"
        )

    async def _check() -> None:
        store = Store(url, now=now_utc)
        try:
            await store.check()
        finally:
            await store.close()

    asyncio.run(_check())
    return None


def console_audio_problem() -> str | None:
    """Console mode talks through this machine's microphone and speakers (PortAudio)."""
    try:
        importlib.import_module("sounddevice")  # loads PortAudio, or raises OSError
    except (ImportError, OSError):
        return (
            "console mode needs PortAudio and an audio device (on Debian: apt-get install "
            "libportaudio2); to test without one, see `outbound-caller demo`"
        )
    return None


def _fail(message: str) -> int:
    print(f"outbound-caller: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None, environ: MutableMapping[str, str] | None = None) -> int:
    """Entry of ``agent.py``: validate settings, then hand over to the LiveKit CLI.

    ``.env.local`` fills in what the environment does not set (the environment wins).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else ""
    env = os.environ if environ is None else environ

    for key, value in read_env_file(Path(ENV_FILE)).items():
        env.setdefault(key, value)

    if command == "download-files":
        from livekit.agents.__main__ import main as livekit_main

        return livekit_main(["download-files"])

    if command in WORKER_COMMANDS:
        try:
            # without a store, every call speaks for the practice in the settings
            settings = load_settings(
                env,
                require_telephony=command != "console",
                require_practice=command == "console" or not store_configured(env),
            )
            check_turn_detector(settings.turn_detection, cache_dir=env.get("HF_HUB_CACHE"))
        except (ConfigError, ModelFilesMissing) as exc:
            where = f"(settings come from the environment and {ENV_FILE}"
            if not Path(ENV_FILE).is_file():
                where += f"; to start one: cp .env.example {ENV_FILE}, then fill it in"
            return _fail(f"{exc}\n{where})")
        try:
            note = check_store(env)
            if command != "console":
                asyncio.run(check_trunk_at_start(settings))
        except (StoreError, LiveKitError, TrunkRefused) as exc:
            return _fail(str(exc))
        if command == "console" and (problem := console_audio_problem()):
            return _fail(problem)
        if note:
            print(f"outbound-caller: {note}", file=sys.stderr)
        if settings.turn_detection == "english":
            register_english_runner()
        if settings.health_port is not None:
            server._port = settings.health_port  # the framework reads it when the worker runs
        if settings.worker_load_threshold is not None:
            server.update_options(load_threshold=settings.worker_load_threshold)
        if settings.worker_max_calls is not None:
            count_calls(server, settings.worker_max_calls)
        if settings.job_executor == "thread":
            server.update_options(job_executor_type=JobExecutorType.THREAD)
        if settings.webhook_url is not None and settings.webhook_secret is not None:
            if command == "console" or not store_configured(env):
                print(
                    "outbound-caller: WEBHOOK_URL is set, but there is no scheduling store to "
                    "queue events in: no webhooks are sent",
                    file=sys.stderr,
                )
            else:
                # this worker's events, and any a stopped worker left queued
                start_sender(
                    env,
                    url=settings.webhook_url,
                    secret=settings.webhook_secret.get_secret_value(),
                )

    logging.getLogger("livekit.agents").addFilter(_DropDeprecationNotices())
    sys.argv = [sys.argv[0], *args]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            cli.run_app(server)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 0
    return 0
