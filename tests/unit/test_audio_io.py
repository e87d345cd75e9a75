"""Round trips and conversions of isomix.audio.io on tiny generated files."""

from __future__ import annotations

import tracemalloc
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from audio_samples import (
    best_lag,
    dominant_frequency,
    sine,
    stereo_test_signal,
    write_audio,
    write_streamed_webm,
    write_wav,
)

from isomix.audio import io
from isomix.audio.errors import format_duration
from isomix.audio.formats import (
    ACCEPTED_FORMATS,
    ALLOWED_DEMUXERS,
    MATROSKA,
    MP4,
    UNSUPPORTED_MESSAGE,
    accepted_extensions,
    accepted_names,
)
from isomix.audio.io import AudioInfo

RATE = io.MODEL_SAMPLE_RATE

pytestmark = pytest.mark.timeout(60)


def _assert_close_prefix(
    decoded: npt.NDArray[np.float32], original: npt.NDArray[np.float32], tolerance: float
) -> None:
    assert decoded.shape[0] == 2
    assert decoded.shape[1] >= original.shape[1]
    error = np.abs(decoded[:, : original.shape[1]] - original).max()
    assert error <= tolerance, error


def _correlation(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


# ------------------------------------------------------------------ encode -> decode


@pytest.mark.parametrize(
    ("name", "options", "tolerance"),
    [
        ("wav16", {"format": "wav", "bit_depth": 16}, 1.5 / 2**15),
        ("wav24", {"format": "wav", "bit_depth": 24}, 1.5 / 2**23),
        ("wavf", {"format": "wav", "float32": True}, 0.0),
        ("flac16", {"format": "flac", "bit_depth": 16}, 1.5 / 2**15),
        ("flac24", {"format": "flac", "bit_depth": 24}, 1.5 / 2**23),
    ],
)
def test_lossless_round_trip(
    tmp_path: Path, name: str, options: dict[str, object], tolerance: float
) -> None:
    audio = stereo_test_signal(1.0)
    path = tmp_path / f"{name}.out"
    io.encode(path, audio, RATE, **options)  # type: ignore[arg-type]
    decoded = io.decode(path)
    assert decoded.dtype == np.float32
    assert decoded.flags.c_contiguous
    assert decoded.shape == audio.shape
    assert np.abs(decoded - audio).max() <= tolerance


def test_flac_24_bit_keeps_24_bits(tmp_path: Path) -> None:
    audio = stereo_test_signal(0.5) * np.float32(1e-3)  # below 16-bit resolution in places
    path = tmp_path / "quiet.flac"
    io.encode(path, audio, RATE, bit_depth=24)
    decoded = io.decode(path)
    assert np.abs(decoded - audio).max() < 2 / 2**23
    # STREAMINFO: bits per sample sits in bits 36..40 of the 8 bytes after the rates.
    streaminfo = path.read_bytes()[8:42]
    packed = int.from_bytes(streaminfo[10:18], "big")
    assert ((packed >> 36) & 0b11111) + 1 == 24


@pytest.mark.parametrize("bitrate", [128, 320])
def test_mp3_round_trip_is_sample_aligned(tmp_path: Path, bitrate: int) -> None:
    audio = stereo_test_signal(2.0)
    path = tmp_path / "song.mp3"
    io.encode(path, audio, RATE, bitrate=bitrate)
    info = io.probe(path)
    assert (info.container, info.extension, info.codec) == ("mp3", "mp3", "mp3")
    decoded = io.decode(path)
    # FFmpeg reads the LAME tag PyAV's muxer writes and trims encoder delay and padding.
    assert decoded.shape == audio.shape
    assert best_lag(audio[0], decoded[0]) == 0
    assert _correlation(decoded, audio) > (0.99 if bitrate == 128 else 0.999)
    size_kbps = path.stat().st_size * 8 / 2.0 / 1000
    assert abs(size_kbps - bitrate) < 0.15 * bitrate


def test_mp3_quality_is_passed_to_lame(tmp_path: Path) -> None:
    audio = stereo_test_signal(1.0)
    fast = tmp_path / "fast.mp3"
    io.encode(fast, audio, RATE, bitrate=128, mp3_quality=7)
    assert _correlation(io.decode(fast), audio) > 0.99
    with pytest.raises(ValueError):
        io.encode(tmp_path / "x.mp3", audio, RATE, mp3_quality=10)


def test_mp3_rejects_bitrates_outside_range(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ValueError):
        io.encode(out / "a.mp3", stereo_test_signal(0.1), RATE, bitrate=64)
    with pytest.raises(ValueError):
        io.encode(out / "a.mp3", stereo_test_signal(0.1), RATE, bitrate=384)
    assert not out.exists() or not list(out.iterdir())


def test_encode_rejects_unknown_format_and_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        io.encode(tmp_path / "a.ogg", stereo_test_signal(0.1), RATE)
    with pytest.raises(ValueError):
        io.encode(tmp_path / "a.wav", np.zeros((3, 100), np.float32), RATE)
    with pytest.raises(ValueError):
        io.encode(tmp_path / "a.wav", np.zeros(100, np.float32), RATE)
    with pytest.raises(ValueError):
        io.encode(tmp_path / "a.mp3", np.zeros((2, 0), np.float32), RATE)


def test_format_argument_overrides_suffix(tmp_path: Path) -> None:
    path = tmp_path / "stem.bin"
    io.encode(path, stereo_test_signal(0.2), RATE, format="flac")
    assert path.read_bytes().startswith(b"fLaC")
    assert io.probe(path).extension == "flac"


def test_encode_mono_stays_mono(tmp_path: Path) -> None:
    path = tmp_path / "mono.flac"
    io.encode(path, sine(440, 0.5), RATE)
    assert io.probe(path).channels == 1


# ------------------------------------------------------------------ demucs equivalence


@pytest.mark.parametrize(("bits", "as_float"), [(16, False), (24, False), (32, True)])
def test_wav_bytes_equal_demucs(tmp_path: Path, bits: int, as_float: bool) -> None:
    torch = pytest.importorskip("torch")
    demucs_audio = pytest.importorskip("demucs.audio")
    loud = stereo_test_signal(0.5) * np.float32(3.0)  # forces the rescale path
    ours = tmp_path / "ours.wav"
    theirs = tmp_path / "theirs.wav"
    io.encode(ours, loud, RATE, bit_depth=24 if bits == 24 else 16, float32=as_float)
    demucs_audio.save_audio(
        torch.from_numpy(loud.copy()),
        str(theirs),
        RATE,
        bits_per_sample=bits if not as_float else 16,
        as_float=as_float,
    )
    assert ours.read_bytes() == theirs.read_bytes()


@pytest.mark.parametrize("mode", ["rescale", "clamp", "none"])
def test_prevent_clip_matches_demucs(mode: str) -> None:
    torch = pytest.importorskip("torch")
    demucs_audio = pytest.importorskip("demucs.audio")
    for scale in (0.5, 1.0, 2.5):
        audio = stereo_test_signal(0.2) * np.float32(scale)
        expected = demucs_audio.prevent_clip(torch.from_numpy(audio.copy()), mode).numpy()
        ours = io.prevent_clip(audio, mode)  # type: ignore[arg-type]
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError):
        io.prevent_clip(audio, "tanh")  # type: ignore[arg-type]


