"""Exports with the practice options, run as jobs: tempo, pitch, range, chosen stems, loudness.

The stems are made here (pure tones, written as FLAC masters), so every answer is known: the
fundamental of a sine, the exact samples of a range, the loudness of a normalised mix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from jobs_helpers import add_export, get_export

from isomix import schemas, storage
from isomix.audio import loudness
from isomix.audio.io import decode, encode
from isomix.db import get_sessionmaker, reset_engines
from isomix.jobs import tasks
from isomix.migrate import ensure_schema
from isomix.models import JobStatus, Project, StemSet, new_id

RATE = 44100
SECONDS = 2.0
Audio = npt.NDArray[np.float32]


@pytest.fixture(autouse=True)
def database(data_dir: Path) -> Iterator[None]:
    reset_engines()
    ensure_schema()
    yield
    reset_engines()


def tone(frequency: float, amplitude: float, seconds: float = SECONDS) -> Audio:
    t = np.arange(round(seconds * RATE)) / RATE
    wave = amplitude * np.sin(2 * np.pi * frequency * t)
    return np.stack([wave, wave]).astype(np.float32)


def ready_project(data_dir: Path, stems: dict[str, Audio]) -> str:
    """A ready project whose stem set's masters are exactly `stems` (24-bit FLAC)."""
    directory = f"stems/{new_id()}"
    (data_dir / directory).mkdir(parents=True)
    for name, audio in stems.items():
        path = data_dir / storage.stem_file(directory, name, "master")
        encode(path, audio, RATE, format="flac", bit_depth=24, clip="none")
    seconds = max(audio.shape[1] for audio in stems.values()) / RATE
    with get_sessionmaker()() as session:
        stem_set = StemSet(
            cache_key=f"test:{new_id()}",
            directory=directory,
            stem_names={"names": list(stems)},
            duration_seconds=seconds,
            refcount=1,
        )
        project = Project(
            filename="practice.wav",
            source_path="projects/none/original.wav",
            content_sha256="0" * 64,
            size_bytes=1,
            container="wav",
            duration_seconds=seconds,
            model="demucs_unittest",
            status=JobStatus.ready,
            progress=100.0,
            stem_set=stem_set,
        )
        session.add_all([stem_set, project])
        session.commit()
        return project.id


def export(data_dir: Path, project_id: str, **fields: Any) -> Audio:
    """Run an export of the request `fields` (as the API stores it) and decode the file."""
    request = schemas.ExportRequest.model_validate({"format": "wav", "bit_depth": 24, **fields})
    stored = request.model_dump(mode="json")
    export_id = add_export(project_id, stored, format="wav", bit_depth=24)
    tasks.run_export(export_id, worker_id="w1")
    row = get_export(export_id)
    assert row.status == JobStatus.ready, row.error
    return decode(data_dir / str(row.path))


def fundamental(audio: Audio) -> float:
    """The strongest frequency of the middle half (zero-padded FFT, parabolic peak)."""
    mono = audio.mean(axis=0)
    middle = mono[mono.size // 4 : 3 * mono.size // 4].astype(np.float64)
    size = 8 * middle.size
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size), size))
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return float((k + offset) * RATE / size)


def test_slower_tempo_is_longer_at_the_same_pitch(data_dir: Path) -> None:
    source = tone(440.0, 0.3)
    project_id = ready_project(data_dir, {"a": source * 0.5, "b": source * 0.5})
    rendered = export(data_dir, project_id, tempo=0.75)
    expected = source.shape[1] / 0.75
    assert abs(rendered.shape[1] - expected) / RATE < 0.002  # within 2 ms
    assert fundamental(rendered) == pytest.approx(440.0, rel=0.002)
    assert fundamental(source) == pytest.approx(440.0, rel=0.002)  # the measure itself


def test_two_semitones_down_keeps_the_duration(data_dir: Path) -> None:
    project_id = ready_project(data_dir, {"a": tone(440.0, 0.3)})
    rendered = export(data_dir, project_id, pitch_semitones=-2)
    assert rendered.shape[1] == round(SECONDS * RATE)
    assert fundamental(rendered) == pytest.approx(440.0 * 2 ** (-2 / 12), rel=0.005)
    # Not merely quieter or unchanged: 440 Hz is gone.
    assert abs(fundamental(rendered) - 440.0) > 40


def test_tempo_and_pitch_together(data_dir: Path) -> None:
    project_id = ready_project(data_dir, {"a": tone(330.0, 0.3)})
    rendered = export(data_dir, project_id, tempo=1.25, pitch_semitones=3)
    assert rendered.shape[1] == round(SECONDS * RATE / 1.25)
    assert fundamental(rendered) == pytest.approx(330.0 * 2 ** (3 / 12), rel=0.005)


