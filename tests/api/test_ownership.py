"""Who may reach what, for every route the app serves (accounts mode).

`MATRIX` names every route with who may call it; a route the app serves that it does not
name fails `test_every_route_is_in_the_matrix`, so a new route must say who may call it
before it ships. Then, with two users A and B and an admin: B reaching A's objects gets
exactly what a missing id gets (404, same body) and changes nothing; without credentials
every route that is not public is 401; admin routes are 403 for B; A gets its objects.
Signed links open A's files without headers and only the very file they name, until they
expire; their signatures never reach the access log. Deleting a project never takes another
owner's stems, and stems are shared across owners only with ISOMIX_SHARED_CACHE=true.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
import uvicorn
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.accounts_support import (
    PASSWORD,
    STEMS,
    Response,
    api_token,
    bearer,
    disable,
    distinct_wav,
    files_of,
    finish_separation,
    fresh_rate_limits,
    make_user,
    ready_export,
    ready_project,
    refcount_of,
    upload_as,
)
from api.support import SetEnv, insert_ready_project
from isomix import signing
from isomix.api import deps, urls
from isomix.api.app import create_app
from isomix.api.server import uvicorn_options
from isomix.config import get_settings
from isomix.db import get_sessionmaker
from isomix.logredact import LOGGERS, install_log_redaction
from isomix.models import ApiToken, Export, Mix, Project, StemSet, new_id

Who = Literal["anyone", "user", "owner", "admin", "scraper"]


@dataclass(frozen=True)
class Access:
    """Who may call a route, and what its caller gets.

    - anyone: no credentials needed (never 401).
    - user: any signed-in user; no credentials: 401.
    - owner: the owner of the object in the path; anyone else: 404 as for a missing id.
      `signed`: a signed link of the object works without credentials too.
    - admin: admins only; other users 403, no credentials 401.
    - scraper: /metrics, a bearer ISOMIX_METRICS_TOKEN or a scraper on loopback.

    `status`: what the rightful caller (A, or the admin) gets with `body`.
    """

    who: Who
    status: int | None = None
    body: Any = None
    signed: bool = False


ANYONE = Access("anyone")
MP3 = {"format": "mp3", "bitrate": 192}

MATRIX: dict[tuple[str, str], Access] = {
    # Documentation and the web UI.
    ("GET", "/api/openapi.json"): ANYONE,
    ("GET", "/api/docs"): ANYONE,
    ("GET", "/docs/oauth2-redirect"): ANYONE,
    ("GET", "/{path:path}"): ANYONE,
    # Signing in is what one does without credentials.
    ("POST", "/api/auth/signup"): ANYONE,
    ("POST", "/api/auth/login"): ANYONE,
    ("POST", "/api/auth/refresh"): ANYONE,
    ("POST", "/api/auth/logout"): ANYONE,
    # Public facts, probes; Stripe signs its webhook itself.
    ("GET", "/api/plans"): ANYONE,
    ("GET", "/api/config"): ANYONE,
    ("GET", "/healthz"): ANYONE,
    ("GET", "/readyz"): ANYONE,
    ("POST", "/api/billing/webhook"): ANYONE,
    ("GET", "/metrics"): Access("scraper"),
    # Any signed-in user, about themselves.
    ("GET", "/api/me"): Access("user", 200),
    ("POST", "/api/me/password"): Access(
        "user", 422, {"current_password": "not the password", "new_password": "x" * 12}
    ),
    ("GET", "/api/tokens"): Access("user", 200),
    ("POST", "/api/tokens"): Access("user", 201, {"name": "probe"}),
    ("POST", "/api/billing/checkout"): Access("user", 422, {"interval": "decade"}),
    ("GET", "/api/projects"): Access("user", 200),
    ("POST", "/api/projects"): Access("user", 422),  # no multipart body
    ("GET", "/api/models"): Access("user", 200),
    # The owner's objects. In the order A calls them: the deletions last.
    ("GET", urls.PROJECT): Access("owner", 200),
    ("GET", urls.PROJECT_EVENTS): Access("owner", 200, signed=True),
    ("POST", urls.PROJECT_CANCEL): Access("owner", 409),  # ready: nothing to cancel
    ("POST", urls.PROJECT_RETRY): Access("owner", 409),  # ready: nothing to retry
    ("GET", urls.STEM): Access("owner", 200, signed=True),
    ("GET", urls.STEMS_ZIP): Access("owner", 200, signed=True),
    ("GET", urls.PEAKS): Access("owner", 200, signed=True),
    ("POST", urls.PROJECT_EXPORTS): Access("owner", 202, MP3),
    ("GET", urls.EXPORT): Access("owner", 200),
    # Not analysed (no worker ran): A gets the conflict, B the 404 of a missing id.
    ("PATCH", urls.PROJECT_ANALYSIS): Access("owner", 409, {"bpm": 120.0}),
    ("GET", urls.EXPORT_DOWNLOAD): Access("owner", 200, signed=True),
    ("GET", urls.PROJECT_MIXES): Access("owner", 200),
    ("POST", urls.PROJECT_MIXES): Access("owner", 201, {"name": "probe", "settings": {}}),
    ("PATCH", urls.MIX): Access("owner", 200, {"name": "renamed"}),
    ("POST", urls.MIX_OPEN): Access("owner", 200),
    ("DELETE", urls.MIX): Access("owner", 204),
    ("DELETE", "/api/tokens/{token_id}"): Access("owner", 204),
    ("DELETE", urls.PROJECT): Access("owner", 204),
    # Admins. The user routes in the order the admin calls them: disabling last.
    ("GET", "/api/admin/users"): Access("admin", 200),
    ("POST", "/api/admin/users"): Access(
        "admin", 201, {"email": "dora@example.com", "password": PASSWORD}
    ),
    ("POST", "/api/admin/users/{user_id}/plan"): Access("admin", 200, {"plan": "pro"}),
    ("POST", "/api/admin/users/{user_id}/tokens"): Access("admin", 201, {"name": "for dora"}),
    ("POST", "/api/admin/users/{user_id}/disable"): Access("admin", 200),
    # Built in: nothing to install (an admin never starts a download here).
    ("POST", "/api/models/{name}/install"): Access("admin", 409),
    ("GET", "/api/models/{name}/install"): Access("admin", 409),
}

ID_PARAMS = ("project_id", "export_id", "token_id", "user_id", "name", "mix_id")
# The dependency that loads (and authorises) each id, for the routes that do not check it
# inline; a signed route loads through the variant that also accepts a signature.
LOADERS = {
    ("project_id", False): deps.get_project,
    ("project_id", True): deps.get_linked_project,
    ("export_id", False): deps.get_export,
    ("export_id", True): deps.get_linked_export,
}


def app_routes() -> dict[tuple[str, str], Any]:
    # FastAPI 0.165 wraps included routers: iter_route_contexts walks them as the app does.
    found: dict[tuple[str, str], Any] = {}
    for context in iter_route_contexts(create_app().routes):
        route: Any = context.route
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found[(method, route.path)] = route
    return found


def params_of(path: str) -> set[str]:
    return set(re.findall(r"{(\w+)", path))


@dataclass(frozen=True)
class Ids:
    project_id: str
    export_id: str
    token_id: str
    user_id: str
    stem: str = STEMS[0]
    name: str = "classic"
    mix_id: str = field(default_factory=new_id)

    def fill(self, template: str) -> str:
        path = template.replace("{path:path}", "")
        for name in (*ID_PARAMS, "stem"):
            path = path.replace(f"{{{name}}}", getattr(self, name))
        assert "{" not in path, path
        return path


def random_ids() -> Ids:
    return Ids(new_id(), new_id(), new_id(), new_id(), name="no-such-model")


def call(
    client: TestClient, method: str, path: str, access: Access, headers: dict[str, str]
) -> Response:
    client.cookies.clear()
    if access.body is None:
        return client.request(method, path, headers=headers)
    return client.request(method, path, headers=headers, json=access.body)


# ---------------------------------------------------------------- the matrix itself


def test_every_route_is_in_the_matrix() -> None:
    served = set(app_routes())
    missing = sorted(served - set(MATRIX))
    assert missing == [], f"routes without an entry in MATRIX (say who may call them): {missing}"
    stale = sorted(set(MATRIX) - served)
    assert stale == [], f"MATRIX names routes the app does not serve: {stale}"


def test_id_routes_are_owner_or_admin_routes() -> None:
    for key, access in MATRIX.items():
        has_id = bool(params_of(key[1]) & set(ID_PARAMS))
        assert has_id == (access.who in ("owner", "admin") and key[1] != "/api/admin/users"), key
        assert access.signed <= (access.who == "owner"), key


def _calls(dependant: Dependant) -> set[object]:
    found: set[object] = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def test_every_project_and_export_route_loads_its_object_through_the_dependency() -> None:
    # Ownership is checked in deps and nowhere else: every route with a project or export id
    # loads it through the loader of its kind (signed routes: the one that also takes a link).
    routes = app_routes()
    checked = 0
    for (method, path), route in routes.items():
        for name in params_of(path) & {"project_id", "export_id"}:
            loader = LOADERS[(name, MATRIX[(method, path)].signed)]
            assert loader in _calls(route.dependant), (method, path, loader.__name__)
            checked += 1
    # read, events, cancel, retry, delete, stem, zip, peaks, export; read and download it;
    # the named mixes: list, save, rename, open, delete; correcting the analysis
    assert checked == 17
    assert ("GET", urls.PROJECT_EVENTS) in routes
    assert ("GET", urls.EXPORT_DOWNLOAD) in routes


# ---------------------------------------------------------------- single mode (unsigned links)


def test_links_in_a_ready_project_are_served_in_single_mode(client: TestClient) -> None:
    settings = get_settings()
    project_id = insert_ready_project()
    body = client.get(f"/api/projects/{project_id}").json()
    assert body["events_url"] == urls.project_events(project_id, settings)
    assert body["peaks_url"] == urls.peaks(project_id, settings)
    assert body["stems_zip_url"] == urls.stems_zip(project_id, settings)
    assert body["stems"][0]["url"] == urls.stem(project_id, body["stems"][0]["name"], settings)
    assert "sig=" not in body["stems"][0]["url"]  # single mode signs nothing
    # The stem set exists only as rows here: the links resolve to routes that answer 404 for
    # the missing files, never 405 or an unmatched path.
    for link in (body["peaks_url"], body["stems_zip_url"], body["stems"][0]["preview_url"]):
        assert client.get(link).status_code == 404, link


def test_unknown_ids_answer_404_on_every_id_route_in_single_mode(client: TestClient) -> None:
    ids = random_ids()
    for (method, template), access in MATRIX.items():
        if access.who != "owner":
            continue
        response = client.request(method, ids.fill(template), json=access.body or MP3)
        assert response.status_code == 404, (method, template, response.text)


# ---------------------------------------------------------------- two users, every route


@dataclass(frozen=True)
class World:
    a: str
    b: str
    admin: str
    a_ids: Ids
    b_project: str
    b_export: str
    a_token: str


@pytest.fixture
def accounts(set_env: SetEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    # Stripe "configured" so that checkout is a signed-in route, not 404 billing_off; its
    # API base is a closed local port, so nothing here can reach Stripe.
    set_env(
        auth_mode="accounts",
        stripe_secret_key="sk_test_unused",
        stripe_webhook_secret="whsec_unused",
        stripe_api_base="http://127.0.0.1:9",
        metrics_token="metrics-secret",
    )
    fresh_rate_limits(monkeypatch)


@pytest.fixture
def world(accounts: None, client: TestClient) -> World:
    a = make_user("ann@example.com", plan="pro")
    b = make_user("ben@example.com")
    admin = make_user("ada@example.com", admin=True)
    project = ready_project(a)
    export = ready_export(project)
    token_id, secret = api_token(a)
    b_project = ready_project(b)
    with get_sessionmaker()() as session:
        mix = Mix(project_id=project, owner_id=a, name="A's mix", settings={"tempo": 0.75})
        session.add(mix)
        session.commit()
        mix_id = mix.id
    return World(
        a=a,
        b=b,
        admin=admin,
        a_ids=Ids(project, export, token_id, b, mix_id=mix_id),
        b_project=b_project,
        b_export=ready_export(b_project),
        a_token=secret,
    )


def snapshot(data_dir: Path, world: World) -> dict[str, Any]:
    """A's objects as rows and files: what B must not change."""
    with get_sessionmaker()() as session:
        project = session.get(Project, world.a_ids.project_id)
        export = session.get(Export, world.a_ids.export_id)
        token = session.get(ApiToken, world.a_ids.token_id)
        assert project is not None and export is not None and token is not None
        stem_set = session.get(StemSet, project.stem_set_id)
        assert stem_set is not None
        mine = Export.project_id == project.id
        mixes = select(Mix.name, Mix.settings, Mix.updated_at, Mix.opened_at)
        return {
            "mixes": sorted(map(tuple, session.execute(mixes.where(Mix.project_id == project.id)))),
            "project": (project.status, project.stem_set_id, project.updated_at),
            "export": (export.status, export.path, export.updated_at),
            "token": token.revoked_at,
            "stem_set": (stem_set.refcount, stem_set.directory),
            "exports": sorted(session.scalars(select(Export.id).where(mine))),
            "files": {part: files_of(data_dir / part) for part in ("projects", "stems", "exports")},
        }


