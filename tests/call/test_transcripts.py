"""No audio is ever written, and transcripts only when configured: masked, one file per
call, removed after the retention period."""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from conftest import NOW, PATIENT_PHONE, StartCall
from helpers import eventually
from livekit_stub import LiveKitStub
from outbound_caller.call.transcripts import (
    mask_birth_dates,
    mask_numbers,
    prune,
    write_transcript,
)
from outbound_caller.cli.scripted import Rule, ToolCall, Turn
from outbound_caller.config import load_settings
from outbound_caller.worker import _save_transcript
from test_config import GOOD

AUDIO = {".wav", ".ogg", ".opus", ".mp3", ".flac", ".webm", ".m4a", ".pcm"}
RULES = [
    Rule(r"^yes", Turn("Great.", (ToolCall("confirm_appointment"),))),
    Rule(r"^confirm_appointment ->", Turn("You're confirmed.")),
    Rule(r"^call me", Turn("", (ToolCall("end_call", {"reason": "completed"}),))),
    Rule(r"^end_call ->", Turn("Goodbye!")),
]


def new_files(root: Path, since: float) -> list[Path]:
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            try:
                if path.stat().st_mtime >= since:
                    found.append(path)
            except OSError:
                continue
    return found


async def test_a_call_with_transcripts_off_leaves_no_audio_or_transcript(
    start_call: StartCall,
    livekit_server: LiveKitStub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work, scratch = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    scratch.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # this test's own temp directory
    settings = load_settings(GOOD)
    assert settings.transcript_dir is None  # the default
    live = await start_call(RULES)
    await live.call.place(PATIENT_PHONE)
    await live.session.run(user_input="Yes, I'll come.")
    await live.session.run(user_input="Call me at 415 555 0188 if anything changes. Bye.")
    await eventually(lambda: bool(livekit_server.calls("DeleteRoom")))
    # the worker's end-of-call step, the only writer of transcripts
    _save_transcript(settings, "call-1", live.state.record, live.session)
    written = [p for p in new_files(tmp_path, 0) if p.suffix in AUDIO | {".txt", ".json"}]
    assert written == []
    assert not (work / "console-recordings").exists()


async def test_the_worker_writes_a_transcript_and_keeps_them_for_the_retention_days(
    start_call: StartCall, tmp_path: Path
) -> None:
    folder = tmp_path / "transcripts"
    env = {**GOOD, "TRANSCRIPT_DIR": str(folder), "TRANSCRIPT_RETENTION_DAYS": "3"}
    folder.mkdir(mode=0o700)
    old, recent = folder / "20260101T000000Z-old.txt", folder / "20260102T000000Z-recent.txt"
    for path, days in ((old, 4), (recent, 2)):
        path.write_text("earlier call")
        stamp = time.time() - days * 86400
        os.utime(path, (stamp, stamp))
    live = await start_call(RULES)
    await live.session.run(user_input="Yes, I'll come.")
    _save_transcript(load_settings(env), "call-9", live.state.record, live.session)
    kept = sorted(p.name for p in folder.iterdir())
    assert kept[0] == recent.name  # 2 days old: kept; 4 days old: removed
    assert len(kept) == 2
    assert kept[1].endswith("-call-9.txt")
    assert "callee: Yes, I'll come." in (folder / kept[1]).read_text()


async def test_a_transcript_when_configured_is_masked_and_one_file_per_call(
    start_call: StartCall, livekit_server: LiveKitStub, tmp_path: Path
) -> None:
    live = await start_call(RULES)
    await live.session.run(user_input="Yes, I'll come.")
    await live.session.run(user_input="Call me at 415 555 0188 or +1 (415) 555-0123. Bye.")
    await live.session.run(user_input="I was born on March 3rd, 1985.")
    path = write_transcript(
        tmp_path / "t",
        room="call-1",
        started_at=NOW.astimezone(UTC),
        outcome="answered",
        history=live.session.history,
        keep=timedelta(days=30),
        now=NOW,
    )
    text = path.read_text()
    assert path.name == "20261130T150000Z-call-1.txt"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert "callee: Yes, I'll come." in text
    assert "agent: You're confirmed." in text
    assert "tool:  confirm_appointment({})" in text
    assert "***0188" in text
    assert "***0123" in text
    assert "555 0188" not in text
    assert "555-0123" not in text
    assert "callee: I was born on [date]." in text
    assert "1985" not in text
    assert oct((tmp_path / "t").stat().st_mode & 0o777) == "0o700"
    assert [p.name for p in (tmp_path / "t").iterdir()] == [path.name]


def test_retention_removes_old_transcripts_only(tmp_path: Path) -> None:
    old = tmp_path / "20261001T100000Z-call-old.txt"
    fresh = tmp_path / "20261129T100000Z-call-new.txt"
    other = tmp_path / "notes.txt"
    for p in (old, fresh, other):
        p.write_text("x")
    os.utime(old, (NOW.timestamp() - 40 * 86400,) * 2)
    os.utime(other, (NOW.timestamp() - 400 * 86400,) * 2)
    assert prune(tmp_path, keep=timedelta(days=30), now=NOW) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name, other.name]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call 415 555 0188", "call ***0188"),
        ("+1 (415) 555-0123!", "***0123!"),
        ("on the 3rd at 2:30", "on the 3rd at 2:30"),
        ("room 12", "room 12"),
        ("2026-12-01", "2026-12-01"),
    ],
)
def test_numbers_are_masked_and_dates_are_not(text: str, masked: str) -> None:
    assert mask_numbers(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("my birthday is March 3rd, 1985", "my birthday is [date]"),
        ("it's the 3rd of March 1985", "it's the [date]"),
        ("3/3/85", "[date]"),
        ('{"date_of_birth": "1985-03-03"}', '{"date_of_birth": "[date]"}'),
        ("march third nineteen eighty-five", "march third [date]"),
        # appointments are this year or next: they stay readable
        ("on December 8th, 2026 at 10", "on December 8th, 2026 at 10"),
        ('{"day": "2026-12-08"}', '{"day": "2026-12-08"}'),
        ("see you Tuesday, December 8", "see you Tuesday, December 8"),
    ],
)
def test_dates_of_birth_are_masked_and_appointment_dates_are_not(text: str, masked: str) -> None:
    assert mask_birth_dates(text, this_year=2026) == masked


def test_transcript_settings_are_validated() -> None:
    s = load_settings({**GOOD, "TRANSCRIPT_DIR": "/var/lib/oc/t", "TRANSCRIPT_RETENTION_DAYS": "7"})
    assert (str(s.transcript_dir), s.transcript_retention_days) == ("/var/lib/oc/t", 7)
