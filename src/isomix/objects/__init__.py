"""Where IsoMix's files live: the data directory (plain or sealed) or an S3 bucket.

`get_store()` is the one store of the process, chosen by the settings (ISOMIX_STORAGE_URL,
ISOMIX_ENCRYPTION_KEY); storage.py still owns every key's name.
"""

from __future__ import annotations

import threading

from isomix.config import Settings, get_settings
from isomix.objects.base import ObjectStore, StoredObject

__all__ = ["ObjectStore", "StoredObject", "get_store"]

_lock = threading.Lock()
_stores: dict[tuple[object, ...], ObjectStore] = {}


def get_store() -> ObjectStore:
    settings = get_settings()
    identity = (
        str(settings.data_dir),
        settings.storage_url,
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.s3_sse,
        settings.encryption_key,
        settings.previous_encryption_keys,
    )
    with _lock:
        store = _stores.get(identity)
        if store is None:
            store = _stores[identity] = _make_store(settings)
        return store


def _make_store(settings: Settings) -> ObjectStore:
    url = settings.storage_url.strip()
    if url.startswith("s3://"):
        from isomix.objects.s3 import S3Store, parse_storage_url

        bucket, prefix = parse_storage_url(url)
        return S3Store(
            bucket,
            prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            sse=settings.s3_sse,
        )
    if url not in {"", "file://"}:
        raise ValueError(
            f"ISOMIX_STORAGE_URL {url!r}: use file:// (the data directory) or s3://BUCKET/PREFIX"
        )
    from isomix.objects.files import FileStore

    if not settings.encryption_key:
        return FileStore()
    from isomix import sealed

    return FileStore(sealed.KeyRing.from_settings(settings))
