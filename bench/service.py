"""The whole service in embedded mode against the same separations called directly.

    python bench/service.py

1. Reference: in this process, `get_engine` + decode + `separate` for each song, model loaded
   (and warmed up) before the clock starts.
2. Service: `isomix serve` on a free loopback port with a temporary data directory and its
   built-in worker (model warmed up by one short job first); upload every song, wait until
   all are ready. This includes everything a user waits for: upload, queue, decode,
   separation, writing FLAC masters + MP3 previews + peaks, the commits, the polling.
   Prints the ratio service / direct (target <= 1.10).
3. Latency of GET /api/projects/{id} under BENCH_CLIENTS concurrent clients (httpx async,
   BENCH_REQUESTS requests in all), idle and while a separation runs: p50 / p99.

Knobs: BENCH_SONGS (4), BENCH_SECONDS (60), BENCH_MODEL (`htdemucs_sized`: an htdemucs-sized
HTDemucs with random weights, built and installed here; or `demucs_unittest` for a quick run),
BENCH_CLIENTS (50), BENCH_REQUESTS (2000). Prints numbers, asserts nothing.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from bench_common import SAMPLE_RATE, build_htdemucs_sized_repo, install_model, music_like

SIZED_MODEL = "bench_htdemucs"


def wav_bytes(audio: np.ndarray) -> bytes:
    import scipy.io.wavfile

    buffer = io.BytesIO()
    scipy.io.wavfile.write(buffer, SAMPLE_RATE, (np.clip(audio, -1, 1).T * 32767).astype("<i2"))
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def direct(songs: list[Path], model: str) -> float:
    from isomix.audio.io import decode
    from isomix.config import get_settings
    from isomix.separation.base import SeparationOptions
    from isomix.separation.engine import clear_engine_cache, get_engine

    get_settings.cache_clear()
    engine = get_engine(model)
    engine.separate(music_like(2.0, seed=99), SeparationOptions())  # warm-up
    started = time.perf_counter()
    for song in songs:
        song_started = time.perf_counter()
        engine.separate(decode(song, sample_rate=engine.sample_rate), SeparationOptions())
        print(f"  direct {song.name}: {time.perf_counter() - song_started:.1f} s")
    elapsed = time.perf_counter() - started
    clear_engine_cache()
    return elapsed


def wait_ready(client: httpx.Client, ids: list[str], timeout: float = 3600) -> None:
    deadline = time.monotonic() + timeout
    pending = set(ids)
    while pending:
        for project_id in list(pending):
            body = client.get(f"/api/projects/{project_id}").json()
            if body["status"] == "ready":
                pending.discard(project_id)
            elif body["status"] in ("failed", "cancelled", "expired"):
                raise SystemExit(f"project {project_id} ended {body['status']}: {body['error']}")
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the service")
        time.sleep(1.0)  # a browser's pace; faster polling would bill the bench's own load


def upload(client: httpx.Client, name: str, data: bytes, model: str) -> str:
    response = client.post(
        "/api/projects", files={"file": (name, data, "audio/wav")}, data={"model": model}
    )
    if response.status_code != 202:
        raise SystemExit(f"upload failed: {response.status_code} {response.text}")
    return str(response.json()["id"])


async def poll_latency(
    base: str, ids: list[str], clients: int, requests: int
) -> tuple[list[float], float]:
    """Latency of each request, and the wall time of the whole run."""
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    per_client = max(1, requests // clients)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def one_client(index: int) -> None:
            for n in range(per_client):
                project_id = ids[(index + n) % len(ids)]
                started = time.perf_counter()
                try:
                    response = await client.get(f"/api/projects/{project_id}")
                except httpx.TransportError as error:
                    errors.append(f"{type(error).__name__}: {error}")
                    continue
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors.append(f"HTTP {response.status_code}")

        await asyncio.gather(*(one_client(i) for i in range(clients)))
    if errors:
        print(f"  {len(errors)} failed request(s), e.g. {sorted(set(errors))[:3]}")
    return latencies, time.perf_counter() - started


def report_latency(label: str, measured: tuple[list[float], float]) -> None:
    latencies, wall = measured
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"  {label}: {len(latencies)} requests in {wall:.1f} s "
        f"({len(latencies) / wall:.0f}/s), p50 {cuts[49] * 1000:.1f} ms, "
        f"p99 {cuts[98] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )


def main() -> int:
    count = int(os.environ.get("BENCH_SONGS", "4"))
    seconds = float(os.environ.get("BENCH_SECONDS", "60"))
    choice = os.environ.get("BENCH_MODEL", "htdemucs_sized")
    clients = int(os.environ.get("BENCH_CLIENTS", "50"))
    requests = int(os.environ.get("BENCH_REQUESTS", "2000"))
    with tempfile.TemporaryDirectory(prefix="isomix-bench-service-") as temp_name:
        temp = Path(temp_name)
        data_dir = temp / "data"
        os.environ["ISOMIX_DATA_DIR"] = str(data_dir)  # for the reference in this process
        if choice == "htdemucs_sized":
            weights = build_htdemucs_sized_repo(temp / "repo", SIZED_MODEL)
            install_model(data_dir / "models", SIZED_MODEL, weights)
            model = SIZED_MODEL
        else:
            model = choice
        songs = []
        for index in range(count):
            path = temp / f"song{index}.wav"
            path.write_bytes(wav_bytes(music_like(seconds, seed=index)))
            songs.append(path)
        print(f"{count} songs of {seconds:.0f} s, model {model}, {os.cpu_count()} cores")

        print("direct (one process, get_engine + decode + separate):")
        direct_seconds = direct(songs, model)
        print(f"  total {direct_seconds:.1f} s")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "ISOMIX_DATA_DIR": str(data_dir),
            "ISOMIX_DEFAULT_MODEL": model,
            "ISOMIX_REDIS_URL": "",
        }
        env.pop("ISOMIX_REDIS_URL")
        env.pop("ISOMIX_DATABASE_URL", None)
        log = (temp / "serve.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "isomix", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        if client.get("/readyz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit((temp / "serve.log").read_text()[-3000:])
                    time.sleep(0.2)
                warm = upload(client, "warm-up.wav", wav_bytes(music_like(2.0, seed=99)), model)
                wait_ready(client, [warm])

                print("service (isomix serve, embedded worker, upload -> all ready):")
                started = time.perf_counter()
                ids = [upload(client, song.name, song.read_bytes(), model) for song in songs]
                wait_ready(client, ids)
                service_seconds = time.perf_counter() - started
                print(f"  total {service_seconds:.1f} s")
                print_breakdown(data_dir / "isomix.db", ids)

                print(f"GET /api/projects/{{id}}, {clients} concurrent clients:")
                report_latency(
                    "idle worker", asyncio.run(poll_latency(base, ids, clients, requests))
                )
                busy = upload(client, "busy.wav", wav_bytes(music_like(seconds, seed=50)), model)
                while client.get(f"/api/projects/{busy}").json()["status"] != "processing":
                    time.sleep(0.1)
                measured = asyncio.run(poll_latency(base, [*ids, busy], clients, requests))
                still = client.get(f"/api/projects/{busy}").json()["status"]
                report_latency(f"during a separation (then {still})", measured)
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
        # The machine's load drifts (other processes): measure the reference again after the
        # service and compare against the mean of both reference runs.
        print("direct again:")
        direct_again = direct(songs, model)
        print(f"  total {direct_again:.1f} s")
        reference = (direct_seconds + direct_again) / 2
        print(
            f"ratio service / direct: {service_seconds / reference:.3f} (target <= 1.10; "
            f"against each run: {service_seconds / direct_seconds:.3f}, "
            f"{service_seconds / direct_again:.3f})"
        )
    return 0


def print_breakdown(database: Path, ids: list[str]) -> None:
    """Where the service's time went, from the rows: queue wait and processing per job."""
    import sqlite3
    from datetime import datetime

    def parse(value: str) -> datetime:
        return datetime.fromisoformat(value)

    with sqlite3.connect(database) as db:
        for project_id in ids:
            queued, started, finished = db.execute(
                "SELECT queued_at, started_at, finished_at FROM projects WHERE id = ?",
                (project_id,),
            ).fetchone()
            wait = (parse(started) - parse(queued)).total_seconds()
            work = (parse(finished) - parse(started)).total_seconds()
            print(f"  job {project_id[:8]}: waited {wait:.1f} s, processed in {work:.1f} s")
        stats = db.execute(
            "SELECT compute_seconds FROM separation_stats ORDER BY id DESC LIMIT ?", (len(ids),)
        ).fetchall()
        print(
            f"  decode+separate+write per job (SeparationStat): {[round(s, 1) for (s,) in stats]}"
        )


if __name__ == "__main__":
    sys.exit(main())
