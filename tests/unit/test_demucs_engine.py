"""The Demucs engine through get_engine, and its stems against `python -m demucs`."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import scipy.io.wavfile
import torch
from demucs.audio import prevent_clip
from helpers.models import build_small_htdemucs_repo, install_model

from isomix import storage
from isomix.audio import io
from isomix.config import get_settings
from isomix.separation import engine as engine_module
from isomix.separation import inference
from isomix.separation.base import ModelNotInstalledError, SeparationOptions
from isomix.separation.demucs_engine import DemucsEngine
from isomix.separation.engine import (
    DeviceUnavailableError,
    get_engine,
    resolve_device,
)

SAMPLE_RATE = 44100
SOURCES = ("drums", "bass", "other", "vocals")


def _music_like(seconds: float, seed: int) -> npt.NDArray[np.float32]:
    """Stereo chords with a bass line and noise bursts on the beat (float32, about -6 dBFS)."""
    rng = np.random.default_rng(seed)
    length = int(seconds * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    bass = np.sin(2 * np.pi * 55.0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    beat = (t * 2) % 1.0  # two hits per second
    hits = rng.standard_normal((2, length)) * np.exp(-beat * 30)
    left = 0.3 * chord + 0.25 * bass + 0.2 * hits[0]
    right = 0.25 * chord + 0.25 * bass + 0.2 * hits[1]
    return np.stack([left, right]).astype(np.float32)


def _write_wav16(path: Path, audio: npt.NDArray[np.float32]) -> None:
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    scipy.io.wavfile.write(path, SAMPLE_RATE, pcm.T.copy())


@pytest.fixture(autouse=True)
def fresh_engines() -> None:
    engine_module.clear_engine_cache()


def test_unittest_model_separates_into_its_sources() -> None:
    engine = get_engine("demucs_unittest")
    assert engine.sources == SOURCES
    assert engine.sample_rate == SAMPLE_RATE
    mix = _music_like(2.0, seed=0)
    seen: list[float] = []
    stems = engine.separate(mix, SeparationOptions(shifts=1), seen.append)
    assert tuple(stems) == SOURCES
    for stem in stems.values():
        assert stem.shape == mix.shape
        assert stem.dtype == np.float32
        assert np.isfinite(stem).all()
    assert seen[-1] == 1.0
    assert all(a <= b for a, b in itertools.pairwise(seen))
    assert len(seen) >= 2


def test_engines_are_loaded_once_per_name_and_device() -> None:
    first = get_engine("demucs_unittest", device="cpu")
    assert get_engine("demucs_unittest") is first
    assert get_engine("demucs_unittest", device="auto") is first or torch.cuda.is_available()


def test_unknown_model_says_how_to_install_it() -> None:
    with pytest.raises(ModelNotInstalledError, match="isomix models import"):
        get_engine("no_such_model")


def test_device_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(DeviceUnavailableError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda") == "cuda"


def test_torch_threads_setting_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setenv("ISOMIX_TORCH_THREADS", "3")
    get_settings.cache_clear()
    monkeypatch.setattr(engine_module, "_threads_configured", False)
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    get_engine("demucs_unittest")
    assert calls == [3]


def test_mono_input_is_used_on_both_channels() -> None:
    engine = get_engine("demucs_unittest")
    mono = _music_like(1.0, seed=2)[:1]
    stems = engine.separate(mono, SeparationOptions(shifts=0))
    stereo = engine.separate(np.repeat(mono, 2, axis=0), SeparationOptions(shifts=0))
    for name in SOURCES:
        np.testing.assert_array_equal(stems[name], stereo[name])


def test_too_long_segment_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    install_model(storage.models_dir(), "tiny", [build_small_htdemucs_repo(repo, "tiny")])
    engine = get_engine("tiny")
    with pytest.raises(ValueError, match="maximum is 2 s"):
        engine.separate(_music_like(1.0, seed=0), SeparationOptions(segment=3.0))


def test_stems_equal_python_m_demucs(tmp_path: Path) -> None:
    """Same model, same file, shifts=0: our stems are demucs' to 1e-4.

    The model's segment is 2 s, so the 8.3 s file goes through the overlap-add path and the
    1.4 s one through a single padded segment. demucs loads the bare `.th`, we load it as a
    bag of one (our install layout), which must not change anything.
    """
    repo = tmp_path / "repo"
    weights = build_small_htdemucs_repo(repo, "tiny")
    install_model(storage.models_dir(), "tiny", [weights])
    tracks = {"long": _music_like(8.3, seed=5), "short": _music_like(1.4, seed=6)}
    for track, audio in tracks.items():
        _write_wav16(tmp_path / f"{track}.wav", audio)
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "demucs", "--repo", str(repo), "-n", "tiny", "--shifts", "0",
        "--float32", "-o", str(out),
        *(str(tmp_path / f"{track}.wav") for track in tracks),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=300)

    engine = get_engine("tiny", precision="fp32")  # demucs' arithmetic; auto may be bf16
    assert isinstance(engine, DemucsEngine)
    for track in tracks:
        mix = io.decode(tmp_path / f"{track}.wav")
        stems = engine.separate(mix, SeparationOptions(shifts=0))
        for name in SOURCES:
            rate, theirs = scipy.io.wavfile.read(out / "tiny" / track / f"{name}.wav")
            assert rate == SAMPLE_RATE
            assert theirs.dtype == np.float32
            # demucs saves after prevent_clip('rescale') and a clamp to [-1, 1].
            ours = prevent_clip(torch.from_numpy(stems[name])).clamp(-1, 1).numpy()
            difference = float(np.abs(ours - theirs.T).max())
            assert difference <= 1e-4, f"{track}/{name}: max abs difference {difference}"


def test_long_tracks_and_fp32_run_one_segment_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Parallel segments each hold a model's working memory; long tracks must not pay it
    # twice, nor fp32, whose working memory is twice bf16's.
    from demucs.pretrained import demucs_unittest

    engine = DemucsEngine("a", demucs_unittest(), precision="bf16")
    fp32 = DemucsEngine("b", demucs_unittest(), precision="fp32")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert engine._segment_workers(100 * 2**20) == 2
    assert engine._segment_workers(2 * 2**30) == 1
    assert fp32._segment_workers(100 * 2**20) == 1
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert engine._segment_workers(100 * 2**20) == 1


@pytest.mark.parametrize("shifts", [0, 2])
def test_progress_is_reported_after_every_segment(shifts: int) -> None:
    # A job's progress and ETA come from these calls: one per finished segment, the first
    # one included, every shift counted, strictly increasing, ending at 1.
    engine = get_engine("demucs_unittest")
    assert isinstance(engine, DemucsEngine)
    mix = _music_like(4.0, seed=3)
    segment = 1.0
    _, per_pass = inference._segments(engine.model, mix.shape[-1], segment, 0.25)
    assert len(per_pass) > 1  # a multi-segment input
    seen: list[float] = []
    engine.separate(mix, SeparationOptions(shifts=shifts, segment=segment), seen.append)
    assert seen[0] == 0.0  # at the start, before the first segment runs
    assert seen[-1] == 1.0
    assert all(a < b for a, b in itertools.pairwise(seen))
    # Shifted passes also cover the shift padding: at least as many segments as unshifted.
    assert len(seen) - 1 >= len(per_pass) * max(shifts, 1)
    if shifts == 0:
        assert len(seen) - 1 == len(per_pass)
