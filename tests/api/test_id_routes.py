"""Every route that takes an id loads its object through one dependency (deps.get_project or
deps.get_export), so the ownership check of the accounts issue goes in one place; and every
URL the API hands out is one it serves."""

from __future__ import annotations

import re

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from api.support import insert_ready_project
from isomix.api import deps, urls
from isomix.api.app import create_app

LOADERS = {"project_id": deps.get_project, "export_id": deps.get_export}


def _calls(dependant: Dependant) -> set[object]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _ids(route: APIRoute) -> set[str]:
    return set(re.findall(r"{(\w+)", route.path)) & set(LOADERS)


def _id_routes() -> list[APIRoute]:
    # iter_route_contexts walks the included routers as the app itself does.
    routes = [context.route for context in iter_route_contexts(create_app().routes)]
    return [route for route in routes if isinstance(route, APIRoute) and _ids(route)]


def test_every_id_route_loads_its_object_through_the_dependency() -> None:
    routes = _id_routes()
    assert len(routes) >= 10  # the projects, stems, peaks, events and export routes
    missing = [
        f"{sorted(route.methods)} {route.path}"
        for route in routes
        for name in _ids(route)
        if LOADERS[name] not in _calls(route.dependant)
    ]
    assert missing == []


def test_the_events_route_is_one_of_them() -> None:
    paths = {route.path for route in _id_routes()}
    assert urls.PROJECT_EVENTS in paths
    assert urls.EXPORT_DOWNLOAD in paths


def test_links_in_a_ready_project_are_served(client: TestClient) -> None:
    project_id = insert_ready_project()
    body = client.get(f"/api/projects/{project_id}").json()
    assert body["events_url"] == urls.project_events(project_id)
    assert body["peaks_url"] == urls.peaks(project_id)
    assert body["stems_zip_url"] == urls.stems_zip(project_id)
    assert body["stems"][0]["url"] == urls.stem(project_id, body["stems"][0]["name"])
    # The stem set exists only as rows here: the links resolve to routes that answer 404 for
    # the missing files, never 405 or an unmatched path.
    for link in (body["peaks_url"], body["stems_zip_url"], body["stems"][0]["preview_url"]):
        assert client.get(link).status_code == 404, link


def test_unknown_ids_answer_404_on_every_id_route(client: TestClient) -> None:
    for route in _id_routes():
        path = route.path.replace("{project_id}", "nope").replace("{export_id}", "nope")
        path = path.replace("{stem}", "vocals")
        for method in route.methods - {"HEAD"}:
            response = client.request(method, path, json={"format": "mp3"})
            assert response.status_code == 404, (method, path, response.text)
