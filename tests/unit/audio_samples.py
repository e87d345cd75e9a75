"""Tiny test signals and files written with PyAV, independent of isomix.audio.io.encode."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.video.stream import VideoStream

Audio = npt.NDArray[np.float32]


def sine(
    frequency: float, seconds: float, rate: int = 44_100, amplitudes: tuple[float, ...] = (0.5,)
) -> Audio:
    """One sine per channel, channel i at ``amplitudes[i]``, phases shifted so channels differ."""
    t = np.arange(round(seconds * rate)) / rate
    rows = [a * np.sin(2 * np.pi * frequency * t + i) for i, a in enumerate(amplitudes)]
    return np.stack(rows).astype(np.float32)


def stereo_test_signal(seconds: float = 1.0, rate: int = 44_100) -> Audio:
    t = np.arange(round(seconds * rate)) / rate
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    right = 0.3 * np.sin(2 * np.pi * 660 * t) + 0.1 * np.sin(2 * np.pi * 97 * t)
    return np.stack([left, right]).astype(np.float32)


def write_audio(
    path: Path,
    audio: Audio,
    rate: int,
    *,
    container: str,
    codec: str,
    layout: str | None = None,
    with_video: bool = False,
    options: dict[str, str] | None = None,
) -> None:
    """Encode ``audio`` (channels, n) with any FFmpeg encoder PyAV offers."""
    layout = layout or {1: "mono", 2: "stereo"}[audio.shape[0]]
    with av.open(str(path), mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, layout=layout, options=options or {})
        assert isinstance(stream, AudioStream)
        video = None
        if with_video:
            video = output.add_stream("mpeg4", rate=10)
            assert isinstance(video, VideoStream)
            video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        frame_size = stream.codec_context.frame_size or 1024
        resampler = av.AudioResampler(
            format=stream.codec_context.format, layout=layout, rate=rate, frame_size=frame_size
        )
        source = AudioFrame.from_ndarray(np.ascontiguousarray(audio), format="fltp", layout=layout)
        source.sample_rate = rate
        source.pts = 0
        source.time_base = Fraction(1, rate)
        frames = resampler.resample(source) + resampler.resample(None)
        for frame in frames:
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
        if video is not None:
            seconds = audio.shape[1] / rate
            for index in range(max(1, int(seconds * 10))):
                picture = av.VideoFrame.from_ndarray(
                    np.full((32, 32, 3), index * 20 % 255, np.uint8), format="rgb24"
                )
                picture.pts = index
                output.mux(video.encode(picture))
            output.mux(video.encode(None))


def write_wav(path: Path, audio: Audio, rate: int, codec: str, layout: str | None = None) -> None:
    """WAV through FFmpeg's own muxer: pcm_s16le, pcm_s24le, pcm_s32le, pcm_f32le..."""
    write_audio(path, audio, rate, container="wav", codec=codec, layout=layout)


def dominant_frequency(channel: npt.NDArray[np.float32], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(channel * np.hanning(len(channel))))
    return float(np.argmax(spectrum) * rate / len(channel))


def best_lag(reference: npt.NDArray[np.float32], signal: npt.NDArray[np.float32]) -> int:
    """Lag (in samples, may be negative) at which ``signal`` best matches ``reference``."""
    n = len(reference) + len(signal)
    size = 1 << (n - 1).bit_length()
    cross = np.fft.irfft(np.fft.rfft(signal, size) * np.conj(np.fft.rfft(reference, size)), size)
    lag = int(np.argmax(cross))
    return lag if lag < size // 2 else lag - size


class _Pipe(io.RawIOBase):
    """A write-only, unseekable sink: muxers cannot go back to fill in the duration."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, chunk: bytes) -> int:  # type: ignore[override]
        self.data += bytes(chunk)
        return len(chunk)


def write_streamed_webm(path: Path, audio: Audio, rate: int = 48_000) -> None:
    """Opus in WebM written as a live stream (like MediaRecorder): no duration in the header."""
    pipe = _Pipe()
    with av.open(pipe, mode="w", format="webm") as output:
        stream = output.add_stream("libopus", rate=rate, layout="stereo")
        assert isinstance(stream, AudioStream)
        resampler = av.AudioResampler(
            format=stream.codec_context.format, layout="stereo", rate=rate, frame_size=960
        )
        source = AudioFrame.from_ndarray(
            np.ascontiguousarray(audio), format="fltp", layout="stereo"
        )
        source.sample_rate = rate
        for frame in resampler.resample(source) + resampler.resample(None):
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    path.write_bytes(bytes(pipe.data))
