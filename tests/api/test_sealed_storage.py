"""A song's life with the data directory sealed (ISOMIX_ENCRYPTION_KEY): every file under
the data directory is sealed and none starts like audio, downloads (Range included), the zip,
the peaks and exports read the same audio as without encryption, a wrong key is an error
rather than noise, and `isomix keys rotate` moves every file to a new key without touching
its audio chunks."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.support import SetEnv, upload, wav_bytes
from isomix import sealed
from isomix.cli import main as isomix_main
from isomix.jobs.embedded import drain

STEMS = ["drums", "bass", "other", "vocals"]
AUDIO_MAGIC = (b"RIFF", b"fLaC", b"ID3", b"OggS", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
NOT_STORED_FILES = {".secret_key"}  # and the database's files (isomix.db*)


def stored_files(data_dir: Path) -> list[Path]:
    return [
        path
        for path in data_dir.rglob("*")
        if path.is_file()
        and path.name not in NOT_STORED_FILES
        and not path.name.startswith("isomix.db")
        and "models" not in path.relative_to(data_dir).parts
    ]


@pytest.fixture
def key(set_env: SetEnv) -> str:
    value = sealed.generate_key()
    set_env(encryption_key=value)
    return value


def test_a_sealed_data_directory_serves_the_same_audio(
    key: str, client: TestClient, data_dir: Path, set_env: SetEnv, tmp_path: Path
) -> None:
    status, project = upload(client, wav_bytes(2.5), filename="Song.wav", model="demucs_unittest")
    assert status == 202, project
    assert drain(mp3_previews=False) == 1
    ready = client.get(f"/api/projects/{project['id']}").json()
    assert ready["status"] == "ready"
    vocals = ready["stems"][3]

    quick = client.get(vocals["preview_url"])  # the 16-bit WAV until the MP3 exists
    assert quick.status_code == 200 and quick.content.startswith(b"RIFF")
    assert drain() == 0  # MP3 previews, sealed too
    master = client.get(vocals["url"])
    assert master.status_code == 200 and master.content.startswith(b"fLaC")
    part = client.get(vocals["url"], headers={"Range": "bytes=70000-70099"})
    assert part.status_code == 206 and part.content == master.content[70000:70100]
    assert part.headers["content-range"] == f"bytes 70000-70099/{len(master.content)}"
    beyond = client.get(vocals["url"], headers={"Range": f"bytes={len(master.content)}-"})
    assert beyond.status_code == 416
    mp3 = client.get(vocals["preview_url"])
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
    archive = client.get(f"/api/projects/{project['id']}/stems.zip")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        assert opened.read("Song - vocals.flac") == master.content
    assert sorted(client.get(f"/api/projects/{project['id']}/peaks").json()["stems"]) == sorted(
        STEMS
    )
    response = client.post(f"/api/projects/{project['id']}/exports", json={"format": "flac"})
    assert response.status_code == 202
    assert drain() == 1
    export = client.get(f"/api/exports/{response.json()['id']}").json()
    assert client.get(export["download_url"]).content.startswith(b"fLaC")

    # Upload, masters, previews, peaks, export: all sealed, none readable as audio.
    files = stored_files(data_dir)
    assert len(files) >= 1 + 2 * len(STEMS) + 1 + 1
    for path in files:
        head = path.read_bytes()[:8]
        assert sealed.is_sealed(path), path
        assert not head.startswith(AUDIO_MAGIC), path

    # Rotation: a new key, the old one kept only until `isomix keys rotate` has run.
    chunks_before = {path: path.read_bytes()[sealed.HEADER_SIZE :] for path in files}
    new_key = sealed.generate_key()
    set_env(encryption_key=new_key, previous_encryption_keys=key)
    assert isomix_main(["keys", "rotate"]) == 0
    assert {path: path.read_bytes()[sealed.HEADER_SIZE :] for path in files} == chunks_before
    set_env(encryption_key=new_key, previous_encryption_keys="")
    assert client.get(vocals["url"]).content == master.content

    # A key that opens nothing: a clear error, never noise.
    set_env(encryption_key=sealed.generate_key(), previous_encryption_keys="")
    refused = client.get(vocals["url"])
    assert refused.status_code == 500
    assert refused.json()["code"] == "stored_file_unreadable"
