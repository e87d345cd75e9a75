"""What error reports may carry (errortracking.py): the scrubbing of events and breadcrumbs,
and the DSN kept out of logs and reprs. The report sent by a real server is in
tests/api/test_sentry_reports.py."""

from __future__ import annotations

import logging

import pytest

from isomix import errortracking
from isomix.config import Settings

SIG = "SIGSECRET9"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.TOKENSECRET8"
SIGNED = f"http://127.0.0.1/api/projects/p1/stems/vocals?expires=1700000000&sig={SIG}"


def test_an_event_loses_body_cookies_secret_headers_signatures_and_file_names() -> None:
    event = {
        "message": f"could not open 'My Secret Demo.flac' from {SIGNED}",
        "request": {
            "url": SIGNED,
            "query_string": f"expires=1700000000&sig={SIG}",
            "method": "POST",
            "data": {"filename": "My Secret Demo.flac"},
            "cookies": {"session": "c"},
            "headers": {"Authorization": f"Bearer {TOKEN}", "Cookie": "a=b", "Accept": "*/*"},
        },
        "exception": {
            "values": [
                {
                    "type": "RuntimeError",
                    "value": "probe failed on upload demo_take_3.wav",
                    "stacktrace": {"frames": [{"filename": "isomix/api/routes/projects.py"}]},
                }
            ]
        },
        "extra": {"detail": {"filename": "My Secret Demo.flac", "bytes": 12}},
        "breadcrumbs": {"values": [{"message": f"GET {SIGNED}", "data": {"token": TOKEN}}]},
    }
    scrubbed = errortracking.scrub_event(event, {})
    text = repr(scrubbed)
    for secret in (SIG, TOKEN, "My Secret Demo", "demo_take_3", "a=b", "session"):
        assert secret not in text, secret
    request = scrubbed["request"]
    assert "data" not in request and "cookies" not in request
    assert request["headers"]["Authorization"] == errortracking.FILTERED
    assert request["headers"]["Accept"] == "*/*"
    assert request["url"].endswith("expires=1700000000&sig=[redacted]")
    assert scrubbed["message"].startswith("could not open [file name] from ")
    exception = scrubbed["exception"]["values"][0]
    assert exception["value"] == "probe failed on upload [file name]"
    # Our code's file names in the stack stay: they are how a report is read.
    assert exception["stacktrace"]["frames"][0]["filename"] == "isomix/api/routes/projects.py"
    assert scrubbed["extra"]["detail"] == {"filename": errortracking.FILTERED, "bytes": 12}


def test_a_breadcrumb_is_scrubbed() -> None:
    crumb = {
        "category": "httplib",
        "data": {"url": "https://s3.example/b/k?X-Amz-Signature=abc123&X-Amz-Expires=60"},
        "message": f"Authorization: Bearer {TOKEN}",
    }
    scrubbed = errortracking.scrub_breadcrumb(crumb, {})
    assert "abc123" not in repr(scrubbed) and TOKEN not in repr(scrubbed)
    assert scrubbed["data"]["url"].endswith("X-Amz-Signature=[redacted]&X-Amz-Expires=60")


def test_without_a_dsn_nothing_starts_and_the_helpers_do_nothing() -> None:
    assert errortracking.init("test", Settings(sentry_dsn=None)) is False
    assert errortracking.active() is False
    errortracking.conceal("song.wav")  # no client: nothing to add to
    errortracking.tag(request_id="abcdefgh")
    with errortracking.job_scope(concealed=("song.wav",), job_id="j"):
        pass


def test_the_dsn_is_not_in_the_settings_repr(caplog: pytest.LogCaptureFixture) -> None:
    dsn = "https://dsnsecret7@o1.ingest.sentry.io/42"
    settings = Settings(sentry_dsn=dsn)
    assert "dsnsecret7" not in repr(settings) and "dsnsecret7" not in str(settings)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("isomix.tests").info("settings: %r", settings)
    assert "dsnsecret7" not in caplog.text