def test_another_user_gets_404_exactly_like_a_missing_id_and_changes_nothing(
    world: World, client: TestClient, data_dir: Path
) -> None:
    before = snapshot(data_dir, world)
    as_b = bearer(world.b)
    missing = random_ids()
    checked = 0
    for (method, template), access in MATRIX.items():
        if access.who != "owner":
            continue
        theirs = call(client, method, world.a_ids.fill(template), access, as_b)
        nobodys = call(client, method, missing.fill(template), access, as_b)
        assert theirs.status_code == 404, (method, template, theirs.text)
        assert nobodys.status_code == 404, (method, template, nobodys.text)
        assert theirs.json() == nobodys.json(), (method, template)
        checked += 1
    assert checked == 18
    assert snapshot(data_dir, world) == before
    # A's things still work for A.
    assert client.get(f"/api/projects/{world.a_ids.project_id}", headers=bearer(world.a)).is_success
    assert client.get("/api/me", headers=bearer(world.a_token)).status_code == 200


def test_without_credentials_every_route_but_the_public_ones_is_401(
    world: World, client: TestClient
) -> None:
    for (method, template), access in MATRIX.items():
        for ids in (world.a_ids, random_ids()):
            response = call(client, method, ids.fill(template), access, {})
            if access.who == "anyone":
                assert response.status_code != 401, (method, template, response.text)
            elif access.who == "scraper":
                assert response.status_code == 403, (method, template, response.text)
            else:
                assert response.status_code == 401, (method, template, response.text)
                assert response.json()["code"] == "unauthenticated"
                assert response.headers["www-authenticate"] == "Bearer"


