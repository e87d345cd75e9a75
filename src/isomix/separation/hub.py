"""Pulling catalog models from the HuggingFace hub, the way demucs 4.1.0 itself finds them
(`<namespace>/<repo>`: `<name>.yaml` plus one `<sig>.safetensors` per bag member).

`pull` does it in the calling process (`isomix models pull`); `start_pull` does it in a spawned
process watched by a thread, one at a time per model, with its progress and outcome to read
while it runs (the API's install route: torch, which verifying a model loads, stays out of
the API process).

huggingface_hub is imported inside the functions; it reads HF_ENDPOINT and HF_HUB_OFFLINE.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

from isomix.separation import catalog
from isomix.separation.installed import (
    InstalledModel,
    ModelExistsError,
    ModelImportError,
    ModelStoreError,
    PullError,
    builtin_model,
    get_installed,
    install_staged,
    resolve_models_dir,
    staging_dir,
)

log = logging.getLogger(__name__)

# Seconds to wait for the hub to answer the first request before declaring it unreachable.
HUB_CONNECT_TIMEOUT = 5.0

PullPhase = Literal["starting", "connecting", "downloading", "verifying", "done"]


@dataclass(frozen=True)
class PullProgress:
    """How far a pull is. Files: the bag yaml and one weight file per member, known once the
    yaml is in; bytes: of the weight files, their total known once the hub has said their
    sizes (None from the local cache)."""

    phase: PullPhase
    files_done: int = 0
    files_total: int | None = None
    bytes_done: int = 0
    bytes_total: int | None = None


ProgressCallback = Callable[[PullProgress], None]


class HubUnreachableError(PullError):
    """The hub did not answer and the local HuggingFace cache lacks a file: the message lists
    the files to download elsewhere and import."""

    def __init__(self, name: str, reason: str) -> None:
        entry = catalog.CATALOG[name]
        self.name = name
        self.reason = reason
        self.filenames = [entry.yaml_filename, *(f"{sig}.safetensors" for sig in entry.signatures)]
        self.urls = hub_file_urls(name)
        files = "\n".join(f"  {url}" for url in self.urls)
        super().__init__(
            f"could not reach the model hub ({reason}). To install '{name}' offline, download "
            f"these files on a machine with internet:\n{files}\n"
            f"put them in one folder, copy it here and run `isomix models import FOLDER --name "
            f"{name}`."
        )

    def one_line(self) -> str:
        """The same hint in one line of prose, the import command left to go after it."""
        from huggingface_hub import constants

        entry = catalog.CATALOG[self.name]
        reason = self.reason if len(self.reason) <= 100 else self.reason[:97] + "..."
        files = ", ".join(self.filenames[:-1]) + f" and {self.filenames[-1]}"
        return (
            f"The model hub cannot be reached ({reason}). To install {self.name} offline, "
            f"download {files} from {constants.ENDPOINT}/{entry.hub_repo}/tree/main on a "
            "machine with internet, copy them into one folder on this server and import it:"
        )


def hub_file_urls(name: str) -> list[str]:
    """The files `pull` fetches for a catalog model, for downloading them by other means."""
    from huggingface_hub import hf_hub_url

    entry = catalog.CATALOG[name]
    assert entry.hub_repo is not None
    filenames = [entry.yaml_filename] + [f"{sig}.safetensors" for sig in entry.signatures]
    return [hf_hub_url(entry.hub_repo, filename) for filename in filenames]


def _describe_error(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


class _NotInCache(Exception):
    pass


class _CacheSource:
    """Files from the local HuggingFace cache (e.g. left by an earlier `demucs` run), copied
    out (the cache keeps them); their sizes are not known before.

    Only a file the cache does not hold is `_NotInCache` (the offline hint follows); a cache
    that cannot be read is a PullError saying why, and anything else is a bug and propagates."""

    copies = True

    def __init__(self, repo: str) -> None:
        self.repo = repo

    def size(self, filename: str) -> int | None:
        return None

    def fetch(self, filename: str, on_bytes: Callable[[int], None] | None = None) -> Path:
        from huggingface_hub import constants, hf_hub_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            return Path(hf_hub_download(self.repo, filename, local_files_only=True))
        except LocalEntryNotFoundError as error:
            raise _NotInCache(filename) from error
        except OSError as error:
            raise PullError(
                f"could not read {filename} of {self.repo} from the HuggingFace cache in "
                f"{constants.HF_HUB_CACHE}: {_describe_error(error)}"
            ) from error


class _NetworkSource:
    """Files downloaded from the hub into `directory` (moved out, so no second copy), each
    checked against the sha256 the hub gives for it."""

    copies = False

    def __init__(self, repo: str, directory: Path) -> None:
        self.repo = repo
        self.directory = directory
        self._metadata: dict[str, Any] = {}

    def _head(self, filename: str) -> Any:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        if filename not in self._metadata:
            try:
                self._metadata[filename] = get_hf_file_metadata(
                    hf_hub_url(self.repo, filename), timeout=HUB_CONNECT_TIMEOUT
                )
            except Exception as error:
                raise PullError(
                    f"downloading {filename} from {self.repo} failed: {_describe_error(error)}"
                ) from error
        return self._metadata[filename]

    def size(self, filename: str) -> int | None:
        size = self._head(filename).size
        return size if isinstance(size, int) else None

    def fetch(self, filename: str, on_bytes: Callable[[int], None] | None = None) -> Path:
        from huggingface_hub import hf_hub_download

        from isomix.separation.weights import sha256_of

        metadata = self._head(filename)
        counter = _byte_counter(on_bytes) if on_bytes is not None else None
        try:
            path = Path(
                hf_hub_download(self.repo, filename, local_dir=self.directory, tqdm_class=counter)
            )
        except Exception as error:
            raise PullError(
                f"downloading {filename} from {self.repo} failed: {_describe_error(error)}"
            ) from error
        # For files stored with LFS/Xet the hub's ETag is the content's sha256.
        etag = (metadata.etag or "").removeprefix("W/").strip('"')
        if re.fullmatch(r"[0-9a-f]{64}", etag) and sha256_of(path) != etag:
            raise PullError(f"{filename} from {self.repo} does not match the hub's sha256 {etag}")
        return path


def _byte_counter(on_bytes: Callable[[int], None]) -> Any:
    """A progress-bar class for hf_hub_download that passes each chunk's byte count on
    (whether or not bars are shown)."""
    from huggingface_hub.utils.tqdm import tqdm as hub_tqdm

    class ByteCounter(hub_tqdm):
        def update(self, n: float | None = 1) -> bool | None:
            if n:
                on_bytes(int(n))
            result: bool | None = super().update(n)
            return result

    return ByteCounter


class _Tracker:
    """Counts a pull's files and bytes and reports each change."""

    def __init__(self, report: ProgressCallback, sizes: list[int | None]) -> None:
        self.report = report
        self.files_total = 1 + len(sizes)  # the bag yaml, then one weight file per member
        known = [size for size in sizes if size is not None]
        self.bytes_total = sum(known) if len(known) == len(sizes) else None
        self.files_done = 1  # the yaml is in hand when the sizes are known
        self.bytes_finished = 0
        self.bytes_current = 0
        self.send("downloading")

    def progress(self, phase: PullPhase) -> PullProgress:
        return PullProgress(
            phase=phase,
            files_done=self.files_done,
            files_total=self.files_total,
            bytes_done=self.bytes_finished + self.bytes_current,
            bytes_total=self.bytes_total,
        )

    def send(self, phase: PullPhase) -> None:
        self.report(self.progress(phase))

    def add_bytes(self, count: int) -> None:
        self.bytes_current += count
        self.send("downloading")

    def file_done(self, size: int) -> None:
        self.files_done += 1
        self.bytes_finished += size
        self.bytes_current = 0
        self.send("downloading")


