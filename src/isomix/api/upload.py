"""Streaming multipart parsing for uploads: the file goes to disk chunk by chunk, byte-counted.

Starlette's form parser spools file parts without any size cap (RELIABILITY 3), so the request
stream is fed to python-multipart's parser directly and the file part is written through an
UploadWriter that stops at the limit. Every way a body can be malformed ends in a 422 (or 413)
in the API's error shape, and a client that goes away mid-upload costs one log line; in every
case nothing of the upload is left on disk.
"""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from isomix import errortracking
from isomix.api.errors import ApiError, invalid, shorten
from isomix.objects.uploads import writer_for
from isomix.storage import UploadTooLargeError, UploadWriter

logger = logging.getLogger(__name__)

FILE_FIELD = "file"
MAX_FIELDS = 16
MAX_FIELD_BYTES = 16 * 1024
MAX_FILENAME_CHARS = 255
# RFC 2046 section 5.1.1: a boundary is 1 to 70 characters.
MAX_BOUNDARY_CHARS = 70
# Not an HTTP status a client ever reads (it has gone); nginx's number for it, in access logs.
CLIENT_CLOSED_REQUEST = 499
# Multipart framing around the file: boundaries, part headers, the small form fields.
CONTENT_LENGTH_SLACK = MAX_FIELDS * MAX_FIELD_BYTES + 64 * 1024

# Stripped from file names: C0 and C1 controls and DEL; the bidirectional controls (embeddings,
# overrides, isolates, marks: U+202E shows "evil\u202Ewav.exe" reversed in the library);
# line and paragraph separators.
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


def too_large(error: UploadTooLargeError) -> ApiError:
    return ApiError(413, "too_large", str(error))


def clean_filename(raw: str) -> str:
    """The user's file name as display data: last path component, no control characters
    (bidirectional ones included)."""
    name = unicodedata.normalize("NFC", raw)
    name = re.split(r"[/\\]", name)[-1]
    name = _CONTROL.sub("", name).strip()
    return name[:MAX_FILENAME_CHARS] or "audio"


def check_content_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if (
        declared is not None
        and declared.isascii()
        and declared.isdigit()
        and int(declared) > limit + CONTENT_LENGTH_SLACK
    ):
        raise too_large(UploadTooLargeError(limit))


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    disposition: bytes = b""
    data: bytearray = field(default_factory=bytearray)


@dataclass
class ReceivedUpload:
    writer: UploadWriter
    filename: str
    fields: dict[str, str]


class _UploadParser:
    def __init__(
        self,
        *,
        project_id: str,
        limit: int,
        charset: str,
        on_file_start: Callable[[dict[str, str]], None],
    ) -> None:
        self.project_id = project_id
        self.limit = limit
        self.charset = charset
        self.on_file_start = on_file_start
        self.fields: dict[str, str] = {}
        self.writer: UploadWriter | None = None
        self.filename = ""
        self.file_done = False
        self.ended = False
        self.pending: list[bytes] = []
        self._part = _Part()
        self._header_name = b""
        self._header_value = b""

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode(self.charset)
        except ValueError:  # UnicodeDecodeError, or a plain UnicodeError (idna, punycode)
            return raw.decode("latin-1")

    def on_part_begin(self) -> None:
        self._part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._part.disposition = self._header_value
        self._header_name = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._part.disposition)
        if b"name" not in options:
            raise invalid("A multipart part has no name.")
        self._part.name = self._decode(options[b"name"])
        if b"filename" not in options:
            if len(self.fields) >= MAX_FIELDS:
                raise invalid(f"Too many form fields (at most {MAX_FIELDS}).")
            return
        if self._part.name != FILE_FIELD or self.writer is not None:
            raise invalid(f"Send exactly one file, in the form field '{FILE_FIELD}'.")
        raw_name = self._decode(options[b"filename"])
        self.filename = clean_filename(raw_name)
        errortracking.conceal(raw_name, self.filename)  # the user's: never in error reports
        # Options sent before the file are checked before a byte is stored.
        self.on_file_start(dict(self.fields))
        self.writer = writer_for(self.project_id, self.limit)
        self._part.filename = self.filename

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._part.filename is None:
            if len(self._part.data) + len(chunk) > MAX_FIELD_BYTES:
                raise invalid(f"Form field '{shorten(self._part.name)}' is too long.")
            self._part.data.extend(chunk)
            return
        assert self.writer is not None
        # Count now, so an oversized body stops at once; the bytes are written off the loop.
        if self.writer.size + sum(map(len, self.pending)) + len(chunk) > self.limit:
            raise too_large(UploadTooLargeError(self.limit))
        self.pending.append(bytes(chunk))

    def on_part_end(self) -> None:
        if self._part.filename is None:
            self.fields[self._part.name] = self._decode(bytes(self._part.data))
        else:
            self.file_done = True

    def on_end(self) -> None:
        self.ended = True

    def flush(self) -> None:
        assert self.writer is not None or not self.pending
        for chunk in self.pending:
            assert self.writer is not None
            self.writer.write(chunk)
        self.pending.clear()


