"""Container detection from file content only (magic bytes), against an allow-list.

The name of an upload never chooses a demuxer: FFmpeg left to guess follows HLS playlists,
concat lists and DASH manifests into other files (RELIABILITY.md point 1). Everything here
returns the name of one real audio demuxer, which the decoder then pins.

`ACCEPTED_FORMATS` is the one list of what an upload may be: the allow-list of demuxers is
derived from it, the 415 message names it, and `GET /api/config` serves it to the UI's drop
zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from isomix.audio.errors import CorruptAudioError, UnsupportedAudioError

MP3: Final = "mp3"
WAV: Final = "wav"
FLAC: Final = "flac"
OGG: Final = "ogg"
MP4: Final = "mov,mp4,m4a,3gp,3g2,mj2"
AIFF: Final = "aiff"
MATROSKA: Final = "matroska,webm"


@dataclass(frozen=True)
class AcceptedFormat:
    """One kind of file users may upload: its display name, its usual file name endings and
    the demuxer that reads it (chosen from the content, never from the name)."""

    name: str
    extensions: tuple[str, ...]
    demuxer: str


ACCEPTED_FORMATS: Final = (
    AcceptedFormat("MP3", (".mp3",), MP3),
    AcceptedFormat("WAV", (".wav",), WAV),
    AcceptedFormat("FLAC", (".flac",), FLAC),
    AcceptedFormat("Ogg", (".ogg", ".oga"), OGG),
    AcceptedFormat("Opus", (".opus",), OGG),
    AcceptedFormat("M4A", (".m4a",), MP4),
    AcceptedFormat("MP4", (".mp4",), MP4),
    AcceptedFormat("AIFF", (".aiff", ".aif", ".aifc"), AIFF),
    AcceptedFormat("MKV", (".mkv", ".mka"), MATROSKA),
    AcceptedFormat("WebM", (".webm",), MATROSKA),
)

ALLOWED_DEMUXERS: Final = frozenset(accepted.demuxer for accepted in ACCEPTED_FORMATS)


def accepted_names() -> list[str]:
    """Display names, in the order of the list: "MP3", "WAV", ..."""
    return [accepted.name for accepted in ACCEPTED_FORMATS]


def accepted_extensions() -> list[str]:
    """File name endings with their dot, for a file picker's `accept`: ".mp3", ".wav", ..."""
    return [extension for accepted in ACCEPTED_FORMATS for extension in accepted.extensions]


def _in_words(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


_HEAD_BYTES: Final = 64
# An MP3 may carry junk between its ID3 tag and the first frame; FFmpeg resyncs over a few KB.
_MPEG_SYNC_WINDOW: Final = 4096
_MAX_ID3_TAGS: Final = 8

# ISO-BMFF brands of still images (HEIC photos, AVIF): an ftyp box, but not a movie.
_IMAGE_BRANDS: Final = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
)

UNSUPPORTED_MESSAGE: Final = (
    f"This is not an audio file we can read: upload {_in_words(accepted_names())}."
)


def detect_container(path: Path) -> str:
    """Return the FFmpeg demuxer to pin for ``path``, judged only by its bytes."""
    with path.open("rb") as file:
        head = file.read(_HEAD_BYTES)
        if not head:
            raise CorruptAudioError("The file is empty.")
        demuxer = _sniff_head(head)
        if demuxer is not None:
            return demuxer
        if head.startswith(b"ID3"):
            return _after_id3(file)
        if _is_mpeg_audio_header(head, 0):
            return MP3
    raise UnsupportedAudioError(UNSUPPORTED_MESSAGE)


def _sniff_head(head: bytes) -> str | None:
    if head[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return WAV
    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith(b"OggS"):
        return OGG
    if head[4:8] == b"ftyp" and head[8:12] not in _IMAGE_BRANDS:
        return MP4
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return AIFF
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MATROSKA
    return None


def _after_id3(file: BinaryIO) -> str:
    """Skip ID3v2 tags, then require FLAC or MPEG audio right after them.

    An ID3 tag in front of anything else (an HLS playlist is the known attack) is rejected here,
    before FFmpeg sees it.
    """
    offset = 0
    for _ in range(_MAX_ID3_TAGS):
        file.seek(offset)
        header = file.read(10)
        if len(header) < 10 or not header.startswith(b"ID3"):
            break
        size_bytes = header[6:10]
        if any(byte & 0x80 for byte in size_bytes):
            raise UnsupportedAudioError(UNSUPPORTED_MESSAGE)
        size = (size_bytes[0] << 21) | (size_bytes[1] << 14) | (size_bytes[2] << 7) | size_bytes[3]
        has_footer = bool(header[5] & 0x10)
        offset += 10 + size + (10 if has_footer else 0)
    file.seek(offset)
    window = file.read(_MPEG_SYNC_WINDOW)
    stripped = window.lstrip(b"\x00")
    if not stripped:
        raise CorruptAudioError("The file has a music tag but no audio.")
    if stripped.startswith(b"fLaC"):
        return FLAC
    for position in range(len(window) - 3):
        if window[position] == 0xFF and _is_mpeg_audio_header(window, position):
            return MP3
    raise UnsupportedAudioError(UNSUPPORTED_MESSAGE)


def _is_mpeg_audio_header(data: bytes, position: int) -> bool:
    """A plausible MPEG-1/2/2.5 layer I-III frame header (not ADTS AAC, whose layer is 0)."""
    if len(data) < position + 4:
        return False
    first, second, third = data[position], data[position + 1], data[position + 2]
    if first != 0xFF or (second & 0xE0) != 0xE0:
        return False
    version = (second >> 3) & 0b11
    layer = (second >> 1) & 0b11
    bitrate_index = third >> 4
    rate_index = (third >> 2) & 0b11
    return version != 0b01 and layer != 0 and bitrate_index != 0b1111 and rate_index != 0b11
