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
    default_model: str = "htdemucs"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    # Torch threads per worker process; 0 lets torch decide.
    torch_threads: int = 0

    # Web service.
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = None  # default: SQLite file in data_dir
    redis_url: str | None = None  # set: jobs go through Celery; unset: embedded worker
    max_upload_bytes: int = 200 * 1024 * 1024
    max_duration_seconds: float = 30 * 60
    retention_hours: float = 24 * 7
    celery_visibility_timeout: int = 4 * 3600
    job_time_limit: int = 3 * 3600
    max_attempts: int = 3
    # Built web UI (index.html + assets); unset: the packaged static dir or frontend/dist.
    ui_dir: Path | None = None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'isomix.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
