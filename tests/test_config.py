"""Settings: every malformed value is reported, all at once, with how to fix it."""

from __future__ import annotations

import pytest

from outbound_caller.config import load_settings
from outbound_caller.errors import ConfigError

GOOD = {
    "LIVEKIT_URL": "wss://clinic.livekit.cloud",
    "LIVEKIT_API_KEY": "APIabc123",
    "LIVEKIT_API_SECRET": "supersecretvalue",
    "OPENAI_API_KEY": "sk-test",
    "DEEPGRAM_API_KEY": "dg-test",
    "CARTESIA_API_KEY": "ca-test",
    "SIP_OUTBOUND_TRUNK_ID": "ST_abc123",
    "PRACTICE_NAME": "Bright Smile Dental",
    "PRACTICE_TIMEZONE": "America/New_York",
    "PRACTICE_CALLBACK_NUMBER": "+14155550100",
}


def test_good_settings_get_the_spec_defaults() -> None:
    s = load_settings(GOOD)
    assert s.stt_model == "nova-2-phonecall"
    assert s.llm_model == "gpt-4o"
    assert s.tts_model == "sonic-3"
    assert s.turn_detection == "english"
    assert s.ringing_timeout == 30
    assert s.max_call_duration == 600
    assert (s.silence_timeout, s.greeting_delay) == (10.0, 2.0)
    assert (s.voicemail_policy, s.verify_date_of_birth) == ("hangup", False)
    assert load_settings({**GOOD, "VERIFY_DATE_OF_BIRTH": "true"}).verify_date_of_birth is True
    from outbound_caller.config import load_livekit

    padded = load_livekit({**GOOD, "LIVEKIT_API_KEY": " APIabc123 "})
    assert padded.livekit_api_key == "APIabc123"  # a key pasted with spaces still works
    assert s.transcript_retention_days == 30
    assert str(s.zone) == "America/New_York"


def test_overrides_are_applied_and_numbers_normalised() -> None:
    s = load_settings(
        {
            **GOOD,
            "LLM_MODEL": "gpt-4o-mini",
            "STT_MODEL": "nova-3",
            "TURN_DETECTION": "v1-mini",
            "RINGING_TIMEOUT": "45",
            "MAX_CALL_DURATION": "900",
            "PRACTICE_CALLBACK_NUMBER": "+1 (415) 555-0100",
        }
    )
    assert (s.llm_model, s.stt_model, s.turn_detection) == ("gpt-4o-mini", "nova-3", "v1-mini")
    assert (s.ringing_timeout, s.max_call_duration) == (45, 900)
    assert s.practice_callback_number == "+14155550100"


def test_unrelated_environment_is_ignored() -> None:
    assert load_settings({**GOOD, "PATH": "/usr/bin", "HOME": "/root"}).practice_name


def test_console_mode_does_not_need_a_trunk() -> None:
    env = {k: v for k, v in GOOD.items() if k != "SIP_OUTBOUND_TRUNK_ID"}
    assert load_settings(env, require_telephony=False).sip_outbound_trunk_id is None
    with pytest.raises(ConfigError, match="SIP_OUTBOUND_TRUNK_ID is not set"):
        load_settings(env)