def test_rescale_keeps_loud_audio_inside_unit_range() -> None:
    audio = stereo_test_signal(0.2) * np.float32(4.0)
    rescaled = io.prevent_clip(audio, "rescale")
    assert np.abs(rescaled).max() == pytest.approx(1 / 1.01, rel=1e-6)
    clamped = io.prevent_clip(audio, "clamp")
    assert np.abs(clamped).max() == pytest.approx(0.99)


# ------------------------------------------------------------------ formats we only decode


def _decode_only_cases() -> list[tuple[str, str, str, dict[str, str], bool, int, str, str]]:
    # name, container, codec, encoder options, with video, rate, expected extension, demuxer
    mp4 = "mov,mp4,m4a,3gp,3g2,mj2"
    mkv = "matroska,webm"
    return [
        ("vorbis.ogg", "ogg", "vorbis", {"strict": "experimental"}, False, 44_100, "ogg", "ogg"),
        ("flac.oga", "ogg", "flac", {}, False, 44_100, "ogg", "ogg"),
        ("voice.opus", "ogg", "libopus", {}, False, 48_000, "opus", "ogg"),
        ("song.m4a", "mp4", "aac", {}, False, 44_100, "m4a", mp4),
        ("clip.mp4", "mp4", "aac", {}, True, 44_100, "mp4", mp4),
        ("song.aiff", "aiff", "pcm_s16be", {}, False, 44_100, "aiff", "aiff"),
        ("song.mkv", "matroska", "flac", {}, False, 44_100, "mkv", mkv),
        ("clip.mkv", "matroska", "libopus", {}, True, 48_000, "mkv", mkv),
        ("voice.webm", "webm", "libopus", {}, False, 48_000, "mkv", mkv),
    ]


