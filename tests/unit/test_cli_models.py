"""`isomix models list|import|remove|pull` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.models import build_small_htdemucs_repo

from isomix import storage
from isomix.cli import main
from isomix.config import get_settings
from isomix.separation import catalog


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["models", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def rows(listing: str) -> dict[str, list[str]]:
    table = listing.split("\n\n")[0].splitlines()[1:]
    return {line.split()[0]: line.split() for line in table}


def test_list_shows_the_catalog_with_installed_state_and_quality(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "list")

    assert code == 0, err
    table = rows(out)
    assert list(table) == ["htdemucs", "htdemucs_ft", "htdemucs_6s", "mdx_extra", "classic"]
    assert table["htdemucs"][1:4] == ["drums,bass,other,vocals", "~84", "MB"]
    assert table["htdemucs"][4] == "no"
    assert table["htdemucs_6s"][1] == "drums,bass,other,vocals,guitar,piano"
    assert table["classic"][-3:] == ["low", "quality,", "default"]
    assert "yes" in table["classic"]


def test_list_gives_every_model_its_figure_and_where_it_comes_from(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "list")

    assert code == 0, err
    table = rows(out)
    sdr = {name: row[5] for name, row in table.items()}
    # Published by Demucs (README, MDX 2021 submission) or measured by bench/classic_sdr.py.
    assert sdr == {
        "htdemucs": "9.00",
        "htdemucs_ft": "9.00",
        "htdemucs_6s": "none",
        "mdx_extra": "8.11",
        "classic": "5.94",
    }
    sources = out.split("where each figure comes from:\n")[1].splitlines()
    source = {line.split()[0]: " ".join(line.split()[1:]) for line in sources[:5]}
    assert source["htdemucs"].startswith("published by Demucs (README)")
    assert source["htdemucs_ft"].startswith("published by Demucs (README table)")
    assert source["htdemucs_6s"] == "none published by Demucs (experimental model)"
    assert "MDX hidden test set, not MUSDB" in source["mdx_extra"]
    assert source["classic"].startswith("measured here (bench/classic_sdr.py)")
    assert " - " not in out.split("\n\n")[0]


def test_the_default_follows_the_catalog_order_not_the_last_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = build_small_htdemucs_repo(tmp_path, "small")
    assert run(capsys, "import", str(weights), "--name", "mine")[0] == 0

    out = run(capsys, "list")[1]
    assert rows(out)["mine"][-1] == "imported"
    assert "Default: classic (the built-in engine: no catalog model is installed)." in out

    assert run(capsys, "import", str(weights), "--name", "htdemucs_6s")[0] == 0
    out = run(capsys, "list")[1]
    assert rows(out)["htdemucs_6s"][-1] == "default"
    assert "Default: htdemucs_6s (the best installed, in the catalog's order)." in out


def test_models_default_chooses_shows_and_clears_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = build_small_htdemucs_repo(tmp_path, "small")
    assert run(capsys, "import", str(weights), "--name", "htdemucs")[0] == 0
    assert run(capsys, "import", str(weights), "--name", "mine")[0] == 0
    assert run(capsys, "default") == (
        0,
        "The default model is htdemucs (the best installed, in the catalog's order).\n",
        "",
    )

    code, out, err = run(capsys, "default", "mine")
    assert (code, err) == (0, "")
    assert out == "The default model is mine (chosen with `isomix models default`).\n"
    assert (storage.models_dir() / ".default").read_text() == "mine\n"
    assert rows(run(capsys, "list")[1])["mine"][-2:] == ["imported,", "default"]

    # ISOMIX_DEFAULT_MODEL wins over the choice while it is set (to an installed model).
    monkeypatch.setenv("ISOMIX_DEFAULT_MODEL", "classic")
    get_settings.cache_clear()
    code, out, _ = run(capsys, "default", "mine")
    assert code == 0
    assert out.splitlines() == [
        "The default model is classic (set by ISOMIX_DEFAULT_MODEL).",
        "mine is stored as the chosen default, but ISOMIX_DEFAULT_MODEL wins while it is set.",
    ]
    monkeypatch.delenv("ISOMIX_DEFAULT_MODEL")
    get_settings.cache_clear()

    code, out, _ = run(capsys, "remove", "mine")
    assert out.splitlines() == [
        "Removed mine.",
        "The default model is now htdemucs (the best installed, in the catalog's order).",
    ]
    code, out, _ = run(capsys, "default", "--clear")
    assert out.startswith("Forgot the chosen default. The default model is htdemucs ")
    assert not (storage.models_dir() / ".default").exists()
    assert run(capsys, "default", "--clear")[1].startswith("No default was chosen.")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("default", "htdemucs"), "error: Model 'htdemucs' is not installed."),
        (("default", "../etc"), "error: Unknown model '../etc'."),
        (("default", "classic", "--clear"), "error: give a NAME or --clear, not both"),
    ],
)
def test_models_default_refuses_what_it_cannot_use(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, *argv)

    assert (code, out) == (1, "")
    assert err.startswith(message)
    assert not (storage.models_dir() / ".default").exists()


def test_a_damaged_default_file_is_ignored(capsys: pytest.CaptureFixture[str]) -> None:
    storage.models_dir().mkdir(parents=True, exist_ok=True)
    (storage.models_dir() / ".default").write_bytes(b"\xff\xfe not a name")

    assert run(capsys, "default")[1].startswith("The default model is classic (the built-in")


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1 KB"),
        (999_960, "1 MB"),
        (107_700_000, "107.7 MB"),
        (1_234_000_000, "1.23 GB"),
    ],
)
def test_sizes_are_decimal_megabytes(size: int, text: str) -> None:
    assert catalog.format_size(size) == text
    assert catalog.format_size(84_000_000, approximate=True) == "~84 MB"


def test_list_all_shows_the_test_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--all")

    assert code == 0
    assert "demucs_unittest" in rows(out)


def test_import_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = build_small_htdemucs_repo(tmp_path, "small")

    code, out, err = run(capsys, "import", str(weights), "--name", "htdemucs")
    assert code == 0, err
    assert out.startswith("Imported htdemucs: 4 stems (drums, bass, other, vocals)")

    table = rows(run(capsys, "list")[1])
    assert table["htdemucs"][4] == "yes"
    assert table["htdemucs"][3] == "KB"  # the real size now, not the catalog's estimate

    code, _, err = run(capsys, "import", str(weights), "--name", "htdemucs")
    assert code == 1
    assert err == "error: Model 'htdemucs' is already installed; add --force to replace it\n"
    assert run(capsys, "import", str(weights), "--name", "htdemucs", "--force")[0] == 0

    code, out, _ = run(capsys, "remove", "htdemucs")
    assert (code, out.splitlines()[0]) == (0, "Removed htdemucs.")
    assert rows(run(capsys, "list")[1])["htdemucs"][4] == "no"


def test_an_imported_model_unknown_to_the_catalog_is_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "import", str(build_small_htdemucs_repo(tmp_path, "mine")))

    table = rows(run(capsys, "list")[1])

    assert table["mine"][1] == "drums,bass,other,vocals"
    assert table["mine"][-1] == "imported"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("import", "/nonexistent/model.th"), "error: /nonexistent/model.th: no such file"),
        (("remove", "htdemucs"), "error: Model 'htdemucs' is not installed."),
        (("remove", "classic"), "error: 'classic' is built in and cannot be removed"),
        (("pull", "nosuchmodel"), "error: Unknown model 'nosuchmodel'. Models on the hub: "),
    ],
)
def test_errors_are_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, *argv)

    assert code == 1
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert out == ""


def test_importing_garbage_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "model.th"
    garbage.write_bytes(b"\x80not a pickle at all" * 10)

    code, _, err = run(capsys, "import", str(garbage))

    assert code == 1
    assert err.startswith("error: model.th is not a ")
    assert "model" not in rows(run(capsys, "list")[1])


def test_pull_of_a_builtin_model_has_nothing_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "pull", "classic") == (0, "classic is built in; nothing to download.\n", "")


def _isomix(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "isomix", *argv],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_pull_offline_explains_how_to_import(tmp_path: Path) -> None:
    result = _isomix(
        "models", "pull", "htdemucs_6s", env={"HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: could not reach the model hub (HF_HUB_OFFLINE is set)")
    assert "/adefossez/HTDemucs-6s/resolve/main/5c90dfd2.safetensors" in result.stderr
    assert "isomix models import FOLDER --name htdemucs_6s" in result.stderr


def test_models_list_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from isomix.cli import main\n"
        "assert main(['models', 'list']) == 0\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def _damage(name: str) -> None:

    (storage.models_dir() / name / "manifest.json").write_text('{"name": "')


def test_a_damaged_model_is_listed_with_its_problem_and_can_be_imported_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = build_small_htdemucs_repo(tmp_path, "small")
    assert run(capsys, "import", str(weights), "--name", "htdemucs")[0] == 0
    assert run(capsys, "import", str(weights), "--name", "mine")[0] == 0
    _damage("htdemucs")
    _damage("mine")

    code, out, err = run(capsys, "list")

    assert code == 0, err
    table = rows(out)
    assert table["htdemucs"][1:5] == ["drums,bass,other,vocals", "~84", "MB", "damaged"]
    assert table["mine"] == ["mine", "?", "-", "damaged", "none", "imported"]
    assert (
        "Model 'htdemucs' is damaged: manifest.json is not valid JSON (Unterminated string "
        "starting at: line 1 column 10). Reinstall it with `isomix models pull htdemucs`, "
        "`isomix models import PATH --name htdemucs`, or delete it with `isomix models remove "
        "htdemucs`."
    ) in out
    assert "Model 'mine' is damaged: manifest.json is not valid JSON" in out

    code, out, err = run(capsys, "import", str(weights), "--name", "htdemucs")
    assert code == 0, err
    assert out.startswith("Imported htdemucs: 4 stems")
    assert rows(run(capsys, "list")[1])["htdemucs"][4] == "yes"

    assert run(capsys, "remove", "mine") == (0, "Removed mine.\n", "")
    assert "mine" not in rows(run(capsys, "list")[1])


def test_pull_over_a_damaged_model_installs_it_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub_files import FakeHub, write_hub_safetensors

    assert (
        run(capsys, "import", str(build_small_htdemucs_repo(tmp_path, "x")), "--name", "htdemucs")[
            0
        ]
        == 0
    )
    _damage("htdemucs")
    weights = tmp_path / "955717e8.safetensors"
    write_hub_safetensors(weights, seed=5)
    hub = FakeHub()
    hub.add("adefossez/HTDemucs", "htdemucs.yaml", b"models: ['955717e8']\n")
    hub.add("adefossez/HTDemucs", "955717e8.safetensors", weights.read_bytes())

    with hub.serve() as endpoint:
        result = _isomix(
            "models",
            "pull",
            "htdemucs",
            env={"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf")},
        )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("htdemucs is damaged (manifest.json is not valid JSON")
    assert lines[0].endswith("); installing it again.")
    assert lines[-1].startswith("Installed htdemucs: 4 stems")
    assert rows(run(capsys, "list")[1])["htdemucs"][4] == "yes"