def _hub_reachable(repo: str, filename: str) -> str | None:
    """None when the hub answers; otherwise why not. One short request, no retries (the
    hub client's own downloads retry with backoff for about 25 s)."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    try:
        get_hf_file_metadata(hf_hub_url(repo, filename), timeout=HUB_CONNECT_TIMEOUT)
    except Exception as error:  # whatever it is, the hub did not answer; the reason is shown
        return f"{constants.ENDPOINT}: {_describe_error(error)}"
    return None


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    from huggingface_hub.utils.tqdm import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    was_disabled = are_progress_bars_disabled()
    if not enabled:
        disable_progress_bars()
    try:
        yield
    finally:
        if not enabled and not was_disabled:
            enable_progress_bars()


def pull(
    name: str,
    *,
    progress: bool = True,
    force: bool = False,
    models_dir: Path | None = None,
    on_progress: ProgressCallback | None = None,
) -> InstalledModel:
    """Download a catalog model, check each file against the hub's sha256, load it, install.

    Fails within a few seconds when the hub cannot be reached (or HF_HUB_OFFLINE is set), with
    a HubUnreachableError that lists the files to fetch for `isomix models import`; files
    already in the local HuggingFace cache are used without the network. A damaged model of
    that name is replaced without `force`. `progress` shows the hub client's progress bars;
    `on_progress` is told the files and bytes done as they change."""
    entry = catalog.get_entry(name)
    if entry is None:
        known = ", ".join(e.name for e in catalog.listed_entries() if not e.builtin)
        raise PullError(f"Unknown model '{name}'. Models on the hub: {known}")
    if entry.builtin:
        return builtin_model(name)
    existing = get_installed(name, models_dir)
    if existing is not None and not force:
        return existing
    repo = entry.hub_repo
    assert repo is not None
    report: ProgressCallback = on_progress or (lambda _progress: None)

    from isomix.separation.weights import WeightFileError, read_bag_spec

    report(PullProgress(phase="connecting"))
    unreachable = _hub_reachable(repo, entry.yaml_filename)
    root = resolve_models_dir(models_dir)
    with staging_dir(root, name) as staging, _progress_bars(progress):
        download_dir = staging / ".download"
        source = _CacheSource(repo) if unreachable else _NetworkSource(repo, download_dir)
        transfer = shutil.copyfile if source.copies else shutil.move
        try:
            yaml_path = source.fetch(entry.yaml_filename)
            spec = read_bag_spec(yaml_path)
            members = [f"{sig}.safetensors" for sig in spec.models]
            tracker = _Tracker(report, [source.size(member) for member in members])
            for member in members:
                fetched = source.fetch(member, tracker.add_bytes)
                size = fetched.stat().st_size
                transfer(fetched, staging / member)
                tracker.file_done(size)
            shutil.copyfile(yaml_path, staging / entry.yaml_filename)
        except _NotInCache as error:
            raise HubUnreachableError(name, unreachable or "") from error
        except WeightFileError as error:
            raise PullError(f"the hub's {entry.yaml_filename} is not usable: {error}") from error
        shutil.rmtree(download_dir, ignore_errors=True)
        tracker.send("verifying")
        try:
            return install_staged(staging, name, "pulled", force=force, root=root)
        except ModelExistsError:
            raise
        except ModelImportError as error:
            raise PullError(f"the files downloaded for '{name}' are not usable: {error}") from error


# ---------------------------------------------------------------------------------------------
# In the background


PullState = Literal["running", "installed", "failed"]


@dataclass(frozen=True)
class PullStatus:
    name: str
    state: PullState
    progress: PullProgress
    started_at: datetime
    finished_at: datetime | None = None
    # When failed: one line saying why (and, when `offline`, how to import the files instead).
    error: str | None = None
    offline: bool = False


class PullRunningError(ModelStoreError):
    pass


class BackgroundPull:
    """One `pull` in a spawned process, watched by a daemon thread that keeps its latest
    progress and its outcome. The process gets nothing but the name and the models folder;
    the environment (HF_ENDPOINT, HF_HUB_OFFLINE, HF_HOME) is inherited."""

    def __init__(self, name: str, models_dir: Path) -> None:
        self.name = name
        self.models_dir = models_dir
        self._lock = threading.Lock()
        self._status = PullStatus(
            name=name,
            state="running",
            progress=PullProgress(phase="starting"),
            started_at=datetime.now(UTC),
        )
        self._thread = threading.Thread(target=self._watch, name=f"pull-{name}", daemon=True)

    def start(self) -> BackgroundPull:
        self._thread.start()
        return self

    def status(self) -> PullStatus:
        with self._lock:
            return self._status

    def wait(self, timeout: float | None = None) -> PullStatus:
        self._thread.join(timeout)
        return self.status()

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def _finish(self, state: PullState, error: str | None = None, offline: bool = False) -> None:
        with self._lock:
            progress = self._status.progress
            if state == "installed":
                progress = replace(progress, phase="done")
            self._status = replace(
                self._status,
                state=state,
                progress=progress,
                error=error,
                offline=offline,
                finished_at=datetime.now(UTC),
            )

    def _watch(self) -> None:
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_pull_in_child,
            args=(self.name, self.models_dir, sender),
            name=f"isomix-pull-{self.name}",
            daemon=True,
        )
        try:
            try:
                process.start()
            finally:
                sender.close()  # the child's copy is the only writer: EOF when it exits
            outcome: tuple[Any, ...] | None = None
            while True:
                try:
                    message = receiver.recv()
                except EOFError:
                    break
                if message[0] == "progress":
                    self._update(progress=message[1])
                else:
                    outcome = message
            process.join()
            exitcode = process.exitcode
            process.close()
        except Exception as error:  # the watcher must always leave an outcome behind
            log.exception("pulling %s in the background failed", self.name)
            self._finish("failed", f"The install could not run: {_describe_error(error)}")
            return
        finally:
            receiver.close()
        if outcome is None:
            self._finish(
                "failed",
                f"The install process ended without a result (exit code {exitcode}); "
                "the server log may say why.",
            )
        elif outcome[0] == "installed":
            self._finish("installed")
        else:
            self._finish("failed", outcome[1], offline=outcome[2])


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _pull_in_child(name: str, models_dir: Path, sender: Connection) -> None:
    def report(progress: PullProgress) -> None:
        sender.send(("progress", progress))

    try:
        pull(name, progress=False, models_dir=models_dir, on_progress=report)
    except HubUnreachableError as error:
        sender.send(("failed", error.one_line(), True))
    except ModelStoreError as error:
        sender.send(("failed", _one_line(str(error)), False))
    except OSError as error:
        sender.send(("failed", f"Pulling {name} failed: {error.strerror or error}", False))
    except Exception as error:
        log.exception("pulling %s failed", name)
        sender.send(("failed", f"Pulling {name} failed: {_describe_error(error)}", False))
    else:
        sender.send(("installed",))
    finally:
        sender.close()


# The pulls started in this process, by models folder and name; finished ones are kept so
# their outcome can still be read.
_pulls: dict[tuple[Path, str], BackgroundPull] = {}
_pulls_lock = threading.Lock()


def start_pull(name: str, models_dir: Path | None = None) -> BackgroundPull:
    """Start pulling the catalog model `name` in the background; PullRunningError when a pull
    of it started here is still running (one at a time per model)."""
    root = resolve_models_dir(models_dir)
    with _pulls_lock:
        current = _pulls.get((root, name))
        if current is not None and current.status().state == "running":
            raise PullRunningError(f"{name} is already being installed.")
        started = _pulls[(root, name)] = BackgroundPull(name, root).start()
    return started


def background_pull(name: str, models_dir: Path | None = None) -> BackgroundPull | None:
    """The latest pull of `name` started in this process, running or finished."""
    with _pulls_lock:
        return _pulls.get((resolve_models_dir(models_dir), name))
