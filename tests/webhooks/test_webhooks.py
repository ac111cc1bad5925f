"""Post-call webhooks: the event a call's outcome queues, in the same transaction, and its
delivery to a real HTTP receiver on 127.0.0.1, signed, retried with backoff, never posted
twice after a success, and picked up again after a sender dies mid-attempt."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select
from typer.testing import CliRunner

from conftest import NOW
from outbound_caller.cli.main import app
from outbound_caller.outcome import CallRecord, CallStatus
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.store.calls import (
    DISPATCH_GRACE,
    GIVE_UP_AFTER,
    record_outcome,
    record_placed,
    settle_unreported,
)
from outbound_caller.webhooks.sender import Sender
from outbound_caller.webhooks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, verify

SECRET = "whsec-0123456789abcdef"
T0 = NOW.astimezone(UTC)  # the store fixture's clock: events are stamped with it


@dataclass
class Receiver:
    """The practice's endpoint: answers each request with the next status of ``script``
    (then 200); ``hang`` holds the first request unanswered, as a receiver that is slow."""

    script: list[int] = field(default_factory=list)
    hang: bool = False
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)  # the held request goes
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        self.arrived.set()
        if self.hang and len(self.requests) == 1:
            await self.released.wait()
        status = self.script.pop(0) if self.script else 200
        return web.Response(status=status, text="ok" if status < 300 else "down")

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()
    server = web.Application()
    server.router.add_post("/hooks/calls", got.handle)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    got.url = f"http://127.0.0.1:{port}/hooks/calls"
    try:
        yield got
    finally:
        got.released.set()
        await runner.cleanup()


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at

    def unix(self) -> float:
        return self.at.timestamp()

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def sender_for(store: Store, receiver: Receiver, clock: Clock, secret: str = SECRET) -> Sender:
    return Sender(store, url=receiver.url, secret=secret, now=clock, clock=clock.unix)


def answered_call() -> CallRecord:
    return CallRecord(
        started_at=T0 - timedelta(minutes=3),
        status=CallStatus.ANSWERED,
        answered_at=T0 - timedelta(minutes=2, seconds=50),
        ended_at=T0 - timedelta(minutes=1),
        hangup_reason="callback_requested",
        changes=["confirmed 2026-12-02T09:30:00-05:00"],
        callback_at=datetime(2026, 12, 2, 17, 0, tzinfo=UTC),
        callback_note="after work",
        office_messages=["Asks whether the filling is covered."],
    )


async def a_call(store: Store, room: str = "call-1", *, webhook: bool = True) -> None:
    await record_placed(store, room=room, phone="+14155550123", placed_at=T0 - timedelta(minutes=3))
    await record_outcome(
        store,
        room=room,
        phone="+14155550123",
        appointment_id=None,
        record=answered_call(),
        webhook=webhook,
    )


async def events_in(store: Store) -> list[db.WebhookEvent]:
    async with store.read() as s:
        rows = await s.execute(select(db.WebhookEvent).order_by(db.WebhookEvent.id))
        return list(rows.scalars())


async def test_a_calls_outcome_reaches_the_receiver_signed_and_without_what_was_said(
    store: Store, receiver: Receiver
) -> None:
    await a_call(store)
    [queued] = await events_in(store)
    clock = Clock()
    sender = sender_for(store, receiver, clock)
    try:
        done = await sender.deliver_due()
    finally:
        await sender.aclose()

    assert (done.delivered, done.failed) == (1, 0)
    [(headers, body)] = receiver.requests
    assert headers["Content-Type"] == "application/json"
    # as the README tells a receiver to check it: HMAC-SHA256 over "<t>.<body>"
    t = int(clock.unix())
    mac = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"t={t},v1={mac}"
    assert verify(SECRET, headers[SIGNATURE_HEADER], body, now=clock.unix())
    event = json.loads(body)
    assert headers[EVENT_ID_HEADER] == event["id"] == queued.event_id
    assert event["type"] == "call.ended"
    call = event["call"]
    async with store.read() as s:
        call_id = await s.scalar(select(db.Call.id).where(db.Call.room == "call-1"))
    assert call["id"] == call_id
    assert (call["status"], call["hangup_reason"], call["sip_code"]) == (
        "answered",
        "callback_requested",
        None,
    )
    assert call["duration_s"] == 110.0
    assert call["changes"] == ["confirmed 2026-12-02T09:30:00-05:00"]
    assert call["callback"] == {"at": "2026-12-02T17:00:00+00:00", "note": "after work"}
    assert call["office_messages"] == ["Asks whether the filling is covered."]
    assert "transcript" not in body.decode()
    [row] = await events_in(store)
    assert (row.delivered_at, row.attempts) == (T0, 1)


async def test_without_a_webhook_no_event_is_queued(store: Store) -> None:
    await a_call(store, webhook=False)
    assert await events_in(store) == []


async def test_a_failing_receiver_gets_the_same_event_again_with_backoff_until_it_takes_it(
    store: Store, receiver: Receiver
) -> None:
    receiver.script = [500, 503]
    await a_call(store)
    clock = Clock()
    sender = sender_for(store, receiver, clock)
    try:
        assert (await sender.deliver_due()).failed == 1
        clock.advance(seconds=9.9)
        await sender.deliver_due()
        assert len(receiver.requests) == 1  # not due before the first wait, 10 s
        clock.advance(seconds=0.1)
        assert (await sender.deliver_due()).failed == 1
        clock.advance(seconds=19.9)
        await sender.deliver_due()
        assert len(receiver.requests) == 2  # then 20 s
        clock.advance(seconds=0.1)
        assert (await sender.deliver_due()).delivered == 1
        clock.advance(hours=5)
        await sender.deliver_due()
    finally:
        await sender.aclose()

    assert len(receiver.requests) == 3  # never again after the success
    ids = {headers[EVENT_ID_HEADER] for headers, _ in receiver.requests}
    assert len(ids) == 1
    assert len({body for _, body in receiver.requests}) == 1  # the same bytes each time
    for headers, body in receiver.requests:
        assert verify(SECRET, headers[SIGNATURE_HEADER], body, now=T0.timestamp() + 30)
    [row] = await events_in(store)
    assert (row.attempts, row.delivered_at) == (3, T0 + timedelta(seconds=30))
    assert row.last_error is None


async def test_two_senders_post_each_event_once(
    store_url: str, store: Store, receiver: Receiver
) -> None:
    for n in range(6):
        await a_call(store, f"call-{n}")
    other = Store(store_url, now=lambda: T0)
    clock = Clock()
    first, second = sender_for(store, receiver, clock), sender_for(other, receiver, clock)
    try:
        rounds = await asyncio.gather(first.deliver_due(), second.deliver_due())
    finally:
        await first.aclose()
        await second.aclose()
        await other.close()
    assert sum(r.delivered for r in rounds) == 6
    ids = [headers[EVENT_ID_HEADER] for headers, _ in receiver.requests]
    assert sorted(ids) == sorted(e.event_id for e in await events_in(store))


async def test_a_sender_that_dies_mid_post_leaves_the_event_to_the_next(
    store_url: str, store: Store, receiver: Receiver
) -> None:
    """The worker that held the event is killed while posting; a worker started later
    (its own store connection) posts it once the dead one's lease has run out."""
    receiver.hang = True
    await a_call(store)
    clock = Clock()
    dying = sender_for(store, receiver, clock)
    attempt = asyncio.create_task(dying.deliver_due())
    await asyncio.wait_for(receiver.arrived.wait(), timeout=10)
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    await dying.aclose()

    restarted_store = Store(store_url, now=lambda: T0)
    restarted = sender_for(restarted_store, receiver, clock)
    try:
        clock.advance(seconds=59)
        assert (await restarted.deliver_due()).delivered == 0  # the lease still holds it
        clock.advance(seconds=1)
        assert (await restarted.deliver_due()).delivered == 1
        clock.advance(hours=1)
        await restarted.deliver_due()
    finally:
        await restarted.aclose()
        await restarted_store.close()
    # the dead sender's post and the one that was answered: one event id, for dedupe
    assert len(receiver.requests) == 2
    assert len({headers[EVENT_ID_HEADER] for headers, _ in receiver.requests}) == 1