@pytest.mark.parametrize(
    ("name", "container", "codec", "options", "video", "rate", "extension", "demuxer"),
    _decode_only_cases(),
)
def test_decode_only_formats(
    tmp_path: Path,
    name: str,
    container: str,
    codec: str,
    options: dict[str, str],
    video: bool,
    rate: int,
    extension: str,
    demuxer: str,
) -> None:
    seconds = 1.0
    source = sine(1000, seconds, rate, amplitudes=(0.5, 0.25))
    path = tmp_path / name
    write_audio(
        path, source, rate, container=container, codec=codec, options=options, with_video=video
    )
    info = io.probe(path)
    assert info.container == demuxer
    assert info.extension == extension
    assert info.sample_rate == rate
    assert info.channels == 2
    assert info.duration_seconds == pytest.approx(seconds, abs=0.1)

    decoded = io.decode(path)
    assert decoded.dtype == np.float32 and decoded.flags.c_contiguous
    assert decoded.shape[0] == 2
    assert abs(decoded.shape[1] - seconds * RATE) < 0.1 * RATE
    # The sine survives the codec and the resampler: right pitch, right level per channel.
    middle = decoded[:, RATE // 4 : 3 * RATE // 4]
    for channel, amplitude in enumerate((0.5, 0.25)):
        assert dominant_frequency(middle[channel], RATE) == pytest.approx(1000, abs=5)
        rms = float(np.sqrt(np.mean(middle[channel] ** 2)))
        assert rms == pytest.approx(amplitude / np.sqrt(2), rel=0.1)


def test_lossless_decode_only_formats_are_exact(tmp_path: Path) -> None:
    source = stereo_test_signal(0.5)
    for name, container, codec in (
        ("a.aiff", "aiff", "pcm_s24be"),
        ("a.mka", "matroska", "flac"),
        ("a.oga", "ogg", "flac"),
    ):
        path = tmp_path / name
        write_audio(path, source, RATE, container=container, codec=codec)
        decoded = io.decode(path)
        _assert_close_prefix(decoded, source, 1.5 / 2**15)


def test_mp4_with_video_decodes_only_audio(tmp_path: Path) -> None:
    source = stereo_test_signal(1.0)
    path = tmp_path / "clip.mp4"
    write_audio(path, source, RATE, container="mp4", codec="aac", with_video=True)
    decoded = io.decode(path)
    assert best_lag(source[0], decoded[0]) == 0
    assert _correlation(decoded[:, : source.shape[1]], source) > 0.99


# ------------------------------------------------------------------ channels and rates


def test_mono_is_duplicated_at_full_level(tmp_path: Path) -> None:
    mono = sine(440, 0.5)
    path = tmp_path / "mono.wav"
    write_wav(path, mono, RATE, "pcm_f32le")
    decoded = io.decode(path)
    assert decoded.shape == (2, mono.shape[1])
    np.testing.assert_array_equal(decoded[0], mono[0])
    np.testing.assert_array_equal(decoded[1], mono[0])


def test_six_channels_downmix_to_stereo(tmp_path: Path) -> None:
    # 5.1 = FL FR FC LFE BL BR; a tone only on FL must land left, one only on FR right,
    # the centre in both.
    n = RATE // 2
    channels = np.zeros((6, n), np.float32)
    channels[0] = sine(300, 0.5)[0]
    channels[1] = sine(700, 0.5)[0]
    channels[2] = sine(1100, 0.5)[0]
    path = tmp_path / "surround.wav"
    write_wav(path, channels, RATE, "pcm_f32le", layout="5.1")
    assert io.probe(path).channels == 6
    decoded = io.decode(path)
    assert decoded.shape == (2, n)
    left, right = (np.abs(np.fft.rfft(decoded[c])) for c in (0, 1))

    def bin_of(hz: int) -> int:
        return round(hz * n / RATE)

    assert left[bin_of(300)] > 100 * right[bin_of(300)] + 1
    assert right[bin_of(700)] > 100 * left[bin_of(700)] + 1
    assert left[bin_of(1100)] == pytest.approx(right[bin_of(1100)], rel=0.01)
    assert left[bin_of(1100)] > 0.3 * left[bin_of(300)]
    assert np.abs(decoded).max() <= 1.0


@pytest.mark.parametrize("source_rate", [48_000, 22_050, 8_000, 96_000])
def test_any_rate_is_resampled_to_model_rate(tmp_path: Path, source_rate: int) -> None:
    seconds = 1.0
    source = sine(1000, seconds, source_rate, amplitudes=(0.5, 0.5))
    path = tmp_path / "rate.wav"
    write_wav(path, source, source_rate, "pcm_f32le")
    assert io.probe(path).sample_rate == source_rate
    decoded = io.decode(path)
    assert abs(decoded.shape[1] - RATE * seconds) <= 64
    middle = decoded[:, RATE // 4 : 3 * RATE // 4]
    assert dominant_frequency(middle[0], RATE) == pytest.approx(1000, abs=3)
    assert float(np.sqrt(np.mean(middle**2))) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_decode_to_other_rate(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    write_wav(path, sine(500, 1.0, amplitudes=(0.5, 0.5)), RATE, "pcm_s16le")
    decoded = io.decode(path, sample_rate=16_000)
    assert abs(decoded.shape[1] - 16_000) <= 32
    assert dominant_frequency(decoded[0, 4000:12000], 16_000) == pytest.approx(500, abs=3)


@pytest.mark.parametrize(
    ("codec", "tolerance"),
    [
        ("pcm_s16le", 1 / 2**15),
        ("pcm_s24le", 1 / 2**23),
        ("pcm_s32le", 1e-7),
        ("pcm_f32le", 0.0),
        ("pcm_u8", 1 / 2**7),
        ("pcm_f64le", 1e-7),
    ],
)
def test_wav_sample_formats(tmp_path: Path, codec: str, tolerance: float) -> None:
    source = stereo_test_signal(0.5)
    path = tmp_path / "in.wav"
    write_wav(path, source, RATE, codec)
    info = io.probe(path)
    assert info.codec == codec
    decoded = io.decode(path)
    assert decoded.shape == source.shape
    assert np.abs(decoded - source).max() <= tolerance + 1e-7


def test_int16_wav_from_the_standard_library(tmp_path: Path) -> None:
    source = stereo_test_signal(0.3)
    ints = (source.T * 32767).astype("<i2")
    path = tmp_path / "std.wav"
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes(ints.tobytes())
    decoded = io.decode(path)
    np.testing.assert_allclose(decoded, ints.T / 32768, atol=1e-7)


def test_probe_reports_file_facts(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    write_wav(path, sine(440, 1.5, 48_000, amplitudes=(0.1,)), 48_000, "pcm_s16le")
    assert io.probe(path) == AudioInfo(
        container="wav",
        extension="wav",
        codec="pcm_s16le",
        sample_rate=48_000,
        channels=1,
        duration_seconds=pytest.approx(1.5),  # type: ignore[arg-type]
    )


def test_the_file_name_never_chooses_the_format(tmp_path: Path) -> None:
    path = tmp_path / "song.mp3"  # really a FLAC
    io.encode(path, stereo_test_signal(0.3), RATE, format="flac")
    assert io.detect_container(path) == "flac"
    assert io.probe(path).extension == "flac"


def test_id3_tagged_flac_is_flac(tmp_path: Path) -> None:
    flac = tmp_path / "a.flac"
    io.encode(flac, stereo_test_signal(0.3), RATE)
    tagged = tmp_path / "tagged"
    tagged.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x0a" + bytes(10) + flac.read_bytes())
    assert io.detect_container(tagged) == "flac"
    np.testing.assert_array_equal(io.decode(tagged), io.decode(flac))


def test_id3_tagged_mp3_with_padding(tmp_path: Path) -> None:
    mp3 = tmp_path / "a.mp3"
    io.encode(mp3, stereo_test_signal(0.5), RATE)
    tagged = tmp_path / "tagged"
    tag_body = b"TIT2\x00\x00\x00\x05\x00\x00\x03abcd" + bytes(200)
    size = len(tag_body)
    synchsafe = bytes([(size >> 21) & 127, (size >> 14) & 127, (size >> 7) & 127, size & 127])
    tag = b"ID3\x03\x00\x00" + synchsafe + tag_body
    tagged.write_bytes(tag + mp3.read_bytes())
    assert io.detect_container(tagged) == "mp3"
    np.testing.assert_array_equal(io.decode(tagged), io.decode(mp3))
    # Zeros after the tag are out of spec; FFmpeg then misses the LAME tag and keeps the
    # encoder delay, but the file still decodes.
    tagged.write_bytes(tag + bytes(64) + mp3.read_bytes())
    assert io.detect_container(tagged) == "mp3"
    assert abs(io.decode(tagged).shape[1] - io.decode(mp3).shape[1]) < 2 * 1152


# ------------------------------------------------------------------ limits and atomic writes


def test_decode_within_limit_passes(tmp_path: Path) -> None:
    path = tmp_path / "a.flac"
    io.encode(path, stereo_test_signal(1.0), RATE)
    assert io.probe(path, max_seconds=1.0).duration_seconds == pytest.approx(1.0)
    assert io.decode(path, max_seconds=1.0).shape == (2, RATE)


def test_too_long_is_reported_with_both_durations(tmp_path: Path) -> None:
    path = tmp_path / "a.flac"
    io.encode(path, stereo_test_signal(2.0), RATE)
    with pytest.raises(io.AudioTooLongError) as probed:
        io.probe(path, max_seconds=1.0)
    assert probed.value.limit_seconds == 1.0
    assert probed.value.duration_seconds == pytest.approx(2.0)
    assert "limit" in str(probed.value)
    with pytest.raises(io.AudioTooLongError) as decoded:
        io.decode(path, max_seconds=1.0)
    assert decoded.value.limit_seconds == 1.0


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.5, "0.5 s"),
        (2.5, "2.5 s"),
        (1.0, "1 s"),
        (45.0, "45 s"),
        (59.6, "1 min"),
        (245.0, "4 min 5 s"),
        (1800.0, "30 min"),
        (3599.6, "1 h 0 min"),
        (36_000.0, "10 h 0 min"),
        (36_031.0, "10 h 1 min"),
        (0.0, "0 s"),
        (float("nan"), "0 s"),
    ],
)
def test_durations_in_words(seconds: float, words: str) -> None:
    assert format_duration(seconds) == words


def test_too_long_says_durations_in_words() -> None:
    assert str(io.AudioTooLongError(1800.0, 36_000.0)) == (
        "Audio is 10 h 0 min long; the limit is 30 min."
    )
    assert str(io.AudioTooLongError(1800.0)) == "Audio is longer than the limit of 30 min."
    assert str(io.AudioTooLongError(60.0, 245.0)) == "Audio is 4 min 5 s long; the limit is 1 min."


def test_errors_survive_pickling() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(io.AudioTooLongError(60.0, 75.5)))
    assert (error.limit_seconds, error.duration_seconds) == (60.0, 75.5)
    assert str(error) == str(io.AudioTooLongError(60.0, 75.5))


