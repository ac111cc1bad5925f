"""Appointment import speed and memory: ``outbound-caller import`` of N appointments.

For each size, a fresh database with a practice of 20 providers (Monday to Saturday
08:00-17:00) and N patients (imported first, also measured), then an appointments CSV of N
non-overlapping check-ups inside working hours, shuffled. Each import runs in its own
process; the table gives its wall time and peak resident memory (ru_maxrss).

    .venv/bin/python bench/import_bench.py [--backend sqlite|postgresql] [--sizes 25000,100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store

ZONE = ZoneInfo("America/New_York")
FIRST_DAY = date(2027, 1, 4)  # a Monday
PROVIDERS = 20

# one import in a child process: prints {"seconds": ..., "max_rss_mb": ...}
CHILD = """
import asyncio, json, resource, sys, time
from datetime import UTC, datetime
from pathlib import Path
from outbound_caller.store.appointments import Store
from outbound_caller.store.importer import import_csv

async def main(url, path):
    store = Store(url, now=lambda: datetime(2027, 1, 1, tzinfo=UTC))
    try:
        started = time.perf_counter()
        result = await import_csv(store, Path(path), now=lambda: datetime(2027, 1, 1, tzinfo=UTC))
        return result.rows, time.perf_counter() - started
    finally:
        await store.close()

rows, seconds = asyncio.run(main(sys.argv[1], sys.argv[2]))
mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": rows, "seconds": seconds, "max_rss_mb": mb}))
"""


async def make_practice(url: str) -> None:
    store = Store(url, now=lambda: datetime(2027, 1, 1, tzinfo=ZONE))
    try:
        await store.upgrade()
        async with store.transaction() as s:
            practice = db.Practice(
                name="Bench Dental", timezone=str(ZONE), callback_number="+14155550100"
            )
            s.add(practice)
            await s.flush()
            for d in range(6):
                s.add(
                    db.OpeningHours(
                        practice_id=practice.id, weekday=d, opens=time(8), closes=time(17)
                    )
                )
            people = [
                db.Provider(practice_id=practice.id, name=f"Provider {i}", role="dentist")
                for i in range(PROVIDERS)
            ]
            s.add_all(people)
            checkup = db.AppointmentType(practice_id=practice.id, name="Check-up", minutes=30)
            s.add(checkup)
            await s.flush()
            for p in people:
                s.add(db.ProviderAppointmentType(provider_id=p.id, type_id=checkup.id))
                for d in range(6):
                    s.add(
                        db.ProviderHours(provider_id=p.id, weekday=d, starts=time(8), ends=time(17))
                    )
    finally:
        await store.close()


def write_files(folder: Path, n: int, rng: random.Random) -> tuple[Path, Path]:
    patients, appointments = folder / f"patients-{n}.csv", folder / f"appointments-{n}.csv"
    phones = [f"+1415{2000000 + i:07d}" for i in range(n)]
    with patients.open("w") as f:
        f.write("name,phone\n")
        for i, phone in enumerate(phones):
            f.write(f"Patient {chr(65 + i % 26)}{chr(65 + i // 26 % 26)},{phone}\n")
    slots = []
    day = FIRST_DAY
    while len(slots) < n:
        if day.weekday() != 6:
            for provider in range(PROVIDERS):
                for half_hour in range(18):
                    start = datetime.combine(day, time(8), ZONE) + timedelta(minutes=30 * half_hour)
                    slots.append((provider, start))
        day += timedelta(days=1)
    slots = slots[:n]
    rng.shuffle(slots)
    with appointments.open("w") as f:
        f.write("patient_phone,provider,type,start\n")
        for (provider, start), phone in zip(slots, phones, strict=True):
            f.write(f"{phone},Provider {provider},Check-up,{start.isoformat()}\n")
    return patients, appointments


def run_import(url: str, path: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def database_maker(name: str, folder: Path, stack: ExitStack) -> Callable[[int], str]:
    """A function giving a fresh, empty database's URL for each size."""
    if name == "sqlite":
        return lambda n: f"sqlite+aiosqlite:///{folder / f'bench-{n}.db'}"
    import asyncpg

    from postgres import postgres_server

    server = stack.enter_context(postgres_server())
    base = "postgresql+asyncpg://" + server.removeprefix("postgresql://").rsplit("/", 1)[0]

    def make(n: int) -> str:
        async def create() -> None:
            admin = await asyncpg.connect(server)
            try:
                await admin.execute(f'CREATE DATABASE "import_bench_{n}"')
            finally:
                await admin.close()

        asyncio.run(create())
        return f"{base}/import_bench_{n}"

    return make


def main(argv: list[str] | None = None, out: Callable[[str], object] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sizes", default="25000,50000,100000")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    out("| backend | file | rows | seconds | µs per row | peak RSS MB |")
    out("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {n: write_files(folder, n, random.Random(n)) for n in sizes}
        for backend in backends:
            with ExitStack() as stack:
                new_database = database_maker(backend, folder, stack)
                for n in sizes:
                    url = new_database(n)
                    asyncio.run(make_practice(url))
                    for label, path in zip(("patients", "appointments"), files[n], strict=True):
                        r = run_import(url, path)
                        out(
                            f"| {backend} | {label} | {int(r['rows']):,} | {r['seconds']:.2f} | "
                            f"{r['seconds'] / r['rows'] * 1e6:.0f} | {r['max_rss_mb']:.0f} |"
                        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
