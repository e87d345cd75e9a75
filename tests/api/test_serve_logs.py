"""`isomix serve` logs JSON lines, uvicorn's included, and the request id of an upload
follows its job into the embedded worker process's lines."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from api.serve_process import serve
from api.support import wav_bytes

REQUEST_ID = "serve-upload-0001"
JOB_SECONDS = 90


def test_an_uploads_request_id_follows_its_job_into_the_worker(tmp_path: Path) -> None:
    env = {"ISOMIX_LOG_FORMAT": "json"}
    with serve(tmp_path, env) as served:
        response = httpx.post(
            f"{served.base}/api/projects?variant=preview&expires=1700000000&sig=SIGSERVE42",
            files={"file": ("song.wav", wav_bytes(2.0), "audio/wav")},
            data={"model": "demucs_unittest"},
            headers={"X-Request-ID": REQUEST_ID},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        assert response.headers["x-request-id"] == REQUEST_ID
        project_id = response.json()["id"]
        deadline = time.monotonic() + JOB_SECONDS
        while True:
            status = httpx.get(f"{served.base}/api/projects/{project_id}", timeout=10).json()
            if status["status"] in ("ready", "failed"):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.3)
        assert status["status"] == "ready", status
    lines = served.json_lines()
    output = served.output()
    assert "SIGSERVE42" not in output

    # The API's own lines: uvicorn's access line for the upload, with the id and no signature.
    (access,) = [
        line
        for line in lines
        if line["logger"] == "uvicorn.access" and line.get("method") == "POST"
    ]
    assert access["request_id"] == REQUEST_ID
    assert access["status"] == 202
    assert access["path"].endswith("sig=[redacted]")

    # The worker process's lines about the job: the same request id, the job's ids.
    job_lines = [line for line in lines if line.get("job_id") == project_id]
    messages = [line["message"] for line in job_lines]
    assert any(message.startswith(f"separating project {project_id}") for message in messages)
    assert f"project {project_id} ready" in " ".join(messages), messages
    for line in job_lines:
        assert line["request_id"] == REQUEST_ID
        assert line["project_id"] == project_id
    # Lines that are about no job (the worker starting, the collector) carry no job id.
    assert any(
        line["message"].startswith("embedded worker started") and "job_id" not in line
        for line in lines
    )
