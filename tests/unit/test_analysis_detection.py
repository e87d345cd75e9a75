"""Tempo, beats, bars and key on synthetic audio with known answers (analysis/)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from isomix.analysis import key, names, tempo
from isomix.analysis.run import analyse, warm_up

RATE = 44_100
Audio = npt.NDArray[np.float32]


def _clicks(
    bpm: float, *, seconds: float = 30.0, start: float = 0.513, accent: bool, swing: bool
) -> tuple[Audio, npt.NDArray[np.float64]]:
    """A click on every beat (the first of each bar louder and higher when `accent`), and a
    quieter one two thirds into each beat when `swing` (swung eighths)."""
    audio = np.zeros(int(seconds * RATE), np.float32)
    period = 60.0 / bpm
    beats = start + period * np.arange(int((seconds - start - 0.1) / period))
    t = np.arange(int(0.03 * RATE)) / RATE
    decay = np.exp(-t * 120)

    def add(at: float, gain: float, pitch: float) -> None:
        click = gain * decay * (np.sin(2 * np.pi * pitch * t) + 0.8 * np.sin(2 * np.pi * 60 * t))
        first = round(at * RATE)
        audio[first : first + click.size] += click[: audio.size - first].astype(np.float32)

    for index, beat in enumerate(beats):
        downbeat = accent and index % 4 == 0
        add(beat, 1.0 if downbeat else 0.5, 1500.0 if downbeat else 1000.0)
        if swing:
            add(beat + period * 2 / 3, 0.3, 1000.0)
    return audio, beats


@pytest.mark.parametrize("bpm", [90.0, 120.0, 128.0, 140.0])
@pytest.mark.parametrize(("accent", "swing"), [(False, False), (True, True)])
def test_steady_clicks_give_the_exact_tempo_and_beats(
    bpm: float, accent: bool, swing: bool
) -> None:
    audio, truth = _clicks(bpm, accent=accent, swing=swing)
    found = analyse({"drums": audio[None, :]}, RATE)
    assert found is not None
    # Refined from the beat times: 128 is 128.0, not the 40-frame bin (129.2).
    assert found.bpm == pytest.approx(bpm, abs=0.5)
    beats = np.asarray(found.beats)
    assert len(beats) == len(truth)
    assert np.max(np.abs(beats - truth)) < 0.003  # seconds
    if accent:
        downbeats = np.asarray(found.downbeats)
        assert np.max(np.abs(downbeats - truth[::4][: len(downbeats)])) < 0.003
        assert len(downbeats) == len(truth[::4])


def test_the_bar_starts_where_the_accent_is_not_on_the_first_click() -> None:
    audio, truth = _clicks(120.0, accent=True, swing=False)
    shifted = audio[round((truth[1] - 0.25) * RATE) :]  # the first click now on beat 4
    found = analyse({"drums": shifted[None, :]}, RATE)
    assert found is not None
    expected = truth[4] - (truth[1] - 0.25)
    assert found.downbeats[0] == pytest.approx(expected, abs=0.003)


def test_a_drifting_tempo_keeps_each_beat_where_it_is() -> None:
    # 100 BPM speeding up to 110 over the song: no line fits, the tracked beats are kept.
    periods = np.linspace(0.6, 60 / 110, 50)
    truth = 0.5 + np.concatenate([[0.0], np.cumsum(periods[:-1])])
    audio = np.zeros(int((truth[-1] + 1) * RATE), np.float32)
    t = np.arange(int(0.03 * RATE)) / RATE
    click = (np.exp(-t * 120) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    for beat in truth:
        audio[round(beat * RATE) : round(beat * RATE) + click.size] += click
    found = analyse({"drums": audio[None, :]}, RATE)
    assert found is not None
    beats = np.asarray(found.beats)
    nearest = np.min(np.abs(beats[:, None] - truth[None, :]), axis=1)
    assert np.max(nearest) < 0.01
    assert 100 < found.bpm < 110


def test_silence_has_no_analysis() -> None:
    assert analyse({"drums": np.zeros((2, RATE * 5), np.float32)}, RATE) is None
    assert analyse({}, RATE) is None


def _note(midi: int, seconds: float, gain: float = 0.2) -> Audio:
    t = np.arange(int(seconds * RATE)) / RATE
    frequency = 440.0 * 2 ** ((midi - 69) / 12)
    tone = sum(gain / h * np.sin(2 * np.pi * frequency * h * t) for h in range(1, 5))
    return np.asarray(tone * np.minimum(1, t / 0.02) * np.exp(-t * 1.5), dtype=np.float32)


def _cadence(tonic: int, mode: str) -> Audio:
    """I-IV-V-I (major) or i-iv-V-i with the raised leading tone (minor), four times, with
    the chord's root in the bass."""
    third = 4 if mode == "major" else 3
    chords = [(0, third, 7), (5, 5 + third, 12), (7, 11, 14), (0, third, 7)]
    bars = []
    for _ in range(4):
        for chord in chords:
            voices = [_note(60 + tonic + step, 1.0) for step in chord]
            bars.append(sum(voices) + _note(36 + tonic + chord[0], 1.0, 0.3))
    return np.concatenate(bars)


@pytest.mark.parametrize(
    "expected", ["C major", "A minor", "F# major", "D# minor", "G major", "B minor", "A# major"]
)
def test_a_cadence_gives_its_key(expected: str) -> None:
    tonic_name, mode = expected.split()
    audio = _cadence(names.PITCH_CLASSES.index(tonic_name), mode)
    drums, _ = _clicks(100.0, seconds=audio.size / RATE, accent=True, swing=False)
    # The drums are left out of the key; the other stems carry the harmony.
    found = analyse({"drums": drums[None, :], "other": audio[None, :]}, RATE)
    assert found is not None
    assert found.key == expected
    assert 0.0 < found.key_confidence <= 1.0


def test_every_key_from_its_scale_alone() -> None:
    for expected in names.KEY_NAMES:
        tonic_name, mode = expected.split()
        steps = [0, 2, 4, 5, 7, 9, 11, 12] if mode == "major" else [0, 2, 3, 5, 7, 8, 11, 12]
        tonic = names.PITCH_CLASSES.index(tonic_name)
        scale = np.concatenate([_note(60 + tonic + step, 0.4) for step in steps + steps[::-1]])
        halved = scale[::4]  # 11025 Hz, the rate key.py reads
        assert key.detect_key(key.chroma_profile(halved))[0] == expected


def test_the_key_names_and_the_stored_shape() -> None:
    assert len(names.KEY_NAMES) == 24
    assert names.KEY_NAMES[0] == "C major" and names.KEY_NAMES[-1] == "B minor"
    assert "C# minor" in names.KEY_NAMES and "Db minor" not in names.KEY_NAMES
    analysis = names.Analysis(
        bpm=128.004, beats=(0.5, 0.96875), downbeats=(0.5,), key="A minor", key_confidence=0.4
    )
    stored = analysis.to_json()
    assert stored["bpm"] == 128.0
    assert names.from_json(stored) == names.Analysis(
        bpm=128.0, beats=(0.5, 0.9688), downbeats=(0.5,), key="A minor", key_confidence=0.4
    )
    assert names.from_json({"bpm": 120}) is None
    assert names.from_json({**stored, "key": "H minor"}) is None
    assert names.from_json(None) is None


def test_warm_up_runs_an_analysis() -> None:
    assert warm_up() >= 0.0
    assert tempo.low_bands(200.0).stop >= 2
