"""Precision: the `auto` rule, bf16 autocast inside the model, fp32 as demucs computes it,
and `isomix separate --precision`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from demucs.apply import apply_model as demucs_apply_model
from demucs.htdemucs import HTDemucs
from helpers.models import SMALL_HTDEMUCS_KWARGS, SOURCES

import isomix.separation.engine as engine_module
from isomix.cli import main
from isomix.config import get_settings
from isomix.separation import inference, precision
from isomix.separation.base import SeparationOptions
from isomix.separation.demucs_engine import DemucsEngine

ZEN4 = "fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni"
SAPPHIRE_RAPIDS = "avx2 avx512f amx_tile amx_bf16 amx_int8"
OLDER = "fpu sse2 avx2 fma"
LAYERS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d,
          torch.nn.Linear)  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_engines() -> Iterator[None]:
    engine_module.clear_engine_cache()
    yield
    engine_module.clear_engine_cache()


@pytest.mark.parametrize(
    ("setting", "device", "flags", "expected"),
    [
        ("auto", "cpu", ZEN4, "bf16"),
        ("auto", "cpu", SAPPHIRE_RAPIDS, "bf16"),
        ("auto", "cpu", OLDER, "fp32"),
        ("auto", "cpu", "", "fp32"),
        ("auto", "cuda", OLDER, "fp16"),
        ("auto", "cuda:1", ZEN4, "fp16"),
        ("fp32", "cpu", ZEN4, "fp32"),
        ("fp32", "cuda", OLDER, "fp32"),
        ("bf16", "cpu", ZEN4, "bf16"),
        ("bf16", "cuda", OLDER, "bf16"),
        ("fp16", "cuda", OLDER, "fp16"),
    ],
)
def test_the_setting_resolves_to_a_concrete_precision(
    setting: str, device: str, flags: str, expected: str
) -> None:
    assert precision.resolve(setting, device, cpu_flags=flags) == expected


def test_a_flag_must_be_a_whole_word() -> None:
    assert not precision.cpu_has_native("bf16", "avx512_bf16x amx_bf16_not")


@pytest.mark.parametrize("setting", ["fp8", "", "BF16", "float32"])
def test_an_unknown_precision_is_refused(setting: str) -> None:
    with pytest.raises(ValueError, match="use auto, fp32, bf16, fp16"):
        precision.resolve(setting, "cpu", cpu_flags=ZEN4)


def test_an_emulated_precision_is_honoured_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    precision._warned.clear()
    with caplog.at_level(logging.WARNING, logger=precision.__name__):
        assert precision.resolve("bf16", "cpu", cpu_flags=OLDER) == "bf16"
        assert precision.resolve("bf16", "cpu", cpu_flags=OLDER) == "bf16"
        assert precision.resolve("fp16", "cpu", cpu_flags=ZEN4) == "fp16"
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "precision bf16 on a CPU without native bf16" in messages[0]
    assert "precision fp16 on a CPU without native fp16" in messages[1]


def test_this_hosts_flags_are_read_once() -> None:
    precision.host_cpu_flags()
    hits = precision.host_cpu_flags.cache_info().hits
    precision.host_cpu_flags()
    assert precision.host_cpu_flags.cache_info().hits == hits + 1


def _small_htdemucs(seed: int = 0) -> HTDemucs:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return HTDemucs(sources=list(SOURCES), **SMALL_HTDEMUCS_KWARGS)


def _music_like(seconds: float, seed: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 44100)) / 44100
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    hits = rng.standard_normal((2, t.size)) * np.exp(-((t * 2) % 1.0) * 30)
    return (0.3 * chord + 0.25 * np.sin(2 * np.pi * 55 * t) + 0.2 * hits).astype(np.float32)


def _ratio_db(reference: dict[str, Any], other: dict[str, Any]) -> float:
    signal = sum(float(np.sum(reference[name].astype(np.float64) ** 2)) for name in reference)
    noise = sum(
        float(np.sum((reference[name].astype(np.float64) - other[name]) ** 2)) for name in reference
    )
    return float("inf") if noise == 0 else 10 * np.log10(signal / noise)


def test_bf16_runs_the_layers_in_bf16_and_the_spectrograms_and_output_in_float32(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _small_htdemucs()
    layer_dtypes: set[torch.dtype] = set()
    for module in model.modules():
        if isinstance(module, LAYERS):
            module.register_forward_hook(
                lambda _module, _inputs, output: layer_dtypes.add(output.dtype)
            )
    spectrogram_dtypes: set[torch.dtype] = set()
    import demucs.htdemucs

    for name in ("spectro", "ispectro"):
        original = getattr(demucs.htdemucs, name)

        def recording(signal: torch.Tensor, *args: Any, _fn: Any = original, **kw: Any) -> Any:
            result = _fn(signal, *args, **kw)
            spectrogram_dtypes.update((signal.dtype, result.dtype))
            return result

        monkeypatch.setattr(demucs.htdemucs, name, recording)

    engine = DemucsEngine("small", model, precision="bf16")
    assert engine.precision == "bf16"
    stems = engine.separate(_music_like(3.0, seed=1), SeparationOptions(shifts=0))

    assert layer_dtypes == {torch.bfloat16}
    assert spectrogram_dtypes == {torch.float32, torch.complex64}
    assert {stem.dtype for stem in stems.values()} == {np.dtype(np.float32)}


def test_fp32_is_demucs_maths_and_bf16_is_close() -> None:
    mix = _music_like(5.0, seed=2)  # segments of 2 s: the overlap-add path
    fp32 = DemucsEngine("a", _small_htdemucs(), precision="fp32")
    bf16 = DemucsEngine("b", _small_htdemucs(), precision="bf16")  # same weights
    ours = fp32.separate(mix, SeparationOptions(shifts=0))
    low = bf16.separate(mix, SeparationOptions(shifts=0))

    # The same maths on a model no engine has set a precision for: no autocast, the plain
    # layout (the engine's is channels-last: the same sums, some in another order).
    wav = torch.from_numpy(mix)
    reference = wav.mean(0)
    mean, std = reference.mean(), reference.std() + 1e-8
    plain = inference.apply_model(
        _small_htdemucs(), wav, shifts=0, mix_mean=mean, mix_std=std,
        workers=fp32._segment_workers(mix.nbytes * len(SOURCES)),
    )  # fmt: skip
    plain *= std
    plain += mean
    with torch.inference_mode():
        theirs = demucs_apply_model(
            _small_htdemucs(), ((wav - mean) / std)[None], shifts=0, overlap=0.25
        )[0]
    theirs = theirs * std + mean
    for index, name in enumerate(SOURCES):
        np.testing.assert_allclose(ours[name], plain[index].numpy(), rtol=0, atol=1e-6)
        # demucs itself, up to the rounding of thread counts and on-the-fly normalisation
        np.testing.assert_allclose(ours[name], theirs[index].numpy(), rtol=0, atol=1e-6)

    # bf16 differs (it did run in bf16), but far below the signal: 53.5 dB measured.
    ratio = _ratio_db(ours, low)
    assert 45 < ratio < 80, f"output-to-difference ratio {ratio:.1f} dB"


def test_the_engine_default_comes_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISOMIX_PRECISION", "fp32")
    get_settings.cache_clear()
    pinned = engine_module.get_engine("demucs_unittest")
    assert getattr(pinned, "precision", None) == "fp32"
    explicit = engine_module.get_engine("demucs_unittest", precision="bf16")
    assert getattr(explicit, "precision", None) == "bf16"
    assert explicit is not pinned
    assert engine_module.get_engine("demucs_unittest", precision="fp32") is pinned


def test_the_cli_flag_reaches_the_engine(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from isomix.audio.io import encode

    track = tmp_path / "song.wav"
    encode(track, _music_like(1.0, seed=3), 44100)
    asked: list[Any] = []
    real_get_engine = engine_module.get_engine

    def spy(name: str, **kwargs: Any) -> Any:
        asked.append(kwargs.get("precision"))
        return real_get_engine(name, **kwargs)

    monkeypatch.setattr(engine_module, "get_engine", spy)
    argv = ["separate", "-n", "demucs_unittest", "--shifts", "0", "-o", str(tmp_path / "out")]
    code = main([*argv, "--precision", "bf16", str(track)])
    assert code == 0
    assert asked == ["bf16"]
    assert "with demucs_unittest (bf16)" in capsys.readouterr().out


def test_an_invalid_precision_is_an_argparse_error(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["separate", "--precision", "fp8", str(tmp_path / "x.wav")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --precision: invalid choice: 'fp8'" in err
    assert "'auto', 'fp32', 'bf16', 'fp16'" in err
