"""CSV import under faults and races, on both backends: all rows or none, the booking guard
held from the first check to the commit, working hours, and linear checks."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from conftest import NOW
from outbound_caller.errors import StoreError
from outbound_caller.store import database
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.store.importer import ImportFailed, import_csv
from storedata import Ids, make_practice

ROOT = Path(__file__).resolve().parents[2]
HEADER = "patient_phone,provider,type,start\n"
JANE = "+14155550123"


def now() -> datetime:
    return NOW.astimezone(UTC)


async def count(store: Store, table: type[db.Base]) -> int:
    async with store.read() as s:
        return int(await s.scalar(select(func.count()).select_from(table)) or 0)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


async def test_appointments_outside_working_hours_are_refused_by_line_unless_allowed(
    store: Store, tmp_path: Path
) -> None:
    await make_practice(store)
    rows = write(
        tmp_path / "a.csv",
        HEADER
        # Sunday 03:00: the practice's Sunday hours are 00:00-04:00, but it is a 30-minute
        # visit ending inside them, with Dr. Rivera (works Sunday nights): fine
        + f"{JANE},Dr. Rivera,Check-up,2026-12-06T03:00:00-05:00\n"
        # Sunday 05:00: after the practice's Sunday hours
        + f"{JANE},Dr. Rivera,Check-up,2026-12-06T05:00:00-05:00\n"
        # Monday 10:00 with Dr. Chen, who works Tuesday to Friday
        + f"{JANE},Dr. Chen,Check-up,2026-12-07T10:00:00-05:00\n"
        # Christmas, a closed day
        + f"{JANE},Dr. Rivera,Check-up,2026-12-25T10:00:00-05:00\n"
        # 11:45 for 60 minutes runs into the lunch break
        + f"{JANE},Dr. Rivera,Filling,2026-12-08T11:45:00-05:00\n"
        # cancelled appointments hold no time: their hours are not checked
        + f"{JANE},Dr. Rivera,Check-up,2026-12-06T05:30:00-05:00\n",
    )
    rows.write_text(rows.read_text().replace(HEADER, HEADER.replace("start", "start,status")))
    lines = rows.read_text().splitlines()
    rows.write_text(
        "\n".join([lines[0], *(f"{line}," for line in lines[1:-1]), f"{lines[-1]},cancelled"])
        + "\n"
    )
    before = await count(store, db.Appointment)
    with pytest.raises(ImportFailed) as failed:
        await import_csv(store, rows, now=now)
    assert [p.split(":")[0] for p in failed.value.problems] == [
        "line 3",
        "line 4",
        "line 5",
        "line 6",
    ]
    assert "Sun 2026-12-06 05:00 is outside the working hours" in failed.value.problems[0]
    assert "Dr. Chen" in failed.value.problems[1]
    assert "--outside-hours" in failed.value.problems[0]
    assert await count(store, db.Appointment) == before

    result = await import_csv(store, rows, now=now, outside_hours=True)
    assert result.rows == 6
    assert await count(store, db.Appointment) == before + 6
    async with store.read() as s:  # each imported row has its history: created, by import
        history = (
            await s.execute(
                select(db.AppointmentChange.action, db.AppointmentChange.by, db.Appointment.status)
                .join(db.Appointment, db.Appointment.id == db.AppointmentChange.appointment_id)
                .where(db.AppointmentChange.by == "import")
            )
        ).all()
    assert sorted(history) == sorted(
        [("created", "import", "scheduled")] * 5 + [("created", "import", "cancelled")]
    )


async def test_overlaps_are_found_whatever_the_order_of_the_file(
    store: Store, tmp_path: Path
) -> None:
    ids = await make_practice(store)
    # John's check-up on file: Thursday 2026-12-03 09:00-09:30 with Dr. Rivera
    rows = write(
        tmp_path / "a.csv",
        HEADER
        + f"{JANE},Dr. Rivera,Check-up,2026-12-08T10:30:00-05:00\n"  # line 2
        + f"{JANE},Dr. Rivera,Filling,2026-12-08T10:00:00-05:00\n"  # line 3: 10:00-11:00
        + f"{JANE},Dr. Rivera,Check-up,2026-12-03T09:15:00-05:00\n"  # line 4: John's time
        + f"{JANE},Dr. Chen,Check-up,2026-12-08T10:30:00-05:00\n"  # line 5: another provider
        + f"{JANE},Dr. Rivera,Check-up,2026-12-08T11:00:00-05:00\n",  # line 6: right after
    )
    with pytest.raises(ImportFailed) as failed:
        await import_csv(store, rows, now=now)
    assert failed.value.problems == [
        "line 2: overlaps line 3 (Dr. Rivera)",
        f"line 4: overlaps appointment {ids.john_appt} of Dr. Rivera",
    ]


async def test_an_appointment_with_a_provider_who_does_not_do_its_type_is_refused(
    store: Store, tmp_path: Path
) -> None:
    await make_practice(store)
    async with store.transaction() as s:  # Dr. Chen stops doing fillings
        chen = await s.scalar(select(db.Provider.id).where(db.Provider.name == "Dr. Chen"))
        filling = await s.scalar(
            select(db.AppointmentType.id).where(db.AppointmentType.name == "Filling")
        )
        await s.execute(
            delete(db.ProviderAppointmentType).where(
                db.ProviderAppointmentType.provider_id == chen,
                db.ProviderAppointmentType.type_id == filling,
            )
        )
    before = await count(store, db.Appointment)
    rows = write(
        tmp_path / "a.csv",
        HEADER
        + f"{JANE},Dr. Chen,Check-up,2026-12-08T10:00:00-05:00\n"  # line 2: fine
        + f"{JANE},Dr. Chen,Filling,2026-12-09T10:00:00-05:00\n",  # line 3
    )
    with pytest.raises(ImportFailed) as failed:
        await import_csv(store, rows, now=now)
    assert failed.value.problems == [
        "line 3: Dr. Chen does not do Filling appointments "
        "(outbound-caller provider set 'Dr. Chen' --does ...)"
    ]
    assert await count(store, db.Appointment) == before


async def test_a_status_that_is_not_one_of_ours_is_refused_by_line(
    store: Store, tmp_path: Path
) -> None:
    await make_practice(store)
    before = await count(store, db.Appointment)
    rows = write(
        tmp_path / "a.csv",
        "patient_phone,provider,type,start,status\n"
        + f"{JANE},Dr. Rivera,Check-up,2026-12-08T09:00:00-05:00,confirmed\n"  # line 2: fine
        + f"{JANE},Dr. Rivera,Check-up,2026-12-08T10:00:00-05:00,maybe\n"  # line 3
        + f"{JANE},Dr. Rivera,Check-up,2026-12-08T11:00:00-05:00,Cancelled\n",  # line 4
    )
    with pytest.raises(ImportFailed) as failed:
        await import_csv(store, rows, now=now)
    allowed = "cancelled, confirmed, rescheduled, scheduled"
    assert failed.value.problems == [
        f"line 3: status must be one of: {allowed}",
        f"line 4: status must be one of: {allowed}",
    ]
    assert await count(store, db.Appointment) == before  # nothing imported, line 2 included


def _guard_is_free(url: str, provider_id: int) -> bool:
    """From another connection: could a booking take the guard an import must hold?"""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            return False
        finally:
            conn.close()

    async def try_lock() -> bool:
        import asyncpg

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            async with conn.transaction():
                await conn.execute(
                    "SELECT id FROM providers WHERE id = $1 FOR UPDATE NOWAIT", provider_id
                )
            return True
        except asyncpg.LockNotAvailableError:
            return False
        finally:
            await conn.close()

    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(try_lock())))
    thread.start()
    thread.join(30)
    return result[0]


async def test_an_import_holds_the_booking_guard_from_its_checks_to_its_commit(
    store: Store, tmp_path: Path
) -> None:
    ids: Ids = await make_practice(store)
    rows = write(
        tmp_path / "a.csv", HEADER + f"{JANE},Dr. Rivera,Check-up,2026-12-08T10:30:00-05:00\n"
    )
    seen: list[bool] = []

    def clock() -> datetime:  # the import asks the time after its checks, before it writes
        seen.append(_guard_is_free(store.url, ids.rivera))
        return now()

    await import_csv(store, rows, now=clock)
    # while the import ran, a booking (PostgreSQL: the provider's row lock; SQLite: the write
    # lock) had to wait for it; afterwards it is free again
    assert seen == [False]
    assert _guard_is_free(store.url, ids.rivera)


@dataclass
class Locked:
    """A SQLite store with its practice, whose write lock another process can hold."""

    store: Store
    ids: Ids
    path: Path

    @contextmanager
    def held(self) -> Iterator[None]:
        holder = sqlite3.connect(self.path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process writing
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()


@pytest.fixture
async def locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Locked]:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 1)  # a 1 s wait for the lock
    path = tmp_path / "store.db"
    store = Store(f"sqlite+aiosqlite:///{path}", now=now)
    await store.upgrade()
    try:
        yield Locked(store, await make_practice(store), path)
    finally:
        await store.close()


async def test_a_locked_database_is_named_in_one_line_without_patient_data(
    locked: Locked, tmp_path: Path
) -> None:
    rows = write(tmp_path / "p.csv", "name,phone\nAda Lovelace,+14155550901\n")
    with locked.held(), pytest.raises(StoreError) as failed:
        await import_csv(locked.store, rows, now=now)
    assert str(failed.value) == (
        "nothing imported: the database is locked by another process (waited 1 s)"
    )
    assert await count(locked.store, db.Patient) == 2


def _patients_csv(path: Path, rows: int) -> Path:
    with path.open("w") as f:
        f.write("name,phone\n")
        for i in range(rows):
            f.write(f"Patient {chr(65 + i % 26)}{chr(65 + i // 26 % 26)},+1415{2000000 + i:07d}\n")
    return path


async def test_an_import_killed_at_random_moments_leaves_all_or_nothing(
    store: Store, tmp_path: Path
) -> None:
    await make_practice(store)
    rows = 20_000
    big = _patients_csv(tmp_path / "patients.csv", rows)
    command = [str(Path(sys.executable).parent / "outbound-caller"), "import", str(big)]

    async def run(kill_after: float | None) -> int:
        proc = await asyncio.create_subprocess_exec(
            *command,
            env={**os.environ, "DATABASE_URL": store.url},
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await asyncio.wait_for(proc.wait(), kill_after or 120)
        except TimeoutError:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        assert proc.returncode is not None
        return proc.returncode

    chance = random.Random(14)
    kills = 0
    for _ in range(6):  # bounded: at most six runs, each killed within 4 s
        code = await run(chance.uniform(1.0, 4.0))
        on_file = await count(store, db.Patient)
        assert on_file in (2, 2 + rows), f"a killed import left {on_file - 2} of {rows} rows"
        kills += code == -signal.SIGKILL
        if on_file == 2 + rows:
            break
    assert kills >= 1
    if await count(store, db.Patient) == 2:
        assert await run(None) == 0
    assert await count(store, db.Patient) == 2 + rows


async def test_a_booking_under_another_process_lock_logs_the_lock_and_the_wait(
    locked: Locked, caplog: pytest.LogCaptureFixture
) -> None:
    from outbound_caller.errors import ScheduleUnavailable

    with locked.held(), caplog.at_level(logging.WARNING), pytest.raises(ScheduleUnavailable):
        await locked.store.confirm(locked.ids.jane_appt, by="AJ_1")
    [line] = [r.getMessage() for r in caplog.records if "schedule" in r.getMessage()]
    assert line == "schedule write failed: the database is locked by another process (waited 1 s)"


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_an_import_that_loses_postgresql_midway_says_so_in_one_line(
    store: Store, tmp_path: Path
) -> None:
    import asyncpg

    await make_practice(store)
    big = _patients_csv(tmp_path / "patients.csv", 20_000)
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "outbound-caller"),
        "import",
        str(big),
        env={**os.environ, "DATABASE_URL": store.url},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    server = store.url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(server)
    try:
        terminated = False
        for _ in range(600):  # until the import is writing, at most 60 s
            pids = await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND query ILIKE 'INSERT INTO patients%'"
            )
            if pids:
                for row in pids:  # the server goes away under the import
                    await admin.execute("SELECT pg_terminate_backend($1)", row["pid"])
                terminated = True
                break
            if proc.returncode is not None:
                break
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    out, err = await proc.communicate()
    assert terminated, "the import finished before it could be interrupted"
    assert proc.returncode == 1
    lines = (out + err).decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("outbound-caller: nothing imported: "), lines
    assert "Patient" not in lines[0]
    assert "+1415" not in lines[0]
    assert await count(store, db.Patient) == 2


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB file system of its own (tmpfs; needs root, as CI has), unmounted after."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a full-disk test needs root to mount a small file system")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_an_import_onto_a_full_disk_leaves_nothing_and_says_so_in_one_line(
    small_disk: Path, tmp_path: Path
) -> None:
    store = Store(f"sqlite+aiosqlite:///{small_disk / 'store.db'}", now=now)
    await store.upgrade()
    try:
        await make_practice(store)
        big = _patients_csv(tmp_path / "patients.csv", 60_000)  # several MB once stored
        with pytest.raises(StoreError) as failed:
            await import_csv(store, big, now=now)
        message = str(failed.value)
        assert message.startswith("nothing imported: database or disk is full"), message
        assert "\n" not in message
        assert "Patient" not in message
        assert "+1415" not in message
        assert await count(store, db.Patient) == 2
    finally:
        await store.close()
