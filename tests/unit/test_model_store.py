"""The model store: import (.th, .safetensors, bag folders), list, load, remove, offline pull."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from demucs.apply import BagOfModels
from demucs.htdemucs import HTDemucs
from helpers.models import SOURCES, build_small_htdemucs_repo
from hub_files import FakeHub, write_hub_safetensors
from safetensors.torch import save_file

from isomix import storage
from isomix.separation import catalog, store
from isomix.separation.base import ModelNotInstalledError
from isomix.separation.hub import pull as pull_from_hub
from isomix.separation.weights import sha256_of

DEMUCS_REMOTE = Path(__import__("demucs").__file__).parent / "remote"


def models_dir() -> Path:

    return storage.models_dir()


def installed_names(**kwargs: Any) -> list[str]:
    return [model.name for model in store.installed_models(**kwargs)]


def test_catalog_signatures_are_the_ones_demucs_uses() -> None:
    for entry in catalog.CATALOG.values():
        if entry.builtin:
            assert entry.hub_repo is None
            continue
        bag = yaml.safe_load((DEMUCS_REMOTE / f"{entry.name}.yaml").read_text())
        assert tuple(bag["models"]) == entry.signatures
        assert entry.hub_repo == f"adefossez/{catalog.hub_repo_name(entry.name)}"
    assert catalog.CATALOG["htdemucs_ft"].hub_repo == "adefossez/HTDemucs-ft"


def test_builtins_are_always_installed_and_the_test_model_hidden() -> None:
    assert store.is_installed("classic")
    assert store.is_installed("demucs_unittest")
    assert installed_names() == ["classic"]
    assert installed_names(include_hidden=True) == ["classic", "demucs_unittest"]
    assert not store.is_installed("htdemucs")


def test_import_th_installs_lists_and_loads(tmp_path: Path) -> None:
    source = build_small_htdemucs_repo(tmp_path / "src", "small")
    model = store.import_model(source)

    assert model.name == "small"
    assert model.source == "imported"
    assert model.sources == tuple(SOURCES)
    assert model.sample_rate == 44100
    folder = models_dir() / "small"
    assert model.path == folder
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "small.th", "small.yaml"]
    assert yaml.safe_load((folder / "small.yaml").read_text()) == {"models": ["small"]}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["files"]["small.th"] == sha256_of(source)
    assert manifest["size_bytes"] == sum(
        (folder / name).stat().st_size for name in ("small.th", "small.yaml")
    )
    assert "small" in installed_names()
    assert store.is_installed("small")

    loaded = store.load_model("small")
    assert isinstance(loaded, BagOfModels)
    assert list(loaded.sources) == SOURCES
    assert not loaded.training
    original = torch.load(source, weights_only=False)["state"]
    member_state = loaded.models[0].state_dict()
    assert torch.equal(
        member_state["freq_emb.embedding.weight"].half(), original["freq_emb.embedding.weight"]
    )


def test_import_with_name_and_demucs_checksummed_file_name(tmp_path: Path) -> None:
    plain = build_small_htdemucs_repo(tmp_path, "plain")
    named = tmp_path / f"955717e8-{sha256_of(plain)[:8]}.th"
    plain.rename(named)

    model = store.import_model(named, "mine")

    assert model.name == "mine"
    bag = yaml.safe_load((models_dir() / "mine" / "mine.yaml").read_text())
    assert bag == {"models": ["955717e8"]}
    assert isinstance(store.load_model("mine"), BagOfModels)


def test_a_checksum_that_does_not_match_the_name_is_refused(tmp_path: Path) -> None:
    plain = build_small_htdemucs_repo(tmp_path, "plain")
    damaged = plain.rename(tmp_path / "955717e8-00000000.th")

    with pytest.raises(store.ModelImportError, match="checksum mismatch"):
        store.import_model(damaged, "damaged")
    assert not store.is_installed("damaged")


def test_import_safetensors_in_hub_format(tmp_path: Path) -> None:
    path = tmp_path / "hubmodel.safetensors"
    original = write_hub_safetensors(path, seed=3)

    model = store.import_model(path)

    assert model.name == "hubmodel"
    assert model.sources == tuple(SOURCES)
    loaded = store.load_model("hubmodel")
    member = loaded.models[0]
    assert isinstance(member, HTDemucs)
    assert member.segment == Fraction(2)
    for key, value in original.state_dict().items():
        assert torch.equal(member.state_dict()[key], value), key


def test_import_folder_with_bag_yaml_keeps_weights_and_segment(tmp_path: Path) -> None:
    folder = tmp_path / "download"
    build_small_htdemucs_repo(folder, "aaaa1111", seed=1)
    write_hub_safetensors(folder / "bbbb2222.safetensors", seed=2)
    weights = [[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]
    bag = {"models": ["aaaa1111", "bbbb2222"], "weights": weights, "segment": 1.5}
    (folder / "duo.yaml").write_text(yaml.safe_dump(bag))

    model = store.import_model(folder)

    assert model.name == "duo"
    files = sorted(p.name for p in (models_dir() / "duo").iterdir())
    assert files == ["aaaa1111.th", "bbbb2222.safetensors", "duo.yaml", "manifest.json"]
    loaded = store.load_model("duo")
    assert len(loaded.models) == 2
    assert loaded.weights == weights
    assert all(member.segment == 1.5 for member in loaded.models)


def test_import_a_bag_yaml_file_directly(tmp_path: Path) -> None:
    build_small_htdemucs_repo(tmp_path, "cccc3333")
    (tmp_path / "single.yaml").write_text("models: ['cccc3333']\n")

    assert store.import_model(tmp_path / "single.yaml", "renamed").name == "renamed"
    assert (models_dir() / "renamed" / "renamed.yaml").is_file()


def test_refuses_a_duplicate_unless_forced(tmp_path: Path) -> None:
    first = build_small_htdemucs_repo(tmp_path / "one", "dup", seed=1)
    second = build_small_htdemucs_repo(tmp_path / "two", "dup", seed=2)
    store.import_model(first)

    with pytest.raises(store.ModelExistsError, match="already installed; add --force"):
        store.import_model(second)
    assert store.get_installed("dup").files["dup.th"] == sha256_of(first)  # type: ignore[union-attr]

    replaced = store.import_model(second, force=True)
    assert replaced.files["dup.th"] == sha256_of(second)
    assert sorted(p.name for p in models_dir().iterdir()) == ["dup"]  # no staging left behind


def test_leftovers_of_an_interrupted_install_are_swept_later(tmp_path: Path) -> None:
    root = models_dir()
    stale = root / ".tmp-old-1234abcd"
    fresh = root / ".tmp-busy-5678abcd"  # maybe another import running right now
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "half.th").write_bytes(b"x")
    os.utime(stale, (0, 0))

    store.import_model(build_small_htdemucs_repo(tmp_path, "next"))

    assert sorted(p.name for p in root.iterdir()) == [fresh.name, "next"]
    assert installed_names() == ["classic", "next"]


def _nothing_installed() -> bool:
    root = models_dir()
    return not root.exists() or list(root.iterdir()) == []


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("junk.th", b"this is not a model" * 50, "not a Demucs model file"),
        ("junk.safetensors", b"\x00" * 300, "not a safetensors file"),
        ("empty.th", b"", "not a Demucs model file"),
    ],
)
def test_garbage_files_are_refused_and_nothing_is_installed(
    tmp_path: Path, filename: str, content: bytes, message: str
) -> None:
    path = tmp_path / filename
    path.write_bytes(content)

    with pytest.raises(store.ModelImportError, match=message):
        store.import_model(path)
    assert _nothing_installed()


def test_safetensors_without_demucs_metadata_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"weight": torch.zeros(3)}, str(path))

    with pytest.raises(store.ModelImportError, match="without Demucs metadata"):
        store.import_model(path)
    assert _nothing_installed()


def test_safetensors_naming_another_class_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.safetensors"
    metadata = {"klass": "os.system", "args": json.dumps(["touch pwned"]), "kwargs": "{}"}
    save_file({"weight": torch.zeros(3)}, str(path), metadata=metadata)

    with pytest.raises(store.ModelImportError, match="not a Demucs model"):
        store.import_model(path)
    assert _nothing_installed()


class _Payload:
    """Unpickling this would create a marker file: a .th must never be able to run code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize(
    ("protocol", "message"),
    [
        (2, r"other than a Demucs model \(.*pathlib.*\); refused"),
        # torch cannot list what a protocol 5 pickle names; it is refused all the same.
        (5, "not a Demucs model file"),
    ],
)
def test_a_th_pickle_that_would_run_code_is_refused_unrun(
    tmp_path: Path, protocol: int, message: str
) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.th"
    package = {"klass": _Payload(marker), "args": [], "kwargs": {}, "state": {}}
    torch.save(package, path, pickle_protocol=protocol)

    with pytest.raises(store.ModelImportError, match=message):
        store.import_model(path)
    assert not marker.exists()
    assert _nothing_installed()


