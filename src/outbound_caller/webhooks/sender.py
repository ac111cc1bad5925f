"""Delivering the outbox: each due event posted to ``WEBHOOK_URL``, signed, and marked by the
answer (any 2xx is a delivery; anything else, or no answer, is retried with backoff).

A worker runs one sender on a thread of its own (``start_sender``), so its events, and those
of a worker that died before delivering, go out while it runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

import aiohttp

from ..store import outbox
from ..store.appointments import Store, open_store
from ..store.scheduling import utc_now
from . import signing

logger = logging.getLogger(__name__)

TIMEOUT_S = 10.0  # one attempt; well inside outbox.LEASE
POLL_S = 2.0  # how often a running sender looks for due events


@dataclass
class Round:
    """What one pass over the due events did."""

    delivered: int = 0
    failed: int = 0
    given_up: int = 0


class Sender:
    def __init__(
        self,
        store: Store,
        *,
        url: str,
        secret: str,
        now: Callable[[], datetime] = utc_now,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._url = url
        # logged instead of the URL, which may hold a token
        self._host = urlparse(url).hostname or "?"
        self._secret = secret
        self._now = now
        self._clock = clock
        self._http: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def deliver_due(self) -> Round:
        """Post every event due now, once each."""
        done = Round()
        # one claim at a time: a batch's lease would run out while earlier events of it were
        # still being posted, and another sender could post the rest as well
        while claimed := await outbox.claim_due(self._store, now=self._now(), limit=1):
            [event] = claimed
            problem = await self._post(event)
            if problem is None:
                await outbox.mark_delivered(self._store, event, now=self._now())
                done.delivered += 1
                logger.info(
                    "webhook delivered",
                    extra={"event_id": event.event_id, "attempts": event.attempts},
                )
                continue
            gave_up = await outbox.mark_failed(self._store, event, now=self._now(), error=problem)
            fields = {"event_id": event.event_id, "attempts": event.attempts, "host": self._host}
            if gave_up:
                done.given_up += 1
                logger.error("webhook given up on: %s", problem, extra=fields)
            else:
                done.failed += 1
                logger.warning("webhook attempt failed: %s", problem, extra=fields)
        return done

    async def _post(self, event: outbox.Claimed) -> str | None:
        """None when the receiver took the event, else why not (without the URL)."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        body = event.body.encode()
        headers = {
            "Content-Type": "application/json",
            signing.SIGNATURE_HEADER: signing.signature(self._secret, int(self._clock()), body),
            signing.EVENT_ID_HEADER: event.event_id,
        }
        try:
            async with self._http.post(self._url, data=body, headers=headers) as answer:
                if 200 <= answer.status < 300:
                    return None
                return f"HTTP {answer.status}"
        except TimeoutError:
            return f"no answer within {TIMEOUT_S:g} s"
        except aiohttp.ClientError as exc:
            return f"could not reach {self._host} ({type(exc).__name__})"

    async def run(self, stop: asyncio.Event, *, poll_s: float = POLL_S) -> None:
        """Deliver until ``stop`` is set; a store that is down is tried again next round."""
        try:
            while not stop.is_set():
                try:
                    await self.deliver_due()
                except Exception as exc:  # the store: the events wait in it
                    logger.warning("webhook delivery paused: %s", self._store.failure(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=poll_s)
        finally:
            await self.aclose()


def start_sender(env: Mapping[str, str], *, url: str, secret: str) -> threading.Thread:
    """Run a sender for the store in ``env`` on a daemon thread (its own event loop and
    connections) for as long as the process lives."""

    async def serve() -> None:
        store = open_store(env)
        if store is None:  # no store, no outbox: nothing was queued
            return
        try:
            await Sender(store, url=url, secret=secret).run(asyncio.Event())
        finally:
            await store.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="webhooks", daemon=True)
    thread.start()
    return thread