BAD = [
    ("LIVEKIT_URL", None, "LIVEKIT_URL is not set"),
    ("LIVEKIT_URL", "", "LIVEKIT_URL is not set"),
    ("LIVEKIT_URL", "   ", "LIVEKIT_URL is not set"),
    ("LIVEKIT_URL", "clinic.livekit.cloud", "not a ws://"),
    ("LIVEKIT_URL", "ftp://clinic.livekit.cloud", "not a ws://"),
    ("LIVEKIT_URL", "wss://", "not a ws://"),
    ("LIVEKIT_API_KEY", None, "LIVEKIT_API_KEY is not set"),
    ("LIVEKIT_API_SECRET", None, "LIVEKIT_API_SECRET is not set"),
    ("OPENAI_API_KEY", None, "OPENAI_API_KEY is not set"),
    ("DEEPGRAM_API_KEY", None, "DEEPGRAM_API_KEY is not set"),
    ("CARTESIA_API_KEY", None, "CARTESIA_API_KEY is not set"),
    ("SIP_OUTBOUND_TRUNK_ID", None, "SIP_OUTBOUND_TRUNK_ID is not set"),
    ("SIP_OUTBOUND_TRUNK_ID", "abc123", "start with ST_"),
    ("SIP_OUTBOUND_TRUNK_ID", "TR_abc123", "start with ST_"),
    ("SIP_OUTBOUND_TRUNK_ID", "ST_", "start with ST_"),
    ("PRACTICE_NAME", None, "PRACTICE_NAME is not set"),
    ("PRACTICE_NAME", "x" * 201, "at most 200"),
    ("PRACTICE_TIMEZONE", None, "PRACTICE_TIMEZONE is not set"),
    ("PRACTICE_TIMEZONE", "Mars/Olympus_Mons", "not a known time zone"),
    ("PRACTICE_TIMEZONE", "EST5EDT/../../etc", "not a known time zone"),
    ("PRACTICE_CALLBACK_NUMBER", None, "PRACTICE_CALLBACK_NUMBER is not set"),
    ("PRACTICE_CALLBACK_NUMBER", "4155550100", "starting with + and the country code"),
    ("PRACTICE_CALLBACK_NUMBER", "+1415", "not a valid phone number"),
    ("PRACTICE_CALLBACK_NUMBER", "call us", "may only contain digits"),
    ("PRACTICE_CALLBACK_NUMBER", "+999999999999", "not a phone number"),
    ("TURN_DETECTION", "multilingual", "TURN_DETECTION"),
    ("RINGING_TIMEOUT", "soon", "valid integer"),
    ("RINGING_TIMEOUT", "2", "greater than or equal to 5"),
    # livekit-server ends a wait-until-answered dial after 80 s, joining and INVITE included
    ("RINGING_TIMEOUT", "75", "less than or equal to 70"),
    # a stopping worker lets calls in progress run for 15 minutes, no longer
    ("MAX_CALL_DURATION", "1200", "less than or equal to 900"),
    ("MAX_CALL_DURATION", "10", "greater than or equal to 60"),
    ("MAX_CALL_DURATION", "1.5h", "valid integer"),
    ("GREETING_DELAY", "-1", "greater than or equal to 0.5"),
    ("SILENCE_TIMEOUT", "1", "greater than or equal to 3"),
    ("ALLOW_INSECURE_TRUNK", "sometimes", "valid boolean"),
    ("HEALTH_PORT", "http", "valid integer"),
    ("HEALTH_PORT", "70000", "less than or equal to 65535"),
    ("WORKER_LOAD_THRESHOLD", "1.5", "less than or equal to 1"),
    ("WORKER_LOAD_THRESHOLD", "busy", "valid number"),
    ("TURN_TAKING", "fast", "TURN_TAKING"),
    ("NOISE_CANCELLATION", "krisp", "NOISE_CANCELLATION"),
    ("JOB_EXECUTOR", "fiber", "JOB_EXECUTOR"),
    ("TRANSFER_MODE", "hot", "cold (default: straight to the desk) or warm"),
    ("TRANSFER_RING_TIMEOUT", "2", "greater than or equal to 5"),
    ("TRANSFER_RING_TIMEOUT", "90", "less than or equal to 60"),
    ("WORKER_MAX_CALLS", "0", "greater than or equal to 1"),
    ("WORKER_MAX_CALLS", "many", "valid integer"),
]


@pytest.mark.parametrize(("name", "value", "expected"), BAD)
def test_each_bad_value_is_named_with_a_fix(name: str, value: str | None, expected: str) -> None:
    env = dict(GOOD)
    if value is None:
        env.pop(name)
    else:
        env[name] = value
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    [problem] = caught.value.problems
    assert problem.startswith(name)
    assert expected in problem
    assert "set it to" in problem


def test_a_call_limit_and_a_cpu_threshold_are_not_both_set() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**GOOD, "WORKER_MAX_CALLS": "4", "WORKER_LOAD_THRESHOLD": "0.9"})
    assert caught.value.problems == [
        "WORKER_MAX_CALLS and WORKER_LOAD_THRESHOLD are both set; set only one of them "
        "(a number of calls, or a CPU load)"
    ]
    assert load_settings({**GOOD, "WORKER_MAX_CALLS": "4"}).worker_max_calls == 4


