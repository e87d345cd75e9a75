"""SDR of the weight-free "classic" engine against a naive HPSS split, on the shared stems.

Run as `python bench/classic_sdr.py [TESTDATA_DIR]`. Not a test: it prints a table of
utterance SDR per stem (the MDX 2021 definition, with its 1e-7 guard so a silent reference
stays finite), the 4-stem average, wall time, CPU time (all threads; the steadier of the
two on a busy shared machine) and real-time factor (audio seconds per wall second). The
classic engine's parameters were tuned on exactly these two excerpts: its numbers flatter it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from isomix.audio.io import decode
from isomix.separation import classic_dsp as dsp
from isomix.separation.base import SeparationOptions
from isomix.separation.classic import LOW_QUALITY_NOTICE, ClassicEngine

Audio = npt.NDArray[np.float32]
Separator = Callable[[Audio], dict[str, Audio]]

SOURCES = ClassicEngine.sources
FOLDERS = ("francium_30s_cc0", "musdb18_excerpt_80s_rock")
DEFAULT_TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
SAMPLE_RATE = 44_100


def sdr(reference: Audio, estimate: Audio) -> float:
    ref = reference.astype(np.float64)
    error = ref - estimate.astype(np.float64)
    return float(10 * np.log10((np.sum(ref**2) + 1e-7) / (np.sum(error**2) + 1e-7)))


def naive_hpss(mix: Audio) -> dict[str, Audio]:
    """Median-filter HPSS (2048/512, 17x17 medians, power-2 soft masks): percussive -> drums,
    harmonic -> other, silence for bass and vocals."""
    spectrum = dsp.stft(mix, 2048, 512)
    magnitude = np.abs(spectrum).mean(axis=0).astype(np.float32)
    harmonic, percussive = dsp.harmonic_percussive(magnitude, 17, 17)
    percussive_mask = 1 - dsp.soft_mask(harmonic, percussive, 2.0)
    drums = dsp.istft(spectrum * percussive_mask, 2048, 512, mix.shape[1])
    silent = np.zeros_like(mix)
    return {"drums": drums, "bass": silent, "other": mix - drums, "vocals": silent.copy()}


def classic(mix: Audio) -> dict[str, Audio]:
    return ClassicEngine().separate(mix, SeparationOptions())


def load_folder(folder: Path) -> tuple[Audio, dict[str, Audio]]:
    def one(name: str) -> Audio:
        (path,) = sorted(folder.glob(f"{name}.*"))
        return decode(path, sample_rate=SAMPLE_RATE)

    return one("mixture"), {name: one(name) for name in SOURCES}


def main(argv: list[str]) -> int:
    testdata = Path(argv[1]) if len(argv) > 1 else DEFAULT_TESTDATA
    print(f"note: {LOW_QUALITY_NOTICE}")
    header = f"{'folder':26s} {'method':7s}" + "".join(f"{s:>9s}" for s in SOURCES)
    print(header + f"{'avg4':>8s}{'avg3*':>8s}{'wall s':>8s}{'cpu s':>7s}{'x RT':>7s}")
    for name in FOLDERS:
        folder = testdata / name
        if not folder.is_dir():
            print(f"{name:26s} (missing, skipped)")
            continue
        mix, references = load_folder(folder)
        duration = mix.shape[1] / SAMPLE_RATE
        for label, method in (("hpss", naive_hpss), ("classic", classic)):
            started, cpu_started = time.perf_counter(), time.process_time()
            stems = method(mix)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            residual = float(np.abs(sum(stems.values()) - mix).max())
            scores = {source: sdr(references[source], stems[source]) for source in SOURCES}
            average = float(np.mean(list(scores.values())))
            without_bass = float(np.mean([scores[s] for s in SOURCES if s != "bass"]))
            print(
                f"{name:26s} {label:7s}"
                + "".join(f"{scores[s]:9.2f}" for s in SOURCES)
                + f"{average:8.2f}{without_bass:8.2f}"
                + f"{elapsed:8.2f}{cpu:7.2f}{duration / elapsed:7.1f}"
                + (f"  (sum residual {residual:.1e})" if residual > 1e-5 else "")
            )
    print(
        "* avg3 leaves out bass: francium's bass reference is digital silence, so its SDR is "
        "0 dB for an all-zero estimate and hugely negative for anything else."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
