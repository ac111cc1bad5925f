"""Campaign runners in the console's own process. All of a campaign's state is in the store,
so a console that restarts loses nothing: at start it carries on with every campaign left
running, with the policy that campaign was started with."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from ..campaigns.runner import Dialer, Runner, pause, stored_policy, unpause
from ..campaigns.status import campaign_lines
from ..errors import OutboundCallerError
from ..store import schema as db
from ..store.appointments import Store

logger = logging.getLogger("outbound_caller.console")

DialerFactory = Callable[[int], AbstractAsyncContextManager[Dialer]]
"""The dialer for one campaign's run (through LiveKit, or a stand-in in tests)."""


class CampaignRunners:
    def __init__(
        self,
        store: Store,
        dialers: DialerFactory,
        now: Callable[[], datetime],
        *,
        webhook: bool = False,
    ):
        self._store = store
        self._dialers = dialers
        self._now = now
        self._webhook = webhook
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.problems: dict[int, str] = {}  # why a campaign's last run here stopped

    def running(self, campaign_id: int) -> bool:
        task = self._tasks.get(campaign_id)
        return task is not None and not task.done()

    async def start(self, campaign_id: int) -> None:
        """Run (or carry on with) the campaign here, unless it already runs here."""
        if self.running(campaign_id):
            return
        async with self._store.read() as s:
            campaign = await s.get(db.Campaign, campaign_id)
        if campaign is None:
            raise OutboundCallerError(f"no campaign {campaign_id}")
        self.problems.pop(campaign_id, None)
        await unpause(self._store, campaign_id)
        self._tasks[campaign_id] = asyncio.create_task(
            self._run(campaign_id, campaign), name=f"campaign {campaign_id}"
        )

    async def _run(self, campaign_id: int, campaign: db.Campaign) -> None:
        try:
            async with self._dialers(campaign_id) as dial:
                runner = Runner(
                    self._store,
                    campaign_id,
                    dialer=dial,
                    policy=stored_policy(campaign),
                    now=self._now,
                    runner_id="console",
                    webhook=self._webhook,
                )
                summary = await runner.run()
            if summary.stopped:
                self.problems[campaign_id] = summary.stopped
        except OutboundCallerError as exc:
            self.problems[campaign_id] = str(exc)
            logger.error("campaign %s stopped: %s", campaign_id, exc)
        except Exception:
            self.problems[campaign_id] = "the runner failed; see the console's log"
            logger.exception("campaign %s: the runner failed", campaign_id)

    async def pause(self, campaign_id: int) -> bool:
        paused = await pause(self._store, campaign_id)
        task = self._tasks.pop(campaign_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return paused

    async def resume_running(self) -> None:
        """Carry on with every campaign left running (by a console that stopped)."""
        try:
            lines = await campaign_lines(self._store)
        except OutboundCallerError as exc:  # the health check and the pages say so too
            logger.error("cannot resume campaigns: %s", exc)
            return
        for line in lines:
            if line.state == "running":
                await self.start(line.id)

    async def stop(self) -> None:
        """The console is stopping: the runners stop; their campaigns stay running in the
        store, for the next start to carry on with."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
