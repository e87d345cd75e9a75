"""A real S3-compatible server for the storage tests: moto's server mode, started as its own
process on a free loopback port and spoken to over HTTP by boto3, as a deployment would talk
to AWS, MinIO or Ceph.

Ceph's radosgw was the first choice: Debian bookworm ships Ceph 16.2 (Pacific), whose
radosgw has no standalone `dbstore` backend (it insists on a RADOS cluster), so moto it is.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "isomix-test-access"
SECRET_KEY = "isomix-test-secret-key"  # moto accepts any pair; the signature is still computed
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    process: subprocess.Popen[bytes]

    def env(self, bucket: str, prefix: str = "isomix") -> dict[str, str]:
        """The variables an isomix process needs to use `bucket` on this server."""
        return {
            "ISOMIX_STORAGE_URL": f"s3://{bucket}/{prefix}",
            "ISOMIX_S3_ENDPOINT_URL": self.endpoint_url,
            "ISOMIX_S3_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def create_bucket(self, bucket: str) -> None:
        self.client().create_bucket(Bucket=bucket)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_server() -> str | None:
    beside = Path(sys.executable).with_name("moto_server")
    return str(beside) if beside.exists() else shutil.which("moto_server")


@contextlib.contextmanager
def running_s3_server(timeout: float = 30.0) -> Iterator[S3Server]:
    """Start moto's S3 server; raises RuntimeError when it is not installed or never answers."""
    binary = _moto_server()
    if binary is None:
        raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = S3Server(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                server.client().list_buckets()
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