async def test_an_event_is_given_up_on_after_a_day_of_failures(
    store: Store, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="outbound_caller")
    receiver.script = [500] * 100
    await a_call(store)
    clock = Clock()
    sender = sender_for(store, receiver, clock)
    try:
        while not (await sender.deliver_due()).given_up:
            [row] = await events_in(store)
            clock.at = row.next_at
            assert clock.at - T0 < timedelta(hours=25)
        clock.advance(days=2)
        await sender.deliver_due()
    finally:
        await sender.aclose()
    [row] = await events_in(store)
    assert row.given_up_at is not None
    assert row.delivered_at is None
    assert row.last_error == "HTTP 500"
    attempts = len(receiver.requests)
    assert row.attempts == attempts
    # 10 s, 20 s, ... up to an hour between attempts, for a day
    assert 25 <= attempts <= 35, attempts
    [gave_up] = [r for r in caplog.records if r.getMessage().startswith("webhook given up")]
    assert gave_up.levelno == logging.ERROR
    assert gave_up.event_id == row.event_id  # type: ignore[attr-defined]


async def test_an_unreachable_receiver_is_retried_and_logged_without_its_url(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="outbound_caller")
    await a_call(store)
    clock = Clock()
    # a port nobody listens on (the receiver fixture's would be taken), a token in the path
    sender = Sender(store, url="http://127.0.0.1:9/hooks/tok-secret123", secret=SECRET, now=clock)
    try:
        assert (await sender.deliver_due()).failed == 1
    finally:
        await sender.aclose()
    [row] = await events_in(store)
    assert row.last_error == "could not reach 127.0.0.1 (ClientConnectorError)"
    assert row.next_at == T0 + timedelta(seconds=10)
    [warning] = [r for r in caplog.records if r.getMessage().startswith("webhook attempt")]
    assert warning.levelno == logging.WARNING
    assert "tok-secret123" not in caplog.text


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),  # another body
        lambda h, b: (h.replace("t=", "t=1"), b),  # another time
        lambda h, b: ("v1=" + h.split("v1=")[1], b),  # no time
        lambda h, b: (h.split(",")[0], b),  # no signature
    ],
)
def test_a_receiver_refuses_what_was_not_signed_with_the_secret(
    tamper: Callable[[str, bytes], tuple[str, bytes]],
) -> None:
    from outbound_caller.webhooks.signing import signature

    body = b'{"id":"e1"}'
    header = signature(SECRET, 1_800_000_000, body)
    assert verify(SECRET, header, body, now=1_800_000_000)
    assert not verify("another-secret-of-16+", header, body, now=1_800_000_000)
    assert not verify(SECRET, header, body, now=1_800_000_000 + 301)  # a replay, later
    assert not verify(SECRET, *tamper(header, body), now=1_800_000_000)


