"""The final part so far of a running separation's stem, as a WAV file that grows; also a
finished stem's quick preview (a 16-bit WAV file, served from after its own header).

The body is a canonical 44-byte header (PCM, 16-bit little-endian) for exactly the frames
served, then those frames, read from the job's append-only PCM file (jobs/progressive.py).
`Range` requests (`bytes=a-`, `bytes=a-b`, `bytes=-n`) are answered over the length of this
body, so a client that holds F frames asks for `bytes=<44 + 4F>-` and gets only the new ones
(416 with `Content-Range: bytes */<length>` when there are none yet). Nothing is cacheable:
the next request may serve more.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO, Final

from fastapi.responses import StreamingResponse

from isomix.api.errors import ApiError

HEADER_BYTES: Final = 44
SAMPLE_BITS: Final = 16
CHUNK_BYTES: Final = 256 * 1024
MEDIA_TYPE: Final = "audio/wav"


class RangeNotSatisfiableError(Exception):
    def __init__(self, total: int) -> None:
        self.total = total
        super().__init__(f"no bytes of {total} in the range asked for")


def wav_header(frames: int, sample_rate: int, channels: int = 2) -> bytes:
    """The canonical 44-byte header of 16-bit PCM holding exactly `frames` frames."""
    block = channels * SAMPLE_BITS // 8
    data = frames * block
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data,
        b"WAVE",
        b"fmt ",
        16,  # the fmt chunk's size
        1,  # PCM
        channels,
        sample_rate,
        sample_rate * block,
        block,
        SAMPLE_BITS,
        b"data",
        data,
    )


def byte_range(header: str | None, total: int) -> tuple[int, int] | None:
    """The inclusive byte range one `Range: bytes=...` header asks for within `total` bytes.

    None means the whole body: no header, or one not served here (another unit, several
    ranges, a malformed one), which a server may ignore (RFC 9110, 14.2). Raises
    RangeNotSatisfiableError when the range starts at or past the end.
    """
    if header is None:
        return None
    unit, equals, spec = header.strip().partition("=")
    if not equals or unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = (part.strip() for part in spec.partition("-"))
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":  # the last n bytes
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0 or total == 0:
            raise RangeNotSatisfiableError(total)
        return max(total - suffix, 0), total - 1
    start = int(first)
    end = total - 1 if last == "" else int(last)
    if last != "" and end < start:
        return None
    if start >= total:
        raise RangeNotSatisfiableError(total)
    return start, min(end, total - 1)


def wav_response(
    pcm: BinaryIO,
    *,
    frames: int,
    sample_rate: int,
    channels: int = 2,
    range_header: str | None,
    headers: dict[str, str] | None = None,
    data_offset: int = 0,
) -> StreamingResponse:
    """The first `frames` frames of the open PCM file `pcm` (its samples start at byte
    `data_offset`) as WAV (the whole body or the range asked for). The response closes `pcm`
    once sent; so does a refusal."""
    fd = pcm.fileno()
    return wav_response_from(
        lambda position, length: os.pread(fd, length, data_offset + position),
        frames=frames,
        sample_rate=sample_rate,
        channels=channels,
        range_header=range_header,
        headers=headers,
        close=pcm.close,
    )


PcmReader = Callable[[int, int], bytes]


def wav_response_from(
    read_at: PcmReader,
    *,
    frames: int,
    sample_rate: int,
    channels: int = 2,
    range_header: str | None,
    headers: dict[str, str] | None = None,
    close: Callable[[], None] = lambda: None,
) -> StreamingResponse:
    """The first `frames` frames of PCM that `read_at(position, length)` reads (bytes from
    the first sample on; at most `length`, fewer only at the end) as WAV, whole or the range
    asked for; `close` is called once the body is sent, or on a refusal."""
    total = HEADER_BYTES + frames * channels * SAMPLE_BITS // 8
    header = wav_header(frames, sample_rate, channels)
    return range_response(
        total,
        range_header,
        {"Cache-Control": "no-store", **(headers or {})},
        media_type=MEDIA_TYPE,
        body=lambda start, stop: _body(read_at, close, header, start, stop),
        close=close,
        refusal=f"The range starts past the {total} bytes there are so far.",
    )


def range_response(
    total: int,
    range_header: str | None,
    headers: dict[str, str],
    *,
    media_type: str,
    body: Callable[[int, int], Iterator[bytes]],
    close: Callable[[], None],
    refusal: str,
) -> StreamingResponse:
    """A body of `total` bytes, whole (200) or the one range asked for (206), `body(start,
    stop)` giving its bytes; past the end a 416 with `refusal` (and `close` called)."""
    common = {"Accept-Ranges": "bytes", **headers}
    try:
        span = byte_range(range_header, total)
    except RangeNotSatisfiableError:
        close()
        raise ApiError(
            416,
            "range_not_satisfiable",
            refusal,
            headers={**common, "Content-Range": f"bytes */{total}"},
        ) from None
    first, last = span if span is not None else (0, total - 1)
    if span is not None:
        common["Content-Range"] = f"bytes {first}-{last}/{total}"
    common["Content-Length"] = str(max(0, last + 1 - first))
    return StreamingResponse(
        body(first, last + 1),
        status_code=206 if span is not None else 200,
        media_type=media_type,
        headers=common,
    )


def _body(
    read_at: PcmReader, close: Callable[[], None], header: bytes, start: int, stop: int
) -> Iterator[bytes]:
    """Bytes `start` .. `stop` of the header followed by the PCM samples."""
    try:
        if start < HEADER_BYTES:
            yield header[start:stop]
        position = max(start, HEADER_BYTES) - HEADER_BYTES
        left = stop - HEADER_BYTES - position
        while left > 0:
            chunk = read_at(position, min(CHUNK_BYTES, left))
            if not chunk:
                raise OSError("the PCM is shorter than announced")
            position += len(chunk)
            left -= len(chunk)
            yield chunk
    finally:
        close()


def read_wav_header(file: BinaryIO) -> tuple[int, int, int]:
    """(frames, sample rate, channels) of a canonical 16-bit PCM WAV file (what
    `audio.writers.write_wav` writes); ValueError for anything else."""
    header = os.pread(file.fileno(), HEADER_BYTES, 0)
    if len(header) != HEADER_BYTES:
        raise ValueError("not a canonical WAV file")
    (riff, _, wave, fmt, fmt_size, audio_format, channels, sample_rate, _, _, bits, data,
     size) = struct.unpack("<4sI4s4sIHHIIHH4sI", header)  # fmt: skip
    if (
        (riff, wave, fmt, data) != (b"RIFF", b"WAVE", b"fmt ", b"data")
        or (fmt_size, audio_format, bits) != (16, 1, SAMPLE_BITS)
        or channels < 1
    ):
        raise ValueError("not a canonical 16-bit PCM WAV file")
    return size // (channels * SAMPLE_BITS // 8), sample_rate, channels