def test_a_bag_with_a_missing_member_is_refused(tmp_path: Path) -> None:
    build_small_htdemucs_repo(tmp_path, "present")
    (tmp_path / "half.yaml").write_text("models: ['present', 'absent']\n")

    with pytest.raises(store.ModelImportError, match="absent"):
        store.import_model(tmp_path)
    assert _nothing_installed()


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "classic", "demucs_unittest"])
def test_bad_or_reserved_names_are_refused(tmp_path: Path, name: str) -> None:
    source = build_small_htdemucs_repo(tmp_path, "ok")

    with pytest.raises(store.ModelImportError, match="name"):
        store.import_model(source, name)
    assert not (models_dir().parent / "escape").exists()
    assert _nothing_installed()


def test_remove(tmp_path: Path) -> None:
    store.import_model(build_small_htdemucs_repo(tmp_path, "gone"))

    store.remove_model("gone")

    assert not store.is_installed("gone")
    assert list(models_dir().iterdir()) == []
    with pytest.raises(ModelNotInstalledError):
        store.remove_model("gone")
    with pytest.raises(store.ModelStoreError, match="built in"):
        store.remove_model("classic")


def _damage_manifest(name: str, text: str) -> Path:
    manifest = models_dir() / name / "manifest.json"
    manifest.write_text(text)
    return manifest


