"""A real SIP phone for the end-to-end tests, on pjsua2: a TLS listener, a digest challenge
checked here, scripted callees, a recording of what each hears and an event log each.

Run as its own process inside the rig's namespace (pjsua2 owns its threads; a crash stays
out of pytest)::

    phone.py --ip 198.18.0.2 --cert phone.pem --key phone.key --user clinic --password pw \
        --mode answer --say hello.wav --say yes.wav --events events.jsonl --record heard.wav

One phone answers several numbers when given ``--lines lines.json``: a JSON list of
callees, each ``{"number": "+1...", "events": ..., "record": ..., "mode": ..., "say": [...]}``
plus any of the per-line options below (``answer_delay``, ``listen_first``, ...). An INVITE
goes to the callee whose number is the user part of its To header. Without ``--lines`` the
command-line options describe the one callee, which takes every INVITE, and the phone exits
once its call has ended; with ``--lines`` it runs until SIGTERM.

Modes: ``answer`` (ring, then answer), ``busy`` (486), ``decline`` (603), ``unavailable``
(480), ``ring`` (ring until the caller gives up). Every mode challenges the INVITE first
(401, digest MD5); a wrong answer gets 403 (``--bad-digest challenge``: another 401) and
the event ``auth failed``.

After answering, a callee says its first line (``--say``, a 16-bit mono WAV at 8 kHz)
``--first-delay`` seconds after the media is up, then each further line once the caller
has spoken and gone quiet for ``--turn-gap`` seconds (``--listen-first``: the first line
too waits for the caller). Asked "... could you say it again?", it says its last line
again (twice at most). ``--hangup-mid-speech N`` sends BYE one second into the caller's
N-th utterance instead; a line's ``hangup_after_last`` (``--lines`` only) sends BYE
that many seconds after its last line.

A REFER (a transfer) is accepted (``--refer accept``, the default) or refused with 603
(``--refer reject``). An accepted one is carried out as a carrier would: the phone places
the new call to the Refer-To target through its own "desk" listener (UDP, ``--desk-port``,
the account's outbound proxy), which answers it, and the caller hears of it in NOTIFYs.

Events (JSON lines, ``t`` is ``time.time()``): ready, invite, challenge, auth ok,
auth failed, rejected, ringing, answered, media up (with the codec), said, heard,
asked again,
refer (with its target), refer accepted, refer rejected, desk invite (with its
Request-URI), desk answered, bye sent, bye received, disconnected, recording.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import secrets
import signal
import sys
import threading
import time
import wave
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import pjsua2 as pj
from hearing import AskedAgain

REALM = "outbound-caller-rig"
RATE = 8000
FRAME = 160  # samples per 20 ms frame
SPEECH_RMS = 250.0  # received frames louder than this count as the caller speaking
MAX_REPEATS = 2  # a line said again at most this often when the caller asks for it
REJECT = {
    "busy": (486, "Busy Here"),
    "decline": (603, "Decline"),
    "unavailable": (480, "Temporarily Unavailable"),
}
DESK_ANSWER_S = 0.5
# the phone answers a request after a network's round trip, as a carrier does: livekit-sip
# v1.8.0 loses a final response that arrives before it waits for one (its select between the
# transaction's end and its responses picks either), so a 401 in the same millisecond failed
# the dial ("transaction failed to complete (1 intermediate responses)")
ROUND_TRIP_S = 0.05
REFER_ANSWER_S = 0.1


class Events:
    def __init__(self, path: Path) -> None:
        self._file = path.open("a", buffering=1)
        self._lock = threading.Lock()

    def __call__(self, event: str, **fields: object) -> None:
        with self._lock:
            self._file.write(json.dumps({"t": time.time(), "event": event, **fields}) + "\n")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_ok(header: str, *, method: str, user: str, password: str, nonce: str) -> bool:
    """Check an ``Authorization: Digest ...`` header (RFC 2617, MD5, with or without qop)."""
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header))
    if fields.get("username") != user or fields.get("nonce") != nonce:
        return False
    ha1 = _md5(f"{user}:{fields.get('realm', '')}:{password}")
    ha2 = _md5(f"{method}:{fields.get('uri', '')}")
    if fields.get("qop"):
        expected = _md5(
            f"{ha1}:{nonce}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:{fields['qop']}:{ha2}"
        )
    else:
        expected = _md5(f"{ha1}:{nonce}:{ha2}")
    return secrets.compare_digest(expected, fields.get("response", ""))


def read_wav(path: Path) -> array[int]:
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise SystemExit(f"{path}: need 16-bit mono WAV at {RATE} Hz")
        return array("h", w.readframes(w.getnframes()))


def rms(samples: array[int]) -> float:
    return (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5


def header(message: str, name: str) -> str | None:
    found = re.search(rf"^{name}:\s*(.*)$", message, re.M | re.I)
    return found.group(1).strip() if found else None


def to_user(to: str) -> str:
    """The user part of a To header's URI: ``<sip:+1415...@host>`` → ``+1415...``."""
    found = re.search(r"(?:sip|sips|tel):([^@;>]+)", to)
    return found.group(1) if found else ""


