"""Dispatch metadata: what a job carries to say whom to call.

The exact JSON that ``lk dispatch create --agent-name outbound-caller --metadata '...'``
sends is accepted::

    {"phone_number": "+14155550123", "transfer_to": "+14155550199"}

plus optional context about the patient. Unknown fields are rejected, so a typo
(``"phone"`` for ``"phone_number"``) fails loudly instead of being ignored.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import MetadataError
from .names import name_problem
from .phone import to_e164

AGENT_NAME = "outbound-caller"
"""The name the worker registers under; dispatches must name it explicitly."""

MAX_METADATA_BYTES = 4096
MAX_METADATA_DEPTH = 4  # the metadata is one flat object; more nesting is not metadata
YEARS = (2000, 2100)  # appointment times outside these are typing mistakes, not visits


def nesting_depth(raw: str) -> int:
    """How deeply ``raw``'s JSON arrays and objects nest, brackets in strings not counted;
    found without parsing, so that no input can exhaust the parser's recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in raw:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


class DispatchMetadata(BaseModel):
    """Validated job metadata.

    Attributes:
        phone_number: the number to dial, normalised to E.164.
        transfer_to: where ``transfer_call`` sends the callee; ``None`` means no
            transfer target, and the agent offers a callback instead.
        patient_name: the patient the call is for; ``None`` means the agent does
            not use a name.
        appointment_time: the patient's current appointment (ISO 8601 with an
            offset); ``None`` means the agent has no appointment on file.
        appointment_id: an appointment in the scheduling store; the agent then loads
            the patient and the appointment from the store (and the inline fields
            must not be given).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    phone_number: str
    transfer_to: str | None = None
    patient_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    appointment_time: datetime | None = None
    appointment_id: Annotated[int, Field(gt=0, lt=2**31, strict=True)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DispatchMetadata:
        if self.appointment_id is not None and (
            self.patient_name is not None or self.appointment_time is not None
        ):
            raise ValueError(
                "give either appointment_id (from the store) or patient_name/appointment_time"
            )
        return self

    @field_validator("phone_number", "transfer_to")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        return None if value is None else to_e164(value)

    @field_validator("patient_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and (problem := name_problem(value)) is not None:
            raise ValueError(problem.removeprefix("name "))
        return value

    @field_validator("appointment_time", mode="before")
    @classmethod
    def _iso(cls, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 string such as 2026-12-01T14:30:00-05:00")
        if len(value) > 40:
            raise ValueError("is too long for a date and time")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("is not an ISO 8601 date and time") from exc
        if parsed.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2026-12-01T14:30:00-05:00")
        if not YEARS[0] <= parsed.year <= YEARS[1]:
            raise ValueError(f"must be between the years {YEARS[0]} and {YEARS[1]}")
        return parsed


def parse_metadata(raw: str | None) -> DispatchMetadata:
    """Parse and validate job metadata.

    Raises:
        MetadataError: with a reason that never contains a full phone number.
    """
    if raw is None or not raw.strip():
        raise MetadataError("metadata is empty; it must be a JSON object with phone_number")
    if len(raw.encode("utf-8")) > MAX_METADATA_BYTES:
        raise MetadataError(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    if nesting_depth(raw) > MAX_METADATA_DEPTH:
        raise MetadataError(f"metadata nests deeper than {MAX_METADATA_DEPTH} levels")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MetadataError(f"metadata is not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(data, dict):
        raise MetadataError(f"metadata must be a JSON object, not {type(data).__name__}")
    try:
        return DispatchMetadata.model_validate(data)
    except ValidationError as exc:
        reasons = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "metadata"
            if err["type"] == "extra_forbidden":
                reasons.append(f"{field}: unknown field")
            elif err["type"] == "missing":
                reasons.append(f"{field}: required")
            else:
                reasons.append(f"{field}: {str(err['msg']).removeprefix('Value error, ')}")
        raise MetadataError("invalid metadata: " + "; ".join(reasons)) from None
