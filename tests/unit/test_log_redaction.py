"""Secrets out of log lines (logredact.py): uvicorn's access log, messages, arguments."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from uvicorn.logging import AccessFormatter

from isomix.logredact import LOGGERS, RedactSecrets, install_log_redaction, redact

SIGNED = "/api/projects/x/stems/vocals?variant=preview&expires=1&sig=abcdef"
ACCESS_FORMAT = '%(client_addr)s - "%(request_line)s" %(status_code)s'


def access_record(path: str = SIGNED) -> logging.LogRecord:
    """A record as uvicorn's httptools/h11 protocols log a request."""
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:50000", "GET", path, "1.1", 200),
        None,
    )


def test_a_signed_url_in_the_access_log_loses_its_signature() -> None:
    record = access_record()
    assert RedactSecrets().filter(record) is True
    assert isinstance(record.args, tuple) and record.args[-1] == 200
    line = AccessFormatter(ACCESS_FORMAT, use_colors=False).format(record)
    assert "abcdef" not in line
    assert "vocals?variant=preview&expires=1&sig=[redacted]" in line
    assert line.endswith(" 200 OK")  # the status stayed a number
    assert "abcdef" not in record.getMessage()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/d?sig=abc&x=1", "/d?sig=[redacted]&x=1"),
        ("/d?signature=abc#top", "/d?signature=[redacted]#top"),
        ("/d?a=1&token=abc", "/d?a=1&token=[redacted]"),
        ("/d?ACCESS_TOKEN=abc def", "/d?ACCESS_TOKEN=[redacted] def"),
        ("/d?refresh_token=abc", "/d?refresh_token=[redacted]"),
        ("sig=abc&expires=1", "sig=[redacted]&expires=1"),
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2ln", "Authorization: Bearer [redacted]"),
        ("authorization=bearer abc-def_ghi~=", "authorization=bearer [redacted]"),
        # Not secrets: other names that merely contain one.
        ("/d?token_count=3&mysig=4&design=5", "/d?token_count=3&mysig=4&design=5"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_the_message_and_mapping_arguments_are_redacted() -> None:
    record = logging.LogRecord(
        "isomix.x", logging.INFO, __file__, 1, "fetch %(url)s for %(n)d", None, None
    )
    record.args = {"url": "https://h/x?token=secret1", "n": 2}
    RedactSecrets().filter(record)
    assert record.getMessage() == "fetch https://h/x?token=[redacted] for 2"

    inline = logging.LogRecord(
        "isomix.x", logging.INFO, __file__, 1, "GET /x?sig=secret2", (), None
    )
    RedactSecrets().filter(inline)
    assert inline.getMessage() == "GET /x?sig=[redacted]"


@pytest.fixture
def installed() -> Iterator[None]:
    """install_log_redaction(), and every filter it added removed afterwards."""
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in LOGGERS]
    targets.extend(logging.getLogger().handlers)
    before = {id(target): list(target.filters) for target in targets}
    install_log_redaction()
    try:
        yield
    finally:
        for target in targets:
            target.filters[:] = before[id(target)]


def test_install_redacts_uvicorn_and_isomix_lines(
    installed: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Read every record at its own logger: after `isomix serve` ran in this process (other
    # tests), uvicorn's config stops its loggers from propagating to the root's caplog.
    loggers = [logging.getLogger(name) for name in ("uvicorn.access", "uvicorn.error", "isomix")]
    saved = [(logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.addHandler(caplog.handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    try:
        loggers[0].handle(access_record())
        loggers[1].info("bad request for %s", SIGNED)
        loggers[2].info("serving %s", SIGNED)
    finally:
        for logger, (level, propagate) in zip(loggers, saved, strict=True):
            logger.removeHandler(caplog.handler)
            logger.setLevel(level)
            logger.propagate = propagate
    assert len(caplog.records) == 3
    assert "abcdef" not in caplog.text
    assert caplog.text.count("sig=[redacted]") == 3


def test_install_covers_isomix_child_loggers_through_the_root_handlers(
    installed: None, caplog: pytest.LogCaptureFixture
) -> None:
    # A logger's filter does not see its children's records; caplog's handler is one of the
    # root handlers, as the console handler of `isomix serve` is.
    with caplog.at_level(logging.INFO):
        logging.getLogger("isomix.jobs.tasks").info("link %s", SIGNED)
    assert "abcdef" not in caplog.text
    assert "sig=[redacted]" in caplog.text


def test_installing_twice_adds_one_filter(installed: None) -> None:
    install_log_redaction()
    for name in LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactSecrets) for f in filters) == 1
