"""`isomix keys generate|rotate|status` on a data directory with sealed and plain files."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from isomix import sealed
from isomix.cli import main
from isomix.config import get_settings
from isomix.sealed import HEADER_SIZE, KeyRing

OLD = base64.b64encode(bytes(range(32))).decode()
NEW = base64.b64encode(bytes(range(100, 132))).decode()
STRANGER = bytes(range(200, 232))
OLD_ID = sealed.key_id(base64.b64decode(OLD))
NEW_ID = sealed.key_id(base64.b64decode(NEW))
UseKeys = Callable[..., None]
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64)


@pytest.fixture
def use_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[UseKeys]:
    def use(current: str | None, previous: str | None = None) -> None:
        for variable, value in (
            ("ISOMIX_ENCRYPTION_KEY", current),
            ("ISOMIX_PREVIOUS_ENCRYPTION_KEYS", previous),
        ):
            if value is None:
                monkeypatch.delenv(variable, raising=False)
            else:
                monkeypatch.setenv(variable, value)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def keys(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["keys", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def put_sealed(path: Path, plaintext: bytes, key: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out, sealed.SealedWriter(out, KeyRing(key), chunk_size=64) as writer:
        writer.write(plaintext)
    return path


def put_plain(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def files(data_dir: Path) -> dict[str, Path]:
    """Two files under the old key, one under the new, one plain WAV, one plain JSON; and
    what the walk must skip: the database, the signing key and the models folder."""
    old, new = base64.b64decode(OLD), base64.b64decode(NEW)
    made = {
        "original": put_sealed(data_dir / "projects/p1/original.wav", WAV * 20, old),
        "master": put_sealed(data_dir / "stems/s1/drums.flac", b"fLaC" + bytes(500), old),
        "export": put_sealed(data_dir / "exports/e1.mp3", b"ID3" + bytes(300), new),
        "plain_audio": put_plain(data_dir / "projects/p2/original.wav", WAV),
        "plain_json": put_plain(data_dir / "stems/s2/peaks.json", b'{"peaks": []}'),
    }
    put_plain(data_dir / "isomix.db", b"SQLite format 3\x00")
    put_plain(data_dir / "isomix.db-wal", b"")
    put_plain(data_dir / ".secret_key", b"signing")
    put_plain(data_dir / "models/htdemucs/weights.th", WAV)
    return made


def test_generate_prints_a_new_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, first, _ = keys(capsys, "generate")
    _, second, _ = keys(capsys, "generate")
    assert code == 0
    assert len(base64.b64decode(first.strip(), validate=True)) == 32
    assert first != second


def test_status_counts_files_by_key(
    capsys: pytest.CaptureFixture[str], use_keys: UseKeys, files: dict[str, Path]
) -> None:
    use_keys(NEW, OLD)
    code, out, err = keys(capsys, "status")
    assert (code, err) == (0, "")
    assert "encryption at rest: on" in out
    assert f"current key: {NEW_ID}" in out
    assert f"previous keys: {OLD_ID}" in out
    assert f"{OLD_ID}  2 files  (previous: `isomix keys rotate` rewraps them)" in out
    assert f"{NEW_ID}  1 file  (current)" in out
    assert "plaintext files: 2 (1 audio)" in out
    assert "warning: 1 file of plaintext audio" in out
    assert "projects/p2/original.wav  (wav)" in out
    assert "models" not in out and "weights" not in out
    assert OLD not in out and NEW not in out


def test_status_without_encryption_still_counts(
    capsys: pytest.CaptureFixture[str], use_keys: UseKeys, files: dict[str, Path]
) -> None:
    use_keys(None)
    code, out, _ = keys(capsys, "status")
    assert code == 0
    assert "encryption at rest: off" in out
    assert f"{OLD_ID}  2 files  (unknown: no configured key opens them)" in out
    assert "warning" not in out


def test_rotate_dry_run_then_rotate(
    capsys: pytest.CaptureFixture[str], use_keys: UseKeys, files: dict[str, Path]
) -> None:
    use_keys(NEW, OLD)
    before = {name: path.read_bytes() for name, path in files.items()}

    code, out, err = keys(capsys, "rotate", "--dry-run")
    assert (code, err) == (0, "")
    assert out.strip() == (
        "dry run, nothing changed: would rewrap 2, already current 1, plaintext files 2, errors 0"
    )
    assert {name: path.read_bytes() for name, path in files.items()} == before

    code, out, err = keys(capsys, "rotate")
    assert (code, err) == (0, "")
    assert out.strip() == "rewrapped 2, already current 1, plaintext files 2, errors 0"
    for name in ("original", "master"):
        after = files[name].read_bytes()
        assert after[HEADER_SIZE:] == before[name][HEADER_SIZE:]
        assert sealed.sealed_key_id(files[name]) == NEW_ID
    for name in ("export", "plain_audio", "plain_json"):
        assert files[name].read_bytes() == before[name]

    use_keys(NEW)  # the old key dropped: everything still opens
    new_only = KeyRing(base64.b64decode(NEW))
    with sealed.open_sealed(files["original"], new_only) as reader:
        assert reader.read() == WAV * 20
    code, out, _ = keys(capsys, "rotate")
    assert (code, out.strip()) == (
        0,
        "rewrapped 0, already current 3, plaintext files 2, errors 0",
    )


def test_rotate_reports_a_file_no_key_opens(
    capsys: pytest.CaptureFixture[str], use_keys: UseKeys, files: dict[str, Path], data_dir: Path
) -> None:
    use_keys(NEW, OLD)
    stranger = put_sealed(data_dir / "stems/s3/bass.flac", b"fLaC" + bytes(200), STRANGER)
    untouched = stranger.read_bytes()
    for argv in (["--dry-run"], []):
        code, out, err = keys(capsys, "rotate", *argv)
        assert code == 1
        assert "errors 1" in out
        assert "stems/s3/bass.flac" in err
        assert f"sealed with key {sealed.key_id(STRANGER)}" in err
        assert stranger.read_bytes() == untouched
    assert sealed.sealed_key_id(files["original"]) == NEW_ID  # the others were rewrapped


def test_rotate_needs_a_valid_key(
    capsys: pytest.CaptureFixture[str], use_keys: UseKeys, files: dict[str, Path]
) -> None:
    use_keys(None)
    code, _, err = keys(capsys, "rotate")
    assert code == 1
    assert "encryption at rest is off" in err

    use_keys("c2VjcmV0LXZhbHVl")
    for action in ("rotate", "status"):
        code, out, err = keys(capsys, action)
        assert code == 1
        assert "ISOMIX_ENCRYPTION_KEY holds 12 bytes" in err
        assert "c2VjcmV0LXZhbHVl" not in out + err
