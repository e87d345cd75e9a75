"""`isomix separate` against `python -m demucs`: same model, same 60 s file, same options.

    python bench/separate.py            (make bench)

Builds an htdemucs-sized HTDemucs with random weights into a temporary demucs repo (`.th`)
and installs the same file for IsoMix in a temporary ISOMIX_DATA_DIR, writes one 60 s
stereo WAV, then alternates three commands BENCH_RUNS times each (default 3): isomix at its
default precision (`auto`: bf16 on CPUs with native bf16), isomix `--precision fp32`, and
demucs. It prints the median wall time, the median of the paired ratios against demucs, the
real-time factor (wall / audio duration) and the peak RSS of each run (os.wait4 on that
child), and the output-to-difference ratio of the default precision's stems against fp32's
(10*log10(sum(fp32**2) / sum((fp32 - default)**2)) over all stems, float32 WAVs, from one
more run of each with --shifts 0: shifts draw a random offset per run), and the largest
difference between fp32's stems and demucs' in that run.

The track: BENCH_TRACK (any file isomix decodes) from BENCH_START seconds (default 30), else
the real song in ../shared/testdata/full_mixes when present, else synthetic music.
BENCH_SHIFTS (default 1, both tools' default) and BENCH_SECONDS (default 60) can be changed;
BENCH_THREADS=N runs all with OMP_NUM_THREADS=N (torch's thread count) instead of torch's
default, e.g. on a busy machine where 2 threads per process mostly wait for each other.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io.wavfile
from bench_common import (
    SAMPLE_RATE,
    Figure,
    build_htdemucs_sized_repo,
    install_model,
    music_like,
    record,
)

MODEL_NAME = "bench_htdemucs"
REAL_SONG = (
    Path(__file__).resolve().parents[2]
    / "shared/testdata/full_mixes/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"
)


@dataclass
class Run:
    wall_s: float
    cpu_s: float  # user + system: less sensitive than wall time to a busy machine
    peak_rss_mb: float


def _run(command: list[str], env: dict[str, str], log: Path) -> Run:
    with log.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.stderr.write(log.read_text()[-3000:])
        raise SystemExit(f"{command[:4]} failed with exit code {process.returncode}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def _track(seconds: float) -> tuple[np.ndarray, str]:
    chosen = os.environ.get("BENCH_TRACK")
    path = Path(chosen) if chosen else REAL_SONG
    if not path.exists():
        if chosen:
            raise SystemExit(f"BENCH_TRACK {chosen}: no such file")
        return music_like(seconds, seed=1), "synthetic music (bench_common.music_like)"
    from isomix.audio.io import decode

    start = int(float(os.environ.get("BENCH_START", "30")) * SAMPLE_RATE)
    audio = decode(path, sample_rate=SAMPLE_RATE)[:, start : start + int(seconds * SAMPLE_RATE)]
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    return audio, f"{path.name} from {start / SAMPLE_RATE:g} s"


def _stems(folder: Path) -> dict[str, np.ndarray]:
    return {
        path.stem: scipy.io.wavfile.read(path)[1].astype(np.float64)
        for path in sorted(folder.glob("*.wav"))
    }


def _ratio_db(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> float:
    signal = sum(float(np.sum(audio**2)) for audio in reference.values())
    noise = sum(float(np.sum((audio - other[name]) ** 2)) for name, audio in reference.items())
    return float("inf") if noise == 0 else 10 * math.log10(signal / noise)


def main() -> int:
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    shifts = os.environ.get("BENCH_SHIFTS", "1")
    seconds = float(os.environ.get("BENCH_SECONDS", "60"))
    with tempfile.TemporaryDirectory(prefix="isomix-bench-") as temp_name:
        temp = Path(temp_name)
        repo = temp / "repo"
        weights = build_htdemucs_sized_repo(repo, MODEL_NAME)
        install_model(temp / "data" / "models", MODEL_NAME, weights)
        track = temp / "song.wav"
        audio, described = _track(seconds)
        seconds = audio.shape[-1] / SAMPLE_RATE
        pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
        scipy.io.wavfile.write(track, SAMPLE_RATE, pcm.T.copy())

        env = {**os.environ, "ISOMIX_DATA_DIR": str(temp / "data")}
        env.pop("ISOMIX_PRECISION", None)  # the default precision is `auto`
        threads = os.environ.get("BENCH_THREADS")
        if threads:
            env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)

        def isomix(shifts: str, out: str, *options: str) -> list[str]:
            return [sys.executable, "-m", "isomix", "separate", "-n", MODEL_NAME, *options,
                    "--shifts", shifts, "--float32", str(track), "-o", str(temp / out)]  # fmt: skip

        commands = {
            "isomix": isomix(shifts, "out_isomix"),
            "fp32": isomix(shifts, "out_fp32", "--precision", "fp32"),
            "demucs": [sys.executable, "-m", "demucs", "--repo", str(repo), "-n", MODEL_NAME,
                       "--shifts", shifts, "--float32", str(track),
                       "-o", str(temp / "out_demucs")],
        }  # fmt: skip
        results: dict[str, list[Run]] = {name: [] for name in commands}
        print(f"{seconds:g} s stereo track ({described}), shifts={shifts}, {runs} runs each, "
              f"alternating, torch threads: {threads or 'default'}")  # fmt: skip
        for index in range(runs):
            for name, command in commands.items():
                run = _run(command, env, temp / f"{name}.log")
                results[name].append(run)
                print(f"  run {index + 1} {name:6s} {run.wall_s:7.1f} s  CPU {run.cpu_s:7.1f} s  "
                      f"peak RSS {run.peak_rss_mb:6.0f} MB", flush=True)  # fmt: skip
        precision_line = (temp / "isomix.log").read_text().split("Separating", 1)[-1]
        # Shifts draw a random offset per run: compare the precisions without one.
        _run(isomix("0", "unshifted_isomix"), env, temp / "isomix.log")
        _run(isomix("0", "unshifted_fp32", "--precision", "fp32"), env, temp / "fp32.log")
        unshifted_demucs = [*commands["demucs"][:-1], str(temp / "unshifted_demucs")]
        unshifted_demucs[unshifted_demucs.index("--shifts") + 1] = "0"
        _run(unshifted_demucs, env, temp / "demucs.log")
        outputs = {
            name: _stems(temp / f"unshifted_{name}" / MODEL_NAME / "song")
            for name in ("isomix", "fp32", "demucs")
        }

    print()
    names = {"isomix": "isomix (default precision)", "fp32": "isomix --precision fp32",
             "demucs": "python -m demucs"}  # fmt: skip
    wall = {name: statistics.median(run.wall_s for run in runs_) for name, runs_ in results.items()}
    rss = {name: max(run.peak_rss_mb for run in runs_) for name, runs_ in results.items()}
    for name, name_runs in results.items():
        cpu = statistics.median(run.cpu_s for run in name_runs)
        print(f"{names[name]:27s} median {wall[name]:7.1f} s  RTF {wall[name] / seconds:5.2f}  "
              f"CPU {cpu:7.1f} s  peak RSS {rss[name]:.0f} MB")  # fmt: skip
    precision = precision_line.split(";")[0].strip()
    print(f"default precision: {precision}")
    figures = []
    for name, limit, target in (("isomix", 0.5, "<= 0.5, aim 0.33"), ("fp32", 0.9, "<= 0.9")):
        ratios = [
            ours.wall_s / theirs.wall_s
            for ours, theirs in zip(results[name], results["demucs"], strict=True)
        ]
        cpu_ratios = [
            ours.cpu_s / theirs.cpu_s
            for ours, theirs in zip(results[name], results["demucs"], strict=True)
        ]
        ratio = statistics.median(ratios)
        print(f"ratio {names[name]} / demucs: median {ratio:.3f} "
              f"(runs: {', '.join(f'{r:.3f}' for r in ratios)}; target {target}); "
              f"CPU-time ratio {statistics.median(cpu_ratios):.3f}")  # fmt: skip
        figures.append(Figure(
            f"{seconds:g} s song, {names[name]}: time / Demucs CLI",
            f"{ratio:.3f}x ({wall[name]:.1f} s)", f"{wall['demucs']:.1f} s", target,
            ratio <= limit))  # fmt: skip
        figures.append(Figure(
            f"{seconds:g} s song, {names[name]}: peak RSS",
            f"{rss[name]:.0f} MB", f"{rss['demucs']:.0f} MB", "<= Demucs CLI",
            rss[name] <= rss["demucs"]))  # fmt: skip
    ratio_db = _ratio_db(outputs["fp32"], outputs["isomix"])
    print(f"output-to-difference ratio, default precision against fp32 (shifts 0): "
          f"{ratio_db:.1f} dB (target >= 40)")  # fmt: skip
    largest = max(
        float(np.max(np.abs(audio - outputs["fp32"][name])))
        for name, audio in outputs["demucs"].items()
    )
    print(f"fp32 against python -m demucs (shifts 0): max |diff| {largest:.2e} (limit 1e-4)")
    record([
        *figures,
        Figure(f"default precision ({precision}) against fp32", f"{ratio_db:.1f} dB", "",
               ">= 40 dB", ratio_db >= 40),
        Figure("fp32 stems against the Demucs CLI's, max |diff|", f"{largest:.1e}", "",
               "<= 1e-4", largest <= 1e-4),
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
