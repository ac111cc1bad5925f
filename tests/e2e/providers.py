"""Local stand-ins for OpenAI, Deepgram and Cartesia that speak their wire protocols, so the
real plugin classes run in the worker. One aiohttp server, three routes:

- ``POST /v1/chat/completions`` (OpenAI): streamed chunks (SSE), text or tool calls, chosen
  by a script keyed on the last message; the answering-machine classifier's requests get a
  ``save_prediction`` verdict from the greeting's words.
- ``GET /v1/listen`` (Deepgram streaming, websocket): linear16 audio in; utterances found by
  energy, recognised by pocketsphinx against the script's phrases, sent as ``Results``.
- ``GET /tts/websocket`` (Cartesia, websocket): each sentence spoken by espeak-ng, sent back
  as base64 PCM at the requested rate, then ``done``.

The script (``--script``, JSON)::

    {"phrases": ["hello", "yes this is grace"],           # what the STT can recognise
     "llm": [{"user": "hello", "say": "Hi {patient}..."},  # the last phrase of the turn is "hello"
             {"user": "make it", "tool": "confirm_appointment", "args": {}},
             {"tool_result": "confirm_appointment", "say": "..."},
             {"user": "another day", "tool": "find_open_times", "args": {"from_date": "{Monday}"}},
             {"tool_result": "move_appointment", "output": "not booked", "say": "..."},
             {"instructions": "open the call", "say": "..."}],
     "fallback": "Sorry, could you say that again?"}

``say`` and string ``args`` are filled from the instructions (see ``facts``); a
``tool_result`` rule with ``output`` matches only a tool output that contains it.

Pinned latencies, for benchmarks (``"latency"`` in the script; unset: as fast as it can)::

    "latency": {"stt_end_silence": 0.15,  # a final transcript once 150 ms are quiet
                "llm_ttft": 0.25,         # the first token 250 ms after the request
                "tts_ttfb": 0.10}         # the first audio 100 ms after the text

Each request, transcript and spoken sentence is appended to ``--log`` (JSON lines); a model
request's entry names the call's patient, and a transcript's or a sentence's the websocket
(``conn``) it went over, so concurrent calls can be told apart.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import itertools
import json
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web
from hearing import is_tone, rms, upsample

AMD_PROMPT_START = "Task:\nClassify the call greeting"
HUMAN_WORDS = 4  # "hello?", "yes, speaking": a greeting this short is a person
MACHINE_WORDS = (
    "leave a message",
    "leave your message",
    "voicemail",
    "after the tone",
    "beep",
    "can't come to the phone",
)
SPEECH_RMS = 300  # 16-bit samples louder than this are speech
END_SILENCE_S = 0.45  # this much quiet ends an utterance
RECOGNITION_RMS = 1000  # the level speech is read at
DITHER_RMS = 30  # the quiet noise it is read with


class Log:
    def __init__(self, path: Path) -> None:
        self._file = path.open("a", buffering=1)

    def __call__(self, kind: str, **fields: Any) -> None:
        self._file.write(json.dumps({"t": time.time(), "kind": kind, **fields}) + "\n")


# -- OpenAI ---------------------------------------------------------------------------------


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _tool_name(messages: list[dict[str, Any]], call_id: str) -> str:
    for message in messages:
        for call in message.get("tool_calls") or []:
            if call.get("id") == call_id:
                return str(call["function"]["name"])
    return ""


def facts(messages: list[dict[str, Any]]) -> dict[str, str]:
    """What the worker told the model about this call, from its instructions: fills the
    script's ``{practice}``, ``{patient}`` and ``{first}``, and ``{Monday}`` ... ``{Sunday}``
    with the first such day after today in the instructions' table of dates."""
    system = _text(messages[0].get("content")) if messages else ""
    practice = re.search(r"assistant of (.+?), a dental practice", system)
    patient = re.search(r'^- Patient: "?(.+?)"?\.?$', system, re.M)
    name = patient.group(1) if patient else "the patient"
    found = {
        "practice": practice.group(1) if practice else "the practice",
        "patient": name,
        "first": name.split()[0],
    }
    for weekday, day in re.findall(r"\b(\w+day) (\d{4}-\d\d-\d\d)(?! \(today\))", system):
        found.setdefault(weekday, day)
    return found


