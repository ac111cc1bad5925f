"""Scheduling-store latency: availability lookups and bookings, SQLite and PostgreSQL.

20 providers and a year of appointments (about 60% of every working half hour booked).
Prints p50 and p99 per operation and backend.

    .venv/bin/python bench/store_bench.py                 # both backends
    .venv/bin/python bench/store_bench.py --backend sqlite --lookups 50 --bookings 20

PostgreSQL: a throwaway server on 127.0.0.1 from Debian's binaries (as the tests do),
or an existing one with --postgres-url postgresql://user@host:port/db (it must be empty).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time as clock
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from outbound_caller.errors import SlotUnavailable
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.store.availability import localize

ZONE = ZoneInfo("America/New_York")
TODAY = date(2026, 12, 1)
NOW = datetime.combine(TODAY, time(7), ZONE).astimezone(UTC)
HOURS = [(time(8), time(12)), (time(13), time(17))]


async def populate(
    store: Store, *, providers: int, days: int, fill: float, rng: random.Random
) -> list[int]:
    """Insert the practice and a year of appointments in bulk; returns appointment ids."""
    async with store.transaction() as s:
        practice = db.Practice(
            name="Bench Dental", timezone=str(ZONE), callback_number="+14155550100"
        )
        s.add(practice)
        await s.flush()
        for d in range(6):
            for o, c in HOURS:
                s.add(db.OpeningHours(practice_id=practice.id, weekday=d, opens=o, closes=c))
        people = [
            db.Provider(practice_id=practice.id, name=f"Provider {i}", role="dentist")
            for i in range(providers)
        ]
        s.add_all(people)
        kind = db.AppointmentType(practice_id=practice.id, name="Check-up", minutes=30)
        s.add(kind)
        await s.flush()
        for p in people:
            for d in range(6):
                s.add(db.ProviderHours(provider_id=p.id, weekday=d, starts=time(8), ends=time(17)))
        patients = [
            db.Patient(
                practice_id=practice.id,
                name=f"Patient {i}",
                phone=f"+1415{5550000 + i}",
                timezone=str(ZONE),
            )
            for i in range(2000)
        ]
        s.add_all(patients)
        await s.flush()
        rows = []
        for offset in range(-30, days):
            day = TODAY + timedelta(days=offset)
            if day.weekday() == 6:
                continue
            for p in people:
                for o, c in HOURS:
                    t, end = localize(day, o, ZONE), localize(day, c, ZONE)
                    while t < end:
                        if rng.random() < fill:
                            rows.append(
                                {
                                    "practice_id": practice.id,
                                    "patient_id": rng.choice(patients).id,
                                    "provider_id": p.id,
                                    "type_id": kind.id,
                                    "start_at": t,
                                    "end_at": t + timedelta(minutes=30),
                                    "status": "scheduled",
                                }
                            )
                        t += timedelta(minutes=30)
        for i in range(0, len(rows), 5000):
            await s.execute(insert(db.Appointment), rows[i : i + 5000])
        ids = [
            r
            for r in (
                await s.scalars(
                    db.Appointment.__table__.select().with_only_columns(db.Appointment.id)
                )
            )
        ]
        return list(ids)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(
    store: Store, *, lookups: int, bookings: int, appointments: list[int], rng: random.Random
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {
        "availability (one day, any of 20 providers)": [],
        "booking (reschedule)": [],
    }
    days = [
        TODAY + timedelta(days=d)
        for d in range(1, 120)
        if (TODAY + timedelta(days=d)).weekday() != 6
    ]
    for _ in range(5):  # warm-up
        await store.availability(1, rng.choice(days), minutes=30)
    for _ in range(lookups):
        day = rng.choice(days)
        t0 = clock.perf_counter()
        await store.availability(1, day, minutes=30)
        timings["availability (one day, any of 20 providers)"].append(
            (clock.perf_counter() - t0) * 1000
        )
    done = 0
    while done < bookings:
        slots = await store.availability(1, rng.choice(days), minutes=30)
        if not slots:
            continue
        slot = rng.choice(slots)
        t0 = clock.perf_counter()
        try:
            await store.reschedule(rng.choice(appointments), slot.id, by="bench")
        except SlotUnavailable:
            continue
        timings["booking (reschedule)"].append((clock.perf_counter() - t0) * 1000)
        done += 1
    return timings


@contextmanager
def backend_url(name: str, args: argparse.Namespace, stack: ExitStack) -> Iterator[str]:
    if name == "sqlite":
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        yield f"sqlite+aiosqlite:///{folder}/bench.db"
    elif args.postgres_url:
        yield args.postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    else:
        from postgres import postgres_server

        url = stack.enter_context(postgres_server())
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def run_one(url: str, args: argparse.Namespace) -> tuple[int, dict[str, list[float]]]:
    rng = random.Random(args.seed)
    store = Store(url, now=lambda: NOW)
    try:
        await store.upgrade()
        ids = await populate(
            store, providers=args.providers, days=args.days, fill=args.fill, rng=rng
        )
        return len(ids), await measure(
            store, lookups=args.lookups, bookings=args.bookings, appointments=ids, rng=rng
        )
    finally:
        await store.close()


def main(argv: list[str] | None = None, out: Callable[[str], object] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--providers", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--fill", type=float, default=0.6)
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres-url")
    args = parser.parse_args(argv)
    names = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    out("| backend | operation | appointments in store | n | p50 ms | p99 ms |")
    out("|---|---|---:|---:|---:|---:|")
    for name in names:
        with ExitStack() as stack, backend_url(name, args, stack) as url:
            count, timings = asyncio.run(run_one(url, args))
        for op, values in timings.items():
            out(
                f"| {name} | {op} | {count:,} | {len(values)} | {statistics.median(values):.2f} | "
                f"{percentile(values, 0.99):.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
