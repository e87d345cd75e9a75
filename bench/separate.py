"""`isomix separate` against `python -m demucs`: same model, same 60 s file, same options.

    python bench/separate.py            (make bench)

Builds an htdemucs-sized HTDemucs with random weights into a temporary demucs repo (`.th`)
and installs the same file for IsoMix in a temporary ISOMIX_DATA_DIR, writes one 60 s
stereo WAV, then alternates the two commands BENCH_RUNS times each (default 3) and prints
the median wall time, the median of the paired ratios isomix/demucs, the real-time factor
(wall / audio duration) and the peak RSS of each run (os.wait4 on that child).
BENCH_SHIFTS (default 1, both tools' default) and BENCH_SECONDS (default 60) can be changed;
BENCH_THREADS=N runs both with OMP_NUM_THREADS=N (torch's thread count) instead of torch's
default, e.g. on a busy machine where 2 threads per process mostly wait for each other.
"""

from __future__ import annotations

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
from bench_common import SAMPLE_RATE, build_htdemucs_sized_repo, install_model, music_like

MODEL_NAME = "bench_htdemucs"


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
        audio = music_like(seconds, seed=1)
        pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
        scipy.io.wavfile.write(track, SAMPLE_RATE, pcm.T.copy())

        env = {**os.environ, "ISOMIX_DATA_DIR": str(temp / "data")}
        threads = os.environ.get("BENCH_THREADS")
        if threads:
            env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        commands = {
            "isomix": [sys.executable, "-m", "isomix", "separate", "-n", MODEL_NAME,
                       "--shifts", shifts, str(track), "-o", str(temp / "out_isomix")],
            "demucs": [sys.executable, "-m", "demucs", "--repo", str(repo), "-n", MODEL_NAME,
                       "--shifts", shifts, str(track), "-o", str(temp / "out_demucs")],
        }  # fmt: skip
        results: dict[str, list[Run]] = {name: [] for name in commands}
        print(f"{seconds:g} s stereo track, shifts={shifts}, {runs} runs each, alternating, "
              f"torch threads: {threads or 'default'}")  # fmt: skip
        for index in range(runs):
            for name, command in commands.items():
                run = _run(command, env, temp / f"{name}.log")
                results[name].append(run)
                print(f"  run {index + 1} {name:6s} {run.wall_s:7.1f} s  CPU {run.cpu_s:7.1f} s  "
                      f"peak RSS {run.peak_rss_mb:6.0f} MB", flush=True)  # fmt: skip

    print()
    for name, name_runs in results.items():
        wall = statistics.median(run.wall_s for run in name_runs)
        cpu = statistics.median(run.cpu_s for run in name_runs)
        rss = max(run.peak_rss_mb for run in name_runs)
        print(f"{name:6s} median {wall:7.1f} s  RTF {wall / seconds:5.2f}  "
              f"CPU {cpu:7.1f} s  peak RSS {rss:.0f} MB")  # fmt: skip
    ratios = [
        ours.wall_s / theirs.wall_s
        for ours, theirs in zip(results["isomix"], results["demucs"], strict=True)
    ]
    cpu_ratios = [
        ours.cpu_s / theirs.cpu_s
        for ours, theirs in zip(results["isomix"], results["demucs"], strict=True)
    ]
    print(f"ratio isomix/demucs: median {statistics.median(ratios):.3f} "
          f"(runs: {', '.join(f'{r:.3f}' for r in ratios)}; target <= 0.9)")  # fmt: skip
    print(f"CPU-time ratio isomix/demucs: median {statistics.median(cpu_ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
