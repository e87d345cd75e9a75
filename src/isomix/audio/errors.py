"""Typed audio errors; the API maps each to one HTTP status and machine code."""

from __future__ import annotations

import math


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
            message = f"Audio is longer than the limit of {format_duration(limit_seconds)}."
        else:
            message = (
                f"Audio is {format_duration(duration_seconds)} long; "
                f"the limit is {format_duration(limit_seconds)}."
            )
        super().__init__(message)

    def __reduce__(self) -> tuple[type[AudioTooLongError], tuple[float, float | None]]:
        # Keeps the attributes when the error crosses a process boundary (Celery, multiprocessing).
        return (type(self), (self.limit_seconds, self.duration_seconds))


def format_duration(seconds: float) -> str:
    """A length of audio for a message: "45 s", "2.5 s", "4 min 5 s", "30 min", "10 h 0 min".

    The one formatter for every message that prints a duration. Under ten seconds: tenths
    when they matter; under an hour: whole seconds; from an hour: whole minutes.
    """
    if not math.isfinite(seconds) or seconds <= 0:
        return "0 s"
    if seconds < 9.95:
        tenths = round(seconds, 1)
        return f"{tenths:.0f} s" if tenths == int(tenths) else f"{tenths:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min"
