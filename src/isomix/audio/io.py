"""Audio decoding and encoding through PyAV (the FFmpeg libraries in its wheel).

Every user file is opened with the demuxer chosen from its content and pinned, from a Python
file object (so FFmpeg opens no URL itself), with empty protocol and format whitelists and an
io_open that refuses everything (so no demuxer can reach another file). Decoding stops at the
duration limit whatever the header says, and writes into one growing buffer.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, NoReturn, cast

import av
import av.container
import numpy as np
import numpy.typing as npt
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream

from isomix.audio.errors import (
    AudioError,
    AudioTooLongError,
    CorruptAudioError,
    UnsupportedAudioError,
)
from isomix.audio.formats import MATROSKA, MP4, OGG, detect_container

__all__ = [
    "MODEL_SAMPLE_RATE",
    "AudioError",
    "AudioInfo",
    "AudioTooLongError",
    "CorruptAudioError",
    "UnsupportedAudioError",
    "decode",
    "detect_container",
    "encode",
    "prevent_clip",
    "probe",
]

MODEL_SAMPLE_RATE: Final = 44_100

ClipMode = Literal["rescale", "clamp", "none"]
FloatAudio = npt.NDArray[np.float32]

# Decoded audio may run this far past the limit before it counts as too long: encoders pad the
# last frame (MP3 1152 samples, AAC 1024) and resamplers add a few samples of delay.
_LIMIT_GRACE_SECONDS: Final = 0.25
# Without a limit, the first allocation trusts the header at most this far.
_MAX_INITIAL_SECONDS: Final = 600.0
_DEFAULT_INITIAL_SECONDS: Final = 30.0
# probe() decodes this much to prove that the stream really decodes.
_PROBE_DECODE_SECONDS: Final = 0.5
# encode() converts this many samples per channel at a time.
_ENCODE_SLICE: Final = 1 << 16
_MAX_BAD_PACKETS: Final = 16

# Demuxer options. The main input is a Python file object, so FFmpeg needs no protocol at all;
# a whitelist naming none (and only the pinned demuxer) stops any nested input a demuxer might
# open with its own context (the concat demuxer does, bypassing io_open). mov must not follow
# external data references either.
_DEMUXER_OPTIONS: Final = {
    "protocol_whitelist": "none",
    "enable_drefs": "0",
    "use_absolute_path": "0",
}

MP3_BITRATES: Final = range(128, 321)

# What PyAV raises on bad input: FFmpeg errors, and ValueError (mismatched frames, broken
# UTF-8 in tags), EOFError, OverflowError from its own parsing of what FFmpeg returns.
_DECODER_FAILURES: Final = (av.FFmpegError, ValueError, EOFError, OverflowError)


@dataclass(frozen=True)
class AudioInfo:
    container: str
    extension: str
    codec: str
    sample_rate: int
    channels: int
    duration_seconds: float


def probe(path: Path, *, max_seconds: float | None = None) -> AudioInfo:
    """Identify ``path`` and check it decodes, without decoding all of it."""
    demuxer = detect_container(path)
    with _open_pinned(path, demuxer) as container:
        stream = _audio_stream(container)
        codec = stream.codec_context.codec.canonical_name
        duration = _declared_duration(container, stream)
        if max_seconds is not None and duration is not None and duration > max_seconds:
            raise AudioTooLongError(max_seconds, duration)
        first_rate = _decode_a_little(container, stream)
        info = AudioInfo(
            container=container.format.name,
            extension=_extension(demuxer, codec, container),
            codec=codec,
            sample_rate=stream.sample_rate or first_rate,
            channels=stream.channels,
            duration_seconds=duration if duration is not None else 0.0,
        )
    if duration is None:
        # No duration in the header (a WebM from MediaRecorder, a raw MP3 stream): add up
        # packet durations, reading the file once more without decoding it.
        with _open_pinned(path, demuxer) as container:
            counted = _duration_from_packets(container, _audio_stream(container), max_seconds)
        info = dataclasses.replace(info, duration_seconds=counted)
    return info


def decode(
    path: Path, *, sample_rate: int = MODEL_SAMPLE_RATE, max_seconds: float | None = None
) -> FloatAudio:
    """Decode the first audio stream of ``path`` to float32 stereo ``(2, n)`` at ``sample_rate``."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    demuxer = detect_container(path)
    with _open_pinned(path, demuxer) as container:
        stream = _audio_stream(container)
        limit = None
        if max_seconds is not None:
            limit = math.floor((max_seconds + _LIMIT_GRACE_SECONDS) * sample_rate)
        declared = _declared_duration(container, stream)
        buffer = _StereoBuffer(_initial_capacity(declared, sample_rate, limit), limit)
        converter = _StereoConverter(sample_rate)

        def keep(block: FloatAudio) -> None:
            # Checked before appending, so a file over the limit never grows the buffer.
            if limit is not None and buffer.length + block.shape[1] > limit:
                assert max_seconds is not None
                raise AudioTooLongError(max_seconds, _longer_than(declared, max_seconds))
            buffer.append(block)

        try:
            for frame in _decoded_frames(container, stream):
                for block in converter.convert(frame):
                    keep(block)
            for block in converter.flush():
                keep(block)
        except AudioError:
            raise
        except _DECODER_FAILURES as error:
            _raise_corrupt(error)
        if buffer.length == 0:
            raise CorruptAudioError("The file contains no audio samples.")
        return buffer.finish()


