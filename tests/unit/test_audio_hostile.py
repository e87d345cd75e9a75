"""Hostile uploads: every bad file ends in a typed AudioError, quickly and in little memory."""

from __future__ import annotations

import functools
import os
import struct
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from audio_samples import stereo_test_signal, write_wav
from helpers.crafted_audio import bitrate_lying_mp3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isomix.audio import io
from isomix.audio.formats import MP3, MP4
from isomix.audio.pinned import audio_stream, declared_duration, open_pinned

RATE = io.MODEL_SAMPLE_RATE

pytestmark = pytest.mark.timeout(60)

TYPED = (io.UnsupportedAudioError, io.CorruptAudioError, io.AudioTooLongError)


def _secret_audio(directory: Path) -> Path:
    """Another user's upload, which no hostile file may get us to read."""
    secret = directory / "secret.wav"
    write_wav(secret, stereo_test_signal(1.0) * np.float32(0.9), RATE, "pcm_s16le")
    return secret


def _hls(secret: Path) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:10.0,\n{secret}\n#EXTINF:10.0,\nfile:{secret}\n#EXT-X-ENDLIST\n"
    ).encode()


def _id3_header(size: int = 0) -> bytes:
    synchsafe = bytes([(size >> 21) & 127, (size >> 14) & 127, (size >> 7) & 127, size & 127])
    return b"ID3\x04\x00\x00" + synchsafe


def _both(path: Path) -> list[type[io.AudioError]]:
    """Run probe() and decode(); return the error type each raised (they must raise)."""
    raised: list[type[io.AudioError]] = []
    for call in (io.probe, io.decode):
        with pytest.raises(io.AudioError) as caught:
            call(path)
        assert isinstance(caught.value, TYPED)
        message = str(caught.value)
        assert message and "\n" not in message and "Errno" not in message
        raised.append(type(caught.value))
    return raised


# ------------------------------------------------------------------ not audio at all


def test_zero_length_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    assert _both(path) == [io.CorruptAudioError, io.CorruptAudioError]


NOT_AUDIO: dict[str, Callable[[Path], bytes]] = {
    "random": lambda _: np.random.default_rng(2).integers(0, 256, 20_000, np.uint8).tobytes(),
    "text": lambda _: b"Hello, this is definitely not a song.\n" * 100,
    "hls": _hls,
    "ffconcat": lambda secret: f"ffconcat version 1.0\nfile '{secret}'\n".encode(),
    "concat_no_header": lambda secret: f"file '{secret}'\n".encode(),
    "dash": lambda secret: (
        '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">'
        f'<Period><AdaptationSet><Representation id="1" bandwidth="1"><BaseURL>{secret}'
        "</BaseURL></Representation></AdaptationSet></Period></MPD>"
    ).encode(),
    "sdp": lambda _: (
        b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nm=audio 5004 RTP/AVP 0\n"
    ),
    "png": lambda _: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200),
    "zip": lambda _: b"PK\x03\x04\x14\x00\x00\x00" + bytes(200),
    "pdf": lambda _: b"%PDF-1.7\n" + bytes(200),
    "heic_photo": lambda _: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200),
    "avif_image": lambda _: b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + bytes(200),
    "almost_ogg_magic": lambda _: b"Ogg" + bytes(200),
    "adts_aac": lambda _: b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(500),
    "id3_then_hls": lambda secret: _id3_header() + _hls(secret),
    "id3_then_concat": lambda secret: (
        _id3_header() + f"ffconcat version 1.0\nfile '{secret}'\n".encode()
    ),
    "id3_then_text": lambda _: _id3_header(4) + b"abcd" + b"plain text " * 50,
    "riff_not_wave": lambda _: b"RIFF\x00\x01\x00\x00AVI LIST" + bytes(200),
}