def test_admin_routes_are_403_for_other_users(world: World, client: TestClient) -> None:
    as_b = bearer(world.b)
    for (method, template), access in MATRIX.items():
        if access.who != "admin":
            continue
        for ids in (world.a_ids, random_ids()):
            response = call(client, method, ids.fill(template), access, as_b)
            assert response.status_code == 403, (method, template, response.text)
            assert response.json()["code"] == "forbidden"
    # Nothing happened to anyone: B is still Free and enabled, no user was made.
    me = client.get("/api/me", headers=as_b).json()
    assert me["plan"]["name"] == "free" and me["user"]["disabled"] is False


def test_the_owner_and_the_admin_get_what_the_matrix_says(world: World, client: TestClient) -> None:
    as_a = bearer(world.a)
    for (method, template), access in MATRIX.items():
        if access.who not in ("user", "owner"):
            continue
        response = call(client, method, world.a_ids.fill(template), access, as_a)
        assert response.status_code == access.status, (method, template, response.text)
    # The project and the token are gone now, for A too: 404 like any missing id.
    gone = client.get(f"/api/projects/{world.a_ids.project_id}", headers=as_a)
    assert gone.status_code == 404
    assert client.get("/api/me", headers=bearer(world.a_token)).status_code == 401

    as_admin = bearer(world.admin)
    victim: str | None = None
    for (method, template), access in MATRIX.items():
        if access.who != "admin":
            continue
        ids = Ids(new_id(), new_id(), new_id(), user_id=victim or new_id())
        response = call(client, method, ids.fill(template), access, as_admin)
        assert response.status_code == access.status, (method, template, response.text)
        if (method, template) == ("POST", "/api/admin/users"):
            victim = response.json()["id"]
        if "{user_id}" in template:
            unknown = call(client, method, random_ids().fill(template), access, as_admin)
            assert unknown.status_code == 404, (method, template, unknown.text)
    assert victim is not None
    users = {user["id"]: user for user in client.get("/api/admin/users", headers=as_admin).json()}
    assert users[victim]["plan"] == "pro" and users[victim]["disabled"] is True
    assert users[world.b]["plan"] == "free" and users[world.b]["disabled"] is False


