"""Schemathesis over the app's OpenAPI document, in accounts mode: every operation called
by a signed-in user B while user A has a ready project, an export and an API token too.

Checks on every answer B gets: no 5xx (schemathesis's `not_a_server_error`), nothing of A in
it (A's email, user, project, stem set, export and token ids, A's file name: not in the body
and not in a header, not even in a 404, which says "Project not found." and nothing more),
and A's objects still there, untouched (rows and files). A last test checks A's password,
plan and API token after all of it.

How the requests point at A's objects: the document gets `examples` on every id path
parameter, A's id and B's (schema_support.with_examples), so the examples phase calls each
id route with both; and during fuzzing a `flatmap_path_parameters` hook swaps A's or B's id
in for two thirds of the generated ids (the rest stay random, 404 anyway).

Bounded for CI: at most 25 generated examples per operation, derandomized (the same cases
every run), no deadline; about 45 s on two cores. One database for the module (fixture
`world`, not `schemathesis.pytest.from_fixture`, whose lazy loading fails on pytest 9.2);
B's project is remade before each case if a case deleted it (`restore`).

Excluded: nothing. The upload (multipart) is generated and runs (415/422 for the random
bytes, 429 once B's upload rate limit is used up); Stripe's webhook is not in the document
(`include_in_schema=False`), nor is the UI's catch-all route. The stateful phase is not run
by `@schema.parametrize()`.

The document is loaded with `from_dict(create_app().openapi())`, the document
/api/openapi.json serves, rather than `from_asgi`: the examples have to be added before the
schema is parsed, and `from_asgi` fetches with Host "testserver", which the Host guard
refuses. Requests go to the ASGI app in process (`case.call(app=...)`) with the base URL
http://127.0.0.1 for the same reason.

The operations are separate test items; select one with `-k` on its path (`-k peaks`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from api.conftest import LOOPBACK_URL
from api.schema_support import (
    ALICE,
    BOB,
    ID_PARAMETERS,
    STEMS,
    create,
    damage,
    restore,
    with_examples,
)
from isomix import ratelimit
from isomix.api.app import create_app
from isomix.config import get_settings
from isomix.db import reset_engines
from isomix.migrate import ensure_schema


def _document() -> dict[str, Any]:
    document = create_app().openapi()
    get_settings.cache_clear()  # read by create_app at import time; the tests set their own
    return with_examples(document, [ALICE, BOB])


schema = schemathesis.openapi.from_dict(_document())


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Generated ids, A's ids and B's ids, a third each; stem names the projects have."""
    if not path_parameters:
        return st.just(path_parameters)
    choices: dict[str, st.SearchStrategy[Any]] = {}
    for name, value in path_parameters.items():
        if name in ID_PARAMETERS:
            ids = [getattr(person, ID_PARAMETERS[name]) for person in (ALICE, BOB)]
            choices[name] = st.sampled_from([value, *ids])
        elif name == "stem":
            choices[name] = st.sampled_from([value, *STEMS])
        else:
            choices[name] = st.just(value)
    return st.fixed_dictionaries(choices)


@dataclass(frozen=True)
class World:
    app: FastAPI
    headers: dict[str, str]  # B's


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One database and data directory for every operation: A and B with their projects,
    B signed in."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ISOMIX_DATA_DIR", str(tmp_path_factory.mktemp("isomix-data")))
        patch.setenv("ISOMIX_AUTH_MODE", "accounts")
        # Limiters of the module's own: its sign-ups and uploads use up the in-memory counts
        # (per client address and user), which other modules' tests must not inherit.
        patch.setattr(ratelimit, "_instances", {})
        get_settings.cache_clear()
        reset_engines()
        ensure_schema()
        create(ALICE)
        headers = create(BOB)
        yield World(create_app(), headers)
        reset_engines()
    get_settings.cache_clear()


@pytest.fixture
def data_dir(world: World) -> Path:
    """The module's data directory instead of one per test (tests/conftest.py)."""
    return get_settings().data_dir


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
)
@schema.parametrize()
def test_b_gets_no_server_error_and_nothing_of_a(case: schemathesis.Case, world: World) -> None:
    restore(BOB)
    response = case.call(app=world.app, base_url=LOOPBACK_URL, headers=world.headers)
    case.validate_response(response, checks=[not_a_server_error])
    headers = "\n".join(
        f"{name}: {value}" for name, values in response.headers.items() for value in values
    )
    for what, secret in ALICE.secrets().items():
        assert secret.encode() not in response.content, f"A's {what} in the body"
        assert secret not in headers, f"A's {what} in a header"
    assert damage(ALICE) == [], "B's request changed A's objects"


def test_a_is_untouched_after_all_of_b_s_requests(world: World) -> None:
    assert damage(ALICE, password=True) == []
