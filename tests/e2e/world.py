"""The end-to-end world and what the tests read from it: the store, the worker's log, the
LiveKit server's rooms, and the test phone's events and recording. The fixtures that build
it are in conftest.py."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
import wave
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from e2e.rig import PHONE_TLS_PORT, RIG_IP, ROOT, Proc, Rig

VENV = ROOT / ".venv" / "bin"
PROVIDERS_PORT = 8700
TRUNK_USER = "clinic"
TRUNK_PASSWORD = "rig-trunk-secret"
RINGING_TIMEOUT = 8
SILENCE_TIMEOUT = 6  # seconds of quiet before the check-in, and again before the goodbye
PRACTICE = "Bright Smile Dental"

# What the patient says, in order, and what the scripted model answers to each.
LINES = {
    "hello": "Hello?",
    "speaking": "Yes, speaking.",
    "confirm": "Yes, I can make it.",
    "bye": "No, thank you. Goodbye.",
    "another_day": "Could we move it to another day?",
    "first": "The first one, please.",
    "right": "Yes, that's right.",
    "a_person": "Can I talk to a person, please?",
    "please_do": "Yes, please do.",
    "call_me_back": "Yes, please call me back.",
    "thanks_bye": "Thank you. Goodbye.",
    # the front desk, on a warm transfer
    "front_desk": "The office here.",
    "put_through": "Sure, put them through.",
    "desk_help": "Hi, how can I help you?",
}
# {practice}, {patient} and {first} come from the instructions the worker gave the model
OPENING = (
    "Hi, this is the automated scheduling assistant calling from {practice}. "
    "Am I speaking with {patient}?"
)
ASK = "Thanks, {first}. I'm calling about your upcoming appointment. Can you still make it?"
CONFIRMED = "Wonderful, you're all confirmed. Is there anything else I can help with?"
GOODBYE = "Thanks for your time. Have a great day. Goodbye!"
OFFERS = "On Monday I have a few open times. Would the first one work for you?"
READ_BACK = "Just to check, that is the first time on Monday. Is that right?"
MOVED = "Done, your appointment is moved. Is there anything else I can help with?"
CHECK_IN = "Hello, are you still there?"
OFFER_TRANSFER = "Of course. Shall I transfer you to the front desk now?"
TRANSFER_FAILED = (
    "I'm sorry, the transfer didn't go through. Is there anything else I can help with?"
)
# a warm transfer: what the agent says to the patient, the briefing at the desk, and the
# apology when nobody at the desk answers
ON_HOLD = "One moment, please. I'll put you on hold while I get someone from the front desk."
BRIEFING = (
    "Hi, this is the scheduling assistant of {practice}. I have {patient} on the line, who "
    "would like to talk to a person about their appointment. Shall I put them through?"
)
DESK_UNANSWERED = (
    "I'm sorry, nobody at the front desk could pick up. Would you like the office to call you back?"
)
CALLBACK_NOTED = "Sure, the office will call you back later today. Goodbye!"
TRANSFER_TO = "+14155550199"  # the front desk, as `outbound-caller call --transfer-to` gives it
# spelled out as the recogniser hears it (the model says the number; the voice reads it so)
SILENT_GOODBYE = (
    "I'll end the call now. {practice} can be reached at four one five, five five five, "
    "zero one zero zero. Goodbye."
)


def speak_to_wav(text: str, path: Path) -> Path:
    """espeak-ng's voice for ``text`` as the phone plays it: 16-bit mono at 8 kHz."""
    raw = path.with_suffix(".22k.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-b", "16", "-c", "1", str(path)], check=True)
    return path


# A voicemail greeting of about 17 s: four sentences apart, then a beep. The first is
# longer than the detector's 2.5 s "short greeting" of a person saying hello.
VOICEMAIL_GREETING = [
    "Hi, you've reached the Park family, and we can't come to the phone right now.",
    "Please leave your name, your number and a short message after the tone.",
    "We will call you back as soon as we can.",
    "Thank you, and have a wonderful day.",
]


