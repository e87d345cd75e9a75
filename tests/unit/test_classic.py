"""The weight-free "classic" fallback engine: exact sums, robustness, and a little quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from isomix.separation import classic_dsp as dsp
from isomix.separation.base import Engine, SeparationOptions
from isomix.separation.classic import LOW_QUALITY_NOTICE, ClassicEngine, ClassicParams

SR = 44_100
MUSDB = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "musdb18_excerpt_80s_rock"
Audio = npt.NDArray[np.float32]


def _music_like(seconds: float, seed: int = 0) -> Audio:
    """Chords, a bass line, clicks and a wobbling 'voice' on slightly different pans."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SR)) / SR
    chords = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    bass = 0.3 * np.sin(2 * np.pi * np.where((t % 2) < 1, 55.0, 73.4) * t)
    clicks = np.zeros_like(t)
    clicks[:: SR // 2] = 0.8
    voice = 0.15 * np.sin(2 * np.pi * (440 + 30 * np.sin(2 * np.pi * 5 * t)) * t) * (t % 3 < 1.5)
    noise = 0.01 * rng.standard_normal((2, t.size))
    left = chords + bass + clicks + voice + noise[0]
    right = 0.8 * chords + bass + clicks + voice + noise[1]
    return np.stack([left, right]).astype(np.float32)


def _separate(mix: Audio, engine: ClassicEngine | None = None) -> dict[str, Audio]:
    return (engine or ClassicEngine()).separate(mix, SeparationOptions())


def _sdr(reference: Audio, estimate: Audio) -> float:
    ref = reference.astype(np.float64)
    error = ref - estimate.astype(np.float64)
    return float(10 * np.log10((np.sum(ref**2) + 1e-7) / (np.sum(error**2) + 1e-7)))


def test_is_an_engine_labelled_low_quality() -> None:
    engine: Engine = ClassicEngine()
    assert engine.name == "classic"
    assert engine.sources == ("drums", "bass", "other", "vocals")
    assert engine.sample_rate == SR
    assert "much lower quality than Demucs" in LOW_QUALITY_NOTICE


def test_stems_sum_to_the_mixture_with_shapes_and_dtypes() -> None:
    mix = _music_like(6.0)
    stems = _separate(mix)
    assert list(stems) == list(ClassicEngine.sources)
    for audio in stems.values():
        assert audio.shape == mix.shape
        assert audio.dtype == np.float32
        assert np.isfinite(audio).all()
    assert np.abs(sum(stems.values()) - mix).max() < 1e-5
    # Not a trivial split: every stem but the absent-ish ones carries something.
    assert np.abs(stems["drums"]).max() > 0.1
    assert np.abs(stems["bass"]).max() > 0.1


def test_blocks_cross_fade_and_still_sum_to_the_mixture() -> None:
    mix = _music_like(7.0, seed=1)
    engine = ClassicEngine(ClassicParams(block_seconds=2.0, overlap_seconds=0.5))
    blocked = _separate(mix, engine)
    assert np.abs(sum(blocked.values()) - mix).max() < 1e-5
    # Away from block edges the blocked bass is close to the one-block bass.
    whole = _separate(mix)
    assert _sdr(whole["bass"], blocked["bass"]) > 10


def test_silence_in_silence_out() -> None:
    silence = np.zeros((2, SR * 2), dtype=np.float32)
    for audio in _separate(silence).values():
        assert np.isfinite(audio).all()
        assert not audio.any()


def test_short_and_empty_inputs() -> None:
    for n in (0, 1, 100, 5000):
        mix = np.random.default_rng(n).standard_normal((2, n)).astype(np.float32)
        stems = _separate(mix)
        assert all(audio.shape == (2, n) for audio in stems.values())
        assert np.abs(sum(stems.values()) - mix).max(initial=0.0) < 1e-5


def test_mono_like_input_gives_mono_like_stems() -> None:
    mono = _music_like(4.0)[0]
    stems = _separate(np.stack([mono, mono]))
    for audio in stems.values():
        assert np.isfinite(audio).all()
        np.testing.assert_allclose(audio[0], audio[1], atol=1e-6)


def test_progress_is_monotonic_and_ends_at_one() -> None:
    seen: list[float] = []
    engine = ClassicEngine(ClassicParams(block_seconds=2.0, overlap_seconds=0.5))
    engine.separate(_music_like(5.0), SeparationOptions(), seen.append)
    assert len(seen) >= 4
    assert seen == sorted(seen)
    assert seen[-1] == 1.0
    assert all(0.0 <= fraction <= 1.0 for fraction in seen)


def test_clicks_go_to_drums_and_a_low_sine_to_bass() -> None:
    t = np.arange(6 * SR) / SR
    sine = 0.3 * np.sin(2 * np.pi * 60.0 * t)
    clicks = np.zeros_like(t)
    clicks[SR // 4 :: SR // 2] = 1.0
    sine2 = np.stack([sine, sine]).astype(np.float32)
    clicks2 = np.stack([clicks, clicks]).astype(np.float32)
    stems = _separate(sine2 + clicks2)

    def share(stem: Audio, source: Audio) -> float:
        # Fraction of `source` the stem carries (projection), since the masks are soft.
        return float(np.sum(stem * source) / np.sum(source * source))

    assert share(stems["drums"], clicks2) > 0.7
    assert share(stems["bass"], sine2) > 0.8
    assert share(stems["bass"], clicks2) < 0.2
    assert share(stems["drums"], sine2) < 0.1


def test_stft_round_trip_is_exact() -> None:
    audio = np.random.default_rng(3).standard_normal((2, 12_345)).astype(np.float32)
    spectrum = dsp.stft(audio, 1024, 256)
    assert spectrum.dtype == np.complex64
    np.testing.assert_allclose(dsp.istft(spectrum, 1024, 256, audio.shape[1]), audio, atol=1e-5)


def naive_hpss(mix: Audio) -> dict[str, Audio]:
    """The bar to clear: percussive -> drums, harmonic -> other, nothing else."""
    spectrum = dsp.stft(mix, 2048, 512)
    magnitude = np.abs(spectrum).mean(axis=0).astype(np.float32)
    harmonic, percussive = dsp.harmonic_percussive(magnitude, 17, 17)
    drums = dsp.istft(
        spectrum * (1 - dsp.soft_mask(harmonic, percussive, 2.0)), 2048, 512, mix.shape[1]
    )
    silent = np.zeros_like(mix)
    return {"drums": drums, "bass": silent, "other": mix - drums, "vocals": silent}


@pytest.mark.skipif(not MUSDB.is_dir(), reason="shared test audio not present")
def test_beats_the_naive_hpss_baseline_on_real_stems() -> None:
    from isomix.audio.io import decode

    mix = decode(MUSDB / "mixture.wav")
    references = {name: decode(MUSDB / f"{name}.wav") for name in ClassicEngine.sources}

    def average_sdr(stems: dict[str, Audio]) -> float:
        return float(np.mean([_sdr(references[name], stems[name]) for name in references]))

    classic = average_sdr(_separate(mix))
    baseline = average_sdr(naive_hpss(mix))
    assert classic > baseline + 1.0
    assert classic > 2.0


def test_side_fraction_is_zero_in_the_centre_and_one_at_the_sides() -> None:
    tone = np.sin(2 * np.pi * 440 * np.arange(SR) / SR).astype(np.float32)
    centre = dsp.stft(np.stack([tone, tone]), 2048, 512)
    left_only = dsp.stft(np.stack([tone, 0 * tone]), 2048, 512)
    loud = np.abs(centre[0]) > 1.0
    assert dsp.side_fraction(centre)[loud].max() < 1e-6
    assert dsp.side_fraction(left_only)[loud].min() > 0.99
    assert not dsp.side_fraction(centre[:1]).any()