async def receive_upload(
    request: Request,
    *,
    project_id: str,
    limit: int,
    on_file_start: Callable[[dict[str, str]], None],
) -> ReceivedUpload:
    """Parse the multipart body; the file lands in projects/<project_id>/original.upload.

    Raises ApiError (413 past `limit`, 422 for a malformed form); on any error nothing of the
    upload is left on disk.
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise invalid("Send the upload as multipart/form-data with a 'file' field.")
    boundary = params[b"boundary"]
    if not 1 <= len(boundary) <= MAX_BOUNDARY_CHARS:
        raise invalid(f"The multipart boundary must be 1 to {MAX_BOUNDARY_CHARS} characters long.")
    parser = _UploadParser(
        project_id=project_id,
        limit=limit,
        charset=_text_charset(params.get(b"charset")),
        on_file_start=on_file_start,
    )
    try:
        multipart = MultipartParser(
            boundary,
            {
                "on_part_begin": parser.on_part_begin,
                "on_part_data": parser.on_part_data,
                "on_part_end": parser.on_part_end,
                "on_header_field": parser.on_header_field,
                "on_header_value": parser.on_header_value,
                "on_header_end": parser.on_header_end,
                "on_headers_finished": parser.on_headers_finished,
                "on_end": parser.on_end,
            },
        )
        async for chunk in request.stream():
            multipart.write(chunk)
            if parser.pending:
                await anyio.to_thread.run_sync(parser.flush)
        multipart.finalize()
        if parser.writer is None:
            raise invalid(f"No file in the upload: send it in the form field '{FILE_FIELD}'.")
        if not (parser.file_done and parser.ended):
            raise invalid("The upload ended before the file was complete.")
        await anyio.to_thread.run_sync(parser.writer.close)
    except BaseException as error:  # also a client disconnect or a cancellation
        _discard(parser)
        if isinstance(error, UploadTooLargeError):
            raise too_large(error) from None
        if isinstance(error, FormParserError):
            raise invalid("The multipart body is malformed.") from None
        if isinstance(error, ClientDisconnect):
            received = parser.writer.size if parser.writer is not None else 0
            logger.info(
                "upload %s: the client disconnected after %d bytes of the file; discarded",
                project_id,
                received,
            )
            raise ApiError(
                CLIENT_CLOSED_REQUEST,
                "client_disconnected",
                "The client disconnected before the upload was complete.",
            ) from None
        raise
    return ReceivedUpload(writer=parser.writer, filename=parser.filename, fields=parser.fields)


def _text_charset(declared: bytes | None) -> str:
    """The charset for field values and the file name: the declared one when it is a text
    encoding Python knows (not base64, zlib...), else UTF-8."""
    if declared is None:
        return "utf-8"
    try:
        name = codecs.lookup(declared.decode("latin-1")).name
        b"a".decode(name)  # LookupError for codecs that are not text encodings
    except UnicodeError:
        pass  # a text encoding that cannot read one byte ("a" in UTF-16): still text
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return "utf-8"
    return name


def _discard(parser: _UploadParser) -> None:
    if parser.writer is not None:
        parser.writer.discard()
