"""One settings object for the whole product; the only place that reads ISOMIX_* variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(user_data_dir("isomix", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ISOMIX_", extra="ignore")

    # Where models, uploads, stems, exports and the SQLite database live.
    data_dir: Path = Field(default_factory=_default_data_dir)

    # Separation defaults (CLI and worker).
    # Unset: the model chosen with `isomix models default`, else the best installed
    # (separation.store.default_model owns the order).
    default_model: str | None = None
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    # Torch threads per worker process; 0 lets torch decide.
    torch_threads: int = 0
    # Arithmetic of the model: "auto" is bf16 autocast on CPUs with native bf16 (avx512_bf16
    # or AMX), fp16 on CUDA, fp32 otherwise; "fp32" matches `python -m demucs` exactly.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # Workers separate at this niceness (0-19) so that the API answers while they compute.
    worker_nice: int = Field(default=10, ge=0, le=19)
    # Publish each part of every stem as soon as it is final, so the mixer can play while
    # the rest of the song separates (single-pass jobs: one model, at most one shift).
    progressive: bool = True

    # Web service.
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = None  # default: SQLite file in data_dir
    redis_url: str | None = None  # set: jobs go through Celery; unset: embedded worker
    max_upload_bytes: int = 200_000_000  # 200 MB, as storage.format_bytes writes it
    max_duration_seconds: float = 30 * 60
    retention_hours: float = 24 * 7
    celery_visibility_timeout: int = 4 * 3600
    job_time_limit: int = 3 * 3600
    max_attempts: int = 3

    # Who may talk to the server and how much one request or client may hold (api/guards.py,
    # api/server.py). Comma-separated lists; the loopback names are always served.
    allowed_hosts: str = ""  # extra Host names: "studio.example", ".example.org", "*"
    allowed_origins: str = ""  # extra origins for POST/PUT/PATCH/DELETE: "https://a.example"
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)  # every route but the upload
    max_connections: int = Field(default=500, ge=1)  # per `isomix serve` process
    header_timeout: float = Field(default=20.0, gt=0)  # seconds for a request's head
    body_timeout: float = Field(default=30.0, gt=0)  # seconds a body may stall
    min_body_rate: int = Field(default=8 * 1024, ge=0)  # bytes/s a body must average, 0: off

    # Built web UI (index.html + assets); unset: the packaged static dir or frontend/dist.
    ui_dir: Path | None = None

    # Response headers, CORS, client address, rate limits (api/headers.py, api/client_ip.py,
    # ratelimit.py). Comma-separated lists.
    cors_origins: str = ""  # origins allowed cross-origin with credentials; empty: CORS off
    trusted_proxies: str = ""  # IPs and CIDRs whose X-Forwarded-For is believed; empty: none
    # Rate limits in the `limits` notation ("20/minute", "5 per hour").
    rate_limit_login_ip: str = "20/minute"  # per client address
    rate_limit_login_account: str = "10/minute"  # per account tried
    rate_limit_signup_ip: str = "5/hour"
    rate_limit_upload: str = "30/hour"  # per user
    rate_limit_export: str = "60/hour"  # per user
    rate_limit_refresh_ip: str = "60/minute"

    # Accounts (accounts/, api/auth.py). "single": no login, one owner on an unlimited plan
    # (today's product); "accounts": every /api route but health, readiness, config and the
    # plan table needs a signed-in user.
    auth_mode: Literal["single", "accounts"] = "single"
    signup: bool = True  # accounts mode: anyone may sign up; false: accounts come from an admin
    # Signs access tokens and download links. Unset: a random key kept in the data directory
    # (storage.secret_key_file); several API instances must share one, so set it there.
    secret_key: str | None = Field(default=None, repr=False)
    access_token_minutes: int = Field(default=15, ge=1, le=15)
    refresh_token_days: int = Field(default=30, ge=1)
    signed_url_ttl: int = Field(default=15 * 60, ge=10)  # seconds a download link is valid
    # Reuse stems across owners (an instant result would tell one user that another uploaded
    # the same file). Unset: on in single mode (one owner anyway), off in accounts mode.
    shared_cache: bool | None = None
    metrics_token: str | None = Field(default=None, repr=False)  # else /metrics: loopback only
    plans_file: Path | None = None  # TOML with [free] and [pro] tables overriding plans.py
    # Stripe: both set turns on Checkout and the webhook; else an admin sets plans.
    stripe_secret_key: str | None = Field(default=None, repr=False)
    stripe_webhook_secret: str | None = Field(default=None, repr=False)
    stripe_api_base: str | None = None  # another Stripe API endpoint (stripe-mock, a proxy)
    currency: str = "eur"
    # The address users reach the UI at (Stripe sends them back there); unset: the request's.
    public_url: str | None = None

    # Where files live (storage.py and blobstore/): "" or "file://" is the data directory;
    # "s3://BUCKET/PREFIX" any S3-compatible store, credentials from the usual AWS variables
    # and files. Several machines need s3:// (a shared folder also works).
    storage_url: str = ""
    s3_endpoint_url: str | None = None  # a store that is not AWS (MinIO, Ceph, moto)
    s3_region: str | None = None
    # Server-side encryption asked for on every object: "AES256", or a KMS key id.
    s3_sse: str | None = None
    # Local files: envelope encryption at rest (sealed.py) with this master key, 32 random
    # bytes in base64; older keys (comma-separated) still open files until `isomix keys
    # rotate` has rewrapped them with the current one.
    encryption_key: str | None = Field(default=None, repr=False)
    previous_encryption_keys: str | None = Field(default=None, repr=False)
    # Scratch space for a worker's decode, separation and encode; always cleaned. Unset: a
    # folder in the system's temporary directory (never under data_dir, which may be sealed).
    scratch_dir: Path | None = None

    # Monitoring and logs (logs.py, errortracking.py, metrics.py).
    log_format: Literal["auto", "json", "text"] = "auto"  # auto: text on a terminal, else JSON
    log_level: str = "INFO"
    sentry_dsn: str | None = Field(default=None, repr=False)
    sentry_environment: str | None = None

    @property
    def accounts(self) -> bool:
        return self.auth_mode == "accounts"

    @property
    def reuse_stems_across_owners(self) -> bool:
        return self.shared_cache if self.shared_cache is not None else not self.accounts

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'isomix.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
