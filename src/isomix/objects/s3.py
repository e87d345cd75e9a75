"""An S3-compatible bucket as the store (AWS, MinIO, Ceph, moto), through boto3.

`ISOMIX_STORAGE_URL=s3://BUCKET/PREFIX`; `ISOMIX_S3_ENDPOINT_URL` for a store that is not AWS;
credentials from the usual AWS variables and files (boto3's chain). Every object is written
with the server-side encryption `ISOMIX_S3_SSE` asks for. Files over 8 MB go up and down in
parts (boto3's transfer manager), so neither side holds a whole file in memory. Clients
download through short-lived presigned URLs, Range requests included.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

from isomix.config import Settings
from isomix.objects.base import ObjectStore, StoredObject, content_disposition
from isomix.objects.scratch import scratch_dir

DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys


def parse_storage_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` to (bucket, prefix without slashes); ValueError when malformed."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"ISOMIX_STORAGE_URL {url!r} is not s3://BUCKET/PREFIX")
    return parts.netloc, parts.path.strip("/")


def store_origin(settings: Settings) -> str | None:
    """The origin browsers download from when files are in a bucket (for the UI's content
    policy), or None with local files."""
    if not settings.storage_url.strip().startswith("s3://"):
        return None
    if settings.s3_endpoint_url:
        parts = urlsplit(settings.s3_endpoint_url)
        return f"{parts.scheme}://{parts.netloc}"
    return "https://*.amazonaws.com"


class S3Store(ObjectStore):
    kind = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        sse: str | None = None,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        self.sse = sse
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                signature_version="s3v4",
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
            ),
        )
        self.transfer = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20)

    # ------------------------------------------------------------ names

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _key(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name

    def _write_args(self, media_type: str | None) -> dict[str, str]:
        args: dict[str, str] = {}
        if self.sse == "AES256":
            args["ServerSideEncryption"] = "AES256"
        elif self.sse:
            args["ServerSideEncryption"] = "aws:kms"
            args["SSEKMSKeyId"] = self.sse
        if media_type:
            args["ContentType"] = media_type
        return args

    def _missing(self, error: Exception) -> bool:
        response = getattr(error, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        return code in {"404", "NoSuchKey", "NotFound"}

    # ------------------------------------------------------------ reading

    def local_path(self, key: str) -> Path | None:
        return None

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        with scratch_dir("read") as directory:
            copy = directory / Path(key).name
            try:
                self.client.download_file(
                    self.bucket, self._name(key), str(copy), Config=self.transfer
                )
            except Exception as error:
                if self._missing(error):
                    raise FileNotFoundError(key) from error
                raise
            yield copy

    def read_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except Exception as error:
            if self._missing(error):
                raise FileNotFoundError(key) from error
            raise
        return cast(bytes, response["Body"].read())

    def size(self, key: str) -> int | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except Exception as error:
            if self._missing(error):
                return None
            raise
        return int(head["ContentLength"])

    def open(self, key: str) -> BinaryIO:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except Exception as error:
            if self._missing(error):
                raise FileNotFoundError(key) from error
            raise
        return cast(BinaryIO, response["Body"])

    def listing(self, prefix: str) -> Iterator[StoredObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._name(prefix)):
            for item in page.get("Contents", []):
                yield StoredObject(
                    key=self._key(item["Key"]),
                    size=int(item["Size"]),
                    modified=item["LastModified"],
                )

    def presigned_url(
        self, key: str, *, filename: str, media_type: str, expires_in: int, inline: bool = False
    ) -> str | None:
        params = {
            "Bucket": self.bucket,
            "Key": self._name(key),
            "ResponseContentType": media_type,
            "ResponseContentDisposition": content_disposition(filename, inline=inline),
        }
        return cast(
            str,
            self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=max(1, expires_in)
            ),
        )

    # ------------------------------------------------------------ writing

    @contextmanager
    def staging(self, parent: str, job_id: str) -> Iterator[Path]:
        with scratch_dir("stage") as directory:
            yield directory

    def put_file(self, source: Path, key: str, *, media_type: str | None = None) -> int:
        size = source.stat().st_size
        self.client.upload_file(
            str(source),
            self.bucket,
            self._name(key),
            ExtraArgs=self._write_args(media_type or _media_type(source.name)),
            Config=self.transfer,
        )
        source.unlink(missing_ok=True)
        return size

    def put_tree(self, source: Path, prefix: str) -> int:
        total = 0
        for path in sorted(source.iterdir()):
            if path.is_file():
                total += self.put_file(path, f"{prefix.rstrip('/')}/{path.name}")
        shutil.rmtree(source, ignore_errors=True)
        return total

    def delete(self, key: str) -> None:
        if not key.endswith("/"):
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
            return
        names = [self._name(item.key) for item in self.listing(key)]
        for start in range(0, len(names), DELETE_BATCH):
            batch = [{"Key": name} for name in names[start : start + DELETE_BATCH]]
            result = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if result.get("Errors"):
                first = result["Errors"][0]
                raise OSError(f"S3 refused to delete {first.get('Key')}: {first.get('Code')}")


_MEDIA_TYPES = {
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "json": "application/json",
    "m4a": "audio/mp4",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
}


def _media_type(name: str) -> str:
    return _MEDIA_TYPES.get(name.rpartition(".")[2].lower(), "application/octet-stream")
