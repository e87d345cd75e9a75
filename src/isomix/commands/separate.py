"""`isomix separate FILE ...`: split songs into stems, like `python -m demucs`.

Output goes to OUT/MODEL/TRACK/STEM.EXT. The model is loaded once; the next file is decoded
while the current one separates, and stems are encoded in background threads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from isomix.config import get_settings
from isomix.separation.precision import SETTINGS as PRECISION_SETTINGS


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _overlap(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _bitrate(text: str) -> int:
    value = int(text)
    if not 128 <= value <= 320:
        raise argparse.ArgumentTypeError(f"must be within 128..320 kbps, got {text}")
    return value


def register(subparsers: Any) -> None:
    settings = get_settings()
    parser = subparsers.add_parser(
        "separate",
        help="split audio files into stems",
        description="Separate audio files into stems, written to OUT/MODEL/TRACK/STEM.EXT.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audio files")
    parser.add_argument(
        "-n",
        "--model",
        default=None,
        help="model name (default: ISOMIX_DEFAULT_MODEL, else the one chosen with "
        "`isomix models default`, else the best installed; see `isomix models list`)",
    )
    parser.add_argument(
        "--two-stems",
        metavar="STEM",
        help="write only STEM and no_STEM (the sum of all other stems)",
    )
    parser.add_argument(
        "--shifts",
        type=_non_negative_int,
        default=1,
        help="random time shifts to average over: better, N times slower (default 1)",
    )
    parser.add_argument(
        "--overlap", type=_overlap, default=0.25, help="overlap between segments (default 0.25)"
    )
    parser.add_argument(
        "--segment", type=_positive_float, help="segment length in seconds (default: model's)"
    )
    parser.add_argument(
        "-d",
        "--device",
        choices=("cpu", "cuda", "auto"),
        default=settings.device,
        help=f"where to run the model (default {settings.device})",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISION_SETTINGS,
        default=settings.precision,
        help="arithmetic of the model: auto is bf16 on CPUs with native bf16, fp16 on CUDA, "
        f"fp32 otherwise; fp32 gives python -m demucs' stems (default {settings.precision})",
    )
    formats = parser.add_mutually_exclusive_group()
    formats.add_argument(
        "--format", choices=("wav", "flac", "mp3"), default="wav", help="output (default wav)"
    )
    # The Demucs CLI's spellings, so its command lines work here too.
    formats.add_argument(
        "--flac", dest="format", action="store_const", const="flac", help="same as --format flac"
    )
    formats.add_argument(
        "--mp3", dest="format", action="store_const", const="mp3", help="same as --format mp3"
    )
    parser.add_argument(
        "--bitrate",
        "--mp3-bitrate",
        type=_bitrate,
        default=320,
        help="MP3 bitrate in kbps (default 320)",
    )
    depth = parser.add_mutually_exclusive_group()
    depth.add_argument("--int24", action="store_true", help="24-bit WAV/FLAC (default 16)")
    depth.add_argument("--float32", action="store_true", help="32-bit float WAV")
    parser.add_argument(
        "--clip-mode",
        choices=("rescale", "clamp", "none"),
        default="rescale",
        help="avoid clipping by scaling a stem down (rescale) or hard clipping (clamp)",
    )
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("separated"),
        help="output folder (default ./separated)",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=_non_negative_int,
        default=0,
        help="CPU threads for the model (default 0: the torch_threads setting, else all cores)",
    )
    # Its files are complete (fsynced, renamed into place) when run returns: the program
    # may end without unwinding torch (cli.exit_now).
    parser.set_defaults(handler=run, exit_without_teardown=True)


def run(args: argparse.Namespace) -> int:
    # Everything heavy (torch, demucs, PyAV) is imported here, not when the CLI starts.
    from isomix.commands.separate_pipeline import Job, run_job

    if args.float32 and args.format != "wav":
        print("error: --float32 is only for --format wav", file=sys.stderr)
        return 1
    from isomix.separation import store

    job = Job(
        files=list(args.files),
        model=args.model or store.default_model(get_settings().default_model).name,
        two_stems=args.two_stems,
        shifts=args.shifts,
        overlap=args.overlap,
        segment=args.segment,
        device=args.device,
        precision=args.precision,
        format=args.format,
        bitrate=args.bitrate,
        bit_depth=24 if args.int24 else 16,
        float32=args.float32,
        clip_mode=args.clip_mode,
        out=args.out,
        jobs=args.jobs,
    )
    return run_job(job)