# ---------------------------------------------------------------- signed links


def links_of(client: TestClient, world: World) -> dict[str, str]:
    as_a = bearer(world.a)
    body = client.get(f"/api/projects/{world.a_ids.project_id}", headers=as_a).json()
    export = client.get(f"/api/exports/{world.a_ids.export_id}", headers=as_a).json()
    found = {
        "events": body["events_url"],
        "peaks": body["peaks_url"],
        "zip": body["stems_zip_url"],
        "download": export["download_url"],
    }
    for stem in body["stems"]:
        found[f"{stem['name']}.master"] = stem["url"]
        found[f"{stem['name']}.preview"] = stem["preview_url"]
    return found


def with_query(link: str, **changes: str) -> str:
    parts = urlsplit(link)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return f"{parts.path}?{urlencode(query)}"


def test_signed_links_open_without_headers(world: World, client: TestClient) -> None:
    links = links_of(client, world)
    assert set(links) == {"events", "peaks", "zip", "download"} | {
        f"{name}.{variant}" for name in STEMS for variant in ("master", "preview")
    }
    for what, link in links.items():
        assert "sig=" in link and "expires=" in link, what
        client.cookies.clear()
        response = client.get(link)
        assert response.status_code == 200, (what, response.text)
    assert client.get(links["vocals.master"]).content[:4] == b"fLaC"