def test_a_webhook_needs_a_long_secret_which_is_never_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**GOOD, "WEBHOOK_URL": "https://pms.example/hooks/calls/"})
    assert caught.value.problems == [
        "WEBHOOK_SECRET is not set (WEBHOOK_URL is); set it to a random string of 16 or more "
        "characters, shared with the receiver"
    ]
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {**GOOD, "WEBHOOK_URL": "https://pms.example/h", "WEBHOOK_SECRET": "hunter2-short"}
        )
    [problem] = caught.value.problems
    assert problem.startswith("WEBHOOK_SECRET=(hidden): is shorter than 16 characters")
    assert "hunter2" not in str(caught.value)
    settings = load_settings(
        {
            **GOOD,
            "WEBHOOK_URL": "https://pms.example/hooks/calls/",
            "WEBHOOK_SECRET": "0123456789abcdef",
        }
    )
    assert settings.webhook_url == "https://pms.example/hooks/calls/"  # as given, slash kept
    assert load_settings(GOOD).webhook_url is None
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {**GOOD, "WEBHOOK_URL": "ftp://pms.example/h", "WEBHOOK_SECRET": "0123456789abcdef"}
        )
    [problem] = caught.value.problems
    assert problem.startswith("WEBHOOK_URL='ftp://pms.example/h': is not an http:// or https://")


def test_every_problem_is_reported_in_one_message() -> None:
    env = {
        "LIVEKIT_URL": "localhost",
        "SIP_OUTBOUND_TRUNK_ID": "trunk-1",
        "PRACTICE_TIMEZONE": "Nowhere/Land",
        "PRACTICE_CALLBACK_NUMBER": "12345",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    for name in (
        "LIVEKIT_URL",
        "LIVEKIT_API_KEY",
        "LIVEKIT_API_SECRET",
        "OPENAI_API_KEY",
        "DEEPGRAM_API_KEY",
        "CARTESIA_API_KEY",
        "SIP_OUTBOUND_TRUNK_ID",
        "PRACTICE_NAME",
        "PRACTICE_TIMEZONE",
        "PRACTICE_CALLBACK_NUMBER",
    ):
        assert name in message
    assert len(caught.value.problems) == 10


def test_secrets_are_never_echoed() -> None:
    from outbound_caller.config import SECRETS, _describe

    # every secret refused for its value is named, never shown (no rule refuses a non-empty
    # secret today, so the refusal is built here as pydantic reports one)
    for name in SECRETS:
        refusal = {"loc": (name,), "type": "string_pattern_mismatch", "msg": "is malformed"}
        line = _describe(refusal, {name: "sk-supersecretvalue"})
        assert line.startswith(f"{name}=(hidden): is malformed")
        assert "supersecret" not in line
    # an ordinary setting is shown, so the operator can see what was wrong
    line = _describe({"loc": ("PRACTICE_NAME",), "type": "x", "msg": "bad"}, {"PRACTICE_NAME": "A"})
    assert line.startswith("PRACTICE_NAME='A': bad")
    s = load_settings(GOOD)
    assert "supersecretvalue" not in repr(s)
    assert "supersecretvalue" not in str(s.model_dump())


def test_env_example_lists_every_setting_and_its_defaults_are_valid() -> None:
    from pathlib import Path

    from outbound_caller.config import HINTS, read_env_file

    example = read_env_file(Path(__file__).resolve().parents[1] / ".env.example")
    assert set(HINTS) | {"DATABASE_URL"} <= set(example)
    filled = {k: v for k, v in example.items() if v and k not in GOOD} | GOOD
    settings = load_settings(filled)
    assert settings.voicemail_policy == "hangup"
    assert settings.transcript_dir is None


def test_provider_urls_default_to_the_public_services_and_must_be_http_urls() -> None:
    s = load_settings(GOOD)
    assert (s.openai_base_url, s.deepgram_base_url, s.cartesia_base_url) == (None, None, None)
    with pytest.raises(ConfigError) as err:
        load_settings({**GOOD, "OPENAI_BASE_URL": "api.openai.com/v1", "CARTESIA_BASE_URL": "x"})
    text = str(err.value)
    assert "OPENAI_BASE_URL='api.openai.com/v1': is not an http:// or https:// URL" in text
    assert "CARTESIA_BASE_URL='x': is not an http:// or https:// URL" in text
