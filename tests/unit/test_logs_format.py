"""The log lines of every isomix process (logs.py): JSON or text, context fields, and
secrets redacted in the finished fields (message, extra fields, exception text)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from isomix import logs
from isomix.config import Settings

SIGNED = "/api/projects/p1/stems/vocals?variant=preview&expires=1700000000&sig=SIGSECRET1"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.TOKENSECRET2"


@pytest.fixture
def capture() -> Iterator[tuple[io.StringIO, logging.Logger]]:
    """logs.configure() into a buffer as JSON; the root logger as it was afterwards."""
    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    handler = logs.configure(Settings(log_format="json", log_level="DEBUG"), stream=buffer)
    try:
        yield buffer, logging.getLogger("isomix.tests.logs")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_json_line_has_the_fields_and_no_secret(
    capture: tuple[io.StringIO, logging.Logger],
) -> None:
    buffer, log = capture
    log.info(
        "fetching %s for %s",
        SIGNED,
        BEARER,
        extra={"url": SIGNED, "auth": {"header": BEARER}, "sizes": [1, SIGNED], "n": 3},
    )
    (line,) = lines(buffer)
    text = buffer.getvalue()
    assert "SIGSECRET1" not in text and "TOKENSECRET2" not in text
    assert line["level"] == "INFO"
    assert line["logger"] == "isomix.tests.logs"
    assert line["ts"].endswith("+00:00")
    assert (
        line["message"]
        == f"fetching {SIGNED.replace('SIGSECRET1', '[redacted]')} for Bearer [redacted]"
    )
    assert line["url"].endswith("&sig=[redacted]")
    assert line["auth"] == {"header": "Bearer [redacted]"}
    assert line["sizes"][0] == 1 and line["sizes"][1].endswith("sig=[redacted]")
    assert line["n"] == 3  # numbers stay numbers
    assert "request_id" not in line  # no context, no field


def test_exception_text_is_redacted(capture: tuple[io.StringIO, logging.Logger]) -> None:
    buffer, log = capture
    try:
        raise RuntimeError(f"could not fetch {SIGNED} with {BEARER}")
    except RuntimeError:
        log.exception("download failed")
    (line,) = lines(buffer)
    assert "SIGSECRET1" not in buffer.getvalue() and "TOKENSECRET2" not in buffer.getvalue()
    assert line["exception"].startswith("Traceback")
    assert "RuntimeError: could not fetch" in line["exception"]
    assert "sig=[redacted]" in line["exception"]


def test_an_object_in_an_extra_field_is_redacted_as_text(
    capture: tuple[io.StringIO, logging.Logger],
) -> None:
    class Link:
        def __str__(self) -> str:
            return SIGNED

    buffer, log = capture
    log.warning("odd link", extra={"link": Link()})
    (line,) = lines(buffer)
    assert line["link"].endswith("sig=[redacted]")


def test_the_context_follows_the_block(capture: tuple[io.StringIO, logging.Logger]) -> None:
    buffer, log = capture
    with logs.log_context(request_id="req-abcdef12", job_id="job-1", project_id=None):
        log.info("inside")
        with logs.log_context(project_id="proj-1"):
            log.info("deeper")
    log.info("after")
    inside, deeper, after = lines(buffer)
    assert inside["request_id"] == "req-abcdef12" and inside["job_id"] == "job-1"
    assert "project_id" not in inside
    assert deeper["project_id"] == "proj-1" and deeper["request_id"] == "req-abcdef12"
    assert "request_id" not in after and "job_id" not in after
    assert logs.current_request_id() is None


def test_uvicorns_access_line_is_json_with_its_parts(
    capture: tuple[io.StringIO, logging.Logger],
) -> None:
    buffer, _ = capture
    # As `isomix serve` leaves uvicorn's loggers (no logging config of their own): an earlier
    # test's uvicorn with its default config gives "uvicorn" a handler and propagate=False,
    # which would stop the access line before the root logger.
    loggers = [logging.getLogger("uvicorn.access"), logging.getLogger("uvicorn")]
    saved = [(lg.propagate, lg.handlers[:], lg.level, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.propagate, lg.handlers, lg.level, lg.disabled = True, [], logging.INFO, False
    try:
        loggers[0].info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", SIGNED, "1.1", 200)
    finally:
        for lg, (propagate, handlers, level, disabled) in zip(loggers, saved, strict=True):
            lg.propagate, lg.handlers, lg.level, lg.disabled = propagate, handlers, level, disabled
    (line,) = lines(buffer)
    assert "SIGSECRET1" not in buffer.getvalue()
    assert (line["method"], line["status"]) == ("GET", 200)
    assert line["path"].endswith("sig=[redacted]")


def test_text_lines_carry_the_context_and_are_redacted() -> None:
    buffer = io.StringIO()
    handler = logs.configure(Settings(log_format="text"), stream=buffer)
    root = logging.getLogger()
    try:
        with logs.log_context(request_id="req-abcdef12"):
            try:
                raise ValueError(BEARER)
            except ValueError:
                logging.getLogger("isomix.tests.text").exception("at %s", SIGNED)
    finally:
        root.removeHandler(handler)
    text = buffer.getvalue()
    first = text.splitlines()[0]
    assert " ERROR isomix.tests.text: at " in first
    assert first.endswith("[request_id=req-abcdef12]")
    assert "SIGSECRET1" not in text and "TOKENSECRET2" not in text
    assert "ValueError: Bearer [redacted]" in text


def test_configuring_again_replaces_only_its_own_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    first = logs.configure(Settings(log_format="json"), stream=io.StringIO())
    second = logs.configure(Settings(log_format="json"), stream=io.StringIO())
    try:
        assert first not in root.handlers
        assert root.handlers == [*before, second]
    finally:
        root.removeHandler(second)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_text_on_a_terminal_and_json_elsewhere() -> None:
    assert logs.wants_json("auto", Terminal()) is False
    assert logs.wants_json("auto", io.StringIO()) is True
    assert logs.wants_json("json", Terminal()) is True
    assert logs.wants_json("text", io.StringIO()) is False
