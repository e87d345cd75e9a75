"""Audio decoding and encoding through PyAV (the FFmpeg libraries in its wheel).

Every user file is opened with the demuxer chosen from its content and pinned, from a Python
file object (so FFmpeg opens no URL itself), with empty protocol and format whitelists and an
io_open that refuses everything (so no demuxer can reach another file). Decoding stops at the
duration limit whatever the header says, and writes into one growing buffer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import av.container
import numpy as np
import numpy.typing as npt
from av.audio.stream import AudioStream

from isomix.audio.errors import (
    AudioError,
    AudioTooLongError,
    CorruptAudioError,
    UnsupportedAudioError,
)
from isomix.audio.formats import MATROSKA, MP4, OGG, detect_container
from isomix.audio.pinned import (
    DECODER_FAILURES,
    PacketDecoder,
    audio_stream,
    declared_duration,
    decoded_frames,
    open_pinned,
    raise_corrupt,
)
from isomix.audio.stereo import StereoBuffer, StereoConverter
from isomix.audio.writers import (
    ClipMode,
    clipped_slices,
    rescale_divisor,
    to_int,
    write_wav,
    write_with_pyav,
)
from isomix.storage import atomic_output

__all__ = [
    "MODEL_SAMPLE_RATE",
    "MP3_BITRATES",
    "AudioError",
    "AudioInfo",
    "AudioTooLongError",
    "ClipMode",
    "CorruptAudioError",
    "UnsupportedAudioError",
    "decode",
    "detect_container",
    "encode",
    "prevent_clip",
    "probe",
]

MODEL_SAMPLE_RATE: Final = 44_100

FloatAudio = npt.NDArray[np.float32]

# Decoded audio may run this far past the limit before it counts as too long: encoders pad the
# last frame (MP3 1152 samples, AAC 1024) and resamplers add a few samples of delay.
_LIMIT_GRACE_SECONDS: Final = 0.25
# Without a limit, the first allocation trusts the header at most this far.
_MAX_INITIAL_SECONDS: Final = 600.0
_DEFAULT_INITIAL_SECONDS: Final = 30.0
# probe() decodes this much to prove that the stream really decodes.
_PROBE_DECODE_SECONDS: Final = 0.5

MP3_BITRATES: Final = range(128, 321)


@dataclass(frozen=True)
class AudioInfo:
    container: str
    extension: str
    codec: str
    sample_rate: int
    channels: int
    duration_seconds: float


def probe(path: Path, *, max_seconds: float | None = None) -> AudioInfo:
    """Identify ``path``, check that it decodes and measure its length, without decoding it all.

    The length is measured by demuxing: one pass over the packets adds up their durations
    (no decoding; about 20 ms for a 4-minute MP3), so a header that understates the length
    (an MP3 whose first frames claim a high bitrate) cannot get a long file past the limit,
    and one that overstates it does not refuse a short one. Only the first half second is
    decoded, to prove the stream decodes. Past ``max_seconds`` the pass stops and raises.
    """
    demuxer = detect_container(path)
    with open_pinned(path, demuxer) as container:
        stream = audio_stream(container)
        codec = stream.codec_context.codec.canonical_name
        declared = declared_duration(container, stream)
        scan = _scan(container, stream, max_seconds, declared)
        return AudioInfo(
            container=container.format.name,
            extension=_extension(demuxer, codec, container),
            codec=codec,
            sample_rate=stream.sample_rate or scan.decoded_rate,
            channels=stream.channels,
            duration_seconds=scan.seconds if scan.seconds > 0 else (declared or 0.0),
        )


def decode(
    path: Path, *, sample_rate: int = MODEL_SAMPLE_RATE, max_seconds: float | None = None
) -> FloatAudio:
    """Decode the first audio stream of ``path`` to float32 stereo ``(2, n)`` at ``sample_rate``."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    demuxer = detect_container(path)
    with open_pinned(path, demuxer) as container:
        stream = audio_stream(container)
        limit = None
        if max_seconds is not None:
            limit = math.floor((max_seconds + _LIMIT_GRACE_SECONDS) * sample_rate)
        declared = declared_duration(container, stream)
        buffer = StereoBuffer(_initial_capacity(declared, sample_rate, limit), limit)
        converter = StereoConverter(sample_rate)

        def keep(block: FloatAudio) -> None:
            # Checked before appending, so a file over the limit never grows the buffer.
            if limit is not None and buffer.length + block.shape[1] > limit:
                assert max_seconds is not None
                raise AudioTooLongError(max_seconds, _longer_than(declared, max_seconds))
            buffer.append(block)

        try:
            for frame in decoded_frames(container, stream):
                for block in converter.convert(frame):
                    keep(block)
            for block in converter.flush():
                keep(block)
        except AudioError:
            raise
        except DECODER_FAILURES as error:
            raise_corrupt(error)
        if buffer.length == 0:
            raise CorruptAudioError("The file contains no audio samples.")
        return buffer.finish()


def prevent_clip(audio: FloatAudio, mode: ClipMode) -> FloatAudio:
    """Same strategies as ``demucs.audio.prevent_clip``."""
    if mode == "none":
        return audio
    if mode == "rescale":
        return (audio / rescale_divisor(audio)).astype(np.float32, copy=False)
    if mode == "clamp":
        return np.clip(audio, -0.99, 0.99).astype(np.float32, copy=False)
    raise ValueError(f"Invalid clip mode {mode!r}")