def test_encode_replaces_atomically_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "out" / "stem.wav"
    io.encode(path, stereo_test_signal(0.2), RATE)
    first = path.read_bytes()
    io.encode(path, stereo_test_signal(0.2) * np.float32(0.5), RATE)
    assert path.read_bytes() != first
    assert [p.name for p in path.parent.iterdir()] == ["stem.wav"]


def test_failed_encode_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out" / "stem.flac"
    io.encode(path, stereo_test_signal(0.2), RATE)
    before = path.read_bytes()

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(io, "write_with_pyav", explode)
    with pytest.raises(RuntimeError):
        io.encode(path, stereo_test_signal(0.2), RATE)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["stem.flac"]


def test_streamed_webm_without_duration_is_measured(tmp_path: Path) -> None:
    path = tmp_path / "recording.webm"
    write_streamed_webm(path, stereo_test_signal(2.0, 48_000))
    info = io.probe(path)
    assert info.duration_seconds == pytest.approx(2.0, abs=0.05)
    with pytest.raises(io.AudioTooLongError) as caught:
        io.probe(path, max_seconds=1.0)
    assert caught.value.duration_seconds is None
    assert io.decode(path).shape == (2, 2 * RATE)


def test_buffer_growth_gives_the_same_samples(tmp_path: Path) -> None:
    """A header that under-declares forces several regrowths; the samples must not change."""
    rate = 8_000
    path = tmp_path / "honest.flac"
    io.encode(path, sine(440, 70.0, rate, amplitudes=(0.3,)), rate)
    honest = io.decode(path)
    data = bytearray(path.read_bytes())
    packed = int.from_bytes(data[18:26], "big")
    for declared in (0, 1):  # unknown (starts at 30 s), then "1 sample"
        data[18:26] = ((packed & ~((1 << 36) - 1)) | declared).to_bytes(8, "big")
        liar = tmp_path / f"liar{declared}.flac"
        liar.write_bytes(bytes(data))
        decoded = io.decode(liar)
        assert decoded.flags.c_contiguous
        np.testing.assert_array_equal(decoded, honest)


