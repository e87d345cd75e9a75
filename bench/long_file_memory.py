"""Peak memory of separating a long song with an htdemucs-sized model (random weights).

    python bench/long_file_memory.py [--minutes 20] [--shifts 1] [--stand-in]

Builds the model into a temporary ISOMIX_DATA_DIR, then a child process generates the song
(float32 stereo, as decoding gives it), loads the engine through get_engine and separates.
Prints the child's peak RSS (getrusage ru_maxrss) and wall time. 20 minutes of audio takes
a long time on CPU (about 200 model segments, ~10 min on 2 idle cores).

`--stand-in` swaps the network for a stand-in with the same interface and output size
that costs nothing, to measure the length-dependent part (input, output, blending) of the
same engine code in seconds; add the htdemucs-sized model's per-segment working memory,
measured by a short run without `--stand-in` (peak minus RSS before separating).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import SAMPLE_RATE, build_htdemucs_sized_repo, install_model, music_like

MODEL_NAME = "bench_htdemucs"


def _rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB, from /proc."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


class _StandIn:
    """Made lazily (needs torch): an nn.Module with HTDemucs' interface, almost free."""

    @staticmethod
    def build() -> object:
        from fractions import Fraction

        import torch

        class StandIn(torch.nn.Module):
            sources = ("drums", "bass", "other", "vocals")
            samplerate = SAMPLE_RATE
            audio_channels = 2
            segment = Fraction(39, 5)

            def valid_length(self, length: int) -> int:
                return int(self.segment * self.samplerate)

            def forward(self, mix: torch.Tensor) -> torch.Tensor:
                # Same output size as HTDemucs: (batch, sources, channels, length).
                return mix[:, None].repeat(1, len(self.sources), 1, 1) * 0.25

        return StandIn()


def child(minutes: float, shifts: int, stand_in: bool) -> None:
    from isomix.separation.base import Engine, SeparationOptions
    from isomix.separation.demucs_engine import DemucsEngine
    from isomix.separation.engine import get_engine

    engine: Engine = (
        DemucsEngine("stand-in", _StandIn.build()) if stand_in else get_engine(MODEL_NAME)
    )
    print(f"child: model loaded, RSS {_rss_mb()[0]:.0f} MB", flush=True)
    mix = music_like(minutes * 60)
    print(f"child: {minutes} min of audio, {mix.nbytes / 1e6:.0f} MB, RSS {_rss_mb()[0]:.0f} MB")
    started = time.perf_counter()
    next_report = [0.0]

    def progress(fraction: float) -> None:
        if fraction >= next_report[0]:
            rss, peak = _rss_mb()
            elapsed = time.perf_counter() - started
            print(f"  {fraction:6.1%}  {elapsed:7.0f} s  RSS {rss:.0f} MB  peak {peak:.0f} MB")
            sys.stdout.flush()
            next_report[0] = fraction + 0.05

    stems = engine.separate(mix, SeparationOptions(shifts=shifts), progress)
    elapsed = time.perf_counter() - started
    rss, peak = _rss_mb()
    stem_bytes = sum(stem.nbytes for stem in stems.values())
    print(
        f"child: separated in {elapsed:.0f} s (RTF {elapsed / (minutes * 60):.2f}), "
        f"stems {stem_bytes / 1e6:.0f} MB, RSS {rss:.0f} MB, peak {peak:.0f} MB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--shifts", type=int, default=1)
    parser.add_argument("--stand-in", action="store_true", help="free stand-in network")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.minutes, args.shifts, args.stand_in)
        return 0
    with tempfile.TemporaryDirectory(prefix="isomix-bench-") as temp:
        data_dir = Path(temp) / "data"
        weights = build_htdemucs_sized_repo(Path(temp) / "repo", MODEL_NAME)
        install_model(data_dir / "models", MODEL_NAME, weights)
        env = {**os.environ, "ISOMIX_DATA_DIR": str(data_dir)}
        input_mb = 2 * args.minutes * 60 * SAMPLE_RATE * 4 / 1e6
        print(f"budget: input {input_mb:.0f} MB + 4 stems {4 * input_mb:.0f} MB")
        started = time.perf_counter()
        command = [sys.executable, __file__, "--child", "--minutes", str(args.minutes),
                   "--shifts", str(args.shifts)]  # fmt: skip
        if args.stand_in:
            command.append("--stand-in")
        returncode = subprocess.run(command, env=env).returncode
        wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"RESULT model={'stand-in' if args.stand_in else 'htdemucs-sized'} "
        f"minutes={args.minutes:g} shifts={args.shifts} peak_rss_mb={peak_mb:.0f} "
        f"wall_s={wall:.0f} exit={returncode}"
    )
    return returncode


if __name__ == "__main__":
    sys.exit(main())
