"""Does running segments in parallel (one torch thread each) beat one segment at a time with
all of torch's threads? Same process, same htdemucs-sized model, alternating.

    python bench/segment_workers.py     (BENCH_SECONDS=30, BENCH_RUNS=2)
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time

from bench_common import HTDEMUCS_SIZED_KWARGS, SOURCES, music_like


def main() -> int:
    import torch
    from demucs.htdemucs import HTDemucs

    from isomix.separation import inference

    seconds = float(os.environ.get("BENCH_SECONDS", "30"))
    runs = int(os.environ.get("BENCH_RUNS", "2"))
    torch.manual_seed(0)
    model = HTDemucs(sources=list(SOURCES), **HTDEMUCS_SIZED_KWARGS).eval()
    mix = torch.from_numpy(music_like(seconds, seed=2))
    threads = torch.get_num_threads()
    print(f"{seconds:g} s, shifts=0, torch threads {threads}, {runs} runs each, alternating")
    timings: dict[int, list[tuple[float, float]]] = {1: [], threads: []}
    for _ in range(runs):
        for workers in timings:
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            inference.apply_model(model, mix, shifts=0, workers=workers)
            wall = time.perf_counter() - started
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
                cpu_after.ru_stime - cpu_before.ru_stime
            )
            timings[workers].append((wall, cpu))
            print(f"  workers={workers}: wall {wall:6.1f} s  CPU {cpu:6.1f} s", flush=True)
    for workers, values in timings.items():
        wall = statistics.median(value[0] for value in values)
        cpu = statistics.median(value[1] for value in values)
        print(f"workers={workers}: median wall {wall:.1f} s, CPU {cpu:.1f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
