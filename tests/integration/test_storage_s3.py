"""A song's whole life with its files in an S3 bucket (moto's server, spoken to over HTTP):
the upload, the stems, previews, peaks and exports all in the bucket with server-side
encryption, nothing under the data directory but the database, downloads by presigned URL
(Range included), deletions that the store refuses kept and retried, orphans swept."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from api.support import upload, wav_bytes
from fastapi.testclient import TestClient
from integration.conftest import free_port, unavailable
from s3_server import S3Server, running_s3_server
from sqlalchemy import select

from isomix.api.app import create_app
from isomix.audio import io as audio_io
from isomix.config import get_settings
from isomix.db import get_sessionmaker, reset_engines
from isomix.jobs import cleanup
from isomix.jobs.embedded import drain
from isomix.migrate import ensure_schema
from isomix.models import BlobDeletion, Export, StemSet, utcnow

pytestmark = pytest.mark.integration

BUCKET = "isomix-journey"
PREFIX = "studio"
STEMS = ["drums", "bass", "other", "vocals"]


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    try:
        with running_s3_server() as server:
            server.create_bucket(BUCKET)
            yield server
    except RuntimeError as error:
        unavailable(str(error))


@pytest.fixture
def s3_client(
    s3: S3Server, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    for name, value in {**s3.env(BUCKET, PREFIX), "ISOMIX_S3_SSE": "AES256"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reset_engines()
    ensure_schema()
    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        yield client
    reset_engines()
    get_settings.cache_clear()
    _empty_bucket(s3)


def _empty_bucket(s3: S3Server) -> None:
    client = s3.client()
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])


def bucket_keys(s3: S3Server) -> dict[str, int]:
    listed = s3.client().list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/")
    return {
        item["Key"].removeprefix(f"{PREFIX}/"): item["Size"] for item in listed.get("Contents", [])
    }


def fetch(client: TestClient, url: str, **headers: str) -> httpx.Response:
    """GET through the API; a redirect to the bucket is followed over the network."""
    response = client.get(url, follow_redirects=False)
    if response.status_code != 307:
        return response
    assert response.headers["cache-control"] == "no-store"
    return httpx.get(response.headers["location"], headers=headers)


def decode(content: bytes, suffix: str, tmp_path: Path) -> Any:
    path = tmp_path / f"decoded-{len(list(tmp_path.iterdir()))}{suffix}"
    path.write_bytes(content)
    return audio_io.decode(path)


def test_a_song_lives_in_the_bucket_from_upload_to_deletion(
    s3: S3Server, s3_client: TestClient, data_dir: Path, tmp_path: Path
) -> None:
    client = s3_client
    status, project = upload(client, wav_bytes(2.5), filename="Song.wav", model="demucs_unittest")
    assert status == 202, project
    project_id = str(project["id"])
    upload_key = f"projects/{project_id}/original.wav"
    assert list(bucket_keys(s3)) == [upload_key]
    head = s3.client().head_object(Bucket=BUCKET, Key=f"{PREFIX}/{upload_key}")
    assert head["ServerSideEncryption"] == "AES256"

    assert drain(mp3_previews=False) == 1
    ready = client.get(f"/api/projects/{project_id}").json()
    assert ready["status"] == "ready", ready
    with get_sessionmaker()() as db:
        stem_set = db.scalars(select(StemSet)).one()
    keys = bucket_keys(s3)
    quick = {f"{stem_set.directory}/{name}.wav" for name in STEMS}
    masters = {f"{stem_set.directory}/{name}.flac" for name in STEMS}
    assert masters | quick | {f"{stem_set.directory}/peaks.json"} <= set(keys)
    assert stem_set.stored_bytes == sum(
        size for key, size in keys.items() if key.startswith(stem_set.directory + "/")
    )

    # Before the MP3s: the quick WAV preview, by a presigned URL, Range included.
    vocals = ready["stems"][3]
    wav = fetch(client, vocals["preview_url"])
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    tail = fetch(client, vocals["preview_url"], Range="bytes=44-143")
    assert tail.status_code == 206 and tail.content == wav.content[44:144]

    assert drain() == 0  # the MP3 previews
    keys = bucket_keys(s3)
    assert not quick & set(keys)
    assert {f"{stem_set.directory}/{name}.mp3" for name in STEMS} <= set(keys)
    with get_sessionmaker()() as db:
        stem_set = db.scalars(select(StemSet)).one()
    assert stem_set.stored_bytes == sum(
        size for key, size in keys.items() if key.startswith(stem_set.directory + "/")
    )
    mp3 = fetch(client, vocals["preview_url"])
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"

    master = fetch(client, vocals["url"])
    assert master.status_code == 200
    assert 'filename="Song - vocals.flac"' in master.headers["content-disposition"]
    part = fetch(client, vocals["url"], Range="bytes=100-199")
    assert part.status_code == 206 and part.content == master.content[100:200]
    assert decode(master.content, ".flac", tmp_path).shape[0] == 2

    archive = client.get(f"/api/projects/{project_id}/stems.zip")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        assert opened.read("Song - vocals.flac") == master.content
    peaks = client.get(f"/api/projects/{project_id}/peaks").json()
    assert sorted(peaks["stems"]) == sorted(STEMS)

    # An export is rendered from the bucket's masters into the bucket.
    mix = {name: {"mute": name != "vocals"} for name in STEMS}
    response = client.post(
        f"/api/projects/{project_id}/exports", json={"format": "wav", "stems": mix}
    )
    assert response.status_code == 202, response.text
    assert drain() == 1
    export = client.get(f"/api/exports/{response.json()['id']}").json()
    assert export["status"] == "ready", export
    rendered = fetch(client, export["download_url"])
    assert rendered.status_code == 200
    vocals_audio = np.clip(decode(master.content, ".flac", tmp_path), -1, 1)
    np.testing.assert_allclose(decode(rendered.content, ".wav", tmp_path), vocals_audio, atol=1e-4)
    with get_sessionmaker()() as db:
        (row,) = db.scalars(select(Export)).all()
        assert row.stored_bytes == bucket_keys(s3)[f"exports/{row.id}.wav"]

    # Nothing but the database under the data directory: the bucket holds every file.
    assert (
        sorted(
            path.relative_to(data_dir).as_posix()
            for path in data_dir.rglob("*")
            if path.is_file()
            and not path.name.startswith("isomix.db")
            and path.name != ".secret_key"
        )
        == []
    )

    # Deleting the project removes every object: upload, export, stems.
    assert client.delete(f"/api/projects/{project_id}").status_code == 204
    assert bucket_keys(s3) == {}
    with get_sessionmaker()() as db:
        assert db.scalars(select(BlobDeletion)).all() == []


def test_a_deletion_the_store_refuses_is_kept_and_retried(
    s3: S3Server, s3_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, project = upload(s3_client, wav_bytes(1.0), model="demucs_unittest")
    assert status == 202
    key = f"projects/{project['id']}/original.wav"
    assert key in bucket_keys(s3)
    # The store is unreachable while the project is deleted: the row goes, the file stays,
    # and its deletion is remembered with the reason.
    monkeypatch.setenv("ISOMIX_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    assert s3_client.delete(f"/api/projects/{project['id']}").status_code == 204
    assert key in bucket_keys(s3)
    with get_sessionmaker()() as db:
        (pending,) = db.scalars(select(BlobDeletion)).all()
    assert pending.key == f"projects/{project['id']}/" and pending.attempts == 1
    assert pending.last_error
    # Back: the collector's next run deletes it (not before its retry time).
    monkeypatch.setenv("ISOMIX_S3_ENDPOINT_URL", s3.endpoint_url)
    get_settings.cache_clear()
    cleanup.run_cleanup()
    assert key in bucket_keys(s3)
    cleanup.run_cleanup(now=utcnow() + timedelta(minutes=5))
    assert key not in bucket_keys(s3)
    with get_sessionmaker()() as db:
        assert db.scalars(select(BlobDeletion)).all() == []


def test_the_collector_sweeps_objects_no_row_accounts_for(
    s3: S3Server, s3_client: TestClient
) -> None:
    status, _ = upload(s3_client, wav_bytes(1.0), model="demucs_unittest")
    assert status == 202
    assert drain() == 1
    owned = set(bucket_keys(s3))
    client = s3.client()
    orphans = {
        "stems/0000-gone/vocals.flac",
        "exports/1111-gone.mp3",
        "projects/2222-gone/original.wav",
    }
    for key in orphans:
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}", Body=b"x")
    cleanup.run_cleanup()  # too young: an upload reaches the store before its row
    assert set(bucket_keys(s3)) == owned | orphans
    plan = cleanup.plan_cleanup(now=utcnow() + timedelta(hours=2))
    assert {item.id for item in plan.removed_paths} == orphans
    report = cleanup.run_cleanup(now=utcnow() + timedelta(hours=2))
    assert report.removed_paths == 3
    assert set(bucket_keys(s3)) == owned


def test_parts_of_a_running_separation_play_from_the_bucket(
    s3: S3Server, s3_client: TestClient
) -> None:
    """Progressive output with a bucket: each part is its own object, written before the row
    announces it, served by the API (on any machine) as one growing WAV with Range."""
    from isomix.jobs import lease, progressive
    from isomix.models import Project

    rate = 44100
    status, project = upload(s3_client, wav_bytes(2.0), model="demucs_unittest")
    assert status == 202
    project_id = str(project["id"])
    assert lease.claim(Project, project_id, worker_id="w") is lease.Claim.claimed
    with lease.LeaseKeeper(Project, project_id, worker_id="w") as keeper:
        writer = progressive.PartWriter(keeper, rate)
        first = np.full((2, rate), 0.25, np.float32)
        second = np.full((2, rate // 2), -0.5, np.float32)
        writer.add(0, {"vocals": first, "no_vocals": -first})
        writer.add(rate, {"vocals": second, "no_vocals": -second})
        writer.publish()
        writer.close()
        parts_prefix = f"projects/{project_id}/partial/"
        segments = sorted(key for key in bucket_keys(s3) if key.startswith(parts_prefix))
        assert [key.rpartition("/")[2] for key in segments if "/vocals/" in key] == [
            f"{0:012d}.pcm",
            f"{rate:012d}.pcm",
        ]
        body = s3_client.get(f"/api/projects/{project_id}").json()
        assert body["ready_seconds"] == pytest.approx(1.5)
        vocals = next(stem for stem in body["stems"] if stem["name"] == "vocals")
        whole = s3_client.get(vocals["preview_url"])
        assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
        samples = np.frombuffer(whole.content[44:], "<i2").reshape(-1, 2)
        assert samples.shape[0] == rate * 3 // 2
        assert abs(samples[0, 0] - 0.25 * 32768) <= 1 and abs(samples[-1, 0] + 0.5 * 32768) <= 1
        # A client holding the first second asks for the rest only.
        tail = s3_client.get(vocals["preview_url"], headers={"Range": f"bytes={44 + 4 * rate}-"})
        assert tail.status_code == 206 and tail.content == whole.content[44 + 4 * rate :]
        # Another worker's leftovers are swept; the lease holder's parts are not.
        stale = f"projects/{project_id}/partial/0123456789abcdef/vocals/{0:012d}.pcm"
        s3.client().put_object(Bucket=BUCKET, Key=f"{PREFIX}/{stale}", Body=b"\0" * 4)
        cleanup.run_cleanup()
        keys = bucket_keys(s3)
        assert stale not in keys and set(segments) <= set(keys)
    # The job ends (however it ends), its parts go.
    progressive.remove_parts(project_id, "w")
    assert not [key for key in bucket_keys(s3) if key.startswith(parts_prefix)]