@pytest.mark.parametrize("suffix", ["wav", "flac", "mp3"])
def test_encode_works_in_slices(tmp_path: Path, suffix: str) -> None:
    """Encoding a long stem costs a few MB beyond the stem, not copies of it."""
    seconds = 30.0
    audio = np.tile(stereo_test_signal(1.0) * np.float32(2.0), (1, int(seconds)))  # rescaled
    tracemalloc.start()
    try:
        io.encode(tmp_path / f"long.{suffix}", audio, RATE, bit_depth=24, mp3_quality=7)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000 < audio.nbytes
    decoded = io.decode(tmp_path / f"long.{suffix}")
    assert decoded.shape == audio.shape
    assert np.abs(decoded).max() == pytest.approx(1 / 1.01, abs=0.02)


# ------------------------------------------------------------------ the accepted formats


# One file of each accepted kind: (container, codec, sample rate, with a video track).
ACCEPTED_SAMPLES = {
    "MP3": ("mp3", "libmp3lame", RATE, False),
    "WAV": ("wav", "pcm_s16le", RATE, False),
    "FLAC": ("flac", "flac", RATE, False),
    "Ogg": ("ogg", "flac", RATE, False),
    "Opus": ("ogg", "libopus", 48_000, False),
    "M4A": ("ipod", "aac", RATE, False),
    "MP4": ("mp4", "aac", RATE, True),
    "AIFF": ("aiff", "pcm_s16be", RATE, False),
    "MKV": ("matroska", "flac", RATE, False),
    "WebM": ("webm", "libopus", 48_000, False),
}