def test_the_operator_lists_events_and_how_their_delivery_went(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)

    async def two_calls() -> None:
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'outbound-caller.db'}", now=lambda: T0)
        try:
            await store.upgrade()
            await a_call(store, "call-a")
            await a_call(store, "call-b")
            async with store.write() as s:
                first, second = (await s.execute(select(db.WebhookEvent))).scalars()
                first.delivered_at, first.attempts = T0, 1
                second.attempts, second.last_error = 2, "HTTP 502"
                second.next_at = T0 + timedelta(seconds=20)
        finally:
            await store.close()

    result = CliRunner().invoke(app, ["webhooks", "list"])
    assert result.exit_code == 1  # no store yet: said in one line
    assert len(result.stderr.splitlines()) == 1
    asyncio.run(two_calls())
    result = CliRunner().invoke(app, ["webhooks", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == "2 event(s)"
    assert "call.ended  call 2  retrying   2 attempt(s)  next 2026-11-30 15:00:20" in lines[0]
    assert lines[0].endswith("last: HTTP 502")
    assert "call.ended  call 1  delivered  1 attempt(s)  at 2026-11-30 15:00:00" in lines[1]


async def test_an_outcome_whose_event_cannot_be_queued_is_not_stored_either(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One transaction: a stored outcome always has its event."""
    from outbound_caller.store import calls

    def broken(*_: object) -> None:
        raise RuntimeError("the event could not be built")

    monkeypatch.setattr(calls, "enqueue_call_ended", broken)
    with pytest.raises(RuntimeError):
        await a_call(store)
    async with store.read() as s:
        status = await s.scalar(select(db.Call.status).where(db.Call.room == "call-1"))
    assert status == "dialing"  # as placed: the outcome was rolled back with the event
    assert await events_in(store) == []


def test_the_readmes_verification_snippet_accepts_a_real_request_and_nothing_else() -> None:
    """What the README gives receivers to copy works on what the sender sends."""
    import re
    import time

    from outbound_caller.webhooks.signing import signature

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    after = readme.split("**Verifying a request.**", 1)[1]
    code = re.search(r"```python\n(.*?)```", after, re.S)
    assert code is not None
    scope: dict[str, Any] = {}
    exec(code.group(1), scope)
    body = b'{"id":"e1","type":"call.ended"}'
    header = signature(SECRET, int(time.time()), body)
    assert scope["verify"](SECRET, header, body)
    assert not scope["verify"](SECRET, header, body + b" ")
    assert not scope["verify"]("another-secret-of-16+", header, body)
    assert not scope["verify"](SECRET, signature(SECRET, int(time.time()) - 600, body), body)


async def test_calls_no_worker_reported_send_their_settled_outcome(
    store: Store, receiver: Receiver
) -> None:
    """A call whose worker died before reporting is settled as ``timeout``; a claim that was
    never dispatched as ``not_dispatched``: each still reaches the practice, once."""
    long_ago = T0 - GIVE_UP_AFTER - timedelta(minutes=1)
    await record_placed(
        store, room="died", phone="+14155550123", placed_at=long_ago, dispatch_id="AD_1"
    )
    await record_placed(
        store, room="never", phone="+12125550187", placed_at=T0 - DISPATCH_GRACE * 2
    )
    await record_placed(
        store, room="ringing", phone="+16175550111", placed_at=T0, dispatch_id="AD_3"
    )
    assert await settle_unreported(store, now=T0, webhook=True) == 2
    assert await settle_unreported(store, now=T0, webhook=True) == 0  # settled once
    sender = sender_for(store, receiver, Clock())
    try:
        assert (await sender.deliver_due()).delivered == 2
    finally:
        await sender.aclose()
    calls = sorted((b["call"]["phone"], b["call"]["status"]) for b in receiver.bodies())
    assert calls == [("+12125550187", "not_dispatched"), ("+14155550123", "timeout")]
    assert all(b["call"]["ended_at"] == T0.isoformat() for b in receiver.bodies())


async def test_without_a_webhook_settling_queues_nothing(store: Store) -> None:
    await record_placed(
        store, room="never", phone="+12125550187", placed_at=T0 - DISPATCH_GRACE * 2
    )
    assert await settle_unreported(store, now=T0) == 1
    assert await events_in(store) == []
