"""The mix maths must match the browser's Web Audio graph (API.md, "Mix semantics")."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from isomix.audio.dsp import (
    StemMix,
    audible_stems,
    compute_peaks,
    db_to_gain,
    pan_gains,
    pan_stereo,
    render_mix,
)

SQRT_HALF = math.sqrt(0.5)
COS_PI_8 = math.cos(math.pi / 8)  # 0.92388
SIN_PI_8 = math.sin(math.pi / 8)  # 0.38268


def _stereo(left: list[float], right: list[float]) -> np.ndarray:
    return np.array([left, right], dtype=np.float32)


def test_db_to_gain() -> None:
    assert db_to_gain(0) == 1.0
    assert db_to_gain(20) == pytest.approx(10.0)
    assert db_to_gain(-20) == pytest.approx(0.1)
    assert db_to_gain(-6) == pytest.approx(0.501187, rel=1e-5)
    assert db_to_gain(12) == pytest.approx(3.981072, rel=1e-6)
    assert db_to_gain(-60) == pytest.approx(0.001)


# Hand-computed from the spec: x = pan + 1 (pan <= 0) or pan; gL = cos(x pi/2); gR = sin(x pi/2)
#   pan <= 0: L = inL + inR gL ; R = inR gR        pan > 0: L = inL gL ; R = inR + inL gR
# With inL = 1, inR = 0.5:
PAN_CASES = [
    (-1.0, 1 + 0.5 * 1.0, 0.5 * 0.0),
    (-0.5, 1 + 0.5 * SQRT_HALF, 0.5 * SQRT_HALF),  # x = 0.5 -> cos = sin = 0.7071
    (0.0, 1.0, 0.5),  # x = 1 -> gL = 0, gR = 1: stereo passes through
    (0.5, 1.0 * SQRT_HALF, 0.5 + 1.0 * SQRT_HALF),
    (1.0, 0.0, 0.5 + 1.0),
    (-0.75, 1 + 0.5 * COS_PI_8, 0.5 * SIN_PI_8),  # x = 0.25
    (0.25, COS_PI_8, 0.5 + SIN_PI_8),
]


@pytest.mark.parametrize(("pan", "left", "right"), PAN_CASES)
def test_pan_law_matches_web_audio(pan: float, left: float, right: float) -> None:
    out = pan_stereo(_stereo([1.0, -1.0], [0.5, -0.5]), pan)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0], [left, right], atol=1e-6)
    np.testing.assert_allclose(out[:, 1], [-left, -right], atol=1e-6)


def test_pan_gains_are_equal_power() -> None:
    for pan in np.linspace(-1, 1, 21):
        gain_left, gain_right = pan_gains(float(pan))
        assert gain_left**2 + gain_right**2 == pytest.approx(1.0)
    with pytest.raises(ValueError):
        pan_gains(1.5)


def test_pan_hard_left_of_a_right_only_signal_moves_it_left() -> None:
    out = pan_stereo(_stereo([0.0], [1.0]), -1.0)
    np.testing.assert_allclose(out[:, 0], [1.0, 0.0], atol=1e-7)


def test_pan_does_not_touch_its_input() -> None:
    audio = _stereo([0.3, 0.2], [0.1, -0.4])
    before = audio.copy()
    pan_stereo(audio, 0.7)
    np.testing.assert_array_equal(audio, before)
    with pytest.raises(ValueError):
        pan_stereo(np.zeros((1, 4), np.float32), 0.0)


# ------------------------------------------------------------------ mute and solo


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, set()),
        ({"a": StemMix(), "b": StemMix()}, {"a", "b"}),
        ({"a": StemMix(mute=True), "b": StemMix()}, {"b"}),
        ({"a": StemMix(solo=True), "b": StemMix()}, {"a"}),
        ({"a": StemMix(solo=True), "b": StemMix(solo=True), "c": StemMix()}, {"a", "b"}),
        ({"a": StemMix(solo=True, mute=True), "b": StemMix()}, set()),  # mute beats solo
        ({"a": StemMix(solo=True, mute=True), "b": StemMix(solo=True)}, {"b"}),
        ({"a": StemMix(mute=True), "b": StemMix(mute=True)}, set()),
    ],
)
def test_audible_stems_cases(settings: dict[str, StemMix], expected: set[str]) -> None:
    assert audible_stems(settings) == expected


def test_audible_stems_full_truth_table() -> None:
    names = ["vocals", "drums", "bass"]
    for flags in itertools.product([False, True], repeat=2 * len(names)):
        settings = {
            name: StemMix(mute=flags[2 * i], solo=flags[2 * i + 1]) for i, name in enumerate(names)
        }
        any_solo = any(mix.solo for mix in settings.values())
        for name, mix in settings.items():
            audible = name in audible_stems(settings)
            if mix.mute:
                assert not audible
            elif any_solo:
                assert audible == mix.solo
            else:
                assert audible


# ------------------------------------------------------------------ render_mix


def _stems(n: int = 1000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        name: (rng.standard_normal((2, n)) * 0.1).astype(np.float32)
        for name in ("vocals", "drums", "bass", "other")
    }


def test_only_one_audible_stem_gives_that_stem() -> None:
    stems = _stems()
    for keep in stems:
        muted = {name: StemMix(mute=name != keep) for name in stems}
        np.testing.assert_array_equal(render_mix(stems, muted), stems[keep])
        soloed = {keep: StemMix(solo=True)}
        np.testing.assert_array_equal(render_mix(stems, soloed), stems[keep])


def test_default_mix_is_the_plain_sum() -> None:
    stems = _stems()
    expected = sum(stems.values())
    mix = render_mix(stems, {})
    assert mix.dtype == np.float32 and mix.shape == (2, 1000)
    np.testing.assert_allclose(mix, expected, atol=1e-6)


def test_mix_equals_the_graph_stem_by_stem() -> None:
    stems = _stems()
    settings = {
        "vocals": StemMix(gain_db=-6, pan=-0.3),
        "drums": StemMix(gain_db=3, pan=0.8),
        "bass": StemMix(mute=True),
        # "other" missing: 0 dB, centre
    }
    master_db = -4.0
    expected = np.zeros((2, 1000))
    for name, audio in stems.items():
        mix = settings.get(name, StemMix())
        if mix.mute:
            continue
        expected += pan_stereo(audio * db_to_gain(mix.gain_db), mix.pan)
    expected *= db_to_gain(master_db)
    np.testing.assert_allclose(render_mix(stems, settings, master_db), expected, atol=1e-6)


def test_mix_is_hard_clipped() -> None:
    loud = {"a": np.full((2, 10), 0.8, np.float32), "b": np.full((2, 10), -0.3, np.float32)}
    mix = render_mix(loud, {"a": StemMix(gain_db=12)})
    np.testing.assert_array_equal(mix[:, 0], [1.0, 1.0])
    quiet = render_mix(loud, {}, master_gain_db=-60)
    np.testing.assert_allclose(quiet, 0.5e-3, rtol=1e-5)
    negative = render_mix({"a": np.full((2, 3), -0.9, np.float32)}, {}, master_gain_db=6)
    np.testing.assert_array_equal(negative, -1.0)


def test_mix_leaves_the_stems_untouched_and_accepts_float64() -> None:
    stems = _stems()
    copies = {name: audio.copy() for name, audio in stems.items()}
    render_mix(stems, {"vocals": StemMix(gain_db=6, pan=0.5)}, master_gain_db=3)
    for name in stems:
        np.testing.assert_array_equal(stems[name], copies[name])
    doubles = {name: audio.astype(np.float64) for name, audio in stems.items()}
    assert render_mix(doubles, {}).dtype == np.float32


def test_mix_of_stems_of_different_lengths_and_of_nothing() -> None:
    mix = render_mix(
        {"long": np.full((2, 6), 0.25, np.float32), "short": np.full((2, 2), 0.5, np.float32)}, {}
    )
    np.testing.assert_allclose(mix[0], [0.75, 0.75, 0.25, 0.25, 0.25, 0.25])
    all_muted = render_mix({"a": np.ones((2, 4), np.float32)}, {"a": StemMix(mute=True)})
    np.testing.assert_array_equal(all_muted, np.zeros((2, 4)))
    assert render_mix({}, {}).shape == (2, 0)
    with pytest.raises(ValueError):
        render_mix({"mono": np.zeros((1, 4), np.float32)}, {})


# ------------------------------------------------------------------ peaks


def test_peaks_per_bucket_over_both_channels() -> None:
    audio = np.zeros((2, 8), np.float32)
    audio[0, 1] = 0.5
    audio[1, 2] = -0.75  # the louder one, and negative
    audio[0, 5] = -0.123456
    audio[1, 7] = 1.0
    assert compute_peaks(audio, 4) == [0.5, 0.75, 0.1235, 1.0]
    assert compute_peaks(audio, 1) == [1.0]
    assert compute_peaks(audio, 2) == [0.75, 1.0]


def test_peaks_length_and_range_for_uneven_splits() -> None:
    rng = np.random.default_rng(0)
    audio = (rng.uniform(-1, 1, (2, 44_101))).astype(np.float32)
    for buckets in (1, 7, 100, 800, 44_101):
        peaks = compute_peaks(audio, buckets)
        assert len(peaks) == buckets
        assert all(0.0 <= p <= 1.0 for p in peaks)
        assert max(peaks) == round(float(np.abs(audio).max()), 4)
    # Reference: explicit slices.
    edges = (np.arange(101) * audio.shape[1]) // 100
    expected = [round(float(np.abs(audio[:, a:b]).max()), 4) for a, b in itertools.pairwise(edges)]
    assert compute_peaks(audio, 100) == expected


def test_peaks_of_short_and_empty_audio() -> None:
    assert compute_peaks(np.zeros((2, 0), np.float32), 5) == [0.0] * 5
    short = _stereo([0.1, -0.9, 0.3], [0.2, 0.0, -0.4])
    assert compute_peaks(short, 6) == [0.2, 0.2, 0.9, 0.9, 0.4, 0.4]
    with pytest.raises(ValueError):
        compute_peaks(short, 0)


def test_render_mix_pans_with_the_same_law_as_pan_stereo() -> None:
    # The export has one pan law: a single audible stem at gain g and pan p renders exactly
    # as pan_stereo (the StereoPannerNode model the parity tests check) of the gained stem.
    rng = np.random.default_rng(3)
    audio = (0.2 * rng.standard_normal((2, 1000))).astype(np.float32)
    for pan in (-1.0, -0.4, 0.0, 0.3, 1.0):
        mix = render_mix({"a": audio}, {"a": StemMix(gain_db=-6.0, pan=pan)})
        expected = pan_stereo(audio * np.float32(10 ** (-6 / 20)), pan)
        np.testing.assert_allclose(mix, expected, atol=1e-7)
