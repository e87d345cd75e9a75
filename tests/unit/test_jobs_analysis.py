"""The worker's analysis of a new stem set: stored once, shared by dedup, announced, and
never the reason a separation fails (jobs/analysing.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jobs_helpers import TEST_MODEL, add_project, get_project, stem_sets

import isomix.analysis.run
from isomix.audio.io import encode
from isomix.db import reset_engines
from isomix.jobs import events, tasks
from isomix.migrate import ensure_schema
from isomix.models import JobStatus
from isomix.separation.engine import get_engine

RATE = 44_100


@pytest.fixture(autouse=True)
def database(data_dir: Path) -> Iterator[None]:
    reset_engines()
    ensure_schema()
    yield
    reset_engines()


class ShareEngine:
    """Instant stand-in: fixed shares of the mixture, so the stems sum to it exactly."""

    name = "shares"
    sources = ("drums", "bass", "other", "vocals")
    sample_rate = RATE

    def separate(self, mix: Any, options: Any, progress: Any = None, on_part: Any = None) -> Any:
        return {
            name: mix * np.float32(share)
            for name, share in zip(self.sources, (0.4, 0.2, 0.2, 0.2), strict=True)
        }


@pytest.fixture
def shares(monkeypatch: pytest.MonkeyPatch) -> None:
    import isomix.separation.engine

    monkeypatch.setattr(isomix.separation.engine, "get_engine", lambda *_, **__: ShareEngine())


def _click_song(bpm: float = 120.0, seconds: float = 12.0) -> bytes:
    """Clicks on every beat over an A minor chord, as a WAV file's bytes."""
    t = np.arange(int(seconds * RATE)) / RATE
    chord = sum(0.05 * np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63))
    audio = np.asarray(chord, dtype=np.float32)
    burst = np.arange(int(0.03 * RATE)) / RATE
    click = (np.exp(-burst * 120) * np.sin(2 * np.pi * 1000 * burst)).astype(np.float32)
    for beat in np.arange(0.5, seconds - 0.1, 60.0 / bpm):
        start = round(beat * RATE)
        audio[start : start + click.size] += click
    buffer = io.BytesIO()
    path = Path(f"/tmp/isomix-click-{bpm}.wav")
    encode(path, np.stack([audio, audio]), RATE, format="wav", clip="none")
    buffer.write(path.read_bytes())
    path.unlink()
    return buffer.getvalue()


def test_a_separation_stores_the_analysis_and_announces_it(shares: None) -> None:
    changed: list[str] = []
    remove = events.add_local_listener(changed.append)
    try:
        project_id = add_project(raw=_click_song())
        tasks.run_separation(project_id, worker_id="w1")
    finally:
        remove()
    project = get_project(project_id)
    assert project.status == JobStatus.ready
    (stem_set,) = stem_sets()
    analysis = stem_set.analysis
    assert analysis is not None
    assert analysis["bpm"] == pytest.approx(120.0, abs=0.5)
    assert analysis["beats"][0] == pytest.approx(0.5, abs=0.005)
    assert analysis["key"] in ("A minor", "C major")  # A, C, E: the chord fits both
    # The last change announced is the analysis, after the one that made the project ready.
    assert changed[-1] == project_id
    ready_changes = changed.count(project_id)
    assert ready_changes >= 2

    # The same content again: the stem set is reused, with its analysis, and not analysed.
    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("a reused stem set is not analysed again")

    original = isomix.analysis.run.analyse
    isomix.analysis.run.analyse = refuse  # type: ignore[assignment]
    try:
        again = add_project(raw=_click_song())
        tasks.run_separation(again, worker_id="w1")
    finally:
        isomix.analysis.run.analyse = original
    assert get_project(again).stem_set_id == stem_set.id
    assert get_project(again).status == JobStatus.ready


def test_a_failing_analysis_leaves_the_separation_ready(
    shares: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("numba exploded")

    monkeypatch.setattr(isomix.analysis.run, "analyse", broken)
    project_id = add_project(raw=_click_song(seconds=4.0))
    tasks.run_separation(project_id, worker_id="w1")
    project = get_project(project_id)
    assert project.status == JobStatus.ready, project.error
    assert project.error is None
    (stem_set,) = stem_sets()
    assert stem_set.analysis is None
    assert "the analysis failed" in caplog.text


def test_the_real_model_run_is_analysed() -> None:
    # demucs_unittest (tiny, random): its stems are noise-like, but the run goes through the
    # real engine path and the result is stored in the documented shape.
    assert get_engine(TEST_MODEL).name == TEST_MODEL
    project_id = add_project(raw=_click_song(seconds=6.0))
    tasks.run_separation(project_id, worker_id="w1")
    assert get_project(project_id).status == JobStatus.ready
    (stem_set,) = stem_sets()
    analysis = stem_set.analysis
    assert analysis is not None
    assert set(analysis) == {"bpm", "beats", "downbeats", "key", "key_confidence"}
    assert 20 <= analysis["bpm"] <= 300
    assert set(analysis["downbeats"]) <= set(analysis["beats"])


def _forget_analysis(value: Any) -> None:
    from sqlalchemy import update

    from isomix.db import get_sessionmaker
    from isomix.models import StemSet

    with get_sessionmaker()() as db, db.begin():
        db.execute(update(StemSet).values(analysis=value))


def test_a_stem_set_without_analysis_is_analysed_when_the_worker_is_idle(shares: None) -> None:
    from datetime import timedelta

    from sqlalchemy import null

    from isomix.jobs import analysing
    from isomix.models import utcnow

    tasks.run_separation(add_project(raw=_click_song()), worker_id="w1")
    later = utcnow() + timedelta(minutes=10)
    for missing in (null(), None):  # SQL NULL (a column added to old rows), JSON null
        _forget_analysis(missing)
        assert analysing.analyse_next() is False  # new: its own job analyses it
        assert analysing.analyse_next(now=later) is True
        (stem_set,) = stem_sets()
        assert stem_set.analysis is not None
        assert stem_set.analysis["bpm"] == pytest.approx(120.0, abs=0.5)
        assert analysing.analyse_next(now=later) is False  # nothing left


def test_a_stem_set_whose_masters_do_not_read_is_marked_and_left(
    shares: None, data_dir: Path
) -> None:
    from datetime import timedelta

    from isomix.jobs import analysing
    from isomix.models import utcnow

    project_id = add_project(raw=_click_song(seconds=4.0))
    tasks.run_separation(project_id, worker_id="w1")
    (stem_set,) = stem_sets()
    _forget_analysis(None)
    for master in (data_dir / stem_set.directory).glob("*.flac"):
        master.unlink()
    later = utcnow() + timedelta(minutes=10)
    assert analysing.analyse_next(now=later) is True
    (stem_set,) = stem_sets()
    assert stem_set.analysis == analysing.NOT_FOUND
    assert analysing.analyse_next(now=later) is False  # not tried again
    assert get_project(project_id).status == JobStatus.ready
