"""What an exported mix can be encoded as, and the defaults: the one place for these rules.

The API validates a request against them, stores the resolved choice on the export's row, and
the job encodes exactly that; no layer keeps a fallback of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

ExportFormat = Literal["mp3", "wav", "flac"]
EXPORT_FORMATS: Final = get_args(ExportFormat)
BitDepth = Literal[16, 24]

MP3_BITRATES: Final = (128, 160, 192, 224, 256, 320)
DEFAULT_MP3_BITRATE: Final = 192
DEFAULT_WAV_BIT_DEPTH: Final[BitDepth] = 24
FLAC_BIT_DEPTH: Final[BitDepth] = 24
MEDIA_TYPES: Final[dict[str, str]] = {"mp3": "audio/mpeg", "wav": "audio/wav", "flac": "audio/flac"}


@dataclass(frozen=True)
class ExportEncoding:
    format: ExportFormat
    bitrate: int | None  # kbps, MP3 only
    bit_depth: BitDepth | None  # WAV only (FLAC is always FLAC_BIT_DEPTH)


def resolve(
    format: ExportFormat, bitrate: int | None, bit_depth: BitDepth | None
) -> ExportEncoding:
    """The chosen format with its defaults filled in; fields of other formats dropped."""
    if format == "mp3":
        return ExportEncoding("mp3", check_bitrate(bitrate or DEFAULT_MP3_BITRATE), None)
    if format == "wav":
        return ExportEncoding("wav", None, bit_depth or DEFAULT_WAV_BIT_DEPTH)
    return ExportEncoding("flac", None, None)


def from_stored(format: str, bitrate: int | None, bit_depth: int | None) -> ExportEncoding:
    """The encoding an export row asks for (its columns are plain strings and integers)."""
    for known in EXPORT_FORMATS:
        if format == known:
            depth: BitDepth | None = 16 if bit_depth == 16 else 24 if bit_depth == 24 else None
            return resolve(known, bitrate, depth)
    raise ValueError(f"Unknown export format {format!r}.")


def check_bitrate(bitrate: int) -> int:
    if bitrate not in MP3_BITRATES:
        allowed = ", ".join(str(rate) for rate in MP3_BITRATES)
        raise ValueError(f"bitrate must be one of {allowed} kbps")
    return bitrate


def encode_options(encoding: ExportEncoding) -> dict[str, Any]:
    """Keyword arguments of audio.io.encode for this export."""
    if encoding.format == "mp3":
        return {"format": "mp3", "bitrate": encoding.bitrate or DEFAULT_MP3_BITRATE}
    if encoding.format == "wav":
        return {"format": "wav", "bit_depth": encoding.bit_depth or DEFAULT_WAV_BIT_DEPTH}
    return {"format": "flac", "bit_depth": FLAC_BIT_DEPTH}
