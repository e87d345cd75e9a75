"""Every speed figure of IsoMix in one run, side by side with what it is compared with.

    python bench/run_all.py            (make bench)

Runs, one after the other (each on an otherwise idle machine: they would slow each other):
1. bench/separate.py: `isomix separate` (default precision and fp32) against
   `python -m demucs`, time, peak RSS and the output differences;
2. bench/first_audio.py: a 4-minute song's upload to its first 10 s playable, progressive
   output against none;
3. bench/service.py: the status route and 500 event streams while a song separates, and
   upload to ready against the same separations called directly and `isomix separate`.
Each prints its details as it goes; each records its figures (bench_common.record), and the
table at the end puts them together with their targets (issue 10). BENCH_ONLY=separate,service
runs a subset; the other knobs are each script's own. Prints numbers, asserts nothing.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCHES = ("separate", "first_audio", "service")
HERE = Path(__file__).resolve().parent


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    chosen = os.environ.get("BENCH_ONLY")
    names = [name for name in BENCHES if not chosen or name in chosen.split(",")]
    with tempfile.TemporaryDirectory(prefix="isomix-bench-") as temp:
        summary = Path(temp) / "summary.jsonl"
        env = {**os.environ, "BENCH_SUMMARY": str(summary)}
        started = time.perf_counter()
        for name in names:
            print(f"\n=== bench/{name}.py ===", flush=True)
            subprocess.run([sys.executable, str(HERE / f"{name}.py")], env=env, check=True)
        figures = [json.loads(line) for line in summary.read_text().splitlines()]
    print(f"\n=== IsoMix speed, {_cpu_name()}, {os.cpu_count()} cores, "
          f"{time.perf_counter() - started:.0f} s ===")  # fmt: skip
    header = ("figure", "measured", "compared with", "target", "")
    rows = [header] + [
        (f["name"], f["measured"], f["reference"], f["target"],
         {True: "met", False: "MISSED", None: ""}[f["met"]])
        for f in figures
    ]  # fmt: skip
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
