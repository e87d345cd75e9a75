"""Request and response bodies of the HTTP API (the contract in notes/API.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from isomix.analysis.names import KEY_NAMES, MAX_BPM, MIN_BPM
from isomix.audio import export_formats, render, stretch
from isomix.audio.dsp import NEUTRAL_MIX
from isomix.audio.export_formats import BitDepth, ExportFormat
from isomix.filenames import clean_file_name
from isomix.models import ProjectStage

MIN_GAIN_DB = -60.0
MAX_GAIN_DB = 12.0
MAX_SHIFTS = 10
MAX_STEMS = 32
MAX_NAME_CHARS = 100  # a mix's, a section's or a stem's name
MAX_SECTIONS = 200
MAX_COUNT_IN_BARS = 8

ProjectStatus = Literal["queued", "processing", "ready", "failed", "cancelled", "expired"]
ExportStatus = Literal["queued", "processing", "ready", "failed"]


class ErrorResponse(BaseModel):
    detail: str
    code: str
    # A refusal by the plan or a rate limit also names the limit, the plan, the value and
    # when it resets (or how to lift it).
    limit: str | None = None
    plan: str | None = None
    value: float | str | None = None
    resets_at: datetime | None = None
    upgrade: str | None = None


class ValidationIssue(BaseModel):
    type: str
    loc: list[str | int]
    msg: str


class InvalidRequestResponse(BaseModel):
    """422: a message of ours, or FastAPI's list of validation issues for a malformed body."""

    detail: str | list[ValidationIssue]
    code: str


class StemOut(BaseModel):
    name: str
    color: str
    # The lossless FLAC master; None when the owner's plan has only the MP3 previews.
    url: str | None
    preview_url: str


class Project(BaseModel):
    id: str
    filename: str
    status: ProjectStatus
    progress: float
    eta_seconds: float | None
    # While processing, what the job is doing ("loading_model", "decoding", "separating",
    # "writing"); None otherwise, and for a moment after the job was taken.
    stage: ProjectStage | None = None
    queue_position: int | None
    model: str
    two_stems: str | None
    shifts: int
    duration_seconds: float | None
    error: str | None
    ready_seconds: float | None = Field(
        description="Progressive separation: while processing, how many seconds from the "
        "start are final in every stem; `stems` then lists every stem with `url` null and a "
        "`preview_url` that serves that part as 16-bit WAV (Range requests fetch only what "
        "is new). The duration once ready; null otherwise (also for jobs that cannot be "
        "progressive: bags of models, shifts above 1, the classic engine)."
    )
    stems: list[StemOut]
    # Links to follow, never to build: they may carry signatures later.
    events_url: str
    peaks_url: str | None  # once ready
    stems_zip_url: str | None  # once ready
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    analysis: Analysis | None = Field(
        default=None,
        description="Tempo, beats and key, once the worker has analysed the stems; null "
        "until then (and for a song with no pulse).",
    )
    existing: bool = Field(
        default=False,
        description="True only in the 200 answer to an upload of a file that is already in "
        "the library with the same options (queued, processing or ready): this is that "
        "project, and the new upload was discarded. False everywhere else.",
    )


class Analysis(BaseModel):
    """Tempo, beats and key detected once per stem set; `bpm` and `key` are the owner's
    correction when there is one (`corrected`), the detected values otherwise."""

    bpm: float
    bpm_detected: float
    key: str = Field(json_schema_extra={"enum": list(KEY_NAMES)})
    key_detected: str = Field(json_schema_extra={"enum": list(KEY_NAMES)})
    key_confidence: float = Field(ge=0.0, le=1.0)
    beats: list[float] = Field(description="Beat times in seconds.")
    downbeats: list[float] = Field(
        description="The beats that start a bar, in seconds (4/4 assumed)."
    )
    corrected: bool