@pytest.mark.parametrize("kind", sorted(NOT_AUDIO))
def test_not_audio_is_unsupported(tmp_path: Path, kind: str) -> None:
    secret = _secret_audio(tmp_path)
    path = tmp_path / "upload.mp3"  # a hopeful name changes nothing
    path.write_bytes(NOT_AUDIO[kind](secret))
    with pytest.raises(io.UnsupportedAudioError):
        io.detect_container(path)
    assert _both(path) == [io.UnsupportedAudioError, io.UnsupportedAudioError]


def test_random_bytes_that_happen_to_start_with_a_frame_sync(tmp_path: Path) -> None:
    # Seed 1 starts with FF E4: an MPEG-2.5 layer II header. Detection lets it through as mp3,
    # the decoder then refuses it.
    path = tmp_path / "unlucky"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 20_000, np.uint8).tobytes())
    assert io.detect_container(path) == MP3
    assert _both(path) == [io.CorruptAudioError, io.CorruptAudioError]


def test_id3_tag_with_nothing_after_it(tmp_path: Path) -> None:
    path = tmp_path / "tag-only.mp3"
    path.write_bytes(_id3_header(20) + bytes(20))
    assert _both(path) == [io.CorruptAudioError, io.CorruptAudioError]


# ------------------------------------------------------------------ the playlist attack, deeper