def choose(
    script: dict[str, Any], messages: list[dict[str, Any]], tools: list[str] | None = None
) -> dict[str, Any]:
    """The scripted reply to a chat request: ``{"say": text}`` or ``{"tool", "args"}``.
    Like a model, it calls only the request's ``tools`` (all, when None)."""
    rule = _rule(script, messages, tools)
    known = facts(messages)
    if "say" in rule:
        return {**rule, "say": rule["say"].format(**known)}
    args = {
        k: v.format(**known) if isinstance(v, str) else v for k, v in rule.get("args", {}).items()
    }
    return {**rule, "args": args}


def _rule(
    script: dict[str, Any], messages: list[dict[str, Any]], tools: list[str] | None
) -> dict[str, Any]:
    if messages and _text(messages[0].get("content")).startswith(AMD_PROMPT_START):
        # the classifier sends the greeting so far; like a real model, a few words that
        # could be a person are "human", a longer greeting without a mailbox's words is
        # not decided yet
        greeting = _text(messages[-1].get("content")).lower()
        if any(w in greeting for w in MACHINE_WORDS):
            label = "machine-vm"
        else:
            label = "human" if len(greeting.split()) <= HUMAN_WORDS else "uncertain"
        return {"tool": "save_prediction", "args": {"label": label}}
    last = messages[-1] if messages else {}
    role, text = last.get("role"), _text(last.get("content")).lower()
    called = _tool_name(messages, str(last.get("tool_call_id"))) if role == "tool" else None
    instructed = role in ("system", "developer")
    # a rule for a tool the request does not offer (a move before the patient is known) is
    # not the model's to take; it asks again instead
    rules = [
        r for r in script.get("llm", []) if tools is None or "tool" not in r or r["tool"] in tools
    ]
    if role == "user":
        # a turn can hold two utterances (a stray one, then the patient's answer): like a
        # model, answer the last thing said, the phrase that ends latest in the turn
        said = [
            (text.rfind(r["user"]) + len(r["user"]), -i)
            for i, r in enumerate(rules)
            if "user" in r and r["user"] in text
        ]
        if said:
            return rules[-max(said)[1]]
    for rule in rules:
        if (
            "tool_result" in rule
            and called == rule["tool_result"]
            and rule.get("output", "").lower() in text
        ):
            return rule
        if instructed and "instructions" in rule and rule["instructions"] in text:
            return rule
    return {"say": script.get("fallback", "Sorry, could you say that again?")}


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-rig",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


