"""Progressive separation through the worker and the API: parts appear, grow and play while
the project processes; the final stems are unchanged; the parts go when the job ends."""

from __future__ import annotations

import io
import random
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.support import SetEnv, upload
from isomix import storage
from isomix.audio.io import decode
from isomix.audio.writers import to_int
from isomix.jobs import cleanup, outputs, previews, progressive, tasks
from isomix.jobs.progressive import FRAME_BYTES, PartWriter
from isomix.separation import engine as engine_module
from isomix.separation.base import AudioArray, SeparationOptions, two_stems

RATE = 44100
MODEL = "demucs_unittest"  # 40 s segments, 30 s apart: a 75 s song comes in 3 parts
SECONDS = 75.0


def song_bytes(seconds: float = SECONDS) -> bytes:
    """A 16-bit stereo WAV of tones and noise (numpy: long songs are quick to make)."""
    frames = int(seconds * RATE)
    time = np.arange(frames) / RATE
    generator = np.random.default_rng(7)
    left = 0.3 * np.sin(2 * np.pi * 220 * time) + 0.05 * generator.standard_normal(frames)
    right = 0.3 * np.sin(2 * np.pi * 330 * time) + 0.05 * generator.standard_normal(frames)
    pcm = (np.stack([left, right], axis=1) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def song() -> bytes:
    return song_bytes()


@pytest.fixture(autouse=True)
def publish_every_part(monkeypatch: pytest.MonkeyPatch) -> None:
    # demucs_unittest's parts come faster than once a second; no test depends on timing.
    monkeypatch.setattr(progressive, "PUBLISH_INTERVAL_SECONDS", 0.0)


@dataclass
class Seen:
    """What the API answered after each part the worker published."""

    ready_seconds: list[float] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    wavs: list[dict[str, bytes]] = field(default_factory=list)
    pcm_at_end: dict[str, bytes] = field(default_factory=dict)
    stems: dict[str, AudioArray] = field(default_factory=dict)


class Observed:
    """Wraps the real engine: after the worker handled each part, `after_part` runs."""

    def __init__(self, inner: Any, after_part: Callable[[int, int], None]) -> None:
        self._inner = inner
        self._after_part = after_part

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def separate(
        self, mix: Any, options: Any, progress: Any = None, on_part: Any = None
    ) -> dict[str, AudioArray]:
        def observed(start: int, part: dict[str, AudioArray]) -> None:
            on_part(start, part)
            self._after_part(start + next(iter(part.values())).shape[-1], mix.shape[-1])

        return self._inner.separate(  # type: ignore[no-any-return]
            mix, options, progress=progress, on_part=observed if on_part else None
        )


@pytest.fixture
def observe(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[int, int], None]], None]:
    real = engine_module.get_engine

    def install(after_part: Callable[[int, int], None]) -> None:
        monkeypatch.setattr(
            engine_module, "get_engine", lambda *a, **k: Observed(real(*a, **k), after_part)
        )

    return install


@pytest.fixture
def recorded_stems(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, AudioArray]]:
    stems: dict[str, AudioArray] = {}
    real = outputs.write_stem_set

    def record(directory: Path, written: Any, *args: Any, **kwargs: Any) -> Any:
        stems.update({name: np.array(audio) for name, audio in written.items()})
        return real(directory, written, *args, **kwargs)

    monkeypatch.setattr(outputs, "write_stem_set", record)
    yield stems


