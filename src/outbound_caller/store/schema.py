"""The scheduling store's tables (SQLAlchemy ORM). Times are stored in UTC.

Migrations in ``migrations/versions`` create exactly these tables; a test checks that
the migrated schema and these models agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; SQLite hands back naive values, so re-attach UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Practice(Base):
    __tablename__ = "practices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    callback_number: Mapped[str] = mapped_column(String(32))
    # campaigns call patients only inside this window of their own local time
    call_window_start: Mapped[time] = mapped_column(Time, server_default="08:00:00")
    call_window_end: Mapped[time] = mapped_column(Time, server_default="21:00:00")
    call_on_closed_days: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # what the agent may tell a patient who asks where the practice is
    address: Mapped[str] = mapped_column(Text, server_default="")
    parking: Mapped[str] = mapped_column(Text, server_default="")

    hours: Mapped[list[OpeningHours]] = relationship(lazy="selectin", order_by="OpeningHours.opens")
    closed_dates: Mapped[list[ClosedDate]] = relationship(lazy="selectin")


class OpeningHours(Base):
    """One open period of a weekday; several rows for one weekday leave breaks between."""

    __tablename__ = "opening_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)  # Monday is 0
    opens: Mapped[time] = mapped_column(Time)
    closes: Mapped[time] = mapped_column(Time)

    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("opens < closes", name="period"),
    )


class ClosedDate(Base):
    __tablename__ = "closed_dates"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")


class Provider(Base):
    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(50))  # dentist, hygienist

    hours: Mapped[list[ProviderHours]] = relationship(
        lazy="selectin", order_by="ProviderHours.starts"
    )
    types: Mapped[list[AppointmentType]] = relationship(
        secondary="provider_appointment_types", lazy="selectin", order_by="AppointmentType.id"
    )

    __table_args__ = (Index("uq_providers_practice_name", "practice_id", "name", unique=True),)


class ProviderHours(Base):
    __tablename__ = "provider_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)

    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("starts < ends", name="period"),
    )


class AppointmentType(Base):
    __tablename__ = "appointment_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    minutes: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("minutes BETWEEN 5 AND 480", name="minutes"),
        Index("uq_appointment_types_practice_name", "practice_id", "name", unique=True),
    )


class ProviderAppointmentType(Base):
    """Which appointment types a provider does."""

    __tablename__ = "provider_appointment_types"

    provider_id: Mapped[int] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True
    )
    type_id: Mapped[int] = mapped_column(
        ForeignKey("appointment_types.id", ondelete="CASCADE"), primary_key=True
    )


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32), index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    date_of_birth: Mapped[date | None] = mapped_column(Date, nullable=True)


class Appointment(Base):
    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    type_id: Mapped[int] = mapped_column(ForeignKey("appointment_types.id"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    # the practice's own id for it (from its system's export): what a re-import matches on
    external_id: Mapped[str | None] = mapped_column(String(100), nullable=True)

    patient: Mapped[Patient] = relationship(lazy="joined")
    provider: Mapped[Provider] = relationship(lazy="joined")
    type: Mapped[AppointmentType] = relationship(lazy="joined")

    __table_args__ = (
        CheckConstraint(
            "status IN ('scheduled', 'confirmed', 'rescheduled', 'cancelled')", name="status"
        ),
        CheckConstraint("start_at < end_at", name="period"),
        # Backstop for races: one live appointment per provider and start time.
        Index(
            "uq_appointments_provider_start_live",
            "provider_id",
            "start_at",
            unique=True,
            sqlite_where=text("status != 'cancelled'"),
            postgresql_where=text("status != 'cancelled'"),
        ),
        Index("ix_appointments_provider_window", "provider_id", "start_at", "end_at"),
        Index("uq_appointments_practice_external", "practice_id", "external_id", unique=True),
    )


class AppointmentChange(Base):
    """Append-only history of every change to an appointment."""

    __tablename__ = "appointment_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(20))  # created, confirmed, rescheduled, cancelled
    old_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    new_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    old_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    new_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    by: Mapped[str] = mapped_column(Text, default="")  # the call (job id) or operator


class DoNotCall(Base):
    """Numbers never to dial, whatever the campaign."""

    __tablename__ = "do_not_call"

    phone: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    added_by: Mapped[str] = mapped_column(String(100), default="")


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # the appointments' day a --date campaign calls about: one campaign per practice and day
    day: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    max_in_flight: Mapped[int] = mapped_column(Integer, default=2)
    calls_per_second: Mapped[float] = mapped_column(Float, default=1.0)
    last_dial_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    state: Mapped[str] = mapped_column(String(20), default="running")  # running, stopped, paused
    # the rest of the campaign's policy, so that whoever resumes it calls as it was started
    # (empty for campaigns made before these were kept: the defaults then)
    max_attempts: Mapped[int | None] = mapped_column(Integer, nullable=True)
    retry_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    retry_voicemail: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class CampaignTarget(Base):
    """One patient (and appointment) a campaign must reach; all runner state lives here."""

    __tablename__ = "campaign_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), nullable=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), nullable=True)
    phone: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(
        String(20), default="pending"
    )  # pending, dialing, done, skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    skip_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)

    __table_args__ = (
        Index("ix_campaign_targets_queue", "campaign_id", "state", "next_at"),
        CheckConstraint("state IN ('pending', 'dialing', 'done', 'skipped')", name="state"),
    )


class Call(Base):
    """One dial: created when it is placed, completed by the agent when the call ends."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    room: Mapped[str] = mapped_column(String(100), unique=True)
    dispatch_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    phone: Mapped[str] = mapped_column(String(32), index=True)
    appointment_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    campaign_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    target_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="dialing")
    sip_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    amd: Mapped[str | None] = mapped_column(String(20), nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    hangup_reason: Mapped[str | None] = mapped_column(String(100), nullable=True)
    tools_used: Mapped[str] = mapped_column(Text, default="")
    changes: Mapped[str] = mapped_column(Text, default="")
    errors: Mapped[str] = mapped_column(Text, default="")
    # the patient asked to be called back then; what they asked to pass on to the office
    callback_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    callback_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    office_messages: Mapped[str] = mapped_column(Text, default="", server_default="")


class WebhookEvent(Base):
    """An event for the practice's webhook (``WEBHOOK_URL``), written in the same transaction
    as what it reports, so no event is lost to a crash: the outbox a sender delivers from."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)  # receivers dedupe by it
    kind: Mapped[str] = mapped_column(String(40))
    call_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    body: Mapped[str] = mapped_column(Text)  # the JSON, sent byte for byte on every attempt
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # a sender holds the event until then while it posts it; another may take it after
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    given_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ConsoleUser(Base):
    """Someone who may log in to the web console (``outbound-caller user add``)."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, never the password
    role: Mapped[str] = mapped_column(String(10))  # staff, admin
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # wrong passwords in a row; at LOCK_AFTER the account is locked until locked_until
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (CheckConstraint("role IN ('staff', 'admin')", name="role"),)


class ConsoleSession(Base):
    """A logged-in browser; the cookie holds the token, the table only its SHA-256."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("console_users.id", ondelete="CASCADE"), index=True
    )
    csrf: Mapped[str] = mapped_column(String(64))  # every form of this session carries it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Who viewed or changed what in the console: append-only."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    user: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))  # viewed, changed, login, ...
    what: Mapped[str] = mapped_column(String(300))  # never a whole number or a name
    client: Mapped[str] = mapped_column(String(64), default="")