def test_pinned_mp3_demuxer_never_follows_a_playlist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even if detection let ID3+HLS through, the pinned mp3 demuxer must not read the secret."""
    secret = _secret_audio(tmp_path)
    secret_audio = io.decode(secret)
    path = tmp_path / "upload.m3u8"
    path.write_bytes(_id3_header() + _hls(secret))
    monkeypatch.setattr(io, "detect_container", lambda _: MP3)
    for call in (io.probe, io.decode):
        try:
            result = call(path)
        except io.AudioError as error:
            assert isinstance(error, TYPED)
        else:
            assert not (isinstance(result, np.ndarray) and result.shape == secret_audio.shape)
            pytest.fail(f"{call.__name__} accepted an HLS playlist")


@pytest.mark.parametrize("demuxer", ["hls", "concat", "dash"])
def test_nested_opens_are_refused_even_for_playlist_demuxers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demuxer: str
) -> None:
    """Belt and braces: were a playlist demuxer ever pinned, it still could not open a file."""
    if demuxer == "dash":
        import av

        if "dash" not in av.formats_available:
            pytest.skip("FFmpeg build without the DASH demuxer")
    secret = _secret_audio(tmp_path)
    contents = {
        "hls": _hls(secret),
        # A relative, "safe" name: the concat demuxer's own safe=1 check would refuse an
        # absolute one before our guard is even asked.
        "concat": b"ffconcat version 1.0\nfile 'secret.wav'\n",
        "dash": NOT_AUDIO["dash"](secret),
    }[demuxer]
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "playlist"
    path.write_bytes(contents)
    monkeypatch.setattr(io, "detect_container", lambda _: demuxer)
    # hls asks io_open for the secret and is refused (415); concat opens it through a context
    # of its own, which inherits the empty protocol and format whitelists and fails; our DASH
    # manifest already fails to parse.
    expected = io.UnsupportedAudioError if demuxer == "hls" else io.AudioError
    for call in (io.probe, io.decode):
        with pytest.raises(expected):
            call(path)


# ------------------------------------------------------------------ damaged audio


def _encoded(tmp_path: Path, suffix: str) -> tuple[Path, np.ndarray]:
    path = tmp_path / f"good.{suffix}"
    io.encode(path, stereo_test_signal(2.0), RATE)
    return path, io.decode(path)


@pytest.mark.parametrize("suffix", ["mp3", "flac", "wav"])
def test_truncated_file_decodes_a_prefix_or_fails_typed(tmp_path: Path, suffix: str) -> None:
    good, full = _encoded(tmp_path, suffix)
    data = good.read_bytes()
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    try:
        io.probe(cut)
        partial = io.decode(cut)
    except io.AudioError as error:
        assert isinstance(error, TYPED)
        return
    # What comes back is the beginning of the song, not noise and not the whole length.
    n = partial.shape[1]
    assert 0.3 * full.shape[1] < n < 0.7 * full.shape[1]
    head = n - 2304  # the last MP3 frames around the cut may differ
    np.testing.assert_allclose(partial[:, :head], full[:, :head], atol=1e-4)


@pytest.mark.parametrize("suffix", ["mp3", "flac", "wav"])
def test_header_alone_is_corrupt(tmp_path: Path, suffix: str) -> None:
    good, _ = _encoded(tmp_path, suffix)
    stub = tmp_path / f"stub.{suffix}"
    stub.write_bytes(good.read_bytes()[:44])  # a WAV header with no samples, a partial frame
    assert _both(stub)[1] is io.CorruptAudioError


@pytest.mark.parametrize("suffix", ["mp3", "flac", "wav"])
def test_garbage_after_a_valid_header_never_escapes_typed_errors(
    tmp_path: Path, suffix: str
) -> None:
    good, _ = _encoded(tmp_path, suffix)
    header = good.read_bytes()[:200]
    noise = np.random.default_rng(7).integers(0, 256, 50_000, np.uint8).tobytes()
    path = tmp_path / f"noise.{suffix}"
    path.write_bytes(header + noise)
    for call in (io.probe, io.decode):
        try:
            call(path)
        except io.AudioError as error:
            assert isinstance(error, TYPED)


@pytest.mark.parametrize(
    ("magic", "demuxer"),
    [
        (b"RIFF\x24\x00\x00\x00WAVE", "wav"),
        (b"\x00\x00\x00\x20ftypisom", MP4),
        (b"OggS\x00\x02", "ogg"),
        (b"fLaC", "flac"),
        (b"FORM\x00\x00\x00\x00AIFF", "aiff"),
        (b"\x1a\x45\xdf\xa3", "matroska,webm"),
    ],
)
def test_magic_alone_is_corrupt(tmp_path: Path, magic: bytes, demuxer: str) -> None:
    path = tmp_path / "magic"
    path.write_bytes(magic + bytes(64))
    assert io.detect_container(path) == demuxer
    assert _both(path) == [io.CorruptAudioError, io.CorruptAudioError]


def test_video_without_audio_is_corrupt(tmp_path: Path) -> None:
    import av

    path = tmp_path / "silent-film.mp4"
    with av.open(str(path), mode="w") as output:
        video = output.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"  # type: ignore[union-attr]
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = index
            output.mux(video.encode(frame))  # type: ignore[union-attr]
        output.mux(video.encode(None))  # type: ignore[union-attr]
    with pytest.raises(io.CorruptAudioError, match="no audio"):
        io.probe(path)


# ------------------------------------------------------------------ lying about duration


def _silent_flac(tmp_path: Path, seconds: float, total_samples: int | None = None) -> Path:
    """Silence as 8 kHz mono FLAC (20 minutes encode in a fraction of a second, ~220 KB).

    ``total_samples`` overwrites what STREAMINFO declares (0 means unknown).
    """
    rate = 8_000
    path = tmp_path / "silence.flac"
    io.encode(path, np.zeros((1, round(seconds * rate)), np.float32), rate)
    if total_samples is not None:
        data = bytearray(path.read_bytes())
        packed = int.from_bytes(data[18:26], "big")
        packed = (packed & ~((1 << 36) - 1)) | total_samples
        data[18:26] = packed.to_bytes(8, "big")
        path.write_bytes(bytes(data))
    return path


def _peak_traced_bytes(call: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        call()
    except io.AudioError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("declared", [None, 0, 8_000])  # honest 20 min, unknown, "1 second"
def test_long_silence_stops_at_the_limit(tmp_path: Path, declared: int | None) -> None:
    path = _silent_flac(tmp_path, 20 * 60, declared)
    assert path.stat().st_size < 1_000_000
    full_decode_bytes = 20 * 60 * RATE * 2 * 4  # 423 MB of float32

    if declared is None:
        with pytest.raises(io.AudioTooLongError) as probed:
            io.probe(path, max_seconds=10)
        assert probed.value.duration_seconds == pytest.approx(1200)
    with pytest.raises(io.AudioTooLongError) as decoded:
        io.decode(path, max_seconds=10)
    assert decoded.value.limit_seconds == 10
    peak = _peak_traced_bytes(lambda: io.decode(path, max_seconds=10))
    assert peak < 20 * RATE * 2 * 4  # about the 10 s allowed, nowhere near the full decode
    assert peak < full_decode_bytes / 20


def test_header_claiming_short_does_not_lift_the_limit(tmp_path: Path) -> None:
    path = _silent_flac(tmp_path, 60, total_samples=8_000)
    # The probe measures the packets instead of believing the header's 1 s...
    with pytest.raises(io.AudioTooLongError) as probed:
        io.probe(path, max_seconds=10)
    assert probed.value.duration_seconds is None
    assert io.probe(path).duration_seconds == pytest.approx(60.0)
    # ...and the decoder, the last line of defence, stops at the limit on its own.
    with pytest.raises(io.AudioTooLongError) as caught:
        io.decode(path, max_seconds=10)
    assert caught.value.duration_seconds is None  # the header's 1 s is not repeated as truth
    peak = _peak_traced_bytes(lambda: io.decode(path, max_seconds=10))
    assert peak < 11 * RATE * 2 * 4  # grew up to the limit, never past it
    # Without a limit the whole minute comes back, whatever the header said.
    assert io.decode(path).shape[1] == pytest.approx(60 * RATE, abs=RATE // 10)


def _claimed_seconds(path: Path) -> float:
    """What FFmpeg's header reading says, which the probe used to believe."""
    with open_pinned(path, MP3) as container:
        claimed = declared_duration(container, audio_stream(container))
    assert claimed is not None
    return claimed


