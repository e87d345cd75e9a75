"""`isomix keys generate|rotate|status`: the master keys of encryption at rest
(ISOMIX_ENCRYPTION_KEY, ISOMIX_PREVIOUS_ENCRYPTION_KEYS; sealed.py owns the format)."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from isomix.sealed import KeyRing

# Plaintext audio files named one by one, at most.
LISTED_AUDIO = 20


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "keys",
        help="encryption at rest: make a key, rotate, see which keys files use",
        description="Manage the master keys of encryption at rest. ISOMIX_ENCRYPTION_KEY "
        "seals every file written under the data directory; keys listed in "
        "ISOMIX_PREVIOUS_ENCRYPTION_KEYS still open older files. To rotate: make a new key, "
        "set it as ISOMIX_ENCRYPTION_KEY with the old one added to "
        "ISOMIX_PREVIOUS_ENCRYPTION_KEYS on every instance, run `isomix keys rotate`, then "
        "drop the old key.",
    )
    actions = parser.add_subparsers(dest="keys_action", required=True, metavar="ACTION")

    generate = actions.add_parser("generate", help="print a new random key (base64)")
    generate.set_defaults(handler=run_generate)

    rotate = actions.add_parser(
        "rotate",
        help="rewrap every sealed file with the current key",
        description="Wrap the data key of every sealed file under the data directory with "
        "ISOMIX_ENCRYPTION_KEY, rewriting only each file's header (the audio is not "
        "re-encrypted). Exits with 1 if a file cannot be opened with the keys given.",
    )
    rotate.add_argument(
        "--dry-run",
        action="store_true",
        help="only check every file and count what would be rewrapped; change nothing",
    )
    rotate.set_defaults(handler=run_rotate)

    status = actions.add_parser(
        "status", help="the current key's id and how many files each key seals"
    )
    status.set_defaults(handler=run_status)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _keyring() -> KeyRing | None:
    """The configured ring; InvalidKeyError (a ValueError) for a malformed key."""
    from isomix.config import get_settings
    from isomix.sealed import KeyRing

    return KeyRing.from_settings(get_settings())


def run_generate(args: argparse.Namespace) -> int:
    from isomix.sealed import generate_key

    print(generate_key())
    return 0


# ---------------------------------------------------------------- the walk


def _skipped_paths(root: Path) -> set[Path]:
    """Files under the data directory that are not stored objects: the SQLite database (with
    its journals) and the signing key."""
    from sqlalchemy.engine import make_url

    from isomix import storage
    from isomix.config import get_settings

    skipped = {(root / storage.SECRET_KEY_FILE)}
    url = make_url(get_settings().resolved_database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = Path(url.database).resolve()
        for suffix in ("", "-wal", "-shm", "-journal"):
            skipped.add(database.with_name(database.name + suffix))
    return skipped


def stored_files() -> Iterator[Path]:
    """Every regular file under the data directory but the database, the signing key and
    the models folder, in a stable order."""
    from isomix import storage

    root = storage.data_root()
    skipped = _skipped_paths(root)
    for directory, folders, files in os.walk(root):
        here = Path(directory)
        if here == root:
            folders[:] = [name for name in folders if name != storage.MODELS]
        folders.sort()
        for name in sorted(files):
            path = here / name
            if path not in skipped and path.is_file() and not path.is_symlink():
                yield path


def _relative(path: Path) -> str:
    from isomix import storage

    return path.relative_to(storage.data_root()).as_posix()


def _audio_kind(path: Path) -> str | None:
    """The audio container a plaintext file is, judged by its bytes; None if not audio."""
    from isomix.audio.errors import AudioError
    from isomix.audio.formats import detect_container

    try:
        return detect_container(path).split(",")[0]
    except (AudioError, OSError):
        return None


# ---------------------------------------------------------------- rotate


@dataclass
class RotateCounts:
    rewrapped: int = 0
    current: int = 0
    plaintext: int = 0
    errors: int = 0

    def summary(self, *, dry_run: bool) -> str:
        verb = "would rewrap" if dry_run else "rewrapped"
        return (
            f"{verb} {self.rewrapped}, already current {self.current}, "
            f"plaintext files {self.plaintext}, errors {self.errors}"
        )


def run_rotate(args: argparse.Namespace) -> int:
    from isomix.sealed import SealedFileError, rewrap, sealed_key_id

    try:
        keyring = _keyring()
    except ValueError as error:
        return _fail(str(error))
    if keyring is None:
        return _fail(
            "encryption at rest is off: set ISOMIX_ENCRYPTION_KEY (and the old key in "
            "ISOMIX_PREVIOUS_ENCRYPTION_KEYS) first"
        )
    counts = RotateCounts()
    for path in stored_files():
        try:
            if sealed_key_id(path) is None:
                counts.plaintext += 1
            elif rewrap(path, keyring, dry_run=args.dry_run):
                counts.rewrapped += 1
            else:
                counts.current += 1
        except FileNotFoundError:
            continue  # deleted while we walked
        except (SealedFileError, OSError) as error:
            counts.errors += 1
            print(f"error: {error}", file=sys.stderr)
    prefix = "dry run, nothing changed: " if args.dry_run else ""
    print(f"{prefix}{counts.summary(dry_run=args.dry_run)}")
    return 1 if counts.errors else 0


# ---------------------------------------------------------------- status


@dataclass
class KeyCensus:
    by_key: Counter[str] = field(default_factory=Counter)
    plaintext: int = 0
    audio: list[tuple[str, str]] = field(default_factory=list)  # (path, container)
    unreadable: list[str] = field(default_factory=list)


def census() -> KeyCensus:
    from isomix.sealed import SealedFileError, sealed_key_id

    found = KeyCensus()
    for path in stored_files():
        try:
            identifier = sealed_key_id(path)
        except FileNotFoundError:
            continue
        except (SealedFileError, OSError) as error:
            found.unreadable.append(str(error))
            continue
        if identifier is not None:
            found.by_key[identifier] += 1
            continue
        found.plaintext += 1
        kind = _audio_kind(path)
        if kind is not None:
            found.audio.append((_relative(path), kind))
    return found


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def run_status(args: argparse.Namespace) -> int:
    try:
        keyring = _keyring()
    except ValueError as error:
        return _fail(str(error))
    if keyring is None:
        print("encryption at rest: off (ISOMIX_ENCRYPTION_KEY is not set)")
    else:
        print("encryption at rest: on")
        print(f"current key: {keyring.current_id}")
        if keyring.previous_ids:
            print(f"previous keys: {', '.join(keyring.previous_ids)}")
    found = census()
    print("sealed files by key:" if found.by_key else "sealed files: none")
    for identifier, count in sorted(found.by_key.items(), key=lambda item: -item[1]):
        if keyring is not None and identifier == keyring.current_id:
            note = "current"
        elif keyring is not None and identifier in keyring:
            note = "previous: `isomix keys rotate` rewraps them"
        else:
            note = "unknown: no configured key opens them"
        print(f"  {identifier}  {_files(count)}  ({note})")
    print(f"plaintext files: {found.plaintext} ({len(found.audio)} audio)")
    if keyring is not None and found.audio:
        print(
            f"warning: {_files(len(found.audio))} of plaintext audio under a sealed data "
            "directory (written before encryption was turned on?):"
        )
        for relative, kind in found.audio[:LISTED_AUDIO]:
            print(f"  {relative}  ({kind})")
        if len(found.audio) > LISTED_AUDIO:
            print(f"  and {len(found.audio) - LISTED_AUDIO} more")
    for message in found.unreadable:
        print(f"error: {message}", file=sys.stderr)
    return 1 if found.unreadable else 0
