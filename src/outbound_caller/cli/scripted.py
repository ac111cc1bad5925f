"""A scripted stand-in for the real LLM, used by the offline demo and the tests.

It subclasses :class:`livekit.agents.llm.LLM`, so the real ``AgentSession`` drives it
exactly as it drives GPT-4o: it looks at the last item of the chat context (the
callee's words, a tool's output, or the instructions of ``generate_reply``) and
answers from a table of rules, streaming the text in small chunks and any tool calls
last.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from livekit.agents import APIConnectOptions, llm
from livekit.agents.llm.chat_context import ChatContext, FunctionCallOutput
from livekit.agents.llm.tool_context import Tool
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr
from livekit.agents.utils import shortuuid


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """What the scripted model says (``text``) and which tools it calls afterwards."""

    text: str = ""
    calls: tuple[ToolCall, ...] = ()


Reply = Turn | Callable[[str], Turn]


@dataclass(frozen=True)
class Rule:
    """Answer ``reply`` when the last input matches ``pattern`` (a regex, case-insensitive)."""

    pattern: str
    reply: Reply


def last_input(chat_ctx: ChatContext) -> str:
    """The text the scripted model reacts to: the newest message or tool output.

    A tool output reads as ``"<tool name> -> <output>"``.
    """
    for item in reversed(chat_ctx.items):
        if isinstance(item, FunctionCallOutput):
            return f"{item.name} -> {item.output}"
        if item.type == "message":
            return item.text_content or ""
    return ""


class ScriptedLLM(llm.LLM[Any]):
    """An LLM that answers from ``rules``; the first rule whose pattern matches wins.

    Args:
        rules: the script.
        fallback: answered when no rule matches.
        time_to_first_token: seconds to wait before the first chunk.
    """

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        fallback: Turn = Turn("Sorry, could you say that again?"),
        time_to_first_token: float = 0.0,
    ) -> None:
        super().__init__()
        self._rules = [(re.compile(r.pattern, re.IGNORECASE | re.DOTALL), r.reply) for r in rules]
        self._fallback = fallback
        self.time_to_first_token = time_to_first_token
        self.inputs: list[str] = []
        self.requests: list[ChatContext] = []

    @property
    def model(self) -> str:
        return "scripted"

    @property
    def provider(self) -> str:
        return "outbound-caller"

    def answer(self, text: str) -> Turn:
        for pattern, reply in self._rules:
            if pattern.search(text):
                return reply(text) if callable(reply) else reply
        return self._fallback

    def chat(
        self,
        *,
        chat_ctx: ChatContext,
        tools: list[Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        text = last_input(chat_ctx)
        self.inputs.append(text)
        self.requests.append(chat_ctx.copy())
        return _ScriptedStream(
            self,
            turn=self.answer(text),
            chat_ctx=chat_ctx,
            tools=tools or [],
            conn_options=conn_options,
        )


class _ScriptedStream(llm.LLMStream):
    def __init__(
        self,
        scripted: ScriptedLLM,
        *,
        turn: Turn,
        chat_ctx: ChatContext,
        tools: list[Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(scripted, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._turn = turn
        self._ttft = scripted.time_to_first_token

    async def _run(self) -> None:
        request_id = shortuuid("scripted_")
        if self._ttft:
            await asyncio.sleep(self._ttft)
        words = self._turn.text.split(" ") if self._turn.text else []
        for i in range(0, len(words), 3):
            chunk = " ".join(words[i : i + 3]) + (" " if i + 3 < len(words) else "")
            self._event_ch.send_nowait(
                llm.ChatChunk(id=request_id, delta=llm.ChoiceDelta(role="assistant", content=chunk))
            )
        if self._turn.calls:
            calls = [
                llm.FunctionToolCall(
                    name=c.name, arguments=json.dumps(c.arguments), call_id=shortuuid("call_")
                )
                for c in self._turn.calls
            ]
            self._event_ch.send_nowait(
                llm.ChatChunk(
                    id=request_id, delta=llm.ChoiceDelta(role="assistant", tool_calls=calls)
                )
            )