def test_mp3_whose_first_frames_understate_its_length_is_refused_by_the_probe(
    tmp_path: Path,
) -> None:
    """A 64 kbps start, then an hour at 8 kbps: the header says about 18 minutes."""
    path = tmp_path / "crafted.mp3"
    path.write_bytes(bitrate_lying_mp3(real_seconds=3600, head_frames=20))
    limit = 30 * 60
    assert _claimed_seconds(path) < limit  # accepted when the probe trusted the header
    with pytest.raises(io.AudioTooLongError) as caught:
        io.probe(path, max_seconds=limit)
    assert caught.value.limit_seconds == limit
    assert caught.value.duration_seconds is None  # the header's number is not repeated
    # Without a limit the probe counts it all: the real hour.
    assert io.probe(path).duration_seconds == pytest.approx(3600, rel=0.01)


def test_mp3_whose_first_frames_overstate_its_length_is_accepted(tmp_path: Path) -> None:
    """An 8 kbps start, then a minute at 64 kbps: the header says half as long again."""
    path = tmp_path / "quiet-start.mp3"
    path.write_bytes(
        bitrate_lying_mp3(real_seconds=60, head_frames=20, head_bitrate=8_000, body_bitrate=64_000)
    )
    assert _claimed_seconds(path) > 80
    info = io.probe(path, max_seconds=80)
    assert info.duration_seconds == pytest.approx(62, abs=1)
    assert io.decode(path, max_seconds=80).shape[1] == pytest.approx(62 * RATE, rel=0.02)


