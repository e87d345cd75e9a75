"""Pulling catalog models from the HuggingFace hub, the way demucs 4.1.0 itself finds them
(`<namespace>/<repo>`: `<name>.yaml` plus one `<sig>.safetensors` per bag member).

huggingface_hub is imported inside the functions; it reads HF_ENDPOINT and HF_HUB_OFFLINE.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from isomix.separation import catalog
from isomix.separation.installed import (
    InstalledModel,
    ModelExistsError,
    ModelImportError,
    PullError,
    builtin_model,
    get_installed,
    install_staged,
    resolve_models_dir,
    staging_dir,
)

# Seconds to wait for the hub to answer the first request before declaring it unreachable.
HUB_CONNECT_TIMEOUT = 5.0


def hub_file_urls(name: str) -> list[str]:
    """The files `pull` fetches for a catalog model, for downloading them by other means."""
    from huggingface_hub import hf_hub_url

    entry = catalog.CATALOG[name]
    assert entry.hub_repo is not None
    filenames = [entry.yaml_filename] + [f"{sig}.safetensors" for sig in entry.signatures]
    return [hf_hub_url(entry.hub_repo, filename) for filename in filenames]


def _offline_hint(name: str, reason: str) -> PullError:
    files = "\n".join(f"  {url}" for url in hub_file_urls(name))
    return PullError(
        f"could not reach the model hub ({reason}). To install '{name}' offline, download "
        f"these files on a machine with internet:\n{files}\n"
        f"put them in one folder, copy it here and run `isomix models import FOLDER --name "
        f"{name}`."
    )


def _describe_error(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


class _NotInCache(Exception):
    pass


def _cache_fetcher(repo: str) -> Callable[[str], Path]:
    """Files from the local HuggingFace cache (e.g. left by an earlier `demucs` run).

    Only a file the cache does not hold is `_NotInCache` (the offline hint follows); a cache
    that cannot be read is a PullError saying why, and anything else is a bug and propagates."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    def fetch(filename: str) -> Path:
        try:
            return Path(hf_hub_download(repo, filename, local_files_only=True))
        except LocalEntryNotFoundError as error:
            raise _NotInCache(filename) from error
        except OSError as error:
            raise PullError(
                f"could not read {filename} of {repo} from the HuggingFace cache in "
                f"{constants.HF_HUB_CACHE}: {_describe_error(error)}"
            ) from error

    return fetch


def _network_fetcher(repo: str, directory: Path) -> Callable[[str], Path]:
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    from isomix.separation.weights import sha256_of

    def fetch(filename: str) -> Path:
        try:
            metadata = get_hf_file_metadata(hf_hub_url(repo, filename), timeout=HUB_CONNECT_TIMEOUT)
            path = Path(hf_hub_download(repo, filename, local_dir=directory))
        except Exception as error:
            raise PullError(
                f"downloading {filename} from {repo} failed: {_describe_error(error)}"
            ) from error
        # For files stored with LFS/Xet the hub's ETag is the content's sha256.
        etag = (metadata.etag or "").removeprefix("W/").strip('"')
        if re.fullmatch(r"[0-9a-f]{64}", etag) and sha256_of(path) != etag:
            raise PullError(f"{filename} from {repo} does not match the hub's sha256 {etag}")
        return path

    return fetch


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
) -> InstalledModel:
    """Download a catalog model, check each file against the hub's sha256, load it, install.

    Fails within a few seconds when the hub cannot be reached (or HF_HUB_OFFLINE is set), with
    a PullError that lists the files to fetch for `isomix models import`; files already in the
    local HuggingFace cache are used without the network. A damaged model of that name is
    replaced without `force`."""
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

    from isomix.separation.weights import WeightFileError, read_bag_spec

    unreachable = _hub_reachable(repo, entry.yaml_filename)
    root = resolve_models_dir(models_dir)
    with staging_dir(root, name) as staging, _progress_bars(progress):
        download_dir = staging / ".download"
        fetch = _cache_fetcher(repo) if unreachable else _network_fetcher(repo, download_dir)
        # From the cache the files are copied (the cache keeps them); downloads are moved.
        transfer = shutil.copyfile if unreachable else shutil.move
        try:
            yaml_path = fetch(entry.yaml_filename)
            spec = read_bag_spec(yaml_path)
            for sig in spec.models:
                transfer(fetch(f"{sig}.safetensors"), staging / f"{sig}.safetensors")
            shutil.copyfile(yaml_path, staging / entry.yaml_filename)
        except _NotInCache as error:
            raise _offline_hint(name, unreachable or "") from error
        except WeightFileError as error:
            raise PullError(f"the hub's {entry.yaml_filename} is not usable: {error}") from error
        shutil.rmtree(download_dir, ignore_errors=True)
        try:
            return install_staged(staging, name, "pulled", force=force, root=root)
        except ModelExistsError:
            raise
        except ModelImportError as error:
            raise PullError(f"the files downloaded for '{name}' are not usable: {error}") from error
