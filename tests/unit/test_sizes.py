"""One way to write a size, on both sides: the cases are shared with the UI's Vitest test
(frontend/src/lib/sizes.cases.json) so the CLI, the API and the browser cannot drift apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from isomix import storage
from isomix.separation import catalog

CASES = json.loads(
    (Path(__file__).resolve().parents[2] / "frontend/src/lib/sizes.cases.json").read_text()
)["cases"]


@pytest.mark.parametrize("case", CASES, ids=[case["text"] for case in CASES])
def test_sizes_are_written_one_way(case: dict[str, object]) -> None:
    assert storage.format_bytes(case["bytes"]) == case["text"]  # type: ignore[arg-type]
    assert catalog.format_size(case["bytes"]) == case["text"]  # type: ignore[arg-type]


def test_the_upload_limit_message_uses_it() -> None:
    assert str(storage.UploadTooLargeError(200_000_000)).endswith("limit of 200 MB.")