DAMAGES: list[tuple[str, Any, str]] = [
    # (what, how the manifest is changed, the problem reported)
    ("truncated", lambda text, data: text[: len(text) // 2], "is not valid JSON"),
    ("empty", lambda text, data: "", "is not valid JSON"),
    ("a list", lambda text, data: "[1, 2]", r"holds \[1, 2\] instead of an object"),
    ("no sources", lambda text, data: _without(data, "sources"), "has no 'sources'"),
    (
        "sources a string",
        lambda text, data: json.dumps({**data, "sources": "drums"}),
        "'sources' should be a list of stem names, not \"drums\"",
    ),
    (
        "sample rate a string",
        lambda text, data: json.dumps({**data, "sample_rate": "44100"}),
        "'sample_rate' should be a whole number",
    ),
    (
        "size a boolean",
        lambda text, data: json.dumps({**data, "size_bytes": True}),
        "'size_bytes' should be a whole number, not true",
    ),
    (
        "files a list",
        lambda text, data: json.dumps({**data, "files": ["x.th"]}),
        "'files' should be an object",
    ),
    (
        "unknown source",
        lambda text, data: json.dumps({**data, "source": "builtin"}),
        "'source' should be one of pulled, imported, manual",
    ),
    (
        "bad date",
        lambda text, data: json.dumps({**data, "installed_at": "yesterday"}),
        "'installed_at' is not a date and time",
    ),
    (
        "another model's",
        lambda text, data: json.dumps({**data, "name": "other"}),
        "is for model 'other', not 'hurt'",
    ),
    ("not UTF-8", lambda text, data: text.replace("hurt", "h\udcffurt"), "not UTF-8 text"),
]


def _without(data: dict[str, Any], key: str) -> str:
    return json.dumps({k: v for k, v in data.items() if k != key})


@pytest.mark.parametrize(("how", "problem"), [d[1:] for d in DAMAGES], ids=[d[0] for d in DAMAGES])
def test_a_damaged_manifest_is_listed_with_its_problem_and_an_import_replaces_it(
    tmp_path: Path, how: Any, problem: str
) -> None:
    source = build_small_htdemucs_repo(tmp_path, "hurt")
    store.import_model(source)
    manifest = models_dir() / "hurt" / "manifest.json"
    text = manifest.read_text()
    damaged_text = how(text, json.loads(text))
    manifest.write_bytes(damaged_text.encode("utf-8", "surrogateescape"))

    # Not usable, so not installed; but not silently gone either.
    assert installed_names() == ["classic"]
    assert not store.is_installed("hurt")
    assert store.get_installed("hurt") is None
    [damaged] = store.damaged_models()
    assert damaged.name == "hurt"
    assert damaged.path == models_dir() / "hurt"
    assert re.search(problem, damaged.problem), damaged.problem
    assert store.find_model("hurt") == damaged
    assert "`isomix models import PATH --name hurt`" in damaged.message
    assert "`isomix models remove hurt`" in damaged.message
    with pytest.raises(store.ModelDamagedError, match=problem) as loading:
        store.load_model("hurt")
    assert isinstance(loading.value, ModelNotInstalledError)  # callers handling that cope

    repaired = store.import_model(source)  # no --force needed over a damaged model

    assert repaired.name == "hurt"
    assert store.damaged_models() == []
    assert installed_names() == ["classic", "hurt"]
    assert sorted(p.name for p in models_dir().iterdir()) == ["hurt"]
    assert isinstance(store.load_model("hurt"), BagOfModels)


def test_an_unreadable_manifest_is_damaged_with_the_reason(tmp_path: Path) -> None:
    store.import_model(build_small_htdemucs_repo(tmp_path, "locked"))
    manifest = models_dir() / "locked" / "manifest.json"
    manifest.unlink()
    manifest.mkdir()  # reading it fails with an OSError, as for permission denied

    [damaged] = store.damaged_models()

    assert damaged.problem == "cannot read manifest.json: Is a directory"


def test_a_damaged_model_can_be_removed(tmp_path: Path) -> None:
    store.import_model(build_small_htdemucs_repo(tmp_path, "gone"))
    _damage_manifest("gone", "{")

    store.remove_model("gone")

    assert store.find_model("gone") is None
    assert store.damaged_models() == []
    assert list(models_dir().iterdir()) == []


def test_a_damaged_catalog_model_names_pull_as_a_repair(tmp_path: Path) -> None:
    store.import_model(build_small_htdemucs_repo(tmp_path, "small"), "htdemucs")
    _damage_manifest("htdemucs", "{")

    [damaged] = store.damaged_models()

    assert "`isomix models pull htdemucs`" in damaged.message
    with pytest.raises(ModelNotInstalledError, match="Model 'htdemucs' is damaged"):
        store.require_installed("htdemucs")


def test_a_folder_that_is_not_a_model_is_not_replaced_without_force(tmp_path: Path) -> None:
    (models_dir() / "notes").mkdir(parents=True)
    (models_dir() / "notes" / "todo.txt").write_text("x")
    source = build_small_htdemucs_repo(tmp_path, "small")

    with pytest.raises(store.ModelExistsError, match="exists and is not a model; add --force"):
        store.import_model(source, "notes")
    assert store.damaged_models() == []

    assert store.import_model(source, "notes", force=True).name == "notes"


def test_loading_a_missing_model_names_both_ways_to_install_it() -> None:
    with pytest.raises(ModelNotInstalledError) as known:
        store.load_model("htdemucs")
    assert "isomix models pull htdemucs" in str(known.value)
    assert "isomix models import PATH --name htdemucs" in str(known.value)

    with pytest.raises(ModelNotInstalledError) as unknown:
        store.load_model("nosuchmodel")
    assert "Unknown model 'nosuchmodel'" in str(unknown.value)
    assert "isomix models import PATH --name nosuchmodel" in str(unknown.value)


def test_a_hand_placed_model_folder_loads_and_gets_a_manifest(tmp_path: Path) -> None:
    from helpers.models import install_model

    member = build_small_htdemucs_repo(tmp_path, "eeee5555")
    install_model(models_dir(), "byhand", [member])

    assert store.is_installed("byhand")
    assert store.get_installed("byhand").source == "manual"  # type: ignore[union-attr]
    assert isinstance(store.load_model("byhand"), BagOfModels)
    manifest = json.loads((models_dir() / "byhand" / "manifest.json").read_text())
    assert manifest["sources"] == SOURCES
    assert manifest["files"]["eeee5555.th"] == sha256_of(member)


def test_demucs_unittest_loads_the_same_weights_every_time() -> None:
    first = store.load_model("demucs_unittest")
    second = store.load_model("demucs_unittest")
    for (key, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), key


def _run(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_store_and_catalog_import_without_torch() -> None:
    code = (
        "import sys\n"
        "from isomix.separation import store, catalog\n"
        "store.installed_models(); store.is_installed('htdemucs')\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'demucs' not in sys.modules, 'demucs imported'\n"
    )
    result = _run(code, {})
    assert result.returncode == 0, result.stderr


PULL = (
    "import sys\n"
    "from isomix.separation import store\n"
    "try:\n"
    "    store.pull_model('htdemucs', progress=False)\n"
    "except store.PullError as error:\n"
    "    print(error)\n"
    "    # Failing takes no torch import either: the answer comes at once.\n"
    "    raise SystemExit(4 if 'torch' in sys.modules else 3)\n"
)


@pytest.mark.parametrize(
    "network",
    [
        {"HF_HUB_OFFLINE": "1"},
        # Nothing listens on port 9 (discard): as good as no network, without a network.
        {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0"},
    ],
    ids=["HF_HUB_OFFLINE", "unreachable-endpoint"],
)
def test_offline_pull_fails_fast_with_the_import_hint(
    tmp_path: Path, network: dict[str, str]
) -> None:
    # The timeout guards against the hub client's retry loop (about 25 s), not a benchmark.
    result = _run(PULL, {"HF_HOME": str(tmp_path / "hf"), **network}, timeout=20)

    assert result.returncode == 3, result.stderr
    message = result.stdout
    assert "could not reach the model hub" in message
    assert "adefossez/HTDemucs/resolve/main/htdemucs.yaml" in message
    assert "adefossez/HTDemucs/resolve/main/955717e8.safetensors" in message
    assert "isomix models import FOLDER --name htdemucs" in message
    assert not store.is_installed("htdemucs")
    assert _nothing_installed()


PULL_ONLINE = (
    "from isomix.separation import store\n"
    "try:\n"
    "    model = store.pull_model('htdemucs', progress=False)\n"
    "except store.PullError as error:\n"
    "    print(error)\n"
    "    raise SystemExit(3)\n"
    "print(model.name, model.source)\n"
)


def _hub_with_htdemucs(tmp_path: Path, *, etag: str | None = None) -> tuple[FakeHub, bytes]:
    weights = tmp_path / "955717e8.safetensors"
    write_hub_safetensors(weights, seed=5)
    content = weights.read_bytes()
    hub = FakeHub()
    hub.add("adefossez/HTDemucs", "htdemucs.yaml", b"models: ['955717e8']\n")
    hub.add("adefossez/HTDemucs", "955717e8.safetensors", content, etag=etag)
    return hub, content


def test_pull_downloads_verifies_and_installs(tmp_path: Path) -> None:
    hub, content = _hub_with_htdemucs(tmp_path)
    with hub.serve() as endpoint:
        result = _run(PULL_ONLINE, {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf")})

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "htdemucs pulled"
    assert "GET /adefossez/HTDemucs/resolve/main/955717e8.safetensors" in hub.requests
    installed = store.get_installed("htdemucs")
    assert installed is not None
    assert installed.files["955717e8.safetensors"] == hashlib.sha256(content).hexdigest()
    assert sorted(p.name for p in models_dir().iterdir()) == ["htdemucs"]
    assert sorted(p.name for p in (models_dir() / "htdemucs").iterdir()) == [
        "955717e8.safetensors",
        "htdemucs.yaml",
        "manifest.json",
    ]
    assert isinstance(store.load_model("htdemucs"), BagOfModels)


def test_pull_refuses_a_download_that_does_not_match_the_hub_sha256(tmp_path: Path) -> None:
    hub, _ = _hub_with_htdemucs(tmp_path, etag="ab" * 32)
    with hub.serve() as endpoint:
        result = _run(PULL_ONLINE, {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf")})

    assert result.returncode == 3, result.stderr
    assert "955717e8.safetensors" in result.stdout
    assert "does not match the hub's sha256" in result.stdout
    assert not store.is_installed("htdemucs")
    assert _nothing_installed()


def test_offline_pull_uses_files_an_earlier_demucs_run_left_in_the_hf_cache(
    tmp_path: Path,
) -> None:
    hub, content = _hub_with_htdemucs(tmp_path)
    hf_home = {"HF_HOME": str(tmp_path / "hf")}
    # What `demucs -n htdemucs` does on a machine online: hf_hub_download into the HF cache.
    fill_cache = (
        "from huggingface_hub import hf_hub_download\n"
        "for name in ('htdemucs.yaml', '955717e8.safetensors'):\n"
        "    hf_hub_download('adefossez/HTDemucs', name)\n"
    )
    with hub.serve() as endpoint:
        filled = _run(fill_cache, {"HF_ENDPOINT": endpoint, **hf_home})
    assert filled.returncode == 0, filled.stderr

    result = _run(PULL_ONLINE, {"HF_HUB_OFFLINE": "1", **hf_home})

    assert result.returncode == 0, result.stdout + result.stderr
    installed = store.get_installed("htdemucs")
    assert installed is not None
    assert installed.files["955717e8.safetensors"] == hashlib.sha256(content).hexdigest()


def test_pull_replaces_a_damaged_model_without_force(tmp_path: Path) -> None:
    store.import_model(build_small_htdemucs_repo(tmp_path, "small"), "htdemucs")
    _damage_manifest("htdemucs", '{"name": "htdemucs", "sources": ')
    hub, content = _hub_with_htdemucs(tmp_path)
    with hub.serve() as endpoint:
        result = _run(PULL_ONLINE, {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf")})

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "htdemucs pulled"
    installed = store.get_installed("htdemucs")
    assert installed is not None
    assert installed.files["955717e8.safetensors"] == hashlib.sha256(content).hexdigest()
    assert store.damaged_models() == []
    assert sorted(p.name for p in models_dir().iterdir()) == ["htdemucs"]


def _offline_with_cache(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """HF_HUB_OFFLINE, and a HuggingFace cache whose every read fails with `error`."""
    import huggingface_hub
    from huggingface_hub import constants

    def hf_hub_download(*args: Any, **kwargs: Any) -> str:
        assert kwargs.get("local_files_only") is True
        raise error

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)


def test_a_file_missing_from_the_hf_cache_gives_the_offline_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub.errors import LocalEntryNotFoundError

    _offline_with_cache(monkeypatch, LocalEntryNotFoundError("not in the disk cache"))

    with pytest.raises(store.PullError, match="could not reach the model hub") as pulling:
        pull_from_hub("htdemucs", progress=False)
    assert "isomix models import FOLDER --name htdemucs" in str(pulling.value)
    assert _nothing_installed()


def test_a_hf_cache_that_cannot_be_read_says_why_instead_of_not_cached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    denied = PermissionError(13, "Permission denied", "/hf/hub/models--adefossez--HTDemucs/refs")
    _offline_with_cache(monkeypatch, denied)

    with pytest.raises(store.PullError) as pulling:
        pull_from_hub("htdemucs", progress=False)

    message = str(pulling.value)
    assert "could not reach" not in message
    assert message.startswith("could not read htdemucs.yaml of adefossez/HTDemucs from the ")
    assert "PermissionError: [Errno 13] Permission denied" in message
    assert pulling.value.__cause__ is denied
    assert _nothing_installed()


def test_a_bug_reading_the_hf_cache_propagates_as_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    bug = TypeError("unexpected keyword argument 'local_files_only'")
    _offline_with_cache(monkeypatch, bug)

    with pytest.raises(TypeError) as pulling:
        pull_from_hub("htdemucs", progress=False)

    assert pulling.value is bug
    assert _nothing_installed()