def test_one_list_of_accepted_formats() -> None:
    assert accepted_names() == list(ACCEPTED_SAMPLES)
    # The allow-list of demuxers follows from the list; a new entry there opens a new demuxer.
    assert {"mp3", "wav", "flac", "ogg", MP4, "aiff", MATROSKA} == ALLOWED_DEMUXERS
    extensions = accepted_extensions()
    assert len(extensions) == len(set(extensions))
    assert all(ext.startswith(".") and ext == ext.lower() for ext in extensions)
    # The 415 message: one sentence, naming the list.
    assert UNSUPPORTED_MESSAGE == (
        "This is not an audio file we can read: "
        "upload MP3, WAV, FLAC, Ogg, Opus, M4A, MP4, AIFF, MKV or WebM."
    )


@pytest.mark.parametrize("name", list(ACCEPTED_SAMPLES))
def test_every_accepted_format_is_read(tmp_path: Path, name: str) -> None:
    container, codec, rate, with_video = ACCEPTED_SAMPLES[name]
    accepted = next(accepted for accepted in ACCEPTED_FORMATS if accepted.name == name)
    path = tmp_path / f"sample{accepted.extensions[0]}"
    write_audio(
        path, stereo_test_signal(0.5, rate), rate, container=container, codec=codec,
        with_video=with_video,
    )  # fmt: skip
    assert io.detect_container(path) == accepted.demuxer
    info = io.probe(path)
    assert f".{info.extension}" in accepted_extensions()
    assert info.duration_seconds == pytest.approx(0.5, abs=0.06)
