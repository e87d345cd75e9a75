"""The whole service in embedded mode against the same separations called directly.

    python bench/service.py

1. Reference: in this process, `get_engine` + decode + `separate` for each song, model loaded
   (and warmed up) before the clock starts.
2. Service: `isomix serve` on a free loopback port with a temporary data directory and its
   built-in worker (model warmed up by one short job first); upload every song, wait until
   all are ready. This includes everything a user waits for: upload, queue, decode,
   separation, writing FLAC masters + MP3 previews + peaks, the commits, the polling.
   Prints the ratio service / direct (target <= 1.05) and service / `isomix separate`,
   one cold command per song (target <= 0.95), measured after the service.
3. Latency of GET /api/projects/{id} under BENCH_CLIENTS concurrent clients (httpx async,
   BENCH_REQUESTS requests in all, as fast as they answer) with the worker idle: p50 / p99.
4. While a BENCH_BUSY_SECONDS (180) song separates in the server's own worker: BENCH_CLIENTS
   clients each polling that project every 200 ms for BENCH_POLL_SECONDS (20): p50 / p99,
   requests per second achieved, errors (target p99 <= 50 ms, no errors; the same paced load
   with the worker idle is the reference); then BENCH_STREAMS (500) SSE streams on it for
   BENCH_POLL_SECONDS: for every row change after the first event, the time from the row's
   `updated_at` (written by the worker just before its commit) to each client reading it
   (target p99 <= 250 ms), and the API process's peak RSS (target < 300 MB; its worker is
   another process). The bench's own clients share the machine's cores.

Knobs: BENCH_SONGS (4), BENCH_SECONDS (60), BENCH_MODEL (`htdemucs_sized`: an htdemucs-sized
HTDemucs with random weights, built and installed here; or `demucs_unittest` for a quick run),
BENCH_CLIENTS (50), BENCH_REQUESTS (2000), BENCH_BUSY_SECONDS (180), BENCH_POLL_SECONDS (20),
BENCH_STREAMS (500). Prints numbers, asserts nothing.
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from bench_common import (
    SAMPLE_RATE,
    Figure,
    build_htdemucs_sized_repo,
    install_model,
    music_like,
    record,
    wait_until_ready,
)

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


def cli(songs: list[Path], model: str, out: Path) -> float:
    """`isomix separate` on each song, one command each (a cold start each: what a user of
    the CLI waits for); the summed wall time."""
    total = 0.0
    for song in songs:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "isomix", "separate", "-n", model, str(song), "-o", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        elapsed = time.perf_counter() - started
        print(f"  isomix separate {song.name}: {elapsed:.1f} s")
        total += elapsed
    return total


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


POLL_INTERVAL = 0.2


async def paced_polling(
    base: str, project_id: str, clients: int, seconds: float
) -> tuple[list[float], list[str], float]:
    """Each client asks for the project every POLL_INTERVAL (a browser's status poll):
    latencies, errors and the wall time."""
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        end = started + seconds

        async def one_client(index: int) -> None:
            next_at = started + index * POLL_INTERVAL / clients
            while next_at < end:
                pause = next_at - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
                sent = time.perf_counter()
                try:
                    response = await client.get(f"/api/projects/{project_id}")
                except httpx.HTTPError as error:
                    errors.append(f"{type(error).__name__}: {error}")
                else:
                    latencies.append(time.perf_counter() - sent)
                    if response.status_code != 200:
                        errors.append(f"HTTP {response.status_code}")
                next_at += POLL_INTERVAL

        await asyncio.gather(*(one_client(i) for i in range(clients)))
        wall = time.perf_counter() - started
    return latencies, errors, wall


def report_paced(label: str, measured: tuple[list[float], list[str], float], clients: int) -> float:
    latencies, errors, wall = measured
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"  {label}: {len(latencies)} requests in {wall:.1f} s ({len(latencies) / wall:.0f}/s "
        f"of {clients / POLL_INTERVAL:.0f} asked), p50 {cuts[49] * 1000:.1f} ms, "
        f"p99 {cuts[98] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms, "
        f"{len(errors)} errors{(' e.g. ' + str(sorted(set(errors))[:3])) if errors else ''}"
    )
    return cuts[98]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# In an event's JSON body: the project's change time and status (the first of each).
_UPDATED_AT = re.compile(rb'"updated_at":"([^"]+)"')
_STATUS = re.compile(rb'"status":"([a-z_]+)"')


async def sse_streams(
    base: str, project_id: str, count: int, seconds: float, server_pid: int
) -> tuple[list[float], list[float], int, int, float, float]:
    """`count` event streams on one project: delays from each change's updated_at to its
    arrival at each client (first event of a stream excluded: it is the state at connect)
    for the changes made once all streams were open, and for those made while they were
    still connecting; streams connected, events with a new status, peak API RSS, and the RSS
    before.

    Each stream is a bare socket: the arrival time is taken when the bytes are read, and an
    event is only searched for its two fields. The clients share the API's two cores, and a
    full HTTP client parsing 500 streams in one process spent up to half a second on one
    round of events, which the delays then counted as the API's."""
    delays: list[float] = []
    connecting: list[float] = []
    all_open = math.inf
    statuses: set[bytes] = set()
    connected = 0
    rss_before = rss_mb(server_pid)
    peak = rss_before
    url = httpx.URL(base)
    host, port = url.host, url.port or 80
    request = (
        f"GET /api/projects/{project_id}/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    end = time.perf_counter() + seconds

    async def one_stream() -> None:
        nonlocal connected, all_open
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"events: {head.splitlines()[0]!r}")
            connected += 1
            if connected == count:
                all_open = time.time()
            first = True
            pending = b""
            while chunk := await reader.read(65536):
                arrived = time.time()
                pending += chunk
                # An SSE event ends with a blank line (chunked framing sits between events).
                *events, pending = pending.split(b"\n\n")
                for event in events:
                    updated = _UPDATED_AT.search(event)
                    if updated is None:
                        continue  # a keep-alive comment
                    if not first:
                        changed = datetime.fromisoformat(updated.group(1).decode()).timestamp()
                        (delays if changed >= all_open else connecting).append(arrived - changed)
                        status = _STATUS.search(event)
                        statuses.add(status.group(1) if status else b"")
                    first = False
        finally:
            writer.close()

    async def sample_rss() -> None:
        nonlocal peak
        while time.perf_counter() < end:
            peak = max(peak, rss_mb(server_pid))
            await asyncio.sleep(0.5)

    tasks = [asyncio.create_task(one_stream()) for _ in range(count)]
    await sample_rss()
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    failures = [r for r in failures if not isinstance(r, asyncio.CancelledError)]
    if failures:
        print(f"  {len(failures)} stream(s) failed, e.g. {failures[0]!r}")
    return delays, connecting, connected, len(statuses), peak, rss_before


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
    busy_seconds = float(os.environ.get("BENCH_BUSY_SECONDS", "180"))
    poll_seconds = float(os.environ.get("BENCH_POLL_SECONDS", "20"))
    streams = int(os.environ.get("BENCH_STREAMS", "500"))
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
            # The SSE streams and the pollers at once are more than the default cap (500).
            "ISOMIX_MAX_CONNECTIONS": str(streams + clients + 50),
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
                wait_until_ready(client, server, (temp / "serve.log"))
                warm = upload(client, "warm-up.wav", wav_bytes(music_like(2.0, seed=99)), model)
                wait_ready(client, [warm])

                print("service (isomix serve, embedded worker, upload -> all ready):")
                started = time.perf_counter()
                started_at = datetime.now(UTC)
                ids = [upload(client, song.name, song.read_bytes(), model) for song in songs]
                wait_ready(client, ids)
                polled_seconds = time.perf_counter() - started
                # Until the last row turned ready (its finished_at, same clock): the polling
                # above, at a browser's pace, notices it up to a second later.
                last_ready = print_breakdown(data_dir / "isomix.db", ids)
                service_seconds = (last_ready - started_at).total_seconds()
                print(
                    f"  total {service_seconds:.1f} s to the last ready row "
                    f"({polled_seconds:.1f} s until the poll saw it)"
                )

                print(f"GET /api/projects/{{id}}, {clients} concurrent clients:")
                report_latency(
                    "idle worker", asyncio.run(poll_latency(base, ids, clients, requests))
                )
                busy_audio = wav_bytes(music_like(busy_seconds, seed=50))
                print(f"GET /api/projects/{{id}}, {clients} clients every 200 ms:")
                idle_p99 = report_paced(
                    "idle worker (reference)",
                    asyncio.run(paced_polling(base, ids[0], clients, poll_seconds / 2)),
                    clients,
                )
                busy = upload(client, "busy.wav", busy_audio, model)
                while client.get(f"/api/projects/{busy}").json()["status"] != "processing":
                    time.sleep(0.1)
                measured_paced = asyncio.run(paced_polling(base, busy, clients, poll_seconds))
                still = client.get(f"/api/projects/{busy}").json()["status"]
                busy_p99 = report_paced(
                    f"while a {busy_seconds:.0f} s song separates (then {still})",
                    measured_paced,
                    clients,
                )
                busy_errors = len(measured_paced[1])
                print(
                    f"  p99 busy / idle: {busy_p99 / idle_p99:.2f} "
                    f"(target: p99 <= 50 ms, no errors)"
                )
                print(f"{streams} SSE streams on that project for {poll_seconds:.0f} s:")
                delays, connecting, connected, kinds, peak, before = asyncio.run(
                    sse_streams(base, busy, streams, poll_seconds, server.pid)
                )
                still = "see below"
                if delays:
                    cuts = statistics.quantiles(delays, n=100)
                    print(
                        f"  {connected} connected, {len(delays)} change deliveries once all were "
                        f"({kinds} status value(s); then {still}): row to client p50 "
                        f"{cuts[49] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms, max "
                        f"{max(delays) * 1000:.0f} ms (target p99 <= 250 ms)"
                    )
                else:
                    print(f"  {connected} connected, no change arrived (then {still})")
                if connecting:
                    print(
                        f"  while the {streams} streams were connecting: {len(connecting)} "
                        f"deliveries, max {max(connecting) * 1000:.0f} ms (not in the p99)"
                    )
                print(
                    f"  API process RSS: {before:.0f} MB before, peak {peak:.0f} MB "
                    "(target < 300 MB)"
                )
                sys.stdout.flush()
                asked = time.perf_counter()
                after = client.get(f"/api/projects/{busy}")
                print(
                    f"  after the streams: status {after.json()['status']}, answered in "
                    f"{time.perf_counter() - asked:.2f} s"
                )
                client.post(f"/api/projects/{busy}/cancel")
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
        print("isomix separate, one command per song:")
        cli_seconds = cli(songs, model, temp / "cli-out")
        print(f"  total {cli_seconds:.1f} s")
        reference = (direct_seconds + direct_again) / 2
        print(
            f"ratio service / direct: {service_seconds / reference:.3f} (target <= 1.05; "
            f"against each run: {service_seconds / direct_seconds:.3f}, "
            f"{service_seconds / direct_again:.3f})"
        )
        print(f"ratio service / isomix separate: {service_seconds / cli_seconds:.3f} "
              "(target <= 0.95)")  # fmt: skip
    sse_p99 = statistics.quantiles(delays, n=100)[98] * 1000 if delays else float("inf")
    songs_label = f"{count} songs of {seconds:.0f} s"
    record([
        Figure(f"status p99, {clients} clients every 200 ms, while separating",
               f"{busy_p99 * 1000:.1f} ms, {busy_errors} errors",
               f"{idle_p99 * 1000:.1f} ms idle", "<= 50 ms, no errors",
               busy_p99 <= 0.050 and busy_errors == 0),
        Figure(f"{streams} event streams: status change to client, p99",
               f"{sse_p99:.0f} ms ({connected} connected)", "", "<= 250 ms",
               sse_p99 <= 250 and connected == streams),
        Figure(f"API RSS with {streams} event streams", f"{peak:.0f} MB",
               f"{before:.0f} MB before", "< 300 MB", peak < 300),
        Figure(f"{songs_label}: upload to ready / direct separation",
               f"{service_seconds / reference:.3f}x ({service_seconds:.1f} s)",
               f"{reference:.1f} s", "<= 1.05", service_seconds / reference <= 1.05),
        Figure(f"{songs_label}: upload to ready / isomix separate",
               f"{service_seconds / cli_seconds:.3f}x", f"{cli_seconds:.1f} s", "<= 0.95",
               service_seconds / cli_seconds <= 0.95),
    ])  # fmt: skip
    return 0


def print_breakdown(database: Path, ids: list[str]) -> datetime:
    """Where the service's time went, from the rows: queue wait and processing per job.
    Returns when the last of them turned ready."""
    import sqlite3

    def parse(value: str) -> datetime:
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    last: datetime | None = None

    with sqlite3.connect(database) as db:
        for project_id in ids:
            queued, started, finished = db.execute(
                "SELECT queued_at, started_at, finished_at FROM projects WHERE id = ?",
                (project_id,),
            ).fetchone()
            last = max(parse(finished), last) if last is not None else parse(finished)
            wait = (parse(started) - parse(queued)).total_seconds()
            work = (parse(finished) - parse(started)).total_seconds()
            print(f"  job {project_id[:8]}: waited {wait:.1f} s, processed in {work:.1f} s")
        stats = db.execute(
            "SELECT compute_seconds FROM separation_stats ORDER BY id DESC LIMIT ?", (len(ids),)
        ).fetchall()
        print(
            f"  decode+separate+write per job (SeparationStat): {[round(s, 1) for (s,) in stats]}"
        )
    assert last is not None
    return last


if __name__ == "__main__":
    sys.exit(main())