def body_of(client: TestClient, project_id: str) -> dict[str, Any]:
    response = client.get(f"/api/projects/{project_id}")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def frames_of(wav_body: bytes) -> tuple[int, bytes]:
    with wave.open(io.BytesIO(wav_body)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (
            2,
            2,
            RATE,
        )
        count = reader.getnframes()
        return count, reader.readframes(count)


def partial_folders(project_id: str) -> list[Path]:
    root = storage.resolve(storage.partial_root(project_id))
    return sorted(root.iterdir()) if root.exists() else []


def run(project_id: str, seed: int = 0) -> None:
    random.seed(seed)
    tasks.run_separation(project_id, worker_id="w1")


@pytest.mark.parametrize("two", [None, "vocals"])
def test_parts_play_while_processing_and_the_stems_do_not_change(
    client: TestClient,
    song: bytes,
    observe: Callable[[Callable[[int, int], None]], None],
    recorded_stems: dict[str, AudioArray],
    two: str | None,
) -> None:
    fields = {"model": MODEL, **({"two_stems": two} if two else {})}
    status, created = upload(client, song, **fields)
    assert status == 202 and created["ready_seconds"] is None
    project_id = str(created["id"])
    seen = Seen()

    def after_part(end: int, total: int) -> None:
        body = body_of(client, project_id)
        assert body["status"] == "processing"
        seen.bodies.append(body)
        seen.ready_seconds.append(body["ready_seconds"])
        wavs = {}
        for stem in body["stems"]:
            assert stem["url"] is None
            response = client.get(stem["preview_url"])
            assert response.status_code == 200
            assert response.headers["content-type"] == "audio/wav"
            assert response.headers["cache-control"] == "no-store"
            wavs[stem["name"]] = response.content
        seen.wavs.append(wavs)
        if end == total:
            (folder,) = partial_folders(project_id)
            seen.pcm_at_end.update({name: (folder / f"{name}.pcm").read_bytes() for name in wavs})

    observe(after_part)
    run(project_id)

    names = ["vocals", "no_vocals"] if two else ["drums", "bass", "other", "vocals"]
    assert len(seen.bodies) == 3
    assert all(sorted(s["name"] for s in b["stems"]) == sorted(names) for b in seen.bodies)
    assert all(b["peaks_url"] is None and b["stems_zip_url"] is None for b in seen.bodies)
    assert seen.ready_seconds == sorted(seen.ready_seconds) and seen.ready_seconds[0] > 0
    assert seen.ready_seconds[-1] == pytest.approx(SECONDS)
    for ready, wavs in zip(seen.ready_seconds, seen.wavs, strict=True):
        for body in wavs.values():
            frames, _ = frames_of(body)
            assert frames == round(ready * RATE)
    # A part once served never changes: each WAV starts with the previous one's frames.
    for name in names:
        bodies = [frames_of(wavs[name])[1] for wavs in seen.wavs]
        for before, after in pairwise(bodies):
            assert after[: len(before)] == before

    # Ready: the same stems as without progressive output, and the parts were exactly them.
    final = body_of(client, project_id)
    assert final["status"] == "ready" and final["ready_seconds"] == pytest.approx(SECONDS)
    assert partial_folders(project_id) == []
    # Ready: each stem's quick preview is the whole stem as the same 16-bit samples the parts
    # were, until the worker, idle, has encoded the MP3.
    first = final["stems"][0]
    preview = client.get(first["preview_url"])
    assert preview.headers["content-type"] == "audio/wav"
    assert frames_of(preview.content)[1] == frames_of(seen.wavs[-1][first["name"]])[1]
    assert previews.encode_next()
    assert client.get(first["preview_url"]).headers["content-type"] == "audio/mpeg"
    model = engine_module.get_engine(MODEL)
    random.seed(0)
    mix = decode(storage.resolve(f"projects/{project_id}/original.wav"), sample_rate=RATE)
    expected = model.separate(mix, SeparationOptions(shifts=1))
    if two:
        expected = two_stems(expected, two)
    assert sorted(recorded_stems) == sorted(names)
    for name in names:
        assert np.array_equal(recorded_stems[name], expected[name])
        pcm = to_int(np.clip(expected[name], -1.0, 1.0), 16).T.astype("<i2").tobytes()
        assert seen.pcm_at_end[name] == pcm


def test_range_requests_fetch_only_what_is_new(
    client: TestClient, song: bytes, observe: Callable[[Callable[[int, int], None]], None]
) -> None:
    _, created = upload(client, song, model=MODEL)
    project_id = str(created["id"])
    held: dict[str, bytes] = {}
    answers: list[int] = []

    def after_part(end: int, total: int) -> None:
        body = body_of(client, project_id)
        url = next(s["preview_url"] for s in body["stems"] if s["name"] == "drums")
        if not held:
            held["wav"] = client.get(url).content
            return
        have = frames_of(held["wav"])[0]
        start = 44 + FRAME_BYTES * have
        response = client.get(url, headers={"Range": f"bytes={start}-"})
        answers.append(response.status_code)
        assert response.status_code == 206
        size = 44 + FRAME_BYTES * round(body["ready_seconds"] * RATE)
        assert response.headers["content-range"] == f"bytes {start}-{size - 1}/{size}"
        whole = client.get(url).content
        assert whole[44:start] == held["wav"][44:]
        assert whole[start:] == response.content
        held["wav"] = whole
        past = client.get(url, headers={"Range": f"bytes={size}-"})
        assert past.status_code == 416
        assert past.headers["content-range"] == f"bytes */{size}"

    observe(after_part)
    run(project_id)
    assert answers == [206, 206]


def test_cancelled_and_failed_jobs_leave_no_parts(
    client: TestClient, song: bytes, observe: Callable[[Callable[[int, int], None]], None]
) -> None:
    _, cancelled = upload(client, song, model=MODEL)
    cancelled_id = str(cancelled["id"])
    _, failing = upload(client, song, model=MODEL, two_stems="vocals")
    failing_id = str(failing["id"])
    current: dict[str, str] = {}

    def after_part(end: int, total: int) -> None:
        assert len(partial_folders(current["id"])) == 1
        if current["id"] == cancelled_id:
            assert client.post(f"/api/projects/{cancelled_id}/cancel").status_code == 200
        else:
            raise RuntimeError("the model broke")

    observe(after_part)
    for project_id in (cancelled_id, failing_id):
        current["id"] = project_id
        run(project_id)
        assert partial_folders(project_id) == []
    assert body_of(client, cancelled_id)["status"] == "cancelled"
    failed = body_of(client, failing_id)
    assert failed["status"] == "failed" and failed["ready_seconds"] is None
    assert failed["stems"] == []


@pytest.mark.parametrize("setting", ["off", "shifts"])
def test_no_parts_when_off_or_multi_pass(
    client: TestClient,
    song: bytes,
    set_env: SetEnv,
    observe: Callable[[Callable[[int, int], None]], None],
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
) -> None:
    if setting == "off":
        set_env(progressive="false")
    _, created = upload(client, song, model=MODEL, shifts="2" if setting == "shifts" else "1")
    project_id = str(created["id"])
    parts: list[int] = []
    observe(lambda end, total: parts.append(end))
    seen: list[dict[str, Any]] = []
    real_progress = tasks.LeaseKeeper.progress

    def progress(self: Any, percent: float, **kwargs: Any) -> None:
        real_progress(self, percent, **kwargs)
        seen.append(body_of(client, project_id))

    monkeypatch.setattr(tasks.LeaseKeeper, "progress", progress)
    run(project_id)
    assert parts == []
    processing = [body for body in seen if body["status"] == "processing"]
    assert processing and all(b["ready_seconds"] is None for b in processing)
    assert all(b["stems"] == [] for b in processing)
    assert body_of(client, project_id)["status"] == "ready"


def test_collector_removes_parts_of_dead_jobs_only(client: TestClient, song: bytes) -> None:
    _, created = upload(client, song, model=MODEL)
    project_id = str(created["id"])
    from isomix.jobs import lease
    from isomix.models import Project

    assert lease.claim(Project, project_id, worker_id="alive") is lease.Claim.claimed
    for worker in ("alive", "dead"):
        folder = storage.resolve(storage.partial_dir(project_id, worker))
        folder.mkdir(parents=True)
        (folder / "drums.pcm").write_bytes(b"\0" * 8)
    cleanup.run_cleanup()
    assert partial_folders(project_id) == [
        storage.resolve(storage.partial_dir(project_id, "alive"))
    ]
    lease.fail(Project, project_id, worker_id="alive", reason="gone")
    cleanup.run_cleanup()
    assert partial_folders(project_id) == []


def test_part_writer_announces_only_what_is_on_disk(
    client: TestClient, song: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progressive, "PUBLISH_INTERVAL_SECONDS", 1.0)
    monkeypatch.setattr(progressive, "PUBLISH_AUDIO_SECONDS", 250 / RATE)
    _, created = upload(client, song, model=MODEL)
    project_id = str(created["id"])
    from isomix.jobs import lease
    from isomix.models import Project

    assert lease.claim(Project, project_id, worker_id="w") is lease.Claim.claimed
    announced: list[tuple[float, int]] = []
    real_renew = lease.renew

    def renew(*args: Any, **values: Any) -> bool:
        if "ready_seconds" in values:
            size = (storage.resolve(storage.partial_dir(project_id, "w")) / "a.pcm").stat()
            announced.append((values["ready_seconds"], size.st_size // FRAME_BYTES))
        return real_renew(*args, **values)

    monkeypatch.setattr(lease, "renew", renew)
    clock = iter([0.0, 0.5, 0.6, 2.1]).__next__
    with lease.LeaseKeeper(Project, project_id, worker_id="w") as keeper:
        writer = PartWriter(keeper, RATE, clock=clock)
        for start in (0, 100, 300, 600):
            length = {0: 100, 100: 200, 300: 300, 600: 50}[start]
            part = np.full((2, length), 0.5, np.float32)
            writer.add(start, {"a": part, "b": -part})
        writer.publish()
        writer.close()
    # The first part at once; 200 frames 0.5 s later wait; 300 more (past 250 frames) go at
    # once; the last 50, 1.5 s later, too; every announcement covered by the file.
    assert [seconds * RATE for seconds, _ in announced] == pytest.approx([100, 600, 650])
    assert all(seconds * RATE <= on_disk for seconds, on_disk in announced)
    assert body_of(client, project_id)["ready_seconds"] == pytest.approx(650 / RATE)
    with pytest.raises(ValueError, match="does not follow"):
        writer.add(10, {"a": part, "b": part})


def test_parts_follow_the_owner_and_the_signed_link_in_accounts_mode(
    set_env: SetEnv, client: TestClient, song: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.accounts_support import bearer, fresh_rate_limits, make_user
    from isomix.jobs import lease
    from isomix.models import Project

    set_env(auth_mode="accounts")
    fresh_rate_limits(monkeypatch)
    ann, bob = make_user("ann@example.com", plan="pro"), make_user("bob@example.com")
    response = client.post(
        "/api/projects",
        files={"file": ("song.wav", song, "audio/wav")},
        data={"model": MODEL},
        headers=bearer(ann),
    )
    assert response.status_code == 202
    project_id = response.json()["id"]
    assert lease.claim(Project, project_id, worker_id="w") is lease.Claim.claimed
    with lease.LeaseKeeper(Project, project_id, worker_id="w") as keeper:
        writer = PartWriter(keeper, RATE)
        part = np.full((2, RATE), 0.25, np.float32)
        writer.add(0, {"vocals": part, "no_vocals": -part})
        writer.close()
    body = client.get(f"/api/projects/{project_id}", headers=bearer(ann)).json()
    assert body["ready_seconds"] == pytest.approx(1.0)
    link = next(s["preview_url"] for s in body["stems"] if s["name"] == "vocals")
    assert "sig=" in link  # a signed link
    signed = client.get(link)  # no credentials: the signature is enough
    assert signed.status_code == 200 and frames_of(signed.content)[0] == RATE
    path = f"/api/projects/{project_id}/stems/vocals?variant=preview"
    assert client.get(path, headers=bearer(ann)).status_code == 200
    assert client.get(path, headers=bearer(bob)).status_code == 404
    assert client.get(path).status_code == 401
    bob_body = client.get(f"/api/projects/{project_id}", headers=bearer(bob))
    assert bob_body.status_code == 404
