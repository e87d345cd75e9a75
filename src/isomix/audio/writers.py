"""Writing float audio as demucs would: WAV by hand, FLAC and MP3 through PyAV; atomically."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, Literal, cast

import av
import numpy as np
import numpy.typing as npt
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream

ClipMode = Literal["rescale", "clamp", "none"]
FloatAudio = npt.NDArray[np.float32]

# Encoding converts this many samples per channel at a time.
_ENCODE_SLICE: Final = 1 << 16


def rescale_divisor(audio: npt.NDArray[np.floating[Any]]) -> float:
    # max(max, -min) is max |x| without allocating |audio|.
    peak = max(float(np.max(audio)), -float(np.min(audio))) if audio.size else 0.0
    return max(1.01 * peak, 1.0)


def clipped_slices(audio: npt.NDArray[np.floating[Any]], clip: ClipMode) -> Iterator[FloatAudio]:
    """``prevent_clip`` then demucs' clamp to [-1, 1], one slice at a time (new arrays)."""
    divisor = rescale_divisor(audio) if clip == "rescale" else 1.0
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


def to_int(audio: FloatAudio, bit_depth: int) -> npt.NDArray[np.int32] | npt.NDArray[np.int16]:
    """demucs' conversion: scale by 2**(bits-1) - 1 and truncate toward zero."""
    if bit_depth == 16:
        return (audio * (2**15 - 1)).astype(np.int16)
    # 24-bit samples live in the top bits of an int32, as FFmpeg's s32 formats expect.
    return (audio * (2**23 - 1)).astype(np.int32) << 8


def write_wav(
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
            file.write(to_int(interleaved, 16).astype("<i2").tobytes())
        else:
            as_bytes = to_int(interleaved, 24).astype("<i4").view(np.uint8).reshape(-1, 4)
            file.write(as_bytes[:, 1:].tobytes())


def write_with_pyav(
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
