"""Hostile audio built in the test: MP3 streams whose first frames lie about the length.

Import as `from helpers.crafted_audio import bitrate_lying_mp3` (tests/ is on sys.path).
"""

from __future__ import annotations

import av
import numpy as np
from av.audio.frame import AudioFrame

# MPEG-2.5 layer III at 8 kHz: 576 samples (72 ms) per frame; 8 kbps makes 72-byte frames.
RATE = 8_000
SAMPLES_PER_FRAME = 576


def mp3_frames(seconds: float, bitrate: int, *, rate: int = RATE) -> list[bytes]:
    """Raw MP3 frames of a mono tone straight from LAME: no Xing/Info header, no tags."""
    encoder = av.CodecContext.create("libmp3lame", "w")
    assert isinstance(encoder, av.AudioCodecContext)
    encoder.sample_rate = rate
    encoder.layout = "mono"
    encoder.format = "s16p"
    encoder.bit_rate = bitrate
    encoder.open()
    frame_size = encoder.frame_size
    count = int(seconds * rate) // frame_size * frame_size
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(count) / rate)
    pcm = (tone * 32767).astype(np.int16)[None, :]
    frames: list[bytes] = []
    for start in range(0, count, frame_size):
        block = AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm[:, start : start + frame_size]), format="s16p", layout="mono"
        )
        block.sample_rate = rate
        block.pts = start
        frames.extend(bytes(packet) for packet in encoder.encode(block))
    frames.extend(bytes(packet) for packet in encoder.encode(None))
    return frames


def bitrate_lying_mp3(
    *,
    real_seconds: float = 3600.0,
    head_frames: int = 20,
    head_bitrate: int = 64_000,
    body_bitrate: int = 8_000,
) -> bytes:
    """`head_frames` frames at `head_bitrate`, then `real_seconds` of frames at `body_bitrate`.

    FFmpeg estimates the length of an MP3 without a Xing header from the bitrate of its first
    frames: with the defaults (a 64 kbps start, then an hour at 8 kbps) the file claims about
    18 minutes; swap the bitrates and it claims several times its real length. The body
    repeats ten seconds of frames (a valid stream to demux, built in milliseconds).
    """
    head = mp3_frames(1.0 + head_frames * SAMPLES_PER_FRAME / RATE, head_bitrate)[:head_frames]
    assert len(head) == head_frames
    ten_seconds = b"".join(mp3_frames(10.0, body_bitrate))
    repeats = max(1, round(real_seconds / 10.0))
    return b"".join(head) + ten_seconds * repeats