async def chat_completions(request: web.Request) -> web.StreamResponse:
    received_at = time.time()
    body = await request.json()
    script, log = request.app["script"], request.app["log"]
    messages = body.get("messages", [])
    offered = [t["function"]["name"] for t in body.get("tools") or [] if t.get("function")]
    reply = choose(script, messages, offered)
    await asyncio.sleep(script.get("latency", {}).get("llm_ttft", 0.0))
    last = messages[-1] if messages else {}
    log(
        "llm",
        model=body.get("model"),
        last_role=last.get("role"),
        last=_text(last.get("content"))[:300],
        reply=reply,
        patient=facts(messages)["patient"],
        received_at=received_at,
    )
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    model = body.get("model", "")
    await response.write(_chunk(model, {"role": "assistant", "content": ""}))
    if "tool" in reply:
        call = {
            "index": 0,
            "id": f"call_{int(time.time() * 1000)}",
            "type": "function",
            "function": {"name": reply["tool"], "arguments": json.dumps(reply.get("args", {}))},
        }
        await response.write(_chunk(model, {"tool_calls": [call]}))
        await response.write(_chunk(model, {}, "tool_calls"))
    else:
        for word in reply["say"].split(" "):
            await response.write(_chunk(model, {"content": word + " "}))
        await response.write(_chunk(model, {}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
        done = {
            "id": "chatcmpl-rig",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        await response.write(f"data: {json.dumps(done)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


# -- Deepgram -------------------------------------------------------------------------------


def for_recognition(pcm: bytes) -> bytes:
    """16 kHz ``pcm`` as pocketsphinx reads it reliably: its speech brought to one level,
    with quiet noise under it (from a fixed seed, so a reading can be repeated). Telephone
    audio has stretches of exact zeros, which the recogniser misreads (the rig's 14 lines,
    from their WAVs: 4 read right with zeros around them, all 14 with the noise), and a
    level that varies with the path (at three times the level, 2 of the 14 misread)."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    frames = samples[: samples.size // 320 * 320].reshape(-1, 320)
    levels = np.sqrt((frames**2).mean(axis=1))
    loud = levels[levels > SPEECH_RMS]
    if loud.size:
        samples = samples * (RECOGNITION_RMS / np.sqrt((loud**2).mean()))
    samples = samples + np.random.default_rng(0).normal(0.0, DITHER_RMS, samples.size)
    return np.clip(samples, -32768, 32767).astype(np.int16).tobytes()


class Recognizer:
    """pocketsphinx, limited to the script's phrases (a JSGF grammar) so phone audio is
    recognised reliably; None when nothing in the grammar matches."""

    def __init__(self, phrases: list[str]) -> None:
        from pocketsphinx import Decoder

        self._workdir = tempfile.mkdtemp(prefix="rig-stt-")
        grammar = Path(self._workdir) / "phrases.jsgf"
        words = " | ".join(p.lower() for p in phrases) or "hello"
        grammar.write_text(f"#JSGF V1.0;\ngrammar phrases;\npublic <phrase> = {words} ;\n")
        self._decoder = Decoder(jsgf=str(grammar), samprate=16000, loglevel="FATAL")
        # one decoder, called from a thread per utterance: two calls at once would start an
        # utterance inside the other's ("Failed to start utterance processing"), and the
        # failing call's transcription connection closed
        self._lock = threading.Lock()

    def __call__(self, pcm16k: bytes) -> str | None:
        with self._lock:
            self._decoder.start_utt()
            self._decoder.process_raw(for_recognition(pcm16k), full_utt=True)
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None and hyp.hypstr else None


def _results(text: str, start: float, end: float) -> dict[str, Any]:
    words = text.split()
    step = (end - start) / max(1, len(words))
    return {
        "type": "Results",
        "channel_index": [0, 1],
        "duration": end - start,
        "start": start,
        "is_final": True,
        "speech_final": True,
        "channel": {
            "alternatives": [
                {
                    "transcript": text,
                    "confidence": 0.99,
                    "words": [
                        {
                            "word": w,
                            "punctuated_word": w,
                            "start": start + i * step,
                            "end": start + (i + 1) * step,
                            "confidence": 0.99,
                        }
                        for i, w in enumerate(words)
                    ],
                }
            ]
        },
        "metadata": {"request_id": "rig", "model_info": {"name": "rig"}},
    }


async def listen(request: web.Request) -> web.WebSocketResponse:
    rate = int(request.query.get("sample_rate", "16000"))
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    log, recognize = request.app["log"], request.app["recognizer"]
    conn = next(request.app["connections"])
    end_silence = request.app["script"].get("latency", {}).get("stt_end_silence", END_SILENCE_S)
    frame = rate // 50  # 20 ms
    buffer = bytearray()
    utterance = bytearray()
    position = 0  # samples received so far
    speech_start: float | None = None
    last_loud_at = 0.0  # when the utterance's last loud frame arrived (wall clock)
    quiet = 0.0
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            if json.loads(msg.data).get("type") == "CloseStream":
                break
            continue
        if msg.type != WSMsgType.BINARY:
            continue
        buffer.extend(msg.data)
        while len(buffer) >= frame * 2:
            chunk = bytes(buffer[: frame * 2])
            del buffer[: frame * 2]
            now = position / rate
            position += frame
            loud = rms(chunk) > SPEECH_RMS
            if loud:
                if speech_start is None:
                    speech_start = now
                    await ws.send_json({"type": "SpeechStarted", "channel": [0], "timestamp": now})
                quiet = 0.0
                last_loud_at = time.time()
            elif speech_start is not None:
                quiet += 0.02
            if speech_start is not None:
                utterance.extend(chunk)
            if speech_start is not None and quiet >= end_silence:
                pcm = upsample(bytes(utterance), rate, 16000)
                # a beep is no words (the recogniser, held to its phrases, would read one)
                tone = is_tone(bytes(utterance), rate)
                began = time.perf_counter()
                text = None if tone else await asyncio.to_thread(recognize, pcm)
                decode = time.perf_counter() - began
                log(
                    "stt",
                    conn=conn,
                    transcript=text,
                    tone=tone,
                    start=speech_start,
                    end=now,
                    decode=decode,
                    last_loud_at=last_loud_at,
                )
                if text:
                    await ws.send_json(_results(text, speech_start, now - quiet))
                else:
                    await ws.send_json(
                        {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": now}
                    )
                speech_start, quiet = None, 0.0
                utterance.clear()
    await ws.close()
    return ws


# -- Cartesia -------------------------------------------------------------------------------


def speak(text: str, rate: int) -> bytes:
    """espeak-ng's voice for ``text``, as 16-bit mono PCM at ``rate``."""
    wav = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "170", "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    return subprocess.run(
        [
            "sox",
            "-t",
            "wav",
            "-",
            "-t",
            "raw",
            "-r",
            str(rate),
            "-e",
            "signed",
            "-b",
            "16",
            "-c",
            "1",
            "-",
        ],
        input=wav,
        capture_output=True,
        check=True,
    ).stdout


@functools.lru_cache(maxsize=256)
def spoken(text: str, rate: int) -> bytes:
    return speak(text, rate)


async def tts_websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    log = request.app["log"]
    conn = next(request.app["connections"])
    ttfb = request.app["script"].get("latency", {}).get("tts_ttfb")
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        received, received_at = time.perf_counter(), time.time()
        packet = json.loads(msg.data)
        context = packet.get("context_id")
        if packet.get("cancel"):
            continue
        text = (packet.get("transcript") or "").strip()
        rate = int(packet.get("output_format", {}).get("sample_rate", 24000))
        if text:
            pcm = await asyncio.to_thread(spoken, text, rate)
            if ttfb is not None:  # the pinned first-audio time (a repeated line is cached)
                await asyncio.sleep(max(0.0, received + ttfb - time.perf_counter()))
            log(
                "tts",
                conn=conn,
                text=text,
                seconds=len(pcm) / 2 / rate,
                received_at=received_at,
            )
            step = rate // 10 * 2  # 100 ms
            for i in range(0, len(pcm), step):
                data = base64.b64encode(pcm[i : i + step]).decode()
                await ws.send_json(
                    {
                        "type": "chunk",
                        "context_id": context,
                        "data": data,
                        "done": False,
                        "status_code": 206,
                    }
                )
        if not packet.get("continue", True):
            await ws.send_json(
                {"type": "done", "context_id": context, "done": True, "status_code": 206}
            )
    return ws


def app(script: dict[str, Any], log: Log) -> web.Application:
    application = web.Application(client_max_size=16 * 1024 * 1024)
    application["script"] = script
    application["log"] = log
    application["recognizer"] = Recognizer(script.get("phrases", []))
    application["connections"] = itertools.count(1)
    application.router.add_post("/v1/chat/completions", chat_completions)
    application.router.add_get("/v1/listen", listen)
    application.router.add_get("/tts/websocket", tts_websocket)
    return application


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--script", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    script = json.loads(args.script.read_text())
    web.run_app(
        app(script, Log(args.log)),
        host=args.host,
        port=args.port,
        print=lambda _: print("providers ready", flush=True),  # once it listens
    )


if __name__ == "__main__":
    main()
