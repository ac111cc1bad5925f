"""Dispatch metadata: exactly what `lk dispatch create` sends, and nothing malformed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from outbound_caller.dispatch import AGENT_NAME, nesting_depth, parse_metadata
from outbound_caller.errors import MetadataError
from outbound_caller.phone import mask, to_e164


def test_the_lk_cli_payload_is_accepted_as_is() -> None:
    raw = '{"phone_number": "+14155550123", "transfer_to": "+14155550199"}'
    meta = parse_metadata(raw)
    assert meta.phone_number == "+14155550123"
    assert meta.transfer_to == "+14155550199"
    assert meta.patient_name is None
    assert meta.appointment_time is None


def test_the_spec_example_numbers_parse() -> None:
    meta = parse_metadata('{"phone_number": "+12025550123", "transfer_to": "+442079460958"}')
    assert (meta.phone_number, meta.transfer_to) == ("+12025550123", "+442079460958")


def test_optional_context_is_typed() -> None:
    meta = parse_metadata(
        json.dumps(
            {
                "phone_number": "+1 (415) 555-0123",
                "patient_name": "  Jane Doe ",
                "appointment_time": "2026-12-01T14:30:00-05:00",
            }
        )
    )
    assert meta.phone_number == "+14155550123"
    assert meta.transfer_to is None
    assert meta.patient_name == "Jane Doe"
    assert meta.appointment_time == datetime(
        2026, 12, 1, 14, 30, tzinfo=timezone(timedelta(hours=-5))
    )


def test_nesting_is_counted_after_a_string_ending_in_an_escaped_backslash() -> None:
    deep = '{"phone_number": "+14155550123", "patient_name": "a\\\\", "x": [[[[[1]]]]]}'
    with pytest.raises(MetadataError, match="metadata nests deeper than 4 levels"):
        parse_metadata(deep)


def test_sibling_arrays_are_not_depth_and_the_cap_itself_is_allowed() -> None:
    assert nesting_depth('{"a": [1], "b": [2], "c": [3], "d": [4], "e": {"f": [5]}}') == 3
    four = '{"phone_number": "+14155550123", "x": [[[1]]]}'  # exactly the cap: 4 levels
    assert nesting_depth(four) == 4
    with pytest.raises(MetadataError) as refused:
        parse_metadata(four)
    assert "nests deeper" not in str(refused.value)
    assert "x: unknown field" in str(refused.value)


def test_the_agent_name_is_the_registered_one() -> None:
    assert AGENT_NAME == "outbound-caller"


BAD = [
    ("", "empty"),
    ("   ", "empty"),
    ("not json", "not valid JSON"),
    ("{'phone_number': '+14155550123'}", "not valid JSON"),
    ('{"phone_number": "+14155550123"', "not valid JSON"),
    ('["+14155550123"]', "must be a JSON object, not list"),
    ('"+14155550123"', "must be a JSON object, not str"),
    ("null", "must be a JSON object, not NoneType"),
    ("42", "must be a JSON object, not int"),
    ("{}", "phone_number: required"),
    ('{"transfer_to": "+14155550199"}', "phone_number: required"),
    ('{"phone_number": ""}', "phone_number: is empty"),
    ('{"phone_number": 14155550123}', "phone_number: Input should be a valid string"),
    ('{"phone_number": "4155550123"}', "starting with + and the country code"),
    ('{"phone_number": "+1415"}', "not a valid phone number"),
    ('{"phone_number": "+1 415 CALL NOW"}', "may only contain digits"),
    ('{"phone_number": "+14155550123", "transfer_to": "front desk"}', "transfer_to"),
    ('{"phone_number": "+14155550123", "phone": "+14155550124"}', "phone: unknown field"),
    ('{"phone_number": "+14155550123", "appointment": "1"}', "appointment: unknown field"),
    ('{"phone_number": "+14155550123", "appointment_id": "7"}', "appointment_id"),
    ('{"phone_number": "+14155550123", "appointment_id": 0}', "greater than 0"),
    (
        '{"phone_number": "+14155550123", "appointment_id": 7, "patient_name": "Jo"}',
        "either appointment_id",
    ),
    ('{"phone_number": "+14155550123", "patient_name": ""}', "patient_name"),
    ('{"phone_number": "+14155550123", "patient_name": "' + "a" * 101 + '"}', "patient_name"),
    ('{"phone_number": "+14155550123", "patient_name": "Jane\\u0000Doe"}', "may only hold"),
    ('{"phone_number": "+14155550123", "patient_name": "=CMD()"}', "start with a letter"),
    ('{"phone_number": "+14155550123", "x": ' + "[" * 2000 + "]" * 2000 + "}", "nests deeper"),
    ('{"phone_number": "+14155550123", "x": ' + "[" * 3000 + "}", "nests deeper"),
    (
        '{"phone_number": "+14155550123", "appointment_time": "9999-12-31T23:59:59-05:00"}',
        "between the years 2000 and 2100",
    ),
    (
        '{"phone_number": "+14155550123", "appointment_time": "0001-01-01T00:00:00+05:00"}',
        "between the years 2000 and 2100",
    ),
    ('{"phone_number": "+14155550123", "appointment_time": "tomorrow"}', "not an ISO 8601"),
    ('{"phone_number": "+14155550123", "appointment_time": "2026-12-01T14:30"}', "UTC offset"),
    ('{"phone_number": "+14155550123", "appointment_time": 1764617400}', "ISO 8601 string"),
    ('{"phone_number": "+' + "1" * 40 + '"}', "longer than 32"),
    ('{"phone_number": "+14155550123", "x": "' + "y" * 5000 + '"}', "larger than 4096 bytes"),
]


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    meta = parse_metadata('{"phone_number": "+14155550123", "patient_name": "Jo"}')
    assert meta.patient_name == "Jo"
    assert nesting_depth('{"a": "[[[[[[[[\\"{{{{{{"}') == 1


@pytest.mark.parametrize(("raw", "reason"), BAD)
def test_bad_metadata_is_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(MetadataError) as caught:
        parse_metadata(raw)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    "raw",
    [
        '{"phone_number": "+14155550123", "phone": "+14155550124"}',
        '{"phone_number": "+14155550123", "transfer_to": "+1415"}',
        '{"phone_number": "+1415555012"}',
    ],
)
def test_reasons_never_carry_a_phone_number(raw: str) -> None:
    with pytest.raises(MetadataError) as caught:
        parse_metadata(raw)
    assert "555012" not in str(caught.value)


def test_mask_keeps_the_last_four_digits() -> None:
    assert mask("+14155550123") == "***0123"
    assert mask("") == "<none>"
    assert mask(None) == "<none>"
    assert mask("12") == "***"


def test_to_e164_takes_a_default_region_for_local_numbers() -> None:
    assert to_e164("(415) 555-0123", default_region="US") == "+14155550123"
    with pytest.raises(ValueError, match=r"starting with \+"):
        to_e164("(415) 555-0123")