def test_wav_header_claiming_hours_is_short(tmp_path: Path) -> None:
    path = tmp_path / "liar.wav"
    io.encode(path, stereo_test_signal(1.0), RATE)
    data = bytearray(path.read_bytes())
    data_chunk = data.find(b"data")
    data[data_chunk + 4 : data_chunk + 8] = struct.pack("<I", 0xFFFFFF00)  # ~6.7 hours
    data[4:8] = struct.pack("<I", 0xFFFFFFF0)
    path.write_bytes(bytes(data))
    info = io.probe(path, max_seconds=60)
    assert info.duration_seconds < 60
    peak = _peak_traced_bytes(lambda: io.decode(path, max_seconds=60))
    assert peak < 62 * RATE * 2 * 4
    assert io.decode(path).shape == (2, RATE)


def test_huge_declared_duration_does_not_preallocate(tmp_path: Path) -> None:
    path = _silent_flac(tmp_path, 1.0, total_samples=(1 << 36) - 1)  # ~99 days at 8 kHz
    peak = _peak_traced_bytes(lambda: io.decode(path))
    assert peak < 700 * RATE * 2 * 4  # capped first allocation (10 minutes), not 99 days
    assert io.decode(path).shape[1] == pytest.approx(RATE, abs=RATE // 50)


# ------------------------------------------------------------------ fuzzing


MAGIC_PREFIXES = [
    b"",
    b"ID3\x04\x00\x00\x00\x00\x00\x00",
    b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64",
    b"\xff\xfb\x90\x64",
    b"RIFF\x24\x00\x00\x00WAVEfmt ",
    b"RF64\xff\xff\xff\xffWAVEds64",
    b"fLaC\x00\x00\x00\x22",
    b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00",
    b"FORM\x00\x00\x10\x00AIFFCOMM",
    b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01",
]


def _fuzz(data: bytes, call: Callable[..., object]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fuzz"
        path.write_bytes(data)
        try:
            call(path, max_seconds=30)
        except io.AudioError as error:
            assert isinstance(error, TYPED)
            assert str(error)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_probe_fuzz_arbitrary_bytes(data: bytes) -> None:
    _fuzz(data, io.probe)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MAGIC_PREFIXES), st.binary(max_size=4096))
def test_probe_fuzz_after_valid_magic(prefix: bytes, data: bytes) -> None:
    _fuzz(prefix + data, io.probe)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MAGIC_PREFIXES), st.binary(max_size=4096))
def test_decode_fuzz_after_valid_magic(prefix: bytes, data: bytes) -> None:
    _fuzz(prefix + data, io.decode)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.binary(min_size=1, max_size=64))
def test_decode_fuzz_corrupted_real_flac(position: int, patch: bytes) -> None:
    data = bytearray(_good_flac())
    start = position % len(data)
    data[start : start + len(patch)] = patch
    _fuzz(bytes(data), io.decode)


@functools.cache
def _good_flac() -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        good = Path(directory) / "good.flac"
        io.encode(good, stereo_test_signal(0.3), RATE)
        return good.read_bytes()


def test_fuzz_prefixes_are_detected_as_intended() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "x"
        for prefix in MAGIC_PREFIXES[1:]:
            path.write_bytes(prefix + os.urandom(16))
            try:
                io.detect_container(path)
            except io.AudioError:
                assert prefix.startswith(b"ID3") and len(prefix) == 10  # tag, then random


@pytest.mark.parametrize("suffix", ["mp3", "flac"])
def test_a_glitch_mid_song_loses_a_frame_not_the_upload(tmp_path: Path, suffix: str) -> None:
    good, full = _encoded(tmp_path, suffix)
    data = bytearray(good.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 300] = np.random.default_rng(0).integers(0, 256, 300, np.uint8).tobytes()
    damaged = tmp_path / f"damaged.{suffix}"
    damaged.write_bytes(bytes(data))
    io.probe(damaged)
    decoded = io.decode(damaged)
    assert abs(decoded.shape[1] - full.shape[1]) <= 2 * 4608  # at most a frame or two lost
    quarter = full.shape[1] // 4
    np.testing.assert_allclose(decoded[:, :quarter], full[:, :quarter], atol=1e-4)
