"""Settings: read once from an injected mapping (the environment by default) and validated.

A bad setting never surfaces as a traceback: :func:`load_settings` raises
:class:`~outbound_caller.errors.ConfigError` naming every problem and how to fix it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from .errors import ConfigError
from .phone import to_e164
from .zones import time_zone

TurnDetection = Literal["english", "v1-mini", "vad"]
TurnTaking = Literal["tuned", "framework"]

ENV_FILE = ".env.local"

# How to fix each setting, shown next to any problem with it.
HINTS: dict[str, str] = {
    "LIVEKIT_URL": "your LiveKit server or Cloud project URL, e.g. wss://my-project.livekit.cloud",
    "LIVEKIT_API_KEY": "the API key of your LiveKit project (Settings → API keys)",
    "LIVEKIT_API_SECRET": "the API secret that belongs to LIVEKIT_API_KEY",
    "OPENAI_API_KEY": "an OpenAI API key (sk-...)",
    "DEEPGRAM_API_KEY": "a Deepgram API key",
    "CARTESIA_API_KEY": "a Cartesia API key",
    "SIP_OUTBOUND_TRUNK_ID": "your outbound SIP trunk's id, e.g. ST_a1b2c3 (lk sip outbound list)",
    "PRACTICE_NAME": "the name the agent introduces the practice by, e.g. Bright Smile Dental",
    "PRACTICE_TIMEZONE": "an IANA time zone, e.g. America/New_York",
    "PRACTICE_CALLBACK_NUMBER": "the practice's phone number in E.164 form, e.g. +14155550100",
    "STT_MODEL": "a Deepgram model name, e.g. nova-2-phonecall",
    "LLM_MODEL": "an OpenAI chat model name, e.g. gpt-4o",
    "TTS_MODEL": "a Cartesia model name, e.g. sonic-3",
    "TTS_VOICE": "a Cartesia voice id (leave unset for the default voice)",
    "TURN_DETECTION": "one of: english, v1-mini, vad",
    "RINGING_TIMEOUT": "seconds to let the phone ring, 5 to 70 (LiveKit allows a dial 80 s)",
    "MAX_CALL_DURATION": "longest call in seconds, 60 to 900 (a stopping worker waits 15 min)",
    "GREETING_DELAY": "seconds of silence after the answer before the agent opens, 0.5 to 10",
    "ALLOW_INSECURE_TRUNK": "true only to dial over a trunk without TLS or credentials",
    "VOICEMAIL_POLICY": "hangup (default) or message: leave the practice's name and number",
    "AMD_LLM_MODEL": "the OpenAI model that classifies greetings, e.g. gpt-4o-mini",
    "TURN_TAKING": "tuned (default: answers sooner) or framework (the framework's own timings)",
    "JOB_EXECUTOR": "process (default: each call in its own process) or thread (calls share one)",
    "NOISE_CANCELLATION": "auto (default: on for LiveKit Cloud, which alone runs it), on or off",
    "TRANSCRIPT_DIR": "a directory for call transcripts (unset: no transcripts are written)",
    "TRANSCRIPT_RETENTION_DAYS": "days to keep transcripts, 1 to 3650",
    "VERIFY_DATE_OF_BIRTH": "true to have the agent check the patient's date of birth first",
    "SILENCE_TIMEOUT": "seconds of silence before the agent checks in (then ends), 3 to 60",
    "OPENAI_BASE_URL": "an OpenAI-compatible API root, e.g. https://api.openai.com/v1",
    "DEEPGRAM_BASE_URL": "Deepgram's listen endpoint, e.g. https://api.deepgram.com/v1/listen",
    "CARTESIA_BASE_URL": "Cartesia's API root, e.g. https://api.cartesia.ai (unset: Cartesia)",
    "TRANSFER_MODE": "cold (default: straight to the desk) or warm (brief the desk first)",
    "TRANSFER_RING_TIMEOUT": "seconds to let the front desk ring on a warm transfer, 5 to 60",
    "WEBHOOK_URL": "the practice's https:// endpoint for each call's outcome (unset: none)",
    "WEBHOOK_SECRET": "a random string of 16 or more characters, shared with the receiver",
    "HEALTH_PORT": "the worker's health-check port in start mode, 0 to 65535 (0: any free port)",
    "WORKER_LOAD_THRESHOLD": "the CPU load, 0.1 to 1.0, above which the worker takes no new calls",
    "WORKER_MAX_CALLS": "the most calls at once this worker takes, 1 to 100 (unset: by CPU load)",
}

# the real limits behind RINGING_TIMEOUT and MAX_CALL_DURATION (see Settings)
RINGING_TIMEOUT_MAX = 70
MAX_CALL_DURATION_MAX = 900

SECRETS = {
    "LIVEKIT_API_SECRET",
    "OPENAI_API_KEY",
    "DEEPGRAM_API_KEY",
    "CARTESIA_API_KEY",
    "WEBHOOK_SECRET",
}
TELEPHONY = {"SIP_OUTBOUND_TRUNK_ID"}
WEBHOOK_SECRET_MIN = 16  # characters: guessing it must be out of reach
# The practice a call speaks for. A call about a stored appointment takes it from the store's
# practice row, the one source of truth (`outbound-caller practice ...` sets it up); these
# settings are for calls placed without a store (inline metadata) and for console mode.
PRACTICE = ("PRACTICE_NAME", "PRACTICE_TIMEZONE", "PRACTICE_CALLBACK_NUMBER")

NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]


def check_http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("is not an http:// or https:// URL")
    return value.rstrip("/")


def check_livekit_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("ws", "wss", "http", "https") or not parsed.netloc:
        raise ValueError("is not a ws://, wss://, http:// or https:// URL")
    return value


class Settings(BaseModel):
    """Everything the worker needs, validated."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    livekit_url: str = Field(alias="LIVEKIT_URL")
    livekit_api_key: NonEmpty = Field(alias="LIVEKIT_API_KEY")
    livekit_api_secret: SecretStr = Field(alias="LIVEKIT_API_SECRET", min_length=1)
    openai_api_key: SecretStr = Field(alias="OPENAI_API_KEY", min_length=1)
    deepgram_api_key: SecretStr = Field(alias="DEEPGRAM_API_KEY", min_length=1)
    cartesia_api_key: SecretStr = Field(alias="CARTESIA_API_KEY", min_length=1)
    sip_outbound_trunk_id: str | None = Field(alias="SIP_OUTBOUND_TRUNK_ID", default=None)

    # the practice for calls placed without a stored appointment (and console mode); a call
    # about a stored appointment uses the store's practice row instead (see PRACTICE)
    practice_name: NonEmpty | None = Field(alias="PRACTICE_NAME", default=None)
    practice_timezone: str | None = Field(alias="PRACTICE_TIMEZONE", default=None)
    practice_callback_number: str | None = Field(alias="PRACTICE_CALLBACK_NUMBER", default=None)

    stt_model: NonEmpty = Field(alias="STT_MODEL", default="nova-2-phonecall")
    llm_model: NonEmpty = Field(alias="LLM_MODEL", default="gpt-4o")
    tts_model: NonEmpty = Field(alias="TTS_MODEL", default="sonic-3")
    tts_voice: str | None = Field(alias="TTS_VOICE", default=None)
    turn_detection: TurnDetection = Field(alias="TURN_DETECTION", default="english")
    turn_taking: TurnTaking = Field(alias="TURN_TAKING", default="tuned")

    # livekit-server ends a wait-until-answered dial after 80 s in all, joining and INVITE
    # included; a stopping worker lets calls in progress run for DRAIN_TIMEOUT_S (900 s)
    ringing_timeout: int = Field(alias="RINGING_TIMEOUT", default=30, ge=5, le=RINGING_TIMEOUT_MAX)
    max_call_duration: int = Field(
        alias="MAX_CALL_DURATION", default=600, ge=60, le=MAX_CALL_DURATION_MAX
    )
    greeting_delay: float = Field(alias="GREETING_DELAY", default=2.0, ge=0.5, le=10.0)
    allow_insecure_trunk: bool = Field(alias="ALLOW_INSECURE_TRUNK", default=False)
    voicemail_policy: Literal["hangup", "message"] = Field(
        alias="VOICEMAIL_POLICY", default="hangup"
    )
    amd_llm_model: NonEmpty = Field(alias="AMD_LLM_MODEL", default="gpt-4o-mini")
    # Krisp's telephony noise cancellation runs only on LiveKit Cloud; elsewhere the SDK fails
    # to load it and logs an error on every call. auto: on for a *.livekit.cloud URL.
    noise_cancellation: Literal["auto", "on", "off"] = Field(
        alias="NOISE_CANCELLATION", default="auto"
    )
    # cold: a SIP REFER hands the patient to the desk; warm: the patient holds while the
    # agent calls the desk and briefs the person there, then connects them (desk_transfer.py)
    transfer_mode: Literal["cold", "warm"] = Field(alias="TRANSFER_MODE", default="cold")
    transfer_ring_timeout: int = Field(alias="TRANSFER_RING_TIMEOUT", default=20, ge=5, le=60)
    transcript_dir: Path | None = Field(alias="TRANSCRIPT_DIR", default=None)
    transcript_retention_days: int = Field(
        alias="TRANSCRIPT_RETENTION_DAYS", default=30, ge=1, le=3650
    )
    verify_date_of_birth: bool = Field(alias="VERIFY_DATE_OF_BIRTH", default=False)
    silence_timeout: float = Field(alias="SILENCE_TIMEOUT", default=10.0, ge=3.0, le=60.0)
    # the providers' endpoints; unset means each plugin's own default (the public service)
    openai_base_url: str | None = Field(alias="OPENAI_BASE_URL", default=None)
    deepgram_base_url: str | None = Field(alias="DEEPGRAM_BASE_URL", default=None)
    cartesia_base_url: str | None = Field(alias="CARTESIA_BASE_URL", default=None)
    # the worker's HTTP health check; unset: the framework's 8081 in start mode, any free
    # port in dev mode. A second worker on one machine needs its own port (or 0).
    health_port: int | None = Field(alias="HEALTH_PORT", default=None, ge=0, le=65535)
    # the machine's CPU load above which the worker refuses new calls (the server then
    # gives them to another worker, or drops them); unset: the framework's 0.7 in start mode
    worker_load_threshold: float | None = Field(
        alias="WORKER_LOAD_THRESHOLD", default=None, ge=0.1, le=1.0
    )
    # instead: a fixed number of calls at once, whatever the CPU shows (for a machine whose
    # cores the worker shares with LiveKit itself, or when memory is the limit)
    worker_max_calls: int | None = Field(alias="WORKER_MAX_CALLS", default=None, ge=1, le=100)
    # how the worker runs each call: a process of its own (the framework's default; ~500 MB
    # each) or a thread of the worker, every call sharing one VAD (see bench/README.md)
    job_executor: Literal["process", "thread"] = Field(alias="JOB_EXECUTOR", default="process")
    # each call's outcome posted to the practice's systems, signed with the secret
    # (webhooks/); unset: no webhook
    webhook_url: str | None = Field(alias="WEBHOOK_URL", default=None)
    webhook_secret: SecretStr | None = Field(alias="WEBHOOK_SECRET", default=None)

    @property
    def filters_noise(self) -> bool:
        """Whether the callee's audio goes through Krisp's telephony noise cancellation."""
        if self.noise_cancellation == "auto":
            host = urlparse(self.livekit_url).hostname or ""
            return host.endswith(".livekit.cloud")
        return self.noise_cancellation == "on"

    @field_validator("openai_base_url", "deepgram_base_url", "cartesia_base_url")
    @classmethod
    def _provider_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        # posted to as given: a trailing slash can matter to the receiver
        return None if value is None else check_http_url(value) and value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < WEBHOOK_SECRET_MIN:
            raise ValueError(f"is shorter than {WEBHOOK_SECRET_MIN} characters")
        return value

    @field_validator("livekit_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_livekit_url(value)

    @field_validator("sip_outbound_trunk_id")
    @classmethod
    def _trunk(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("ST_") or len(value) < 4):
            raise ValueError("is not an outbound trunk id (they start with ST_)")
        return value

    @field_validator("practice_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            time_zone(value)  # ValueError: not a known time zone
        return value

    @field_validator("practice_callback_number")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        return None if value is None else to_e164(value)

    @property
    def zone(self) -> ZoneInfo:
        """The practice's zone from PRACTICE_TIMEZONE (UTC when unset)."""
        return ZoneInfo(self.practice_timezone or "UTC")

    @property
    def livekit(self) -> LiveKitSettings:
        return LiveKitSettings.model_validate(
            {
                "LIVEKIT_URL": self.livekit_url,
                "LIVEKIT_API_KEY": self.livekit_api_key,
                "LIVEKIT_API_SECRET": self.livekit_api_secret,
            }
        )


def _describe(err: Any, env: Mapping[str, str]) -> str:
    name = str(err["loc"][0]) if err["loc"] else "settings"
    hint = HINTS.get(name, "")
    if err["type"] == "missing":
        return f"{name} is not set; set it to {hint}"
    message = str(err["msg"]).removeprefix("Value error, ")
    shown = "(hidden)" if name in SECRETS else repr(env.get(name, ""))
    return f"{name}={shown}: {message}; set it to {hint}"


def load_settings(
    env: Mapping[str, str], *, require_telephony: bool = True, require_practice: bool = True
) -> Settings:
    """Build :class:`Settings` from ``env``; an empty value counts as unset.
    ``require_practice``: the PRACTICE_* settings must be set (a worker without a store,
    and console mode, have no other practice to speak for).

    Raises:
        ConfigError: naming every missing or malformed setting.
    """
    values = {k: v for k, v in env.items() if k in HINTS and v.strip() != ""}
    problems: list[str] = []
    if require_telephony:
        problems += [
            f"{name} is not set; set it to {HINTS[name]}"
            for name in TELEPHONY
            if name not in values
        ]
    if require_practice:
        problems += [
            f"{name} is not set; set it to {HINTS[name]}" for name in PRACTICE if name not in values
        ]
    if "WORKER_MAX_CALLS" in values and "WORKER_LOAD_THRESHOLD" in values:
        problems.append(
            "WORKER_MAX_CALLS and WORKER_LOAD_THRESHOLD are both set; set only one of them "
            "(a number of calls, or a CPU load)"
        )
    if "WEBHOOK_URL" in values and "WEBHOOK_SECRET" not in values:
        problems.append(
            f"WEBHOOK_SECRET is not set (WEBHOOK_URL is); set it to {HINTS['WEBHOOK_SECRET']}"
        )
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        problems += [_describe(e, values) for e in exc.errors()]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return settings


def read_env_file(path: Path) -> dict[str, str]:
    """Read a dotenv file; a missing file reads as empty."""
    from dotenv import dotenv_values

    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


class LiveKitSettings(BaseModel):
    """What operator commands need to reach the LiveKit server API."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    livekit_url: str = Field(alias="LIVEKIT_URL")
    livekit_api_key: NonEmpty = Field(alias="LIVEKIT_API_KEY")
    livekit_api_secret: SecretStr = Field(alias="LIVEKIT_API_SECRET", min_length=1)

    @field_validator("livekit_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_livekit_url(value)


def webhooks_configured(env: Mapping[str, str]) -> bool:
    """Whether the practice's webhook is set (``WEBHOOK_URL``): an operator command that
    settles a call no worker reported queues its event only then, as the worker does."""
    return bool(env.get("WEBHOOK_URL", "").strip())


def load_livekit(env: Mapping[str, str]) -> LiveKitSettings:
    """The three LiveKit settings alone. Raises ConfigError naming each problem."""
    names = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
    values = {k: env[k] for k in names if k in env and env[k].strip()}
    try:
        return LiveKitSettings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError([_describe(e, values) for e in exc.errors()]) from None


def practice_differences(
    env: Mapping[str, str], *, name: str, timezone: str, callback_number: str
) -> list[str]:
    """The PRACTICE_* settings in ``env`` that are set and say something other than the
    store's practice (``name``, ``timezone``, ``callback_number``)."""
    stored = {
        "PRACTICE_NAME": name,
        "PRACTICE_TIMEZONE": timezone,
        "PRACTICE_CALLBACK_NUMBER": callback_number,
    }
    differ = []
    for key, value in stored.items():
        given = env.get(key, "").strip()
        if not given:
            continue
        if key == "PRACTICE_CALLBACK_NUMBER":
            with contextlib.suppress(ValueError):
                given = to_e164(given)
        if given != value:
            differ.append(key)
    return differ