class AnalysisCorrection(BaseModel):
    """PATCH /api/projects/{id}/analysis: a field left out stays as it is; null clears
    that correction (back to the detected value)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    bpm: float | None = Field(default=None, ge=MIN_BPM, le=MAX_BPM)
    key: str | None = Field(default=None, json_schema_extra={"enum": [*KEY_NAMES, None]})

    @field_validator("key")
    @classmethod
    def _known_key(cls, value: str | None) -> str | None:
        if value is not None and value not in KEY_NAMES:
            raise ValueError('must be one of "C major" ... "B minor", with sharps')
        return value


class ProjectList(BaseModel):
    items: list[Project]
    total: int
    limit: int
    offset: int


class UploadForm(BaseModel):
    """The multipart fields of POST /api/projects (parsed by hand to stream the file)."""

    model_config = ConfigDict(title="Body_projects-create_project")

    file: bytes = Field(json_schema_extra={"format": "binary", "type": "string"})
    model: str | None = None
    two_stems: str | None = None
    shifts: int | None = Field(default=None, ge=0, le=MAX_SHIFTS)


class Peaks(BaseModel):
    duration_seconds: float
    buckets: int
    stems: dict[str, list[float]]


class StemMix(BaseModel):
    # strict: "0" is not a number and 1 is not a boolean here; JSON ints still pass as floats.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    gain_db: float = Field(default=NEUTRAL_MIX.gain_db, ge=MIN_GAIN_DB, le=MAX_GAIN_DB)
    mute: bool = NEUTRAL_MIX.mute
    solo: bool = NEUTRAL_MIX.solo
    pan: float = Field(default=NEUTRAL_MIX.pan, ge=-1.0, le=1.0)


class ExportRequest(BaseModel):
    """A mix to render. Stems missing from `stems` play at 0 dB, centre, unmuted."""

    # strict: "0" is not a number and 1 is not a boolean here; JSON ints still pass as floats.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    stems: dict[str, StemMix] = Field(default_factory=dict)
    master_gain_db: float = Field(default=0.0, ge=MIN_GAIN_DB, le=MAX_GAIN_DB)
    format: ExportFormat
    bitrate: int | None = Field(
        default=None,
        ge=min(export_formats.MP3_BITRATES),
        le=max(export_formats.MP3_BITRATES),
    )
    bit_depth: BitDepth | None = None
    tempo: float = Field(
        default=1.0,
        ge=stretch.MIN_TEMPO,
        le=stretch.MAX_TEMPO,
        description="Playback speed without a pitch change: 0.75 is 75 %.",
    )
    pitch_semitones: float = Field(
        default=0.0,
        ge=-stretch.MAX_SEMITONES,
        le=stretch.MAX_SEMITONES,
        description="Transposition without a tempo change.",
    )
    start_seconds: float | None = Field(
        default=None, ge=0.0, description="Start of the range exported (a loop or a section)."
    )
    end_seconds: float | None = Field(
        default=None, gt=0.0, description="End of the range; at most the song's length."
    )
    include_stems: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_STEMS,
        description="Only these stems (mute and solo apply among them); null: every stem.",
    )
    loudness_lufs: float | None = Field(
        default=None,
        ge=render.MIN_LUFS,
        le=render.MAX_LUFS,
        description="Integrated loudness target (ITU-R BS.1770), true peak at most -1 dBTP.",
    )
    filename: str | None = Field(
        default=None,
        max_length=200,
        description="The download's name without its extension (made safe; null: the default).",
    )

    @field_validator("bitrate")
    @classmethod
    def _standard_bitrate(cls, value: int | None) -> int | None:
        return None if value is None else export_formats.check_bitrate(value)

    @field_validator("filename")
    @classmethod
    def _safe_filename(cls, value: str | None) -> str | None:
        return (clean_file_name(value) or None) if value is not None else None

    @model_validator(mode="after")
    def _format_fields(self) -> ExportRequest:
        # Fields of another format are ignored, not stored; the chosen format gets its default.
        encoding = export_formats.resolve(self.format, self.bitrate, self.bit_depth)
        self.bitrate = encoding.bitrate
        self.bit_depth = encoding.bit_depth
        if (
            self.start_seconds is not None
            and self.end_seconds is not None
            and self.end_seconds <= self.start_seconds
        ):
            raise ValueError("end_seconds must be after start_seconds")
        return self


class Export(BaseModel):
    id: str
    project_id: str
    status: ExportStatus
    progress: float
    format: ExportFormat
    bitrate: int | None
    bit_depth: int | None
    error: str | None
    download_url: str | None
    created_at: datetime


class _Loose(BaseModel):
    # A saved mix is the mixer's to shape: fields it adds later are kept (the whole settings
    # object is capped in bytes); the fields known here are typed and bounded.
    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)


class SavedStemMix(_Loose):
    gain_db: float = Field(default=NEUTRAL_MIX.gain_db, ge=MIN_GAIN_DB, le=MAX_GAIN_DB)
    mute: bool = NEUTRAL_MIX.mute
    solo: bool = NEUTRAL_MIX.solo
    pan: float = Field(default=NEUTRAL_MIX.pan, ge=-1.0, le=1.0)


class ClickMix(_Loose):
    gain_db: float = Field(default=0.0, ge=MIN_GAIN_DB, le=MAX_GAIN_DB)
    mute: bool = False
    pan: float = Field(default=0.0, ge=-1.0, le=1.0)


class Section(_Loose):
    name: str = Field(max_length=MAX_NAME_CHARS)
    start: float = Field(ge=0.0)


class Loop(_Loose):
    start: float = Field(ge=0.0)
    end: float = Field(gt=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> Loop:
        if self.end <= self.start:
            raise ValueError("a loop ends after it starts")
        return self


class MixSettings(_Loose):
    """The mixer's state as a named mix keeps it (at most 64 KiB as JSON)."""

    stems: dict[str, SavedStemMix] = Field(default_factory=dict, max_length=MAX_STEMS)
    master_gain_db: float = Field(default=0.0, ge=MIN_GAIN_DB, le=MAX_GAIN_DB)
    tempo: float = Field(default=1.0, ge=stretch.MIN_TEMPO, le=stretch.MAX_TEMPO)
    pitch_semitones: float = Field(default=0.0, ge=-stretch.MAX_SEMITONES, le=stretch.MAX_SEMITONES)
    click: ClickMix | None = None
    count_in_bars: int = Field(default=0, ge=0, le=MAX_COUNT_IN_BARS)
    sections: list[Section] = Field(default_factory=list, max_length=MAX_SECTIONS)
    loop: Loop | None = None

    @field_validator("stems")
    @classmethod
    def _stem_names(cls, value: dict[str, SavedStemMix]) -> dict[str, SavedStemMix]:
        if any(len(name) > MAX_NAME_CHARS for name in value):
            raise ValueError(f"stem names are at most {MAX_NAME_CHARS} characters")
        return value


