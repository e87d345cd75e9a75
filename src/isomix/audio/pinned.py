"""Opening a user's file with its demuxer pinned, so that it can only ever read that file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, NoReturn

import av
import av.container
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream

from isomix.audio.errors import AudioError, CorruptAudioError, UnsupportedAudioError

# Demuxer options. The main input is a Python file object, so FFmpeg needs no protocol at all;
# a whitelist naming none (and only the pinned demuxer) stops any nested input a demuxer might
# open with its own context (the concat demuxer does, bypassing io_open). mov must not follow
# external data references either.
_DEMUXER_OPTIONS: Final = {
    "protocol_whitelist": "none",
    "enable_drefs": "0",
    "use_absolute_path": "0",
}

# What PyAV raises on bad input: FFmpeg errors, and ValueError (mismatched frames, broken
# UTF-8 in tags), EOFError, OverflowError from its own parsing of what FFmpeg returns.
DECODER_FAILURES: Final = (av.FFmpegError, ValueError, EOFError, OverflowError)

_MAX_BAD_PACKETS: Final = 16


@contextmanager
def open_pinned(path: Path, demuxer: str) -> Iterator[av.container.InputContainer]:
    guard = _NestedOpenGuard()
    with path.open("rb") as file:
        try:
            container = av.open(
                file,
                mode="r",
                format=demuxer,
                options={**_DEMUXER_OPTIONS, "format_whitelist": demuxer},
                io_open=guard,
                # Tags are data from the user: broken UTF-8 must not fail the upload.
                metadata_errors="replace",
            )
        except (_NestedOpenRefused, *DECODER_FAILURES) as error:
            guard.check(error)
            raise_corrupt(error)
        try:
            yield container
        except (_NestedOpenRefused, AudioError, *DECODER_FAILURES) as error:
            guard.check(error)
            raise
        finally:
            container.close()
        guard.check(None)


class _NestedOpenRefused(Exception):
    pass


class _NestedOpenGuard:
    """``io_open`` for PyAV: refuses every nested open and remembers that one was tried.

    No allowed demuxer needs a second file; one that asks is following a reference. PyAV may
    swallow the exception raised here and hand FFmpeg a plain I/O error, so the attempt is
    recorded and turned into a 415 whatever FFmpeg made of it.
    """

    def __init__(self) -> None:
        self.attempted: list[str] = []

    def __call__(self, url: str, flags: int, options: dict[str, str]) -> NoReturn:
        self.attempted.append(url)
        raise _NestedOpenRefused(url)

    def check(self, error: BaseException | None) -> None:
        if self.attempted:
            raise UnsupportedAudioError(
                "This file refers to other files; upload the audio itself."
            ) from error


def raise_corrupt(error: Exception) -> NoReturn:
    raise CorruptAudioError("The audio file is damaged or could not be decoded.") from error


def audio_stream(container: av.container.InputContainer) -> AudioStream:
    streams = container.streams.audio
    if not streams:
        raise CorruptAudioError("The file contains no audio track.")
    stream = streams[0]
    if stream.codec_context is None or stream.channels <= 0:
        raise CorruptAudioError("The audio track of this file cannot be decoded.")
    return stream


def declared_duration(container: av.container.InputContainer, stream: AudioStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def decoded_frames(
    container: av.container.InputContainer, stream: AudioStream
) -> Iterator[AudioFrame]:
    """Decoded frames, skipping a few damaged packets as FFmpeg's command line does."""
    decoder = PacketDecoder()
    for packet in container.demux(stream):
        yield from decoder.decode(packet)


class PacketDecoder:
    """Decodes packets one at a time and tolerates a few damaged ones.

    A glitch in the middle of a song or a cut-off last frame should not lose the whole upload;
    a stream that keeps failing is corrupt.
    """

    def __init__(self) -> None:
        self.bad_packets = 0

    def decode(self, packet: av.Packet[AudioStream]) -> list[AudioFrame]:
        try:
            return packet.decode()
        except av.FFmpegError as error:
            self.bad_packets += 1
            if self.bad_packets > _MAX_BAD_PACKETS:
                raise_corrupt(error)
            return []