def encode(
    path: Path,
    audio: npt.NDArray[np.floating[Any]],
    sample_rate: int,
    *,
    format: Literal["wav", "flac", "mp3"] | None = None,
    bit_depth: Literal[16, 24] = 16,
    float32: bool = False,
    bitrate: int = 320,
    clip: ClipMode = "rescale",
    mp3_quality: int = 2,
) -> None:
    """Write ``audio`` (channels, samples) to ``path`` atomically, as ``python -m demucs`` would.

    Works through the audio in slices, so a 20-minute stem costs a few MB on top of itself.
    ``mp3_quality`` is LAME's -q (0 best .. 9 fastest); 2 is demucs' choice and encodes about
    8x faster than real time here, 5 about 15x, for browser previews.
    """
    fmt = format or path.suffix.lower().lstrip(".")
    if fmt not in ("wav", "flac", "mp3"):
        raise ValueError(f"Cannot encode {fmt!r}: use wav, flac or mp3")
    if audio.ndim != 2 or audio.shape[0] not in (1, 2) or audio.shape[1] == 0:
        raise ValueError(f"Expected audio of shape (1 or 2, samples > 0), got {audio.shape}")
    if bit_depth not in (16, 24):
        raise ValueError(f"bit_depth must be 16 or 24, got {bit_depth}")
    if fmt == "mp3" and bitrate not in MP3_BITRATES:
        raise ValueError(f"MP3 bitrate must be within 128..320 kbps, got {bitrate}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if not 0 <= mp3_quality <= 9:
        raise ValueError(f"mp3_quality must be within 0..9, got {mp3_quality}")
    if clip not in ("rescale", "clamp", "none"):
        raise ValueError(f"Invalid clip mode {clip!r}")
    channels = audio.shape[0]
    slices = clipped_slices(audio, clip)
    with atomic_output(path) as file:
        if fmt == "wav":
            write_wav(file, slices, audio.shape, sample_rate, bit_depth=bit_depth, float32=float32)
        elif fmt == "flac":
            pcm = (to_int(piece, bit_depth) for piece in slices)
            write_with_pyav(
                file,
                "flac",
                "flac",
                pcm,
                sample_rate,
                channels=channels,
                bits=bit_depth,
                options={},
            )
        else:
            options = {"b": f"{bitrate}k", "compression_level": str(mp3_quality)}
            pcm = (to_int(piece, 16) for piece in slices)
            write_with_pyav(
                file,
                "mp3",
                "libmp3lame",
                pcm,
                sample_rate,
                channels=channels,
                bits=16,
                options=options,
            )


@dataclass(frozen=True)
class _Scan:
    seconds: float  # the packets' durations added up
    decoded_rate: int  # the sample rate of the first decoded frame


def _scan(
    container: av.container.InputContainer,
    stream: AudioStream,
    max_seconds: float | None,
    declared: float | None,
) -> _Scan:
    """One pass over the stream's packets: decode about half a second (raise if nothing
    decodes) and add up every packet's duration, in integer ticks of the stream's time base.

    A packet without a duration counts as long as the one before it (its codec's frames are
    all alike).
    """
    time_base = stream.time_base
    if time_base is None or time_base <= 0:
        raise CorruptAudioError("The audio track of this file has no time base.")
    limit_ticks = None
    if max_seconds is not None:
        limit_ticks = math.floor((max_seconds + _LIMIT_GRACE_SECONDS) / time_base)
    decoder = PacketDecoder()
    decoded_samples = 0
    rate = 0
    ticks = 0
    previous = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the end-of-stream packet
                continue
            duration = packet.duration
            if duration is None or duration <= 0:
                duration = previous
            ticks += duration
            previous = duration
            if limit_ticks is not None and ticks > limit_ticks:
                assert max_seconds is not None
                raise AudioTooLongError(max_seconds, _longer_than(declared, max_seconds))
            if rate <= 0 or decoded_samples < _PROBE_DECODE_SECONDS * rate:
                for frame in decoder.decode(packet):
                    decoded_samples += frame.samples
                    rate = frame.sample_rate
    except AudioError:
        raise
    except DECODER_FAILURES as error:
        raise_corrupt(error)
    if decoded_samples == 0 or rate <= 0:
        raise CorruptAudioError("The audio track of this file contains no decodable audio.")
    return _Scan(seconds=float(ticks * time_base), decoded_rate=rate)


def _extension(demuxer: str, codec: str, container: av.container.InputContainer) -> str:
    if demuxer == OGG:
        return "opus" if codec == "opus" else "ogg"
    if demuxer == MP4:
        return "mp4" if container.streams.video else "m4a"
    if demuxer == MATROSKA:
        return "mkv"
    return demuxer  # mp3, wav, flac, aiff are both demuxer names and extensions


def _longer_than(declared: float | None, max_seconds: float) -> float | None:
    """The header's duration, when it agrees that the file is too long (else it is a lie)."""
    return declared if declared is not None and declared > max_seconds else None


def _initial_capacity(declared: float | None, sample_rate: int, limit: int | None) -> int:
    """Room for the declared duration, so an honest file is decoded without regrowth.

    A header may lie: with a limit, the most it can make us reserve is the limit itself;
    without one, ten minutes, after which the buffer grows with what really decodes.
    """
    seconds = _DEFAULT_INITIAL_SECONDS if declared is None else declared + 1.0
    if limit is None:
        return max(math.ceil(min(seconds, _MAX_INITIAL_SECONDS) * sample_rate), 1024)
    return max(min(math.ceil(seconds * sample_rate), limit + 1), 1024)