def greeting_to_wav(lines: list[str], path: Path) -> Path:
    """``lines`` spoken 0.7 s apart, a second of quiet, then a 1 kHz beep: what a mailbox
    plays before it records."""
    parts: list[str] = []
    gap = path.with_suffix(".gap.wav")
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-b", "16", "-c", "1", str(gap), "trim", "0", "0.7"], check=True
    )
    for n, line in enumerate(lines):
        parts += [str(speak_to_wav(line, path.with_suffix(f".{n}.wav"))), str(gap)]
    beep = path.with_suffix(".beep.wav")
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "8000",
            "-b",
            "16",
            "-c",
            "1",
            str(beep),
            "synth",
            "0.6",
            "sine",
            "1000",
            "vol",
            "0.5",
        ],
        check=True,
    )
    subprocess.run(["sox", *parts, str(gap), str(beep), str(path)], check=True)
    return path


def phrase(text: str) -> str:
    """A line as the recogniser's grammar has it: lower case, letters and spaces."""
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


@dataclass
class Appointment:
    id: int
    patient: str
    phone: str
    status: str


@dataclass
class World:
    rig: Rig
    dir: Path
    db: Path
    env: dict[str, str]
    worker: Proc
    providers: Proc
    wavs: dict[str, Path] = field(default_factory=dict)
    taken: set[int] = field(default_factory=set)
    registered: dict[str, float] = field(default_factory=dict)  # worker → time.monotonic()
    started_workers: int = 0

    def spawn_worker(self, env: dict[str, str] | None = None) -> Proc:
        """``agent.py start`` with the world's settings (and ``env``), once it has registered;
        each in its own log."""
        self.started_workers += 1
        name = "worker" if self.started_workers == 1 else f"worker-{self.started_workers}"
        worker = self.rig.spawn(
            name,
            [str(VENV / "python"), str(ROOT / "agent.py"), "start"],
            env={**self.env, **(env or {})},
        )
        worker.wait_for("registered worker", 90)
        self.registered[name] = time.monotonic()
        return worker

    def start_worker(self) -> None:
        self.worker = self.spawn_worker()

    @contextmanager
    def worker_replaced(self, env: dict[str, str]) -> Iterator[Proc]:
        """Until the block ends the only worker is one started with ``env``; then a worker
        with the world's own settings again."""
        self.worker.stop(timeout=20)
        try:
            self.worker = self.spawn_worker(env)
            yield self.worker
        finally:
            self.worker.stop(timeout=20)
            self.start_worker()

    @contextmanager
    def open_around_the_clock(self) -> Iterator[None]:
        """Until the block ends the practice is open, and may be called from, around the clock
        on every day: a transfer (refused while the office is closed) goes out and a
        campaign (which waits for the calling window) dials whenever the test runs."""
        with sqlite3.connect(self.db) as conn:
            hours = conn.execute("SELECT practice_id, weekday, opens, closes FROM opening_hours")
            saved_hours = hours.fetchall()
            saved_closed = conn.execute("SELECT * FROM closed_dates").fetchall()
            saved_window = conn.execute(
                "SELECT call_window_start, call_window_end, call_on_closed_days, id FROM practices"
            ).fetchall()
            conn.execute("DELETE FROM opening_hours")
            conn.execute("DELETE FROM closed_dates")
            conn.executemany(
                "INSERT INTO opening_hours (practice_id, weekday, opens, closes) "
                "VALUES (?, ?, '00:00:00.000000', '23:59:59.999999')",
                [(practice, day) for (*_, practice) in saved_window for day in range(7)],
            )
            conn.execute(
                "UPDATE practices SET call_window_start = '00:00:00', "
                "call_window_end = '23:59:59', call_on_closed_days = 1"
            )
        try:
            yield
        finally:
            with sqlite3.connect(self.db) as conn:
                conn.execute("DELETE FROM opening_hours")
                conn.executemany(
                    "INSERT INTO opening_hours (practice_id, weekday, opens, closes) "
                    "VALUES (?, ?, ?, ?)",
                    saved_hours,
                )
                marks = ", ".join("?" * len(saved_closed[0])) if saved_closed else ""
                conn.executemany(f"INSERT INTO closed_dates VALUES ({marks})", saved_closed)
                conn.executemany(
                    "UPDATE practices SET call_window_start = ?, call_window_end = ?, "
                    "call_on_closed_days = ? WHERE id = ?",
                    saved_window,
                )

    def take_appointment(self) -> Appointment:
        """An upcoming scheduled appointment no other test has used, whose patient has no other
        appointment within a day of it (a call about several is covered offline; the phone's
        scripts here settle one)."""
        rows = self.query(
            "SELECT a.id, p.name, p.phone, a.status FROM appointments a "
            "JOIN patients p ON p.id = a.patient_id "
            "WHERE a.status = 'scheduled' AND a.start_at > ? AND NOT EXISTS ("
            " SELECT 1 FROM appointments b WHERE b.patient_id = a.patient_id AND b.id != a.id"
            " AND b.status != 'cancelled'"
            " AND ABS(julianday(b.start_at) - julianday(a.start_at)) < 1"
            ") ORDER BY a.start_at",
            datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        )
        for row in rows:
            if row["id"] not in self.taken:
                self.taken.add(row["id"])
                return Appointment(*row)
        raise AssertionError("the demo practice has no upcoming appointment left")

    def operator(
        self, *args: str, timeout: float = 60, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``outbound-caller ARGS`` in the namespace, with the world's settings (and ``env``)."""
        return self.rig.run(
            [str(VENV / "outbound-caller"), *args],
            env={**self.env, **(env or {})},
            cwd=self.dir,
            timeout=timeout,
        )

    def query(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            return list(conn.execute(sql, params))

    def call_row(self, room: str, *, timeout: float = 30) -> sqlite3.Row:
        """The ``calls`` row of ``room`` once the worker has written its outcome."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.query("SELECT * FROM calls WHERE room = ?", room)
            if rows and rows[0]["ended_at"] is not None:
                return rows[0]
            time.sleep(0.25)
        raise AssertionError(f"no outcome recorded for {room}; worker log ends:\n{self.tail()}")

    def providers_log(self) -> list[dict[str, Any]]:
        """The stand-ins' log: each model request with its last message, each transcript."""
        path = self.dir / "providers.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def rooms(self) -> list[str]:
        """The rooms the LiveKit server has now (ListRooms, through the real client)."""
        code = (
            "import asyncio\nfrom livekit import api\n"
            "async def main():\n"
            "    async with api.LiveKitAPI() as lk:\n"
            "        rooms = await lk.room.list_rooms(api.ListRoomsRequest())\n"
            "        print('\\n'.join(r.name for r in rooms.rooms))\n"
            "asyncio.run(main())\n"
        )
        done = self.rig.run([str(VENV / "python"), "-c", code], env=self.env, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    def wait_room_gone(self, room: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if room not in self.rooms():
                return
            time.sleep(0.5)
        raise AssertionError(f"room {room} still exists after {timeout} s")

    def conversation(self, handset: PhoneRun, *others: PhoneRun, patient: str | None = None) -> str:
        """What happened on ``handset``'s call, in time order, for a failing assertion's
        message: the phone's events (what it said, when it heard the agent), and those of
        ``others`` (such as the desk of a transfer), beside the stand-ins' transcripts and
        the scripted model's replies of that time; with other calls at the same time, those
        of ``patient``'s call only (see :func:`calls_of`)."""
        phones = [
            (f"phone{n} " if others else "phone  ", run) for n, run in enumerate((handset, *others))
        ]
        lines = [
            (e["t"], f"{label}{e['event']}" + (f" line {e['line']}" if "line" in e else ""))
            for label, run in phones
            for e in run.events()
            if e["event"] not in ("ready", "recording")
        ]
        if not lines:
            return "the phone logged nothing"
        begin, end = min(t for t, _ in lines), max(t for t, _ in lines) + 1.0
        entries = [e for e in self.providers_log() if begin <= e["t"] <= end]
        if patient is not None:
            entries = calls_of(entries)[patient]
        for entry in entries:
            if entry["kind"] == "stt":
                lines.append((entry["t"], f"stt    {entry.get('transcript')!r}"))
            elif entry["kind"] == "llm":
                reply = entry["reply"].get("say") or entry["reply"].get("tool")
                lines.append((entry["t"], f"llm    {entry['last'][:60]!r} -> {reply!r:.70}"))
            elif entry["kind"] == "tts":
                lines.append((entry["t"], f"tts    {entry['text'][:70]!r}"))
        return "\n".join(f"{t - begin:7.2f}  {text}" for t, text in sorted(lines))

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.worker.text().splitlines()[-lines:])

    def worker_log_since(self, offset: int) -> str:
        return self.worker.text()[offset:]


def calls_of(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The stand-ins' log entries by the patient whose call they were. A model request names
    its patient; a sentence spoken goes with the patient its websocket once named (the
    opening asks for them by name); a transcript goes with the patient whose model requests
    most often carried its connection's words in the second after it."""
    requests = [e for e in entries if e["kind"] == "llm"]
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in requests:
        calls[entry["patient"]].append(entry)
    speakers = {
        e["conn"]: name
        for e in entries
        if e["kind"] == "tts"
        for name in calls
        if name in e["text"]
    }
    votes: dict[int, Counter[str]] = defaultdict(Counter)
    for e in entries:
        if e["kind"] == "stt" and e.get("transcript"):
            for request in requests:
                if 0 <= request["t"] - e["t"] <= 1.0 and e["transcript"] in request["last"].lower():
                    votes[e["conn"]][request["patient"]] += 1
    listeners = {conn: count.most_common(1)[0][0] for conn, count in votes.items()}
    for e in entries:
        owner = {"tts": speakers, "stt": listeners}.get(e["kind"], {}).get(e.get("conn"))
        if owner is not None:
            calls[owner].append(e)
    return calls


def provider_script() -> dict[str, Any]:
    """What the stand-ins recognise and how the scripted model answers (see providers.py)."""
    return {
        "phrases": [phrase(line) for line in [*LINES.values(), *VOICEMAIL_GREETING]],
        "llm": [
            {"user": "hello", "say": OPENING},
            {"user": "speaking", "tool": "confirmed_identity", "args": {"speaker": "patient"}},
            {"instructions": "identity is confirmed", "say": ASK},
            {"user": "make it", "tool": "confirm_appointment", "args": {}},
            {"tool_result": "confirm_appointment", "say": CONFIRMED},
            {"user": "another day", "tool": "find_open_times", "args": {"from_date": "{Monday}"}},
            {"tool_result": "find_open_times", "say": OFFERS},
            {"user": "first one", "tool": "move_appointment", "args": {"option": "s1"}},
            {"tool_result": "move_appointment", "output": "not booked yet", "say": READ_BACK},
            {"user": "that's right", "tool": "move_appointment", "args": {"option": "s1"}},
            {"tool_result": "move_appointment", "output": "moved and confirmed", "say": MOVED},
            {"user": "a person", "say": OFFER_TRANSFER},
            {"user": "please do", "tool": "transfer_call", "args": {}},
            {
                "tool_result": "transfer_call",
                "output": "did not go through",
                "say": TRANSFER_FAILED,
            },
            {
                "tool_result": "transfer_call",
                "output": "nobody at the front desk",
                "say": DESK_UNANSWERED,
            },
            {"user": "the office here", "say": BRIEFING},
            {"user": "put them through", "tool": "connect_to_caller", "args": {}},
            {"user": "call me back", "tool": "request_callback", "args": {}},
            {"tool_result": "request_callback", "say": CALLBACK_NOTED},
            {"user": "goodbye", "tool": "end_call", "args": {"reason": "completed"}},
            {"tool_result": "end_call", "say": GOODBYE},
            {"instructions": "silent for a while", "say": CHECK_IN},
            {"instructions": "still silent after you checked in", "say": SILENT_GOODBYE},
            {"instructions": "", "say": OPENING},
        ],
        "fallback": "Sorry, I didn't catch that. Could you say it again?",
    }


@dataclass
class PhoneRun:
    proc: Proc
    events_path: Path
    record_path: Path

    def events(self) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        return [json.loads(line) for line in self.events_path.read_text().splitlines() if line]

    def names(self) -> list[str]:
        return [e["event"] for e in self.events()]

    def first(self, name: str) -> dict[str, Any]:
        for event in self.events():
            if event["event"] == name:
                return event
        raise AssertionError(f"the phone never logged {name!r}: {self.names()}")

    def wait_event(self, name: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if event["event"] == name:
                    return event
            time.sleep(0.2)
        raise AssertionError(f"the phone never logged {name!r} in {timeout} s: {self.names()}")

    def stop(self) -> None:
        self.proc.stop()

    def recording(self) -> tuple[bytes, float]:
        """What the phone heard (16-bit mono, 8 kHz) and the time its first sample arrived."""
        started = self.first("recording")["started"]
        with wave.open(str(self.record_path)) as w:
            return w.readframes(w.getnframes()), float(started)


FULL = "worker is at full capacity, marking as unavailable"
AVAILABLE = "worker is below capacity, marking as available"
LOAD_REPORT_S = 3.0  # the framework samples the worker's load every 2.5 s


def wait_worker_available(world: World, worker: Proc | None = None, timeout: float = 60) -> None:
    """Until ``worker`` (the world's, by default) takes jobs. In production mode it refuses
    them while this machine's CPU is above 70% (its start-up on 2 cores is), and the server
    then drops the dispatch ("no worker available"): wait for a load report after
    registration that is not full."""
    worker = worker or world.worker
    deadline = time.monotonic() + timeout
    registered = worker.text().index("registered worker")
    while time.monotonic() < deadline:
        log = worker.text()[registered:]
        last_full, last_available = log.rfind(FULL), log.rfind(AVAILABLE)
        settled = time.monotonic() - world.registered[worker.name] >= LOAD_REPORT_S
        if settled and last_full <= last_available:
            return
        time.sleep(0.25)
    tail = "\n".join(worker.text().splitlines()[-60:])
    raise AssertionError(f"{worker.name} stayed at full capacity; its log ends:\n{tail}")


def place_call(
    world: World, appointment: Appointment, *extra: str, workers: list[Proc] | None = None
) -> str:
    """``outbound-caller call`` for ``appointment`` once ``workers`` (the world's one, by
    default) take jobs; returns the room."""
    for worker in workers or [world.worker]:
        wait_worker_available(world, worker)
    done = world.operator(
        "call", appointment.phone, "--appointment-id", str(appointment.id), *extra
    )
    assert done.returncode == 0, done.stderr
    match = re.search(r"room (call-[\w-]+)", done.stdout + done.stderr)
    assert match, done.stdout + done.stderr
    return match.group(1)


def build_world(rig: Rig, script: dict[str, Any], env: dict[str, str] | None = None) -> World:
    """A store with the demo practice, an outbound trunk to the test phone, the provider
    stand-ins playing ``script`` and the phone's lines as sound; no worker yet
    (:meth:`World.start_worker`). ``env`` adds to the worker's and commands' settings."""
    work = rig.workdir / "world"
    work.mkdir()
    db = work / "outbound-caller.db"
    settings = {
        **rig.livekit_env(),
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "OPENAI_API_KEY": "sk-rig",
        "DEEPGRAM_API_KEY": "rig",
        "CARTESIA_API_KEY": "rig",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{PROVIDERS_PORT}/v1",
        "DEEPGRAM_BASE_URL": f"http://127.0.0.1:{PROVIDERS_PORT}/v1/listen",
        "CARTESIA_BASE_URL": f"http://127.0.0.1:{PROVIDERS_PORT}",
        "PRACTICE_NAME": PRACTICE,
        "PRACTICE_TIMEZONE": "America/New_York",
        "PRACTICE_CALLBACK_NUMBER": "+14155550100",
        "TURN_DETECTION": "vad",
        "RINGING_TIMEOUT": str(RINGING_TIMEOUT),
        "GREETING_DELAY": "3",
        "SILENCE_TIMEOUT": str(SILENCE_TIMEOUT),
        "HF_HUB_OFFLINE": "1",
        # the rig's servers, phones and models share this machine's cores with the worker:
        # a worker judging by CPU load reports itself full when they are busy, and the server
        # drops a test's dispatch; so it counts its calls instead
        "WORKER_MAX_CALLS": "4",
        **(env or {}),
    }
    world = World(rig, work, db, settings, worker=None, providers=None)  # type: ignore[arg-type]
    for args in (("db", "upgrade"), ("db", "seed-demo")):
        done = world.operator(*args)
        assert done.returncode == 0, done.stderr
    trunk = world.operator(
        "trunk",
        "create",
        *("--address", f"{RIG_IP}:{PHONE_TLS_PORT}", "--numbers", "+14155550100"),
        *("--username", TRUNK_USER, "--password", TRUNK_PASSWORD),
    )
    assert trunk.returncode == 0, trunk.stderr
    settings["SIP_OUTBOUND_TRUNK_ID"] = trunk.stdout.strip()

    script_path = work / "script.json"
    script_path.write_text(json.dumps(script))
    world.providers = rig.spawn(
        "providers",
        [
            str(VENV / "python"),
            str(Path(__file__).parent / "providers.py"),
            *("--port", str(PROVIDERS_PORT), "--script", str(script_path)),
            *("--log", str(work / "providers.jsonl")),
        ],
    )
    world.providers.wait_for("providers ready", 30)
    for key, text in LINES.items():
        world.wavs[key] = speak_to_wav(text, work / f"{key}.wav")
    world.wavs["voicemail"] = greeting_to_wav(VOICEMAIL_GREETING, work / "voicemail.wav")
    return world


def phone_argv(world: World, *, password: str, bad_digest: str) -> list[str]:
    """The test phone's command line, up to its callee options (phone.py)."""
    cert, key = world.rig.phone_cert
    return [
        str(VENV / "python"),
        str(Path(__file__).parent / "phone.py"),
        *("--ip", RIG_IP, "--port", str(PHONE_TLS_PORT)),
        *("--cert", str(cert), "--key", str(key)),
        *("--user", TRUNK_USER, "--password", password),
        *("--bad-digest", bad_digest),
    ]


def start_phones(
    world: World,
    name: str,
    callees: dict[str, tuple[str, list[Path]]],
    options: dict[str, dict[str, Any]] | None = None,
) -> dict[str, PhoneRun]:
    """One test phone answering each number of ``callees`` (number → mode, lines to say) as
    its own callee, with that number's ``options`` (phone.py's per-line options, such as
    ``turn_gap``); each number's :class:`PhoneRun` (stopping one stops the phone)."""
    specs, paths = [], {}
    for n, (number, (mode, say)) in enumerate(callees.items()):
        events, record = world.dir / f"{name}-{n}.jsonl", world.dir / f"{name}-{n}.wav"
        specs.append(
            {
                **(options or {}).get(number, {}),
                "number": number,
                "mode": mode,
                "say": [str(p) for p in say],
                "events": str(events),
                "record": str(record),
            }
        )
        paths[number] = (events, record)
    spec_path = world.dir / f"{name}.json"
    spec_path.write_text(json.dumps(specs))
    argv = [
        *phone_argv(world, password=TRUNK_PASSWORD, bad_digest="forbid"),
        *("--lines", str(spec_path)),
    ]
    proc = world.rig.spawn(name, argv)
    proc.wait_for("phone ready", 20)
    return {number: PhoneRun(proc, *files) for number, files in paths.items()}