@dataclass
class LineSpec:
    """One callee: the number it answers, how, what it says, and where it logs."""

    events: Path
    record: Path
    number: str | None = None  # None: every INVITE
    mode: str = "answer"
    say: list[Path] = field(default_factory=list)
    answer_delay: float = 1.0
    first_delay: float = 0.4
    turn_gap: float = 1.2
    hangup_mid_speech: int = 0
    listen_first: bool = False
    refer: str = "accept"
    hangup_after_last: float = 0.0  # > 0: BYE this long after the last line has been said

    @classmethod
    def from_json(cls, item: dict[str, object]) -> LineSpec:
        known = {k: v for k, v in item.items() if k in cls.__dataclass_fields__}
        known["events"], known["record"] = Path(str(item["events"])), Path(str(item["record"]))
        known["say"] = [Path(str(p)) for p in item.get("say", [])]  # type: ignore[attr-defined]
        return cls(**known)  # type: ignore[arg-type]


@dataclass
class Media:
    """What the callee says and hears, shared with pjsua2's media thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    heard: array[int] = field(default_factory=lambda: array("h"))
    speaking: array[int] = field(default_factory=lambda: array("h"))
    started: float = 0.0  # time.time() of the first received frame


class Port(pj.AudioMediaPort):  # type: ignore[misc]
    def __init__(self, media: Media) -> None:
        super().__init__()
        self.media = media

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        with self.media.lock:
            chunk = self.media.speaking[:FRAME]
            del self.media.speaking[:FRAME]
        if len(chunk) < FRAME:
            chunk.extend([0] * (FRAME - len(chunk)))
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = pj.ByteVector(chunk.tobytes())
        frame.size = FRAME * 2

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
            return
        data = array("h", bytes(frame.buf)[: frame.size])
        with self.media.lock:
            if not self.media.started:
                self.media.started = time.time()
            self.media.heard.extend(data)


class PhoneCall(pj.Call):  # type: ignore[misc]
    """A call the phone takes part in: a callee's (``callee`` set), the desk's, or the leg
    a transfer places."""

    def __init__(
        self, phone: Phone, account: pj.Account, call_id: int, callee: Callee | None = None
    ) -> None:
        super().__init__(account, call_id)
        self.phone = phone
        self.callee = callee
        self.port: Port | None = None
        self.media_index: int | None = None

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED and self.callee is not None:
            self.callee.disconnected(self, info.lastStatusCode, info.lastReason)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        if self.callee is None or self.port is not None:
            return  # the desk's and the transfer's media are not recorded
        info = self.getInfo()
        for i, media in enumerate(info.media):
            if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            audio = self.getAudioMedia(i)
            fmt = pj.MediaFormatAudio()
            fmt.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, 20000, 16)
            self.port = Port(self.callee.media)
            self.port.createPort(f"callee-{id(self)}", fmt)
            audio.startTransmit(self.port)
            self.port.startTransmit(audio)
            self.media_index = i
            self.callee.media_up(self.getStreamInfo(i).codecName)
            return

    def jitter_buffer(self) -> dict[str, int] | None:
        """The receive jitter buffer's delay so far (pjmedia's own statistics), ms."""
        if self.media_index is None:
            return None
        try:
            jb = self.getStreamStat(self.media_index).jbuf
        except pj.Error:
            return None  # the media is gone
        return {
            "avg_ms": jb.avgDelayMsec,
            "min_ms": jb.minDelayMsec,
            "max_ms": jb.maxDelayMsec,
            "prefetch_frames": jb.prefetch,
        }

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        if self.callee is None:
            prm.statusCode = 603
            return
        self.callee.events("refer", to=prm.dstUri)
        # after a round trip (see ROUND_TRIP_S): a taken REFER answered at once was reported
        # as "transaction failed to complete (0 intermediate responses)"
        time.sleep(REFER_ANSWER_S)
        if self.callee.spec.refer == "reject":
            prm.statusCode = 603
            self.callee.events("refer rejected", code=603)
            return
        prm.statusCode = 202
        leg = PhoneCall(self.phone, self.phone.account, pj.PJSUA_INVALID_ID)
        self.phone.calls.append(leg)
        self.phone.transferring = self.callee
        prm.newCall = leg
        self.callee.events("refer accepted", code=202)


class PhoneAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, phone: Phone) -> None:
        super().__init__()
        self.phone = phone

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.phone.incoming(self, prm.callId, prm.rdata.wholeMsg)


class Callee:
    """One number's scripted person: answers (or not), talks, listens, records."""

    def __init__(self, phone: Phone, spec: LineSpec) -> None:
        self.phone = phone
        self.spec = spec
        self.events = Events(spec.events)
        self.media = Media()
        self.lines = [read_wav(p) for p in spec.say]
        self.active: PhoneCall | None = None
        self.answer_at: float | None = None
        self.media_up_at: float | None = None
        self.next_line = 0
        self.repeats = 0  # times the current line was said again, when asked
        self.asked_again_detector: AskedAgain | None = None
        self.speaking_until = 0.0
        self.caller_utterances = 0
        self.caller_speaking = False
        self.quiet_since: float | None = None
        self.utterance_start = 0.0
        self.frames_seen = 0
        self.hung_up_by_us = False
        self.done = False
        self.jitter: dict[str, int] | None = None  # the jitter buffer's last statistics
        self.jitter_at = 0.0

    # -- signalling ---------------------------------------------------------------------

    def incoming(self, call: PhoneCall, message: str) -> None:
        self.events("invite", to=header(message, "To") or "")
        auth = header(message, "Authorization")
        if auth is None:
            self.events("challenge")
            self.phone.challenge(call)
            return
        good = digest_ok(
            auth,
            method="INVITE",
            user=self.phone.args.user,
            password=self.phone.args.password,
            nonce=self.phone.nonce,
        )
        if not good:
            self.events("auth failed")
            if self.phone.args.bad_digest == "challenge":  # ask again, as many carriers do
                self.phone.challenge(call)
            else:
                self.phone.respond_later(call, 403, "Forbidden")
            return
        self.events("auth ok")
        mode = self.spec.mode
        if mode in REJECT:
            code, reason = REJECT[mode]
            self.events("rejected", code=code)
            self.phone.respond_later(call, code, reason)
            return
        if self.active is not None:
            self.phone.respond_later(call, 486, "Busy Here")  # this person is on another call
            return
        self.active = call
        self.phone.respond_later(call, 180, "Ringing")
        self.events("ringing")
        if mode == "answer":
            self.answer_at = time.monotonic() + self.spec.answer_delay

    def media_up(self, codec: str) -> None:
        self.events("media up", codec=codec)
        self.media_up_at = time.monotonic()

    def disconnected(self, call: PhoneCall, code: int, reason: str) -> None:
        if call is not self.active:
            return
        if self.jitter is not None:
            self.events("jitter buffer", **self.jitter)
        if self.media_up_at is not None and not self.hung_up_by_us:
            self.events("bye received")
        self.events("disconnected", code=code, reason=reason)
        self.active = None
        self.done = True
        self.save_recording()

    # -- the callee's turns -------------------------------------------------------------

    def say(self, index: int) -> None:
        line = self.lines[index]
        with self.media.lock:
            self.media.speaking.extend(line)
        start = time.time()
        self.speaking_until = time.monotonic() + len(line) / RATE
        self.events("said", line=index, start=start, end=start + len(line) / RATE)

    def take_turn(self, start: float, end: float) -> None:
        """Answer the caller's turn (``start``..``end``, wall-clock) with the next line, or,
        as a person would, with the last one again when asked to say it again."""
        if self.next_line and self.repeats < MAX_REPEATS and self.asked_again(start, end):
            self.repeats += 1
            self.events("asked again", line=self.next_line - 1)
            self.say(self.next_line - 1)
        elif self.next_line < len(self.lines):
            self.repeats = 0
            self.say(self.next_line)
            self.next_line += 1

    def asked_again(self, start: float, end: float) -> bool:
        if self.asked_again_detector is None:
            self.asked_again_detector = AskedAgain()
        with self.media.lock:
            first = max(0, int((start - self.media.started - 0.3) * RATE))
            pcm = self.media.heard[first : int((end - self.media.started + 0.3) * RATE)]
        return self.asked_again_detector(pcm.tobytes())

    def hang_up(self) -> None:
        if self.active is None:
            return
        self.hung_up_by_us = True
        self.events("bye sent")
        self.active.hangup(pj.CallOpParam())

    def listen(self) -> None:
        """Follow the caller's speech in 20 ms frames (after the callee's own line ends)."""
        with self.media.lock:
            total = len(self.media.heard) // FRAME
            frames = [
                self.media.heard[i * FRAME : (i + 1) * FRAME]
                for i in range(self.frames_seen, total)
            ]
            started = self.media.started
        for n, frame in enumerate(frames, start=self.frames_seen):
            at = started + n * FRAME / RATE
            loud = rms(frame) > SPEECH_RMS
            if loud and not self.caller_speaking:
                self.caller_speaking = True
                self.caller_utterances += 1
                self.utterance_start = at
            elif loud:
                self.quiet_since = None
            elif self.caller_speaking:
                if self.quiet_since is None:
                    self.quiet_since = at
                elif at - self.quiet_since >= self.spec.turn_gap:
                    self.caller_speaking = False
                    self.events("heard", start=self.utterance_start, end=self.quiet_since)
                    ended, self.quiet_since = self.quiet_since, None
                    if time.monotonic() >= self.speaking_until:
                        self.take_turn(self.utterance_start, ended)
            if (
                self.caller_speaking
                and self.caller_utterances == self.spec.hangup_mid_speech
                and at - self.utterance_start >= 1.0
            ):
                self.events("heard", start=self.utterance_start, end=at, cut=True)
                self.hang_up()
        self.frames_seen += len(frames)

    def tick(self) -> None:
        now = time.monotonic()
        if self.answer_at is not None and now >= self.answer_at and self.active is not None:
            self.answer_at = None
            respond(self.active, 200)
            self.events("answered")
        if self.media_up_at is None or self.active is None:
            return
        if now >= self.jitter_at:  # kept for the end of the call, when the media is gone
            self.jitter = self.active.jitter_buffer() or self.jitter
            self.jitter_at = now + 0.5
        if (
            self.next_line == 0
            and self.lines
            and not self.spec.listen_first
            and now >= self.media_up_at + self.spec.first_delay
        ):
            self.say(0)
            self.next_line = 1
        self.listen()
        if (
            self.spec.hangup_after_last
            and not self.hung_up_by_us
            and self.lines
            and self.next_line == len(self.lines)
            and now >= self.speaking_until + self.spec.hangup_after_last
        ):
            self.hang_up()

    def save_recording(self) -> None:
        with self.media.lock:
            heard = self.media.heard.tobytes()
            started = self.media.started
        with wave.open(str(self.spec.record), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(heard)
        self.events("recording", path=str(self.spec.record), started=started)


def respond(call: PhoneCall, code: int, reason: str = "", extra: str = "") -> None:
    prm = pj.CallOpParam()
    prm.statusCode = code
    if reason:
        prm.reason = reason
    if extra:
        name, _, value = extra.partition(": ")
        h = pj.SipHeader()
        h.hName, h.hValue = name, value
        prm.txOption.headers.append(h)
    call.answer(prm)


class Phone:
    def __init__(self, args: argparse.Namespace, specs: list[LineSpec]) -> None:
        self.args = args
        self.callees = [Callee(self, spec) for spec in specs]
        self.calls: list[PhoneCall] = []  # pjsua2 crashes if a call object is collected
        self.nonce = secrets.token_hex(8)
        self.account: PhoneAccount | None = None
        self.transferring: Callee | None = None  # whose accepted REFER the desk's call is
        self.desk_answer: list[tuple[float, PhoneCall]] = []
        self.responses: list[tuple[float, PhoneCall, int, str, str]] = []

    def callee_for(self, to: str) -> Callee | None:
        user = to_user(to)
        for callee in self.callees:
            if callee.spec.number is None or callee.spec.number == user:
                return callee
        return None

    def respond_later(self, call: PhoneCall, code: int, reason: str = "", extra: str = "") -> None:
        """Send this response one round trip from now (see ROUND_TRIP_S)."""
        self.responses.append((time.monotonic() + ROUND_TRIP_S, call, code, reason, extra))

    def challenge(self, call: PhoneCall) -> None:
        self.respond_later(
            call,
            401,
            "Unauthorized",
            f'WWW-Authenticate: Digest realm="{REALM}", nonce="{self.nonce}", algorithm=MD5',
        )

    def incoming(self, account: pj.Account, call_id: int, message: str) -> None:
        if call_id < 0:
            # pjsua could not take the INVITE as a call; wrapping the id would abort the
            # phone (pjsua_call_set_user_data asserts a valid id), as it once did mid-test
            print(f"phone: an INVITE without a call id ({call_id}), left alone", flush=True)
            return
        request_uri = message.split(None, 2)[1] if message.startswith("INVITE ") else ""
        if request_uri.startswith("tel:"):  # a transfer's new call, reaching the desk
            call = PhoneCall(self, account, call_id)
            self.calls.append(call)
            if self.transferring is not None:
                self.transferring.events("desk invite", uri=request_uri)
            respond(call, 180, "Ringing")
            self.desk_answer.append((time.monotonic() + DESK_ANSWER_S, call))
            return
        callee = self.callee_for(header(message, "To") or "")
        call = PhoneCall(self, account, call_id, callee)
        self.calls.append(call)
        if callee is None:
            respond(call, 404, "Not Found")
            return
        callee.incoming(call, message)

    def tick(self) -> None:
        now = time.monotonic()
        while self.responses and self.responses[0][0] <= now:
            _, call, code, reason, extra = self.responses.pop(0)
            with contextlib.suppress(pj.Error):  # the caller gave up (CANCEL) in the meantime
                respond(call, code, reason, extra)
        for at, call in list(self.desk_answer):
            if now >= at:
                self.desk_answer.remove((at, call))
                respond(call, 200)
                if self.transferring is not None:
                    self.transferring.events("desk answered")
        for callee in self.callees:
            callee.tick()

    @property
    def done(self) -> bool:
        """Only a one-line phone stops by itself, once its call has ended."""
        return not self.args.lines and self.callees[0].done


def specs_from(args: argparse.Namespace) -> list[LineSpec]:
    if args.lines:
        return [LineSpec.from_json(item) for item in json.loads(args.lines.read_text())]
    if args.events is None or args.record is None:
        raise SystemExit("phone.py: --events and --record are needed without --lines")
    return [
        LineSpec(
            events=args.events,
            record=args.record,
            mode=args.mode,
            say=args.say,
            answer_delay=args.answer_delay,
            first_delay=args.first_delay,
            turn_gap=args.turn_gap,
            hangup_mid_speech=args.hangup_mid_speech,
            listen_first=args.listen_first,
            refer=args.refer,
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ip", required=True)
    parser.add_argument("--port", type=int, default=5061)
    parser.add_argument("--desk-port", type=int, default=5062)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--bad-digest", choices=["forbid", "challenge"], default="forbid")
    parser.add_argument("--lines", type=Path, help="a JSON list of callees (see above)")
    # the one callee, without --lines
    parser.add_argument("--mode", choices=["answer", "ring", *REJECT], default="answer")
    parser.add_argument("--answer-delay", type=float, default=1.0)
    parser.add_argument("--first-delay", type=float, default=0.4)
    parser.add_argument("--turn-gap", type=float, default=1.2)
    parser.add_argument("--hangup-mid-speech", type=int, default=0)
    parser.add_argument("--listen-first", action="store_true")
    parser.add_argument("--refer", choices=["accept", "reject"], default="accept")
    parser.add_argument("--say", type=Path, action="append", default=[])
    parser.add_argument("--events", type=Path)
    parser.add_argument("--record", type=Path)
    parser.add_argument("--pjsip-log", type=Path)
    args = parser.parse_args()
    specs = specs_from(args)

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.userAgent = "outbound-caller test phone"
    cfg.uaConfig.maxCalls = 32
    cfg.logConfig.level = 5 if args.pjsip_log else 1
    cfg.logConfig.consoleLevel = 1
    if args.pjsip_log:
        cfg.logConfig.filename = str(args.pjsip_log)
    cfg.medConfig.clockRate = RATE
    cfg.medConfig.sndClockRate = RATE
    cfg.medConfig.channelCount = 1
    cfg.medConfig.ecTailLen = 0
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()

    tcfg = pj.TransportConfig()
    tcfg.port = args.port
    tcfg.boundAddress = args.ip
    tcfg.publicAddress = args.ip
    tcfg.tlsConfig.certFile = str(args.cert)
    tcfg.tlsConfig.privKeyFile = str(args.key)
    tcfg.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
    tcfg.tlsConfig.verifyServer = False
    tcfg.tlsConfig.verifyClient = False
    tcfg.tlsConfig.requireClientCert = False
    ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tcfg)
    desk = pj.TransportConfig()
    desk.port = args.desk_port
    desk.boundAddress = args.ip
    desk.publicAddress = args.ip
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, desk)
    for codec in ep.codecEnum2():
        ep.codecSetPriority(codec.codecId, 255 if codec.codecId.startswith("PCMU/8000") else 0)
    ep.libStart()

    phone = Phone(args, specs)
    account = PhoneAccount(phone)
    phone.account = account
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:phone@{args.ip}:{args.port};transport=tls"
    # a transfer's new call (to a tel: URI) is routed to the phone's own desk listener
    acfg.sipConfig.proxies.append(f"sip:{args.ip}:{args.desk_port};transport=udp;lr")
    account.create(acfg)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for callee in phone.callees:
        callee.events("ready", port=args.port, mode=callee.spec.mode)
    print("phone ready", flush=True)
    try:
        while not stop.is_set() and not phone.done:
            ep.libHandleEvents(10)
            phone.tick()
        active = [c for c in phone.callees if c.active is not None]
        for callee in active:
            callee.hang_up()
        for _ in range(50 if active else 0):
            ep.libHandleEvents(10)
    finally:
        for callee in phone.callees:
            callee.save_recording()
        ep.hangupAllCalls()
        ep.libDestroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
