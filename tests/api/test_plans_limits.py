"""What the plans allow (accounts mode): upload size and length, models, shifts, export
formats and bitrates, lossless masters, the daily upload limit and its reservation (given
back by refusals, duplicates and cancellations; exact under a race), plan expiry, retention,
and the plans file's errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.accounts_support import (
    Response,
    bearer,
    check_upload_race,
    distinct_wav,
    files_of,
    fresh_rate_limits,
    make_user,
    plan_name,
    ready_project,
    upload_as,
    uploads_today,
)
from api.support import SetEnv, wav_bytes
from isomix import plans
from isomix.accounts import users
from isomix.config import Settings, get_settings
from isomix.db import get_sessionmaker
from isomix.models import User, utcnow

SMALL = distinct_wav(1)  # 0.2 s, 3 kB


@pytest.fixture
def accounts(set_env: SetEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(auth_mode="accounts")
    fresh_rate_limits(monkeypatch)


def plans_file(tmp_path: Path, set_env: SetEnv, text: str) -> Path:
    path = tmp_path / "plans.toml"
    path.write_text(text, encoding="utf-8")
    set_env(plans_file=path)
    return path


def refused(response: Response, status: int, limit: str, plan: str = "free") -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    assert body["limit"] == limit and body["plan"] == plan, body
    if plan == "free":
        assert body["upgrade"] == "Pro lifts it: see Account (upgrade)."
    return body


def next_midnight() -> datetime:
    return (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )


def stored_uploads(data_dir: Path) -> dict[str, int]:
    return files_of(data_dir / "projects")


# ---------------------------------------------------------------- upload limits


def test_a_file_over_the_plans_size_is_413(
    accounts: None, set_env: SetEnv, client: TestClient, tmp_path: Path, data_dir: Path
) -> None:
    plans_file(tmp_path, set_env, "[free]\nmax_upload_mb = 0.05\n")
    user = make_user("ann@example.com")
    big = wav_bytes(2.0, rate=22050, channels=1)  # 88 kB
    assert len(big) > 50_000
    body = refused(upload_as(client, bearer(user), big, model="classic"), 413, "max_upload_mb")
    assert body["code"] == "too_large" and body["value"] == 0.05
    assert uploads_today(user) == 0  # the reservation was given back
    assert stored_uploads(data_dir) == {}
    assert upload_as(client, bearer(user), SMALL, model="classic").status_code == 202


def test_a_song_over_the_plans_length_is_422(
    accounts: None, set_env: SetEnv, client: TestClient, tmp_path: Path, data_dir: Path
) -> None:
    # 0.06 s (the probe grants a quarter of a second of grace: a 1 s song is over it).
    plans_file(tmp_path, set_env, "[free]\nmax_duration_minutes = 0.001\n")
    user = make_user("ann@example.com")
    song = distinct_wav(1, seconds=1.0)
    body = refused(
        upload_as(client, bearer(user), song, model="classic"), 422, "max_duration_minutes"
    )
    assert body["code"] == "too_long" and body["value"] == 0.001
    assert uploads_today(user) == 0
    assert stored_uploads(data_dir) == {}


def test_a_model_outside_the_plan_is_403_before_the_file_is_stored(
    accounts: None, set_env: SetEnv, client: TestClient, tmp_path: Path, data_dir: Path
) -> None:
    # The file is over the size limit too: answered 403 for the model, not 413, because the
    # model field came first and was checked before a byte of the file was written.
    plans_file(tmp_path, set_env, "[free]\nmax_upload_mb = 0.05\n")
    user = make_user("ann@example.com")
    big = wav_bytes(1.0, rate=22050, channels=1)
    body = refused(upload_as(client, bearer(user), big, model="demucs_unittest"), 403, "models")
    assert body["code"] == "not_in_plan" and body["value"] == "demucs_unittest"
    assert "htdemucs, classic" in str(body["detail"])
    assert uploads_today(user) == 0
    assert stored_uploads(data_dir) == {}


def test_more_shifts_than_the_plan_allows_is_403(
    accounts: None, client: TestClient, data_dir: Path
) -> None:
    user = make_user("ann@example.com")
    body = refused(
        upload_as(client, bearer(user), SMALL, model="classic", shifts="2"), 403, "max_shifts"
    )
    assert body["value"] == 2
    assert uploads_today(user) == 0
    assert stored_uploads(data_dir) == {}
    assert upload_as(client, bearer(user), SMALL, model="classic", shifts="1").status_code == 202


def test_the_default_model_must_be_in_the_plan_too(
    accounts: None, set_env: SetEnv, client: TestClient
) -> None:
    set_env(default_model="demucs_unittest")
    user = make_user("ann@example.com")
    refused(upload_as(client, bearer(user), SMALL), 403, "models")
    assert uploads_today(user) == 0


# ---------------------------------------------------------------- exports and masters


def test_free_exports_mp3_up_to_192_kbps(accounts: None, client: TestClient) -> None:
    user = make_user("ann@example.com")
    project = ready_project(user)
    url = f"/api/projects/{project}/exports"
    as_ann = bearer(user)
    for request, limit in (
        ({"format": "wav"}, "export_formats"),
        ({"format": "flac"}, "export_formats"),
        ({"format": "mp3", "bitrate": 320}, "max_mp3_kbps"),
        ({"format": "mp3", "bitrate": 256}, "max_mp3_kbps"),
    ):
        body = refused(client.post(url, json=request, headers=as_ann), 403, limit)
        assert body["code"] == "not_in_plan"
    accepted = client.post(url, json={"format": "mp3", "bitrate": 192}, headers=as_ann)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["bitrate"] == 192
    default = client.post(url, json={"format": "mp3"}, headers=as_ann)  # 192 kbps by default
    assert default.status_code == 202 and default.json()["bitrate"] == 192


def test_free_gets_previews_but_not_the_lossless_masters(
    accounts: None, client: TestClient
) -> None:
    user = make_user("ann@example.com")
    project = ready_project(user)
    as_ann = bearer(user)
    body = client.get(f"/api/projects/{project}", headers=as_ann).json()
    assert body["stems_zip_url"] is None
    assert [stem["url"] for stem in body["stems"]] == [None, None]
    listed = client.get("/api/projects", headers=as_ann).json()["items"][0]
    assert listed["stems_zip_url"] is None and listed["stems"][0]["url"] is None

    master = client.get(f"/api/projects/{project}/stems/vocals", headers=as_ann)
    refused(master, 403, "export_formats")
    zipped = client.get(f"/api/projects/{project}/stems.zip", headers=as_ann)
    refused(zipped, 403, "export_formats")

    preview = client.get(f"/api/projects/{project}/stems/vocals?variant=preview", headers=as_ann)
    assert preview.status_code == 200 and preview.headers["content-type"] == "audio/mpeg"
    client.cookies.clear()
    preview_url = body["stems"][0]["preview_url"]
    assert client.get(preview_url).status_code == 200
    assert client.get(body["peaks_url"]).status_code == 200
    # A signed preview link never opens the master, whatever is added to it: a second
    # `variant` is either outside the signature (403) or overridden by the signed one.
    path, _, query = preview_url.partition("?")
    assert client.get(f"{preview_url}&variant=master").status_code == 403
    first = client.get(f"{path}?variant=master&{query}")
    assert first.status_code in (200, 403)
    if first.status_code == 200:
        assert first.headers["content-type"] == "audio/mpeg"


def test_pro_is_allowed_everything(
    accounts: None, set_env: SetEnv, client: TestClient, tmp_path: Path
) -> None:
    user = make_user("pro@example.com", plan="pro")
    as_pro = bearer(user)
    big = wav_bytes(1.0, rate=22050, channels=1)
    uploaded = upload_as(client, as_pro, big, model="demucs_unittest", shifts="2")
    assert uploaded.status_code == 202, uploaded.text
    assert uploaded.json()["shifts"] == 2

    project = ready_project(user)
    url = f"/api/projects/{project}/exports"
    for request in (
        {"format": "wav"},
        {"format": "flac"},
        {"format": "mp3", "bitrate": 320},
        {"format": "wav", "bit_depth": 24},
    ):
        response = client.post(url, json=request, headers=as_pro)
        assert response.status_code == 202, (request, response.text)
    body = client.get(f"/api/projects/{project}", headers=as_pro).json()
    assert body["stems_zip_url"] is not None and all(stem["url"] for stem in body["stems"])
    master = client.get(f"/api/projects/{project}/stems/vocals", headers=as_pro)
    assert master.status_code == 200 and master.content[:4] == b"fLaC"
    assert client.get(f"/api/projects/{project}/stems.zip", headers=as_pro).status_code == 200
    client.cookies.clear()
    assert client.get(body["stems"][0]["url"]).status_code == 200  # the signed master link

    me = client.get("/api/me", headers=as_pro).json()
    assert me["plan"]["name"] == "pro" and me["plan_source"] == "admin"
    assert me["usage"]["uploads_left"] == 99


# ---------------------------------------------------------------- the daily limit


def test_the_fourth_upload_of_the_day_is_429_until_midnight_utc(
    accounts: None, client: TestClient
) -> None:
    user = make_user("ann@example.com")
    as_ann = bearer(user)
    for index in range(3):
        response = upload_as(client, as_ann, distinct_wav(index), model="classic")
        assert response.status_code == 202, response.text
    fourth = upload_as(client, as_ann, distinct_wav(3), model="classic")
    body = refused(fourth, 429, "uploads_per_day")
    assert body["code"] == "limit_reached" and body["value"] == 3
    midnight = next_midnight()
    assert datetime.fromisoformat(str(body["resets_at"])) == midnight
    wait = (midnight - datetime.now(UTC)).total_seconds()
    assert abs(int(fourth.headers["retry-after"]) - wait) <= 5
    assert uploads_today(user) == 3
    me = client.get("/api/me", headers=as_ann).json()["usage"]
    assert me["uploads_today"] == 3 and me["uploads_left"] == 0 and me["projects"] == 3


def test_a_refused_upload_gives_its_reservation_back(
    accounts: None, client: TestClient, data_dir: Path
) -> None:
    user = make_user("ann@example.com")
    as_ann = bearer(user)
    not_audio = upload_as(client, as_ann, b"this is not audio at all " * 40, model="classic")
    assert not_audio.status_code == 415, not_audio.text
    no_samples = upload_as(client, as_ann, SMALL[:44], model="classic")  # a header, no data
    assert no_samples.status_code == 422 and no_samples.json()["code"] == "corrupt_audio"
    unknown_model = upload_as(client, as_ann, SMALL, model="no-such-model")
    assert unknown_model.status_code == 422, unknown_model.text
    assert uploads_today(user) == 0
    assert stored_uploads(data_dir) == {}
    # All three are still there to use.
    for index in range(3):
        assert upload_as(client, as_ann, distinct_wav(index), model="classic").status_code == 202


def test_an_existing_duplicate_does_not_count(accounts: None, client: TestClient) -> None:
    user = make_user("ann@example.com")
    as_ann = bearer(user)
    first = upload_as(client, as_ann, SMALL, model="classic")
    assert first.status_code == 202
    again = upload_as(client, as_ann, SMALL, filename="again.wav", model="classic")
    assert again.status_code == 200 and again.json()["existing"] is True
    assert again.json()["id"] == first.json()["id"]
    assert uploads_today(user) == 1


def test_cancelling_a_queued_project_gives_its_upload_back(
    accounts: None, client: TestClient
) -> None:
    user = make_user("ann@example.com")
    as_ann = bearer(user)
    ids = []
    for index in range(3):
        response = upload_as(client, as_ann, distinct_wav(index), model="classic")
        assert response.status_code == 202
        ids.append(response.json()["id"])
    assert upload_as(client, as_ann, distinct_wav(9), model="classic").status_code == 429
    cancelled = client.post(f"/api/projects/{ids[0]}/cancel", headers=as_ann)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert uploads_today(user) == 2
    # Cancelling it again gives nothing more back.
    assert client.post(f"/api/projects/{ids[0]}/cancel", headers=as_ann).status_code == 200
    assert uploads_today(user) == 2
    assert upload_as(client, as_ann, distinct_wav(9), model="classic").status_code == 202
    assert upload_as(client, as_ann, distinct_wav(10), model="classic").status_code == 429


def test_retrying_a_cancelled_project_takes_an_upload_again(
    accounts: None, client: TestClient
) -> None:
    # Cancelled before it started, a project gives its upload back; queued again by a retry,
    # it is a separation like any other and must take one again (else upload, cancel and
    # retry would separate without end on the Free plan).
    user = make_user("ann@example.com")
    as_ann = bearer(user)
    ids = []
    for index in range(3):
        response = upload_as(client, as_ann, distinct_wav(index), model="classic")
        assert response.status_code == 202
        ids.append(response.json()["id"])
    assert client.post(f"/api/projects/{ids[0]}/cancel", headers=as_ann).status_code == 200
    assert uploads_today(user) == 2
    retried = client.post(f"/api/projects/{ids[0]}/retry", headers=as_ann)
    assert retried.status_code == 202, retried.text
    assert uploads_today(user) == 3
    assert upload_as(client, as_ann, distinct_wav(7), model="classic").status_code == 429

    # With none left, the retry itself is refused like an upload, and stays cancelled.
    assert client.post(f"/api/projects/{ids[1]}/cancel", headers=as_ann).status_code == 200
    assert upload_as(client, as_ann, distinct_wav(8), model="classic").status_code == 202
    refused(client.post(f"/api/projects/{ids[1]}/retry", headers=as_ann), 429, "uploads_per_day")
    assert client.get(f"/api/projects/{ids[1]}", headers=as_ann).json()["status"] == "cancelled"
    assert uploads_today(user) == 3


def test_the_daily_limit_holds_under_a_race_of_20_uploads(
    accounts: None, client: TestClient
) -> None:
    # 10 runs, each a fresh Free user (3 uploads left) sending 20 different files at once.
    check_upload_race(client, runs=10, uploads=20)


# ---------------------------------------------------------------- plan periods, retention


def test_a_plan_that_ended_is_free_again(accounts: None, client: TestClient) -> None:
    now = utcnow()
    lapsed = make_user("lapsed@example.com")
    with get_sessionmaker()() as session:
        user = session.get(User, lapsed)
        assert user is not None
        users.set_plan(
            session, user, "pro", until=now - timedelta(hours=1), source="admin",
            now=now - timedelta(days=30),
        )  # fmt: skip
        session.commit()
    assert plan_name(lapsed) == "free"
    assert plan_name(lapsed, now=now - timedelta(days=1)) == "pro"
    me = client.get("/api/me", headers=bearer(lapsed)).json()
    assert me["plan"]["name"] == "free" and me["user"]["plan_until"] is None
    refused(
        upload_as(client, bearer(lapsed), SMALL, model="classic", shifts="2"), 403, "max_shifts"
    )

    monthly = make_user("monthly@example.com", plan="pro", until=now + timedelta(days=30))
    assert plan_name(monthly) == "pro"
    assert plan_name(monthly, now=now + timedelta(days=31)) == "free"
    me = client.get("/api/me", headers=bearer(monthly)).json()
    assert me["plan"]["name"] == "pro"
    assert datetime.fromisoformat(me["user"]["plan_until"]) == now + timedelta(days=30)


def expires_in_hours(body: dict[str, object]) -> float:
    expires = datetime.fromisoformat(str(body["expires_at"]))
    created = datetime.fromisoformat(str(body["created_at"]))
    return (expires - created).total_seconds() / 3600


def test_projects_expire_after_the_plans_retention(accounts: None, client: TestClient) -> None:
    free = upload_as(client, bearer(make_user("free@example.com")), SMALL, model="classic")
    pro = upload_as(client, bearer(make_user("pro@example.com", plan="pro")), SMALL)
    assert free.status_code == 202 and pro.status_code == 202
    assert expires_in_hours(free.json()) == pytest.approx(24, abs=0.01)
    assert expires_in_hours(pro.json()) == pytest.approx(720, abs=0.01)


def test_single_mode_keeps_projects_for_the_retention_setting(
    set_env: SetEnv, client: TestClient
) -> None:
    set_env(retention_hours="5")
    status = client.post(
        "/api/projects", files={"file": ("song.wav", SMALL, "application/octet-stream")}
    )
    assert status.status_code == 202, status.text
    assert expires_in_hours(status.json()) == pytest.approx(5, abs=0.01)
    # And there is no daily limit: the owner uploads as much as they like.
    for index in range(4):
        response = client.post(
            "/api/projects",
            files={"file": (f"{index}.wav", distinct_wav(index + 2), "application/octet-stream")},
        )
        assert response.status_code == 202


# ---------------------------------------------------------------- the plans file


def load(path: Path) -> dict[str, plans.Plan]:
    return plans.plans(Settings(plans_file=path))


def test_the_plans_file_overrides_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "plans.toml"
    path.write_text(
        '[free]\nuploads_per_day = 5\nmodels = ["classic"]\nexport_formats = ["mp3", "flac"]\n'
        "[pro]\nuploads_per_day = 1000\nprice_month = 12.5\n",
        encoding="utf-8",
    )
    loaded = load(path)
    assert loaded["free"].uploads_per_day == 5 and loaded["free"].models == ("classic",)
    assert loaded["free"].lossless_stems is True  # FLAC exports bring the masters
    assert loaded["free"].max_shifts == plans.FREE.max_shifts  # untouched
    assert loaded["pro"].uploads_per_day == 1000 and loaded["pro"].price_month == 12.5


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[free]\nmax_uploads = 3\n", "[free] max_uploads: unknown key"),
        ('[pro]\nmax_shifts = "two"\n', "[pro] max_shifts: must be a number"),
        ("[free]\nuploads_per_day = 2.5\n", "[free] uploads_per_day: must be a whole number"),
        ("[free]\nmax_upload_mb = -1\n", "[free] max_upload_mb: must be a number, 0 or more"),
        ('[free]\nmodels = "classic"\n', "[free] models: must be a list of names"),
        ('[free]\nexport_formats = ["ogg"]\n', "[free] export_formats: unknown format(s) ogg"),
        ("[free]\nconcurrent_jobs = 0\n", "[free] concurrent_jobs: at least 1"),
        ("[free]\nlossless_stems = true\n", "[free] lossless_stems: unknown key"),
        ("[gold]\nmax_shifts = 3\n", "unknown table [gold]"),
        ("[free\n", "not valid TOML"),
    ],
)
def test_plans_file_errors_name_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "plans.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(plans.PlansFileError) as error:
        load(path)
    assert str(error.value).startswith(str(path))
    assert named in str(error.value)


def test_a_missing_plans_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(plans.PlansFileError, match="cannot read the plans file"):
        load(tmp_path / "nowhere.toml")


def test_get_settings_reads_the_plans_file(set_env: SetEnv, tmp_path: Path) -> None:
    path = plans_file(tmp_path, set_env, "[free]\nmax_shifts = 2\n")
    assert get_settings().plans_file == path
    assert plans.plan_named("free", get_settings()).max_shifts == 2


def test_deleting_a_project_before_it_started_gives_its_upload_back(
    accounts: None, client: TestClient
) -> None:
    user = make_user("dee@example.com")
    as_dee = bearer(user)
    first = upload_as(client, as_dee, distinct_wav(20), model="classic")
    assert first.status_code == 202
    assert uploads_today(user) == 1
    assert client.delete(f"/api/projects/{first.json()['id']}", headers=as_dee).status_code == 204
    assert uploads_today(user) == 0
