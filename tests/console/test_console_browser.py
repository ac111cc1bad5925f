"""The console in a real headless Chromium (Debian's, driven by Playwright), served by the
real ``outbound-caller console`` command, its campaigns dialing through LiveKit's API as
played by the wire-level stand-in. Screenshots of each page go to CONSOLE_SCREENSHOTS
(the README's come from here) or the test's own directory."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from datetime import date, time, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select, update

from console_served import Served, serve_console
from console_world import PASSWORDS, run, seed
from livekit_stub import LiveKitStub
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.store.scheduling import utc_now

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("BROWSER_REQUIRED"),
    reason="needs Debian's chromium (apt-get install chromium); scripts/test installs it as root",
)


def _prepare(url: str) -> None:
    """The demo practice, seeded today, calling at any hour (the test runs at any hour)."""
    seed(url)

    async def work(store: Store) -> None:
        async with store.write() as s:
            await s.execute(
                update(db.Practice).values(
                    call_window_start=time(0),
                    call_window_end=time(23, 59, 59),
                    call_on_closed_days=True,
                )
            )

    run(url, work)


@pytest.fixture
async def served(tmp_path: Path, livekit_server: LiveKitStub) -> AsyncIterator[Served]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'console.db'}"
    await asyncio.to_thread(_prepare, url)
    async with serve_console(url, livekit_server, tmp_path / "console.log") as served:
        yield served


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert CHROMIUM is not None, "BROWSER_REQUIRED is set but chromium is not installed"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path / "screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


async def _log_in(page: Page, served: Served, name: str, shots: Path | None = None) -> None:
    await page.goto(f"{served.url}/today")
    await expect(page).to_have_url(f"{served.url}/login?next=/today")
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Password").fill(PASSWORDS[name])
    if shots:
        await page.screenshot(path=shots / "login.png")
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{served.url}/today")


async def _first_day(served: Served) -> tuple[date, list[str]]:
    """The first day with unconfirmed appointments, and its patients' numbers."""
    zone = (await served.store.practice(1)).zone
    today = utc_now().astimezone(zone).date()
    for offset in range(1, 15):
        day = today + timedelta(days=offset)
        rows = await served.store.appointments(day=day, status="scheduled", zone=zone)
        if len({a.patient_phone for a in rows}) >= 2:
            return day, sorted({a.patient_phone for a in rows})
    raise AssertionError("the demo has no day with two patients to call")


async def test_front_desk_logs_in_blocks_a_number_and_runs_a_campaign_to_its_summary(
    served: Served, browser: Browser, shots: Path
) -> None:
    day, phones = await _first_day(served)
    zone = (await served.store.practice(1)).zone
    blocked = phones[0]
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await _log_in(page, served, "sam", shots)
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Calls on")
    await expect(page.locator(".empty")).to_have_text("No calls on this day.")

    # a patient asked not to be called: the front desk adds the number
    await page.get_by_role("link", name="Do not call").click()
    await page.get_by_label("Number").fill(blocked)
    await page.get_by_label("Why").fill("asked on the phone")
    await page.get_by_role("button", name="Never call this number").click()
    await expect(page.get_by_role("status")).to_have_text(f"{blocked} will not be called.")
    await expect(page.locator("#dnc tbody tr")).to_have_count(1)
    await page.screenshot(path=shots / "do-not-call.png")

    # and starts the day's campaign
    await page.get_by_role("link", name="Campaigns").click()
    await page.get_by_label("Day").fill(day.isoformat())
    await page.get_by_label("Calls at once").fill("3")
    await page.get_by_label("New calls per second").fill("20")
    await page.get_by_role("button", name="Start calling").click()
    await expect(page.locator("#progress strong")).to_have_text("done", timeout=30_000)
    await expect(page.locator("#progress")).to_contain_text(
        f"{len(phones)} of {len(phones)} finished"
    )
    summary = dict(
        zip(
            await page.locator("#summary th").all_inner_texts(),
            await page.locator("#summary td").all_inner_texts(),
            strict=True,
        )
    )
    assert summary["dialed"] == str(len(phones) - 1)
    assert summary["answered"] == str(len(phones) - 1)
    assert summary["confirmed"] == str(len(phones) - 1)
    assert summary["skipped: do-not-call"] == "1"
    await page.screenshot(path=shots / "campaign.png", full_page=True)
    # the stand-in saw one dispatch per patient, and none for the blocked number
    assert sorted(served.dialed) == phones[1:]

    # today's page shows the calls, each with what changed
    await page.get_by_role("link", name="Today").click()
    await expect(page.locator("#calls tbody tr")).to_have_count(len(phones) - 1)
    await expect(page.locator("#calls tbody tr").first).to_contain_text("answered")
    await page.screenshot(path=shots / "today.png", full_page=True)

    await page.get_by_role("link", name="Appointments").click()
    await expect(page.locator("#appointments tbody tr").first).to_be_visible()
    await page.screenshot(path=shots / "appointments.png")
    await page.get_by_role("link", name="Practice").click()
    await expect(page.locator("#providers tbody tr")).to_have_count(3)
    await page.screenshot(path=shots / "practice.png", full_page=True)

    async with served.store.read() as s:
        statuses = (await s.scalars(select(db.Call.status))).all()
    assert sorted(statuses) == ["answered"] * (len(phones) - 1)
    confirmed = await served.store.appointments(day=day, status="confirmed", zone=zone)
    assert sorted({a.patient_phone for a in confirmed}) == phones[1:]


async def test_an_admin_uploads_a_bad_csv_and_sees_each_bad_line(
    served: Served, browser: Browser, shots: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "patients.csv"
    bad.write_text("name,phone\nZoe Quinn,+14155550001\nNo Number,\nYan Ho,12\n")
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await _log_in(page, served, "ann")
    await page.get_by_role("link", name="Import").click()
    await page.get_by_label("CSV file").set_input_files(bad)
    await page.get_by_role("button", name="Import").click()
    problems = page.locator("#problems li")
    await expect(problems).to_have_count(2)
    texts = await problems.all_inner_texts()
    assert [t.split(":")[0] for t in texts] == ["line 3", "line 4"]
    await expect(page.get_by_role("alert")).to_contain_text(
        "Nothing was imported from patients.csv"
    )
    await page.screenshot(path=shots / "import.png")
    async with served.store.read() as s:
        names = (await s.scalars(select(db.Patient.name))).all()
    assert "Zoe Quinn" not in names

    # the audit log shows who did it, without the patients' numbers
    await page.get_by_role("link", name="Audit log").click()
    await expect(page.locator("#audit tbody tr").first).to_contain_text("refused")
    await page.screenshot(path=shots / "audit.png")
