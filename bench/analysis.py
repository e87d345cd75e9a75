"""Tempo and key: accuracy on the held-in songs, and what the analysis adds to a separation.

    python bench/analysis.py                  (BENCH_HTDEMUCS=0 skips the htdemucs-sized run)

1. Accuracy: every song in ../shared/testdata analysed from its stems (where it has them) and
   from its mixture alone (as a two-stem separation would give it), against the published
   tempo and key where there is one (`KNOWN`, with its source); songs with none are listed
   with what was found. BPM counts as right within 0.5 (and "octave" when it is half or
   twice); the key exactly, or as a neighbour (relative, parallel, fifth).
2. Cost: a 60 s excerpt of a real song separated by the classic engine, demucs_unittest and an
   htdemucs-sized model with random weights (the compute of htdemucs), then analysed from those
   stems, warm (as in a worker after its warm-up); the ratio is analysis / separation time.
Prints numbers, asserts nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from isomix.analysis.names import KEY_NAMES, PITCH_CLASSES
from isomix.analysis.run import analyse
from isomix.audio.io import decode

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
RATE = 44_100
# Published tempo and key of the held-in songs that have one.
KNOWN = {
    "francium_30s_cc0": (
        128.0,
        "A# major",  # B flat major
        "album README of ichbinsoftware/everythingisfree (src/7.Francium/README.md: "
        "BPM 128, key B flat); testdata README: B flat major",
    ),
}


def _songs() -> list[tuple[str, dict[str, np.ndarray], np.ndarray]]:
    found = []
    for folder in sorted(p for p in TESTDATA.iterdir() if p.is_dir()):
        stems = {}
        for name in ("drums", "bass", "other", "vocals"):
            for ext in (".flac", ".wav"):
                if (folder / f"{name}{ext}").exists():
                    stems[name] = decode(folder / f"{name}{ext}")
        mixture = next(
            (
                folder / f"mixture{e}"
                for e in (".flac", ".wav")
                if (folder / f"mixture{e}").exists()
            ),
            None,
        )
        if stems and mixture is not None:
            found.append((folder.name, stems, decode(mixture)))
        for song in sorted(folder.glob("*.mp3")) + sorted(folder.glob("*.ogg")):
            found.append((song.name, {}, decode(song)))
    return found


def _key_relation(found: str, expected: str) -> str:
    if found == expected:
        return "exact"
    (ft, fm), (et, em) = found.split(), expected.split()
    f, e = PITCH_CLASSES.index(ft), PITCH_CLASSES.index(et)
    if fm != em and (f - e) % 12 == (9 if fm == "minor" else 3):
        return "relative"
    if fm != em and f == e:
        return "parallel"
    if fm == em and (f - e) % 12 in (5, 7):
        return "fifth"
    return "wrong"


def accuracy() -> None:
    print("| song | input | BPM found | published | | key found (confidence) | published | |")
    print("|---|---|---|---|---|---|---|---|")
    for name, stems, mixture in _songs():
        inputs = ([("stems", stems)] if stems else []) + [("mixture", {"mixture": mixture})]
        for label, given in inputs:
            result = analyse(given, RATE)
            if result is None:
                print(f"| {name} | {label} | no pulse | | | | | |")
                continue
            bpm_ref, key_ref, _ = KNOWN.get(name, (None, None, None))
            bpm_ok = ""
            if bpm_ref is not None:
                ratios = {"right": 1.0, "octave (half)": 0.5, "octave (double)": 2.0}
                bpm_ok = next(
                    (w for w, r in ratios.items() if abs(result.bpm - bpm_ref * r) <= 0.5), "wrong"
                )
            key_ok = _key_relation(result.key, key_ref) if key_ref else ""
            print(
                f"| {name} | {label} | {result.bpm:.2f} | {bpm_ref or '–'} | {bpm_ok} | "
                f"{result.key} ({result.key_confidence:.2f}) | {key_ref or '–'} | {key_ok} |"
            )
    for name, (bpm, key, source) in KNOWN.items():
        print(f"source of {name}: {bpm} BPM, {key}: {source}")
    assert all(key in KEY_NAMES for _, key, _ in KNOWN.values())


def _htdemucs_sized(temp: Path) -> str:
    from bench_common import build_htdemucs_sized_repo, install_model

    weights = build_htdemucs_sized_repo(temp / "repo", "bench_htdemucs")
    install_model(temp / "data" / "models", "bench_htdemucs", weights)
    return "bench_htdemucs"


def cost() -> None:
    song = TESTDATA / "full_mixes" / "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"
    mix = decode(song)[:, : 60 * RATE]
    # The warm-up a worker pays at its start, in a fresh process (numba's on-disk cache warm).
    fresh = "from isomix.analysis.run import warm_up; print(warm_up())"
    warmed = float(
        subprocess.run(
            [sys.executable, "-c", fresh], capture_output=True, text=True, check=True
        ).stdout
    )
    print(f"warm-up in a fresh process: {warmed:.2f} s")
    print(f"\nA {mix.shape[1] / RATE:.0f} s excerpt of {song.name}, separated, then analysed:")
    print("| engine | separation s | analysis s | analysis / separation |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        temp = Path(directory)
        os.environ["ISOMIX_DATA_DIR"] = str(temp / "data")
        (temp / "data").mkdir()
        from isomix.config import get_settings
        from isomix.separation.base import SeparationOptions
        from isomix.separation.engine import get_engine

        get_settings.cache_clear()
        engines = ["classic", "demucs_unittest"]
        if os.environ.get("BENCH_HTDEMUCS", "1") != "0":
            engines.append(_htdemucs_sized(temp))
        for name in engines:
            engine = get_engine(name)
            engine.separate(mix[:, : 5 * RATE], SeparationOptions())  # load and warm
            started = time.monotonic()
            stems = engine.separate(mix, SeparationOptions())
            separation = time.monotonic() - started
            times = []
            for _ in range(3):
                started = time.monotonic()
                analyse(stems, engine.sample_rate)
                times.append(time.monotonic() - started)
            analysis = float(np.median(times))
            print(f"| {name} | {separation:.2f} | {analysis:.2f} | {analysis / separation:.1%} |")


if __name__ == "__main__":
    accuracy()
    print()
    cost()
