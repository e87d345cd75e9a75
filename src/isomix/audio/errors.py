"""Typed audio errors; the API maps each to one HTTP status and machine code."""

from __future__ import annotations


class AudioError(Exception):
    """Base of every audio error; ``str(error)`` is a one-line message fit for a user."""


class UnsupportedAudioError(AudioError):
    """Not audio, or a container outside the allow-list (playlists, concat, DASH...): HTTP 415."""


class CorruptAudioError(AudioError):
    """An allowed container that does not decode: truncated, empty, no audio stream: HTTP 422."""


class AudioTooLongError(AudioError):
    """Longer than the allowed duration: HTTP 422."""

    def __init__(self, limit_seconds: float, duration_seconds: float | None = None) -> None:
        self.limit_seconds = limit_seconds
        self.duration_seconds = duration_seconds
        if duration_seconds is None:
            message = f"Audio is longer than the limit of {_minutes(limit_seconds)}."
        else:
            message = (
                f"Audio is {_minutes(duration_seconds)} long; "
                f"the limit is {_minutes(limit_seconds)}."
            )
        super().__init__(message)

    def __reduce__(self) -> tuple[type[AudioTooLongError], tuple[float, float | None]]:
        # Keeps the attributes when the error crosses a process boundary (Celery, multiprocessing).
        return (type(self), (self.limit_seconds, self.duration_seconds))


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f} s"
    return f"{whole // 60}:{whole % 60:02d} min"