def prevent_clip(audio: FloatAudio, mode: ClipMode) -> FloatAudio:
    """Same strategies as ``demucs.audio.prevent_clip``."""
    if mode == "none":
        return audio
    if mode == "rescale":
        return (audio / _rescale_divisor(audio)).astype(np.float32, copy=False)
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
    slices = _clipped_slices(audio, clip)
    with _atomic_output(path) as file:
        if fmt == "wav":
            _write_wav(file, slices, audio.shape, sample_rate, bit_depth=bit_depth, float32=float32)
        elif fmt == "flac":
            pcm = (_to_int(piece, bit_depth) for piece in slices)
            _write_with_pyav(
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
            pcm = (_to_int(piece, 16) for piece in slices)
            _write_with_pyav(
                file,
                "mp3",
                "libmp3lame",
                pcm,
                sample_rate,
                channels=channels,
                bits=16,
                options=options,
            )


# ---------------------------------------------------------------- opening and reading


@contextmanager
def _open_pinned(path: Path, demuxer: str) -> Iterator[av.container.InputContainer]:
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
        except (_NestedOpenRefused, *_DECODER_FAILURES) as error:
            guard.check(error)
            _raise_corrupt(error)
        try:
            yield container
        except (_NestedOpenRefused, AudioError, *_DECODER_FAILURES) as error:
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


def _raise_corrupt(error: Exception) -> NoReturn:
    raise CorruptAudioError("The audio file is damaged or could not be decoded.") from error


def _audio_stream(container: av.container.InputContainer) -> AudioStream:
    streams = container.streams.audio
    if not streams:
        raise CorruptAudioError("The file contains no audio track.")
    stream = streams[0]
    if stream.codec_context is None or stream.channels <= 0:
        raise CorruptAudioError("The audio track of this file cannot be decoded.")
    return stream


def _declared_duration(container: av.container.InputContainer, stream: AudioStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def _decoded_frames(
    container: av.container.InputContainer, stream: AudioStream
) -> Iterator[AudioFrame]:
    """Decoded frames, skipping a few damaged packets as FFmpeg's command line does.

    A glitch in the middle of a song or a cut-off last frame should not lose the whole upload;
    a stream that keeps failing is corrupt.
    """
    bad_packets = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.FFmpegError as error:
            bad_packets += 1
            if bad_packets > _MAX_BAD_PACKETS:
                _raise_corrupt(error)
            continue
        yield from frames


def _decode_a_little(container: av.container.InputContainer, stream: AudioStream) -> int:
    """Decode about half a second; return the decoded sample rate. Raise if nothing decodes."""
    decoded_samples = 0
    rate = 0
    try:
        for frame in _decoded_frames(container, stream):
            decoded_samples += frame.samples
            rate = frame.sample_rate
            if rate and decoded_samples >= _PROBE_DECODE_SECONDS * rate:
                break
    except _DECODER_FAILURES as error:
        _raise_corrupt(error)
    if decoded_samples == 0 or rate <= 0:
        raise CorruptAudioError("The audio track of this file contains no decodable audio.")
    return rate


def _duration_from_packets(
    container: av.container.InputContainer, stream: AudioStream, max_seconds: float | None
) -> float:
    total = 0.0
    try:
        for packet in container.demux(stream):
            if packet.duration and packet.time_base:
                total += float(packet.duration * packet.time_base)
            if max_seconds is not None and total > max_seconds + _LIMIT_GRACE_SECONDS:
                raise AudioTooLongError(max_seconds, None)
    except _DECODER_FAILURES as error:
        _raise_corrupt(error)
    return total


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


# ---------------------------------------------------------------- conversion to stereo


class _StereoConverter:
    """Resample any frame to float planar at the target rate; mono duplicated, >2 downmixed.

    Mono is duplicated by hand: FFmpeg's resampler would spread it at -3 dB per side, while
    demucs (and our listeners) expect a mono file to play at its own level in both ears.
    """

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._resampler: av.AudioResampler | None = None
        self._signature: tuple[str, str, int] | None = None
        self._mono = False

    def convert(self, frame: AudioFrame) -> Iterator[FloatAudio]:
        signature = (frame.format.name, frame.layout.name, frame.sample_rate)
        if signature != self._signature:
            # A stream may change rate or layout midway (concatenated MP3s): drain the old
            # resampler, then start one that matches.
            yield from self.flush()
            self._mono = len(frame.layout.channels) == 1
            self._resampler = av.AudioResampler(
                format="fltp", layout="mono" if self._mono else "stereo", rate=self._rate
            )
            self._signature = signature
        assert self._resampler is not None
        for converted in self._resampler.resample(frame):
            yield self._as_stereo(converted)

    def flush(self) -> Iterator[FloatAudio]:
        if self._resampler is None:
            return
        resampler, self._resampler, self._signature = self._resampler, None, None
        for converted in resampler.resample(None):
            yield self._as_stereo(converted)

    def _as_stereo(self, frame: AudioFrame) -> FloatAudio:
        planes = cast(FloatAudio, frame.to_ndarray())
        if self._mono:
            return np.broadcast_to(planes[:1], (2, planes.shape[1]))
        return planes


class _StereoBuffer:
    """Growable (2, n) float32 buffer: one flat allocation, left channel then right channel.

    Grows by 1.5x with ``ndarray.resize`` (a realloc, often in place) and is trimmed in place at
    the end, so a 20-minute song never exists twice in memory.
    """

    def __init__(self, capacity: int, max_capacity: int | None = None) -> None:
        self._flat: FloatAudio = np.empty(2 * capacity, dtype=np.float32)
        self._capacity = capacity
        self._max_capacity = max_capacity
        self.length = 0

    def append(self, block: FloatAudio) -> None:
        count = block.shape[1]
        needed = self.length + count
        if needed > self._capacity:
            capacity = max(needed, math.ceil(self._capacity * 1.5))
            if self._max_capacity is not None:
                capacity = max(needed, min(capacity, self._max_capacity))
            self._grow(capacity)
        cap, start = self._capacity, self.length
        self._flat[start:needed] = block[0]
        self._flat[cap + start : cap + needed] = block[1]
        self.length = needed

    def _grow(self, capacity: int) -> None:
        old = self._capacity
        self._flat.resize(2 * capacity, refcheck=False)
        # Move the right channel to its new offset (numpy copes with the overlap).
        self._flat[capacity : capacity + self.length] = self._flat[old : old + self.length]
        self._capacity = capacity

    def finish(self) -> FloatAudio:
        n, cap = self.length, self._capacity
        if n < cap:
            self._flat[n : 2 * n] = self._flat[cap : cap + n]
            self._flat.resize(2 * n, refcheck=False)
        audio = self._flat.reshape(2, n)
        self._flat = np.empty(0, dtype=np.float32)
        return audio


# ---------------------------------------------------------------- writing


@contextmanager
def _atomic_output(path: Path) -> Iterator[Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w+b") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename is still atomic
    finally:
        os.close(descriptor)


def _rescale_divisor(audio: npt.NDArray[np.floating[Any]]) -> float:
    # max(max, -min) is max |x| without allocating |audio|.
    peak = max(float(np.max(audio)), -float(np.min(audio))) if audio.size else 0.0
    return max(1.01 * peak, 1.0)


def _clipped_slices(audio: npt.NDArray[np.floating[Any]], clip: ClipMode) -> Iterator[FloatAudio]:
    """``prevent_clip`` then demucs' clamp to [-1, 1], one slice at a time (new arrays)."""
    divisor = _rescale_divisor(audio) if clip == "rescale" else 1.0
    for start in range(0, audio.shape[1], _ENCODE_SLICE):
        piece = np.asarray(audio[:, start : start + _ENCODE_SLICE], dtype=np.float32)
        if clip == "rescale":
            piece = (piece / divisor).astype(np.float32, copy=False)
        elif clip == "clamp":
            piece = np.clip(piece, -0.99, 0.99)
        else:
            piece = np.clip(piece, -1.0, 1.0)
        np.clip(piece, -1.0, 1.0, out=piece)
        yield piece


def _to_int(audio: FloatAudio, bit_depth: int) -> npt.NDArray[np.int32] | npt.NDArray[np.int16]:
    """demucs' conversion: scale by 2**(bits-1) - 1 and truncate toward zero."""
    if bit_depth == 16:
        return (audio * (2**15 - 1)).astype(np.int16)
    # 24-bit samples live in the top bits of an int32, as FFmpeg's s32 formats expect.
    return (audio * (2**23 - 1)).astype(np.int32) << 8


def _write_wav(
    file: Any,
    slices: Iterator[FloatAudio],
    shape: tuple[int, ...],
    sample_rate: int,
    *,
    bit_depth: int,
    float32: bool,
) -> None:
    """Byte for byte what ``demucs.audio.encode_wav`` writes."""
    channels, length = shape
    audio_format, bits = (3, 32) if float32 else (1, bit_depth)
    block_align = channels * bits // 8
    data_size = length * block_align
    extra_chunks = [(b"fact", length.to_bytes(4, "little"))] if float32 else []
    riff_size = 4 + (8 + 16) + sum(8 + len(c) for _, c in extra_chunks) + 8 + data_size
    if riff_size >= 2**32:
        raise ValueError("Audio too long for a WAV file (4 GB); use FLAC")
    fmt = (
        audio_format.to_bytes(2, "little")
        + channels.to_bytes(2, "little")
        + sample_rate.to_bytes(4, "little")
        + (sample_rate * block_align).to_bytes(4, "little")
        + block_align.to_bytes(2, "little")
        + bits.to_bytes(2, "little")
    )
    file.write(b"RIFF" + riff_size.to_bytes(4, "little") + b"WAVE")
    for name, content in [(b"fmt ", fmt), *extra_chunks]:
        file.write(name + len(content).to_bytes(4, "little") + content)
    file.write(b"data" + data_size.to_bytes(4, "little"))
    for piece in slices:
        interleaved = np.ascontiguousarray(piece.T)
        if float32:
            file.write(interleaved.astype("<f4").tobytes())
        elif bit_depth == 16:
            file.write(_to_int(interleaved, 16).astype("<i2").tobytes())
        else:
            as_bytes = _to_int(interleaved, 24).astype("<i4").view(np.uint8).reshape(-1, 4)
            file.write(as_bytes[:, 1:].tobytes())


def _write_with_pyav(
    file: Any,
    container_format: str,
    codec: str,
    slices: Iterator[npt.NDArray[np.int16] | npt.NDArray[np.int32]],
    sample_rate: int,
    *,
    channels: int,
    bits: int,
    options: dict[str, str],
) -> None:
    layout = "mono" if channels == 1 else "stereo"
    if bits == 24:
        # s32 input with 24 significant bits: tell the FLAC encoder to write 24-bit FLAC.
        options = {**options, "bits_per_raw_sample": "24"}
    # The encoder's default format may be narrower (FLAC defaults to s16): ask for ours.
    planar = codec == "libmp3lame"
    sample_format = ("s16" if bits == 16 else "s32") + ("p" if planar else "")
    with av.open(file, mode="w", format=container_format) as output:
        stream = output.add_stream(codec, rate=sample_rate, layout=layout, options=options)
        assert isinstance(stream, AudioStream)
        stream.codec_context.format = av.AudioFormat(sample_format)
        samples_written = 0
        for piece in slices:
            packed = piece if planar else np.ascontiguousarray(piece.T).reshape(1, -1)
            frame = AudioFrame.from_ndarray(
                cast(npt.NDArray[np.int16] | npt.NDArray[np.int32], packed),
                format=sample_format,
                layout=layout,
            )
            frame.sample_rate = sample_rate
            frame.pts = samples_written
            samples_written += piece.shape[1]
            # PyAV re-cuts frames to the encoder's frame size.
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