def test_a_range_is_exactly_its_samples(data_dir: Path) -> None:
    rng = np.random.default_rng(3)
    noise = (0.2 * rng.standard_normal((2, round(SECONDS * RATE)))).astype(np.float32)
    project_id = ready_project(data_dir, {"a": noise})
    master = decode(data_dir / storage.stem_file(_directory(project_id), "a", "master"))
    rendered = export(data_dir, project_id, start_seconds=0.5, end_seconds=1.2345)
    start, end = round(0.5 * RATE), round(1.2345 * RATE)
    assert rendered.shape == (2, end - start)
    np.testing.assert_allclose(rendered, master[:, start:end], atol=2e-7)
    # Only a start: to the end of the song.
    tail = export(data_dir, project_id, start_seconds=1.5)
    np.testing.assert_allclose(tail, master[:, round(1.5 * RATE) :], atol=2e-7)


def test_only_the_chosen_stems_are_mixed(data_dir: Path) -> None:
    low, high = tone(220.0, 0.2), tone(1000.0, 0.2)
    project_id = ready_project(data_dir, {"low": low, "high": high, "mid": tone(500.0, 0.2)})
    rendered = export(data_dir, project_id, include_stems=["high"])
    np.testing.assert_allclose(rendered, high, atol=1e-5)
    # Solo applies among the chosen stems: a soloed stem left out silences nothing.
    both = export(
        data_dir, project_id, include_stems=["low", "high"], stems={"mid": {"solo": True}}
    )
    np.testing.assert_allclose(both, low + high, atol=1e-5)


def test_loudness_target_with_the_true_peak_ceiling(data_dir: Path) -> None:
    # A quiet tone with loud short hits: reaching -14 LUFS by gain alone would put the hits
    # far above -1 dBTP, so the limiter has to take them down.
    hits = np.zeros(round(SECONDS * RATE), dtype=np.float32)
    hits[:: RATE // 4] = 0.9
    kick = np.convolve(hits, np.exp(-np.arange(800) / 120.0))[: hits.size].astype(np.float32)
    project_id = ready_project(
        data_dir, {"tone": tone(220.0, 0.03), "hits": np.stack([kick, -kick]).astype(np.float32)}
    )
    rendered = export(data_dir, project_id, loudness_lufs=-14)
    assert loudness.integrated_loudness(rendered, RATE) == pytest.approx(-14.0, abs=0.5)
    assert loudness.true_peak_dbtp(rendered) <= -1.0
    plain = export(data_dir, project_id)
    assert loudness.true_peak_dbtp(plain) > -1.0  # the source did need limiting


def test_loudness_of_a_sine_is_a_plain_gain(data_dir: Path) -> None:
    source = tone(997.0, 0.1)
    project_id = ready_project(data_dir, {"a": source})
    rendered = export(data_dir, project_id, loudness_lufs=-16)
    assert loudness.integrated_loudness(rendered, RATE) == pytest.approx(-16.0, abs=0.1)
    gain = float(np.max(np.abs(rendered))) / 0.1
    np.testing.assert_allclose(rendered, source * gain, atol=1e-4)


def test_the_defaults_render_exactly_what_an_export_without_the_options_did(
    data_dir: Path,
) -> None:
    rng = np.random.default_rng(5)
    stems = {name: (0.4 * rng.standard_normal((2, RATE))).astype(np.float32) for name in ("a", "b")}
    project_id = ready_project(data_dir, stems)
    mix = {"stems": {"a": {"gain_db": 3.0, "pan": -0.4}}, "master_gain_db": 2.0}
    # A row as stored before these options existed, and one with every default spelt out.
    old_id = add_export(project_id, mix, format="wav", bit_depth=24)
    new = schemas.ExportRequest.model_validate({"format": "wav", **mix}).model_dump(mode="json")
    assert new["tempo"] == 1.0 and new["pitch_semitones"] == 0.0 and new["loudness_lufs"] is None
    new_id_ = add_export(project_id, new, format="wav", bit_depth=24)
    for export_id in (old_id, new_id_):
        tasks.run_export(export_id, worker_id="w1")
    old_file = data_dir / str(get_export(old_id).path)
    new_file = data_dir / str(get_export(new_id_).path)
    assert old_file.read_bytes() == new_file.read_bytes()
    rendered = decode(new_file)
    directory = _directory(project_id)
    a, b = (decode(data_dir / storage.stem_file(directory, name, "master")) for name in "ab")
    a = a * 10 ** (3 / 20)
    left_gain, right_gain = math.cos(0.6 * math.pi / 2), math.sin(0.6 * math.pi / 2)
    expected = np.stack([a[0] + a[1] * left_gain + b[0], a[1] * right_gain + b[1]])
    expected *= 10 ** (2 / 20)
    assert np.max(np.abs(expected)) > 1  # the clip is part of what is compared
    np.testing.assert_allclose(rendered, np.clip(expected, -1, 1), atol=1e-4)


def _directory(project_id: str) -> str:
    with get_sessionmaker()() as session:
        project = session.get(Project, project_id)
        assert project is not None and project.stem_set is not None
        return project.stem_set.directory
