"""Campaign planning time and achieved call rate.

    .venv/bin/python bench/campaign_bench.py                # SQLite and PostgreSQL
    .venv/bin/python bench/campaign_bench.py --backend sqlite --people 2000 --calls 40

Planning: a campaign over N people (one bulk insert). Rate: a real-time campaign whose
dialer answers at once (the "agent" reports each outcome a moment later), with the
in-flight limit out of the way, so pacing alone decides when calls start.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time as clock
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from outbound_caller.campaigns.plan import plan_for_people
from outbound_caller.campaigns.runner import Policy, Runner
from outbound_caller.dispatch import DispatchMetadata
from outbound_caller.outcome import CallRecord, CallStatus
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.store.calls import record_outcome


def now() -> datetime:
    return datetime.now(UTC)


def noon_zone() -> str:
    offset = (12 - now().hour + 12) % 24 - 12
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


def people(n: int, zone: str, area: str = "415") -> list[dict[str, str]]:
    return [{"phone": f"+1{area}555{i:04d}", "name": f"P{i}", "timezone": zone} for i in range(n)]


async def practice(store: Store) -> int:
    async with store.write() as s:
        p = db.Practice(
            name="Bench Dental", timezone="America/New_York", callback_number="+14155550100"
        )
        s.add(p)
        await s.flush()
        return p.id


async def bench(url: str, args: argparse.Namespace) -> tuple[float, float, int]:
    store = Store(url, now=now)
    try:
        await store.upgrade()
        pid = await practice(store)
        zone = noon_zone()
        t0 = clock.perf_counter()
        await plan_for_people(
            store,
            practice_id=pid,
            people=people(args.people, zone),
            name="plan",
            policy=Policy(),
            now=now(),
        )
        planning = clock.perf_counter() - t0

        policy = Policy(max_in_flight=10_000, calls_per_second=args.rate, poll_seconds=0.5)
        cid, _ = await plan_for_people(
            store,
            practice_id=pid,
            people=people(args.calls, zone, area="212"),  # not the planned numbers
            name="rate",
            policy=policy,
            now=now(),
        )
        starts: list[float] = []
        reports: list[asyncio.Task[None]] = []

        async def report(room: str, phone: str) -> None:
            t = now()
            await record_outcome(
                store,
                room=room,
                phone=phone,
                appointment_id=None,
                record=CallRecord(
                    started_at=t, ended_at=t, answered_at=t, status=CallStatus.ANSWERED
                ),
            )

        async def dial(room: str, meta: DispatchMetadata) -> str:
            starts.append(clock.perf_counter())
            reports.append(asyncio.create_task(report(room, meta.phone_number)))
            return "AD_" + room

        await Runner(store, cid, dialer=dial, policy=policy, now=now).run()
        await asyncio.gather(*reports)
        achieved = (len(starts) - 1) / (starts[-1] - starts[0])
        return planning, achieved, len(starts)
    finally:
        await store.close()


@contextmanager
def backend_url(name: str, stack: ExitStack) -> Iterator[str]:
    if name == "sqlite":
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        yield f"sqlite+aiosqlite:///{folder}/campaign.db"
    else:
        from postgres import postgres_server

        yield stack.enter_context(postgres_server()).replace(
            "postgresql://", "postgresql+asyncpg://", 1
        )


def main(argv: list[str] | None = None, out: Callable[[str], object] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0)
    args = parser.parse_args(argv)
    names = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    out(
        "| backend | plan N people | planning s | configured calls/s | achieved calls/s "
        "| deviation | calls |"
    )
    out("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        with ExitStack() as stack, backend_url(name, stack) as url:
            planning, achieved, calls = asyncio.run(bench(url, args))
        deviation = (achieved - args.rate) / args.rate * 100
        out(
            f"| {name} | {args.people:,} | {planning:.3f} | {args.rate:g} | {achieved:.2f} "
            f"| {deviation:+.1f}% | {calls} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