def test_a_signed_link_opens_only_the_file_it_names(world: World, client: TestClient) -> None:
    links = links_of(client, world)
    a_project, b_project = world.a_ids.project_id, world.b_project
    stem = links["vocals.master"]
    changed = {
        "another project": stem.replace(a_project, b_project),
        "another stem": stem.replace("/stems/vocals?", "/stems/drums?"),
        "another variant": with_query(stem, variant="preview"),
        "the zip": links["peaks"].replace("/peaks?", "/stems.zip?"),
        "another project's peaks": links["peaks"].replace(a_project, b_project),
        "another export": links["download"].replace(world.a_ids.export_id, world.b_export),
        "another project's events": links["events"].replace(a_project, b_project),
    }
    for what, link in changed.items():
        response = client.get(link)
        assert response.status_code == 403, (what, link, response.text)
        assert response.json()["code"] == "link_expired"


def test_tampered_and_expired_signatures_are_403(world: World, client: TestClient) -> None:
    links = links_of(client, world)
    settings = get_settings()
    for what in ("vocals.preview", "download", "events"):
        link = links[what]
        signature = dict(parse_qsl(urlsplit(link).query))["sig"]
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
        path = urlsplit(link).path
        params = {"variant": "preview"} if what.endswith(".preview") else None
        expired = signing.sign(path, settings, params=params, now=time.time() - 10_000)
        later = int(dict(parse_qsl(urlsplit(link).query))["expires"]) + 60
        for name, bad in {
            "tampered": with_query(link, sig=flipped),
            "cut": with_query(link, sig=signature[:-4]),
            "expired": expired,
            "later expiry, same signature": with_query(link, expires=str(later)),
        }.items():
            response = client.get(bad)
            assert response.status_code == 403, (what, name, response.text)
        # The same link again, untouched, still works: nothing above was cached as good.
        assert client.get(link).status_code == 200, what
    # Without the signature the link is an ordinary request: credentials needed.
    bare = urlsplit(links["vocals.preview"]).path + "?variant=preview"
    assert client.get(bare).status_code == 401


def test_links_of_a_disabled_user_stop_working(world: World, client: TestClient) -> None:
    links = links_of(client, world)
    disable(world.a)
    for what in ("vocals.master", "download", "events"):
        assert client.get(links[what]).status_code == 404, what


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def redaction_installed() -> Iterator[None]:
    """install_log_redaction() as `isomix serve` calls it; its filters removed afterwards."""
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in LOGGERS]
    targets.extend(logging.getLogger().handlers)
    before = {id(target): list(target.filters) for target in targets}
    install_log_redaction()
    try:
        yield
    finally:
        for target in targets:
            target.filters[:] = before[id(target)]


