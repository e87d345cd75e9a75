"""Database entities. The row of a job is its source of truth: status, progress, error, lease."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; all stored times are UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


class JobStatus(enum.StrEnum):
    queued = "queued"
    processing = "processing"
    ready = "ready"
    failed = "failed"
    cancelled = "cancelled"
    expired = "expired"


TERMINAL_STATUSES = frozenset(
    {JobStatus.ready, JobStatus.failed, JobStatus.cancelled, JobStatus.expired}
)

# What a processing separation is doing, in order (Project.stage; written by the job through
# jobs.lease.LeaseKeeper, shown by the API).
ProjectStage = Literal["loading_model", "decoding", "separating", "writing"]


def _status_column() -> Mapped[JobStatus]:
    return mapped_column(
        Enum(JobStatus, native_enum=False, length=16),
        default=JobStatus.queued,
        index=True,
    )


class JobMixin:
    """Fields every queued job carries: lifecycle, progress and the lease of its worker."""

    status: Mapped[JobStatus] = _status_column()
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # At most settings.max_attempts; counted on the row because Redis keeps no delivery count.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# The owner of everything in single mode (ISOMIX_AUTH_MODE=single), and of the projects made
# before accounts existed (migration 0003). It cannot sign in: it has no password.
LOCAL_OWNER_ID: Final = "00000000-0000-0000-0000-000000000001"
LOCAL_OWNER_EMAIL: Final = "owner@localhost"


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-case
    password_hash: Mapped[str | None] = mapped_column(String(256), default=None)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscription(Base):
    """A plan for a user from `starts_at` until `ends_at` (open-ended when None). With none
    running, the user is on the free plan."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    plan: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(default=utcnow)
    ends_at: Mapped[datetime | None] = mapped_column(default=None)
    source: Mapped[str] = mapped_column(String(16))  # "admin" or "stripe"
    # Stripe's subscription id: renewals and cancellations find the row by it.
    external_id: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A personal API token; only its sha256 is kept (the secret is shown once)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class RefreshToken(Base):
    """One refresh token of a sign-in (a family): each use replaces it with a new one; using
    a replaced one again means it was stolen, and the whole family is revoked."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)  # rotated
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class UsageDay(Base):
    """Uploads counted (reserved) per user and UTC day, for the plan's daily limit."""

    __tablename__ = "usage_days"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    uploads: Mapped[int] = mapped_column(Integer, default=0)


class AuditEvent(Base):
    """Append-only (the database refuses UPDATE and DELETE: migration 0003's triggers)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # No foreign keys: the trail outlives what it names.
    user_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    action: Mapped[str] = mapped_column(String(32), index=True)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    object_type: Mapped[str | None] = mapped_column(String(16), default=None)
    object_id: Mapped[str | None] = mapped_column(String(255), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class StripeEvent(Base):
    """Webhook events already applied: a replayed event changes nothing."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class StemSet(Base):
    """Separated stems on disk, shared by every project with the same content and options."""

    __tablename__ = "stem_sets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # sha256 of the upload + model + two_stems + shifts: same key, same stems.
    cache_key: Mapped[str] = mapped_column(String(128), unique=True)
    directory: Mapped[str] = mapped_column(String(512))  # relative to the data directory
    stem_names: Mapped[dict[str, Any]] = mapped_column(default=dict)  # stemsets.names_value
    duration_seconds: Mapped[float] = mapped_column(Float)
    refcount: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The MP3 previews are still to be encoded (outputs.write_mp3_preview): until then the
    # mixer plays each stem's quick preview.
    previews_pending: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), index=True
    )
    # Bytes of every object of the set in the store (masters, previews, peaks), kept up to
    # date by the writers so that metrics read storage use from rows, not by walking files.
    stored_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Tempo, beats and key detected from these stems (analysis/), once per stem set; None
    # until analysed.
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class Project(JobMixin, Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    filename: Mapped[str] = mapped_column(String(512))  # the user's name: data, never a path
    source_path: Mapped[str] = mapped_column(String(512))  # relative to the data directory
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    container: Mapped[str] = mapped_column(String(64))
    duration_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    model: Mapped[str] = mapped_column(String(64))
    two_stems: Mapped[str | None] = mapped_column(String(64), default=None)
    shifts: Mapped[int] = mapped_column(Integer, default=1)
    eta_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    # What a running separation is doing; None when not processing.
    stage: Mapped[ProjectStage | None] = mapped_column(String(16), default=None)
    # Progressive separation: seconds from the start that are final in every stem and on
    # disk (storage.partial_dir); None before the first part and when not processing.
    ready_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    stem_set_id: Mapped[str | None] = mapped_column(
        ForeignKey("stem_sets.id", ondelete="SET NULL"), default=None
    )
    expires_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    owner_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, default=LOCAL_OWNER_ID
    )
    # From the owner's plan at upload time: higher is claimed first (Pro ahead of Free), and
    # how many of the owner's separations may run at once.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    job_slots: Mapped[int] = mapped_column(Integer, default=1)
    # The API request that created the job: its logs and the worker's carry the same id.
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # The owner's corrections of the detected analysis (bpm, key), kept over re-analysis.
    analysis_override: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    stem_set: Mapped[StemSet | None] = relationship(lazy="joined")
    exports: Mapped[list[Export]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True
    )


class Export(JobMixin, Base):
    __tablename__ = "exports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    mix: Mapped[dict[str, Any]] = mapped_column()  # the validated ExportRequest as JSON
    format: Mapped[str] = mapped_column(String(8))
    bitrate: Mapped[int | None] = mapped_column(Integer, default=None)
    bit_depth: Mapped[int | None] = mapped_column(Integer, default=None)
    path: Mapped[str | None] = mapped_column(String(512), default=None)
    stored_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)

    project: Mapped[Project] = relationship(back_populates="exports")


class Mix(Base):
    """A named mix of a project saved by its owner: the mixer's settings as JSON."""

    __tablename__ = "mixes"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_mixes_project_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    settings: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The mixer opens the mix opened last.
    opened_at: Mapped[datetime | None] = mapped_column(default=None)


class BlobDeletion(Base):
    """Files or folders of the store still to delete: written in the transaction that drops
    their rows, removed once the store has confirmed; the collector retries what failed."""

    __tablename__ = "blob_deletions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # A data-relative key ("exports/<id>.mp3") or a folder prefix ending in "/".
    key: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class SeparationStat(Base):
    """Measured speed per model on this deployment, for ETAs and /api/models."""

    __tablename__ = "separation_stats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(64), index=True)
    audio_seconds: Mapped[float] = mapped_column(Float)
    compute_seconds: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobCount(Base):
    """How many jobs ended, by kind ("separation", "export") and final status: a counter for
    /metrics that retention cannot lower. Written only by `jobs.lease.count_ended`, in the
    transaction that ends the job."""

    __tablename__ = "job_counts"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)


class WorkerHeartbeat(Base):
    """A process that runs jobs (an embedded worker, a Celery pool child), as of its last
    heartbeat (liveness.py): /metrics counts the recent ones as alive."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(128), primary_key=True)  # the lease owner id
    kind: Mapped[str] = mapped_column(String(16))  # "embedded" or "celery"
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