def _mix_name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise ValueError("a mix needs a name")
    if not name.isprintable():
        raise ValueError("a mix name is printable characters only")
    return name


class MixCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    settings: MixSettings

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _mix_name(value)


class MixUpdate(BaseModel):
    """A new name, new settings, or both; what is left out stays."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_CHARS)
    settings: MixSettings | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _mix_name(value)


class Mix(BaseModel):
    id: str
    name: str
    settings: MixSettings
    created_at: datetime
    updated_at: datetime
    opened_at: datetime | None


class ModelInstall(BaseModel):
    """An install started with POST /api/models/{name}/install: its progress while it runs,
    then its outcome (kept until the next install of that model)."""

    model: str
    state: Literal["running", "installed", "failed"]
    phase: Literal["starting", "connecting", "downloading", "verifying", "done"]
    # The bag file and one weight file per member; the total is known once the bag file is in.
    files_done: int
    files_total: int | None
    # Bytes of the weight files; the total is known once the hub has said their sizes.
    bytes_done: int
    bytes_total: int | None
    # When failed: one line of prose saying why, and when the hub could not be reached, how to
    # install from files instead, `commands` holding the command to run.
    error: str | None = None
    commands: list[str] = Field(default_factory=list)
    started_at: datetime
    finished_at: datetime | None = None


class ModelInfo(BaseModel):
    name: str
    description: str
    stems: list[str]
    installed: bool
    default: bool
    # Mean SDR in dB over the 4 stems, and where it comes from (published or measured, on
    # what), or why there is none.
    quality_sdr_db: float | None
    quality_source: str | None = None
    speed_rtf: float | None
    # MB = 10^6 bytes: the installed files, else the catalog's estimate of the download.
    size_mb: float | None
    # The same size as `isomix models list` writes it ("84.1 MB", "~84 MB"); None for
    # built-in models. Show this rather than formatting size_mb.
    size_text: str | None = None
    low_quality: bool
    # Prose (no markup); the shell commands it speaks of are in install_commands, each to be
    # shown as code and copied as is.
    install_hint: str
    install_commands: list[str] = Field(default_factory=list)
    # POST /api/models/{name}/install can fetch it from the model hub. (A factory rather than a
    # default keeps it optional in the generated client, like the other fields added later.)
    installable: bool = Field(default_factory=bool)
    # The latest install started from the browser, running or finished.
    install: ModelInstall | None = None
    # Set when the model's folder is there but cannot be used (a damaged manifest): what is
    # wrong; install_hint then says how to repair it.
    problem: str | None = None


class PublicConfig(BaseModel):
    max_upload_bytes: int
    max_duration_seconds: float
    default_model: str
    # What an upload may be (audio/formats.py): display names ("MP3", "WAV", ...) in the order
    # to show them, and file name endings with their dot (".mp3", ...) for a file picker.
    accepted_formats: list[str]
    accepted_extensions: list[str]
    # "accounts": sign in first (the UI shows sign-in); "single": no accounts.
    auth_mode: Literal["single", "accounts"] = "single"
    signup: bool = False  # accounts mode: anyone may sign up


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


# ---------------------------------------------------------------- accounts and plans


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class AccessToken(BaseModel):
    """After sign-in or refresh: the bearer token for `Authorization`, kept in memory only
    (the refresh token is in an HttpOnly cookie)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int  # seconds


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class PlanOut(BaseModel):
    name: str
    title: str
    max_upload_mb: float
    max_duration_minutes: float
    uploads_per_day: int | None
    concurrent_jobs: int
    models: list[str]  # ["*"]: every model
    max_shifts: int
    export_formats: list[str]
    max_mp3_kbps: int
    lossless_stems: bool
    retention_hours: float
    price_month: float
    price_year: float
    currency: str


class PlanTable(BaseModel):
    plans: list[PlanOut]
    # Stripe is configured: the account page offers Checkout; else an admin sets plans.
    checkout: bool


class Usage(BaseModel):
    uploads_today: int
    uploads_left: int | None  # None: no daily limit
    resets_at: datetime
    jobs_running: int
    storage_bytes: int
    projects: int


class UserOut(BaseModel):
    id: str
    email: str
    is_admin: bool
    disabled: bool
    created_at: datetime
    plan: str
    plan_until: datetime | None


class Me(BaseModel):
    user: UserOut
    plan: PlanOut
    plan_source: str | None  # "admin", "stripe" or None (free, or single mode)
    usage: Usage
    auth_mode: Literal["single", "accounts"]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="API token", min_length=1, max_length=100)


class TokenOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


class TokenCreated(TokenOut):
    token: str  # shown once; only its hash is kept


class AdminUserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    plan: Literal["free", "pro"] = "free"
    admin: bool = False


class PlanChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: Literal["free", "pro"]
    until: datetime | None = None  # None: open-ended


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interval: Literal["month", "year"] = "month"


class CheckoutOut(BaseModel):
    url: str
