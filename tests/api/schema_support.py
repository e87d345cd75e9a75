"""Two users with ready projects and exports, for tests/api/test_schemathesis.py.

Their ids are fixed here, before any database exists, because the OpenAPI document the
tests are generated from carries them as examples of the path parameters. Every object is
real: rows in the database and files on disk (upload, stem masters, previews, peaks, the
export), so each id route can answer 200 to its owner.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from isomix import storage
from isomix.accounts import access, keys, passwords, tokens, users
from isomix.config import get_settings
from isomix.db import get_sessionmaker
from isomix.models import ApiToken, Export, JobStatus, Project, StemSet, User, utcnow

PASSWORD = "a long enough password"
STEMS = ("drums", "bass", "other", "vocals")
# Stem files by variant: what each starts with (the server only sends them, never decodes).
VARIANTS: tuple[tuple[storage.StemVariant, bytes], ...] = (("master", b"fLaC"), ("preview", b"ID3"))


@dataclass(frozen=True)
class Person:
    """A user and the objects they own, by fixed ids (`restore` remakes deleted ones)."""

    email: str
    filename: str
    plan: str
    user_id: str
    project_id: str
    stem_set_id: str
    export_id: str
    token_id: str

    @property
    def track(self) -> str:
        """The filename without its extension: what download names carry."""
        return self.filename.rsplit(".", 1)[0]

    def secrets(self) -> dict[str, str]:
        """What no other user may ever read in an answer, body or headers."""
        return {
            "email": self.email,
            "filename": self.track,
            "user id": self.user_id,
            "project id": self.project_id,
            "stem set id": self.stem_set_id,
            "export id": self.export_id,
            "token id": self.token_id,
        }


def _uuid(kind: int, person: int) -> str:
    return f"{kind:08x}-0000-4000-8000-{person:012x}"


ALICE = Person(
    email="alice@example.com",
    filename="alice-private-demo.wav",
    plan="free",
    user_id=_uuid(0xA11CE001, 1),
    project_id=_uuid(0xA11CE002, 1),
    stem_set_id=_uuid(0xA11CE003, 1),
    export_id=_uuid(0xA11CE004, 1),
    token_id=_uuid(0xA11CE005, 1),
)
BOB = Person(
    email="bob@example.com",
    filename="bob-song.wav",
    plan="pro",
    user_id=_uuid(0xB0B00001, 2),
    project_id=_uuid(0xB0B00002, 2),
    stem_set_id=_uuid(0xB0B00003, 2),
    export_id=_uuid(0xB0B00004, 2),
    token_id=_uuid(0xB0B00005, 2),
)


def _write_files(person: Person) -> None:
    source = storage.resolve(f"{storage.project_dir(person.project_id)}/original.wav")
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(b"RIFF" + bytes(40))
    directory = storage.stem_set_dir(person.stem_set_id)
    for name in STEMS:
        for variant, content in VARIANTS:
            path = storage.resolve(storage.stem_file(directory, name, variant))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content + bytes(64))
    storage.write_json(
        storage.resolve(storage.peaks_file(directory)),
        {"duration_seconds": 1.0, "buckets": 2, "stems": {name: [0.0, 0.5] for name in STEMS}},
    )
    export = storage.resolve(storage.export_file(person.export_id, "mp3"))
    export.parent.mkdir(parents=True, exist_ok=True)
    export.write_bytes(b"ID3" + bytes(64))


def _add_project(person: Person) -> None:
    now = utcnow()
    with get_sessionmaker()() as session, session.begin():
        session.add(
            StemSet(
                id=person.stem_set_id,
                cache_key=f"test:{person.stem_set_id}",
                directory=storage.stem_set_dir(person.stem_set_id),
                stem_names={"names": list(STEMS)},
                duration_seconds=1.0,
                refcount=1,
            )
        )
        session.add(
            Project(
                id=person.project_id,
                owner_id=person.user_id,
                filename=person.filename,
                source_path=f"{storage.project_dir(person.project_id)}/original.wav",
                content_sha256=person.project_id.replace("-", "").ljust(64, "0"),
                size_bytes=44,
                container="wav",
                duration_seconds=1.0,
                model="classic",
                status=JobStatus.ready,
                progress=100.0,
                started_at=now,
                finished_at=now,
                stem_set_id=person.stem_set_id,
            )
        )
        session.add(
            Export(
                id=person.export_id,
                project_id=person.project_id,
                mix={"format": "mp3", "bitrate": 192, "stems": {}},
                format="mp3",
                bitrate=192,
                status=JobStatus.ready,
                progress=100.0,
                path=storage.export_file(person.export_id, "mp3"),
                finished_at=now,
            )
        )


def create(person: Person) -> dict[str, str]:
    """The person's account (with an API token) and ready project with an export, on disk;
    the headers of a request they sign in to make (a fresh access token)."""
    with get_sessionmaker()() as session:
        user = User(
            id=person.user_id,
            email=users.normal_email(person.email),
            password_hash=passwords.hash_password(PASSWORD),
        )
        session.add(user)
        session.flush()
        users.set_plan(session, user, person.plan, until=None, source="admin")
        secret = keys.new_secret(tokens.API_TOKEN_PREFIX)
        session.add(
            ApiToken(
                id=person.token_id,
                user_id=person.user_id,
                name="spare",
                token_hash=keys.digest(secret),
                prefix=secret[:8],
            )
        )
        session.commit()
    _write_files(person)
    _add_project(person)
    return signed_in(person)


def signed_in(person: Person) -> dict[str, str]:
    token, _ = access.issue(person.user_id, get_settings(), now=utcnow())
    return {"Authorization": f"Bearer {token}"}


def restore(person: Person) -> None:
    """Remake the person's project, stem set and export (rows and files) if a request
    deleted the project, so that later requests find it ready again."""
    with get_sessionmaker()() as session:
        if session.get(Project, person.project_id) is not None:
            return
        stem_set = session.get(StemSet, person.stem_set_id)
        if stem_set is not None:
            session.delete(stem_set)
            session.commit()
    _write_files(person)
    _add_project(person)


def damage(person: Person, *, password: bool = False) -> list[str]:
    """What of the person's objects is missing or changed; empty when all is intact.
    `password`: check it too (an Argon2 verification, about 0.1 s)."""
    problems = []
    with get_sessionmaker()() as session:
        user = session.get(User, person.user_id)
        if user is None or user.disabled_at is not None or user.email != person.email:
            problems.append("user changed")
        elif users.plan_of(session, user, get_settings()).plan.name != person.plan:
            problems.append("plan changed")
        elif password and not passwords.verify(PASSWORD, user.password_hash)[0]:
            problems.append("password changed")
        project = session.get(Project, person.project_id)
        if project is None or (project.status, project.filename) != (
            JobStatus.ready,
            person.filename,
        ):
            problems.append(f"project: {project and project.status}")
        export = session.get(Export, person.export_id)
        if export is None or export.status != JobStatus.ready:
            problems.append(f"export: {export and export.status}")
        token = session.get(ApiToken, person.token_id)
        if token is None or token.revoked_at is not None:
            problems.append("API token revoked")
    files = [
        f"{storage.project_dir(person.project_id)}/original.wav",
        storage.export_file(person.export_id, "mp3"),
        storage.peaks_file(storage.stem_set_dir(person.stem_set_id)),
        *(storage.stem_file(storage.stem_set_dir(person.stem_set_id), name) for name in STEMS),
    ]
    problems += [f"missing {name}" for name in files if not storage.resolve(name).is_file()]
    return problems


# Path parameters that name a user's object: the Person attribute holding its id.
ID_PARAMETERS = {
    "project_id": "project_id",
    "export_id": "export_id",
    "token_id": "token_id",
    "user_id": "user_id",
}


def with_examples(document: dict[str, Any], people: Iterable[Person]) -> dict[str, Any]:
    """A copy of the OpenAPI document with `examples` on the path parameters: every id
    parameter names each person's object, `stem` each stem name. The examples phase then
    calls every id route with the other user's ids as well as with the caller's own."""
    people = list(people)
    document = copy.deepcopy(document)
    for methods in document["paths"].values():
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                name = parameter["name"]
                if parameter.get("in") != "path":
                    continue
                if name in ID_PARAMETERS:
                    values = [getattr(person, ID_PARAMETERS[name]) for person in people]
                elif name == "stem":
                    values = list(STEMS)
                else:
                    continue
                parameter["examples"] = {
                    f"{name}_{index}": {"value": value} for index, value in enumerate(values)
                }
    return document
