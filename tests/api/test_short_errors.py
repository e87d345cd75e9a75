"""Error messages stay short whatever the request held: a few names and a count, the first
issues of a validation error and how many more, values from the request cut short."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from api.support import insert_ready_project
from isomix.api.errors import MAX_QUOTED_CHARS, MAX_VALIDATION_ISSUES, NAMED_AT_MOST

# Bodies stay under the 1 MB every non-upload route accepts.
MANY = 20_000


def post_export(client: TestClient, project_id: str, body: object) -> tuple[int, dict[str, object]]:
    response = client.post(
        f"/api/projects/{project_id}/exports",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    assert len(response.content) < 10_000, len(response.content)
    return response.status_code, response.json()


def test_many_unknown_stems_are_named_a_few_and_counted(client: TestClient) -> None:
    project_id = insert_ready_project()
    stems = {f"stem{index:05d}": {} for index in range(MANY)}
    status, body = post_export(client, project_id, {"format": "wav", "stems": stems})
    assert (status, body["code"]) == (422, "invalid_options")
    named = ", ".join(f"stem{index:05d}" for index in range(NAMED_AT_MOST))
    assert body["detail"] == (
        f"Unknown stem(s) {named} and {MANY - NAMED_AT_MOST} more; "
        "this project has drums, bass, other, vocals."
    )


def test_a_long_unknown_stem_name_is_cut_short(client: TestClient) -> None:
    project_id = insert_ready_project()
    status, body = post_export(client, project_id, {"format": "wav", "stems": {"x" * 5000: {}}})
    assert status == 422
    detail = str(body["detail"])
    assert "x" * (MAX_QUOTED_CHARS - 1) + "…" in detail and "x" * MAX_QUOTED_CHARS not in detail


def test_validation_errors_list_the_first_issues_and_count_the_rest(client: TestClient) -> None:
    project_id = insert_ready_project()
    stems = {f"s{index}": {"gain_db": "loud"} for index in range(MANY)}
    status, body = post_export(client, project_id, {"format": "wav", "stems": stems})
    assert (status, body["code"]) == (422, "invalid_options")
    issues = body["detail"]
    assert isinstance(issues, list) and len(issues) == MAX_VALIDATION_ISSUES + 1
    assert issues[0]["loc"] == ["body", "stems", "s0", "gain_db"]
    assert issues[-1] == {
        "type": "too_many_errors",
        "loc": [],
        "msg": f"and {MANY - MAX_VALIDATION_ISSUES} more",
    }


def test_a_few_validation_errors_are_all_listed(client: TestClient) -> None:
    project_id = insert_ready_project()
    stems = {"vocals": {"gain_db": "loud"}, "bass": {"pan": 3}}
    status, body = post_export(client, project_id, {"format": "wav", "stems": stems})
    assert status == 422
    assert [issue["loc"] for issue in body["detail"]] == [
        ["body", "stems", "vocals", "gain_db"],
        ["body", "stems", "bass", "pan"],
    ]


def test_keys_from_the_request_are_cut_short_in_validation_errors(client: TestClient) -> None:
    project_id = insert_ready_project()
    name = "n" * 10_000
    status, body = post_export(
        client, project_id, {"format": "wav", "stems": {name: {"mute": "yes"}}}
    )
    assert status == 422
    [issue] = body["detail"]
    assert issue["loc"] == ["body", "stems", "n" * (MAX_QUOTED_CHARS - 1) + "…", "mute"]