def test_signatures_never_reach_the_access_log(
    world: World, client: TestClient, redaction_installed: None, caplog: pytest.LogCaptureFixture
) -> None:
    # A real uvicorn (with the options of `isomix serve`) writes its access log line for each
    # signed download; the line keeps the path and loses the signature.
    links = links_of(client, world)
    signatures = {
        what: dict(parse_qsl(urlsplit(link).query))["sig"] for what, link in links.items()
    }
    options, _note = uvicorn_options(get_settings())
    port = free_port()
    config = uvicorn.Config(
        create_app(), host="127.0.0.1", port=port, log_config=None, ws="none", lifespan="off",
        **options,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    with caplog.at_level(logging.INFO):
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while not server.started:
                assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.05)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                for what in ("vocals.preview", "download", "peaks"):
                    assert http.get(links[what]).status_code == 200, what
                assert http.get("/api/me", headers=bearer(world.a_token)).status_code == 200
        finally:
            server.should_exit = True
            thread.join(timeout=20)
    access = [record for record in caplog.records if record.name == "uvicorn.access"]
    assert len(access) == 4, caplog.text
    for what in ("vocals.preview", "download", "peaks"):
        path = urlsplit(links[what]).path
        assert any(path in record.getMessage() for record in access), (what, caplog.text)
    lines = "\n".join(record.getMessage() for record in access)
    assert lines.count("sig=[redacted]") == 3, lines
    for what, signature in signatures.items():
        assert signature not in caplog.text, what
    assert world.a_token not in caplog.text


# ---------------------------------------------------------------- shared stems across owners


def test_deleting_a_project_keeps_another_owners_shared_stems(
    accounts: None, set_env: SetEnv, client: TestClient, data_dir: Path
) -> None:
    set_env(shared_cache="true")
    a = make_user("ann@example.com")
    b = make_user("ben@example.com")
    song = distinct_wav(42)
    first = upload_as(client, bearer(a), song, model="classic")
    assert first.status_code == 202, first.text
    stem_set_id = finish_separation(first.json()["id"])

    second = upload_as(client, bearer(b), song, filename="mine.wav", model="classic")
    assert second.status_code == 202, second.text
    b_body = second.json()
    assert b_body["existing"] is False and b_body["status"] == "ready"  # A's stems, at once
    with get_sessionmaker()() as session:
        b_project = session.get(Project, b_body["id"])
        assert b_project is not None and b_project.stem_set_id == stem_set_id
    assert refcount_of(stem_set_id) == 2
    stem_files = files_of(data_dir / "stems" / stem_set_id)
    assert stem_files

    deleted = client.delete(f"/api/projects/{first.json()['id']}", headers=bearer(a))
    assert deleted.status_code == 204
    assert refcount_of(stem_set_id) == 1
    assert files_of(data_dir / "stems" / stem_set_id) == stem_files
    body = client.get(f"/api/projects/{b_body['id']}", headers=bearer(b)).json()
    assert body["status"] == "ready"
    client.cookies.clear()
    for stem in body["stems"]:
        assert client.get(stem["preview_url"]).status_code == 200, stem["name"]
    assert client.get(body["peaks_url"]).status_code == 200

    assert client.delete(f"/api/projects/{b_body['id']}", headers=bearer(b)).status_code == 204
    assert refcount_of(stem_set_id) is None
    assert files_of(data_dir / "stems" / stem_set_id) == {}


def test_without_shared_cache_an_identical_upload_does_not_get_another_owners_stems(
    accounts: None, client: TestClient
) -> None:
    assert get_settings().reuse_stems_across_owners is False  # the accounts default
    a = make_user("ann@example.com")
    b = make_user("ben@example.com")
    song = distinct_wav(43)
    first = upload_as(client, bearer(a), song, model="classic")
    assert first.status_code == 202, first.text
    stem_set_id = finish_separation(first.json()["id"])

    second = upload_as(client, bearer(b), song, model="classic")
    assert second.status_code == 202, second.text
    body = second.json()
    assert body["existing"] is False
    assert body["status"] == "queued" and body["stems"] == []  # separated again, for B
    with get_sessionmaker()() as session:
        project = session.get(Project, body["id"])
        assert project is not None and project.stem_set_id != stem_set_id
    assert refcount_of(stem_set_id) == 1

    # Once B's own separation finishes it has a stem set of its own.
    assert finish_separation(body["id"]) != stem_set_id
    # A's same upload again is A's existing project, not a new one.
    again = upload_as(client, bearer(a), song, model="classic")
    assert again.status_code == 200 and again.json()["existing"] is True
    assert again.json()["id"] == first.json()["id"]
