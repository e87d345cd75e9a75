"""A song's whole life through the API with the tiny model and the jobs run in-process."""

from __future__ import annotations

import io
import itertools
import json
import threading
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.support import files_under, row_counts, upload, wav_bytes
from isomix.api.routes import projects as projects_routes
from isomix.audio import io as audio_io
from isomix.db import get_sessionmaker
from isomix.jobs.embedded import drain
from isomix.models import Project, utcnow

FILENAME = "Café – Canção.wav"
STEMS = ["drums", "bass", "other", "vocals"]


def read_events(client: TestClient, project_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with client.stream("GET", f"/api/projects/{project_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                assert kind == "project"
                events.append(json.loads(line.removeprefix("data: ")))
    return events


def decode_bytes(content: bytes, suffix: str, tmp_path: Path) -> np.ndarray:
    path = tmp_path / f"decoded-{len(list(tmp_path.iterdir()))}{suffix}"
    path.write_bytes(content)
    return audio_io.decode(path)


@pytest.fixture
def fast_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projects_routes, "EVENTS_POLL_SECONDS", 0.05)


def test_upload_separate_listen_export_delete(
    client: TestClient, data_dir: Path, tmp_path: Path, song: bytes, fast_events: None
) -> None:
    status, project = upload(client, song, filename=FILENAME, model="demucs_unittest")
    assert status == 202, project
    assert (project["status"], project["queue_position"], project["stems"]) == ("queued", 1, [])
    assert project["filename"] == FILENAME and project["duration_seconds"] == pytest.approx(2.5)
    project_id = str(project["id"])

    not_ready = client.get(f"/api/projects/{project_id}/stems/vocals")
    assert not_ready.status_code == 409 and not_ready.json()["code"] == "not_ready"

    # Follow the events while the job runs in another thread.
    worker = threading.Thread(target=drain)
    worker.start()
    events = read_events(client, project_id)
    worker.join(timeout=300)
    assert not worker.is_alive()
    statuses = [event["status"] for event in events]
    assert statuses[0] in ("queued", "processing") and statuses[-1] == "ready"
    assert "processing" in statuses
    progress = [event["progress"] for event in events]
    assert progress == sorted(progress) and progress[-1] == 100
    assert all(a != b for a, b in itertools.pairwise(events))  # only changes

    # A finished project's stream is its state, once.
    assert [event["status"] for event in read_events(client, project_id)] == ["ready"]

    ready = client.get(f"/api/projects/{project_id}").json()
    assert [stem["name"] for stem in ready["stems"]] == STEMS
    assert ready["queue_position"] is None and ready["eta_seconds"] is None
    vocals_url = ready["stems"][3]["url"]
    assert vocals_url == f"/api/projects/{project_id}/stems/vocals"

    # Masters: FLAC that decodes, with the user's (non-ASCII) name in Content-Disposition.
    masters: dict[str, bytes] = {}
    for stem in ready["stems"]:
        response = client.get(stem["url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/flac"
        disposition = response.headers["content-disposition"]
        assert disposition.startswith("attachment; ")
        encoded = disposition.split("filename*=UTF-8''", 1)[1]
        assert unquote(encoded) == f"Café – Canção - {stem['name']}.flac"
        audio = decode_bytes(response.content, ".flac", tmp_path)
        assert audio.shape[0] == 2 and audio.shape[1] == pytest.approx(2.5 * 44100, abs=2)
        masters[stem["name"]] = response.content
        preview = client.get(stem["preview_url"])
        assert preview.status_code == 200 and preview.headers["content-type"] == "audio/mpeg"

    # Range requests, as the browser's <audio> and download managers send them.
    partial = client.get(vocals_url, headers={"Range": "bytes=100-199"})
    assert partial.status_code == 206
    assert partial.content == masters["vocals"][100:200]
    assert partial.headers["content-range"] == f"bytes 100-199/{len(masters['vocals'])}"
    beyond = client.get(vocals_url, headers={"Range": f"bytes={len(masters['vocals']) + 10}-"})
    assert beyond.status_code == 416
    assert client.get(f"/api/projects/{project_id}/stems/guitar").status_code == 404

    # All stems in one zip, byte for byte the masters.
    archive = client.get(f"/api/projects/{project_id}/stems.zip")
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        assert opened.testzip() is None
        contents = {name: opened.read(name) for name in opened.namelist()}
    assert contents == {f"Café – Canção - {name}.flac": masters[name] for name in STEMS}

    peaks = client.get(f"/api/projects/{project_id}/peaks").json()
    assert sorted(peaks["stems"]) == sorted(STEMS)
    assert all(len(values) == peaks["buckets"] for values in peaks["stems"].values())
    assert all(0 <= value <= 1 for values in peaks["stems"].values() for value in values)

    # Export with everything muted but the vocals: the file is the vocals stem.
    mix = {name: {"mute": name != "vocals"} for name in STEMS}
    response = client.post(
        f"/api/projects/{project_id}/exports",
        json={"format": "wav", "bit_depth": 24, "stems": mix},
    )
    assert response.status_code == 202, response.text
    export = response.json()
    assert drain() == 1
    export = client.get(f"/api/exports/{export['id']}").json()
    assert export["status"] == "ready", export
    download = client.get(export["download_url"])
    assert download.status_code == 200 and download.headers["content-type"] == "audio/wav"
    rendered = decode_bytes(download.content, ".wav", tmp_path)
    vocals = np.clip(decode_bytes(masters["vocals"], ".flac", tmp_path), -1, 1)
    assert rendered.shape == vocals.shape
    np.testing.assert_allclose(rendered, vocals, atol=1e-4)

    # Delete: the row, the upload, the export and (last user gone) the stems.
    assert client.delete(f"/api/projects/{project_id}").status_code == 204
    assert client.get(f"/api/projects/{project_id}").status_code == 404
    assert client.get(f"/api/exports/{export['id']}").status_code == 404
    assert row_counts() == {"projects": 0, "stem_sets": 0, "exports": 0}
    assert files_under(data_dir / "projects") == []
    assert files_under(data_dir / "stems") == []
    assert files_under(data_dir / "exports") == []


def test_a_ready_stem_plays_its_quick_preview_until_the_idle_worker_wrote_the_mp3(
    client: TestClient, tmp_path: Path, song: bytes
) -> None:
    status, project = upload(client, song, filename="song.wav", model="demucs_unittest")
    assert status == 202, project
    assert drain(mp3_previews=False) == 1  # separated; the worker has not been idle yet
    ready = client.get(f"/api/projects/{project['id']}").json()
    assert ready["status"] == "ready"
    vocals = next(stem for stem in ready["stems"] if stem["name"] == "vocals")

    quick = client.get(vocals["preview_url"])
    assert quick.status_code == 200 and quick.headers["content-type"] == "audio/wav"
    assert quick.headers["cache-control"] == "no-store"  # the MP3 will take its place
    assert quick.headers["content-disposition"].endswith("song%20-%20vocals.wav")
    samples = decode_bytes(quick.content, ".wav", tmp_path)
    master = decode_bytes(client.get(vocals["url"]).content, ".flac", tmp_path)
    assert samples.shape == master.shape
    assert np.max(np.abs(samples - master)) < 2 / 32768  # the master at 16 bits
    tail = client.get(vocals["preview_url"], headers={"Range": "bytes=44-"})
    assert tail.status_code == 206 and tail.content == quick.content[44:]
    beyond = client.get(vocals["preview_url"], headers={"Range": f"bytes={len(quick.content)}-"})
    assert beyond.status_code == 416

    assert drain() == 0  # idle: the MP3 previews
    mp3 = client.get(vocals["preview_url"])
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
    decoded = decode_bytes(mp3.content, ".mp3", tmp_path)
    assert abs(decoded.shape[1] - master.shape[1]) < 2048


def test_same_song_shares_stems_until_the_last_project_goes(
    client: TestClient, data_dir: Path, song: bytes
) -> None:
    status, first = upload(client, song, model="demucs_unittest", two_stems="vocals")
    assert status == 202
    assert drain() == 1
    first = client.get(f"/api/projects/{first['id']}").json()
    assert [stem["name"] for stem in first["stems"]] == ["vocals", "no_vocals"]

    # Same bytes and options: the existing project answers, and no second row is made.
    status, again = upload(
        client, song, filename="copy.wav", model="demucs_unittest", two_stems="vocals"
    )
    assert (status, again["id"], again["existing"]) == (200, first["id"], True)
    assert row_counts()["projects"] == 1
    # Once that one is past its expiry (not yet collected), the same upload is a new project
    # sharing its stems: ready at once, no job.
    with get_sessionmaker()() as session, session.begin():
        session.execute(
            update(Project)
            .where(Project.id == first["id"])
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    status, second = upload(
        client, song, filename="copy.wav", model="demucs_unittest", two_stems="vocals"
    )
    assert status == 202 and second["status"] == "ready"
    assert drain() == 0
    # Different options: a separation of its own.
    status, third = upload(client, song, model="demucs_unittest", shifts="0")
    assert status == 202 and third["status"] == "queued"

    stems_before = files_under(data_dir / "stems")
    assert client.delete(f"/api/projects/{first['id']}").status_code == 204
    assert files_under(data_dir / "stems") == stems_before
    vocals = client.get(f"/api/projects/{second['id']}/stems/vocals")
    assert vocals.status_code == 200 and len(vocals.content) > 0

    assert client.delete(f"/api/projects/{second['id']}").status_code == 204
    assert files_under(data_dir / "stems") == []
    assert row_counts()["stem_sets"] == 0
    assert client.delete(f"/api/projects/{third['id']}").status_code == 204
    assert files_under(data_dir / "projects") == []


def test_cancel_and_retry(client: TestClient, fast_events: None) -> None:
    status, project = upload(client, wav_bytes(2.0), model="demucs_unittest")
    assert status == 202
    url = f"/api/projects/{project['id']}"

    retry_queued = client.post(f"{url}/retry")
    assert retry_queued.status_code == 409 and retry_queued.json()["code"] == "conflict"

    cancelled = client.post(f"{url}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["queue_position"] is None
    assert client.post(f"{url}/cancel").json()["status"] == "cancelled"  # idempotent
    assert [event["status"] for event in read_events(client, str(project["id"]))] == ["cancelled"]
    assert drain() == 0  # a cancelled project is not run

    retried = client.post(f"{url}/retry")
    assert retried.status_code == 202
    assert (retried.json()["status"], retried.json()["queue_position"]) == ("queued", 1)
    assert drain() == 1
    assert client.get(url).json()["status"] == "ready"

    for action in ("cancel", "retry"):
        response = client.post(f"{url}/{action}")
        assert response.status_code == 409 and response.json()["code"] == "conflict"
