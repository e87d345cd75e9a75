"""The built-in runner of `isomix serve`: one supervised worker process, no Redis; the rows
are the queue.

Jobs are taken oldest first (by queued_at). A job that was running when the server died is
taken again once its lease has expired, so nothing queued or in flight is lost on a restart.
The worker is a *spawned* process so the API process never imports torch.

The server supervises its worker (`EmbeddedWorker`): one that dies (killed, out of memory) is
started again after a back-off (`RestartPolicy`: 1 s doubling to 60 s, from 1 s again after
a worker ran for a minute), with one log line per restart. The new worker expires the leases
of dead local workers as it starts, so the job that was running is taken again at once.
While no worker can run (dead and waiting for its restart, or dying again and again),
`availability()` says so and the API refuses new work with 503 instead of queuing it for
nobody (`api/deps.py`).

The server tells its worker to stop by closing a pipe, not with a multiprocessing Event: the
kernel closes the pipe too when the server dies, so the worker notices either way, and a pipe
holds no named semaphores for the resource tracker to find leaked when the server is killed
by a signal before it can clean up (uvicorn re-raises SIGTERM after its shutdown).
"""

from __future__ import annotations

import atexit
import logging
import math
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection, wait
from typing import Any, Final

from sqlalchemy import select, update

from isomix import errortracking, liveness, logs
from isomix.db import rowcount
from isomix.jobs import analysing, broker, lease, previews, priority
from isomix.jobs.joblog import job_context
from isomix.jobs.lease import JobModel
from isomix.models import Export, JobStatus, Project, as_utc, utcnow
from isomix.objects.scratch import process_exists

log = logging.getLogger(__name__)

POLL_SECONDS: Final = 0.3
CLEANUP_EVERY_SECONDS: Final = broker.CLEANUP_EVERY_SECONDS
STOP_TIMEOUT_SECONDS: Final = 15.0
SUPERVISE_POLL_SECONDS: Final = 0.2


def worker_id(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def next_jobs(now: datetime | None = None, *, limit: int = 8) -> list[tuple[JobModel, str]]:
    """Claimable jobs: separations of higher priority (Pro) first, then oldest first;
    queued ones and those whose worker's lease ran out."""
    now = now or utcnow()
    found: list[tuple[int, datetime, JobModel, str]] = []
    with lease.session() as db:
        projects = db.execute(
            select(Project.priority, Project.queued_at, Project.id)
            .where(lease.claimable(Project, now))
            .order_by(Project.priority.desc(), Project.queued_at, Project.id)
            .limit(limit)
        ).all()
        found.extend((-row.priority, as_utc(row.queued_at), Project, row.id) for row in projects)
        exports = db.execute(
            select(Export.queued_at, Export.id)
            .where(lease.claimable(Export, now))
            .order_by(Export.queued_at, Export.id)
            .limit(limit)
        ).all()
        # An export is quick and its user waits for it: it goes first, whatever the plan.
        found.extend((-1_000, as_utc(row.queued_at), Export, row.id) for row in exports)
    found.sort(key=lambda item: (item[0], item[1]))
    return [(model, job_id) for _, _, model, job_id in found[:limit]]


def release_dead_local_leases(now: datetime | None = None) -> int:
    """Expire at once the leases of embedded workers of this machine whose process is gone
    (the server was killed), so a restart resumes their jobs without waiting for the lease."""
    now = now or utcnow()
    prefix = f"embedded:{socket.gethostname()}:"
    released = 0
    with lease.session() as db, db.begin():
        for model in (Project, Export):
            rows = db.execute(
                select(model.id, model.lease_owner).where(
                    model.status == JobStatus.processing, model.lease_owner.startswith(prefix)
                )
            ).all()
            for row in rows:
                try:
                    pid = int(row.lease_owner.rsplit(":", 2)[1])
                except (ValueError, IndexError):
                    continue
                # Our own pid is a dead worker's reused by us (a restarted container with
                # the same host name): its jobs are not running.
                if pid != os.getpid() and process_exists(pid):
                    continue
                result = db.execute(
                    update(model)
                    .where(
                        model.id == row.id,
                        model.status == JobStatus.processing,
                        model.lease_owner == row.lease_owner,
                    )
                    .values(lease_expires_at=now)
                    .execution_options(synchronize_session=False)
                )
                released += rowcount(result)
    return released


def run_job(
    model: JobModel, job_id: str, *, worker_id: str, should_stop: Any = None
) -> lease.Claim:
    """Claim and run one job; what the claim said (nothing ran unless `claimed`)."""
    from isomix.jobs import tasks

    with job_context(model.__tablename__, job_id):
        if model is Project:
            return tasks.run_separation(job_id, worker_id=worker_id, should_stop=should_stop)
        return tasks.run_export(job_id, worker_id=worker_id, should_stop=should_stop)


def run_next_job(*, worker_id: str, should_stop: Any = None) -> bool:
    """Run the first claimable job whose claim succeeds; False when none could be run.

    A separation whose owner already runs as many as the plan allows (`owner_busy`) stays
    queued and the next job is tried, so one user's queue never holds up another's, and
    the loop does not spin on a job it cannot take.
    """
    for model, job_id in next_jobs():
        claim = run_job(model, job_id, worker_id=worker_id, should_stop=should_stop)
        if claim is lease.Claim.claimed:
            return True
    return False


def _job_waiting() -> bool:
    return bool(next_jobs(limit=1))


def drain(*, limit: int | None = None, mp3_previews: bool = True) -> int:
    """Run queued jobs in this process until none is left (or `limit` ran), then, as the
    worker does when idle, the MP3 previews of finished stem sets; for tests."""
    me = worker_id("drain")
    ran = 0
    tried: set[tuple[str, str]] = set()
    while limit is None or ran < limit:
        jobs = [job for job in next_jobs() if (job[0].__tablename__, job[1]) not in tried]
        if not jobs:
            break
        model, job_id = jobs[0]
        run_job(model, job_id, worker_id=me)
        # A job is run once per drain: a row that is claimable again right away (handed
        # back) must not make drain spin.
        tried.add((model.__tablename__, job_id))
        ran += 1
    while mp3_previews and previews.encode_next():
        pass
    return ran


# ---------------------------------------------------------------- the supervised worker process


@dataclass(frozen=True)
class RestartPolicy:
    """When a worker that died is started again, and when the server stops counting on it."""

    first_delay: float = 1.0
    max_delay: float = 60.0
    # A worker that ran this long was healthy: its death starts the back-off over.
    stable_after: float = 60.0
    # Past this many quick deaths in a row the worker is crash-looping: it is still restarted
    # (at max_delay), but new work is refused until one has run for `stable_after`.
    crash_loop: int = 5

    def delay(self, deaths_in_a_row: int) -> float:
        """Seconds to wait before restarting after the n-th quick death in a row (n >= 1)."""
        exponent = min(max(deaths_in_a_row - 1, 0), 32)
        return float(min(self.max_delay, self.first_delay * 2**exponent))


@dataclass(frozen=True)
class Availability:
    """Whether the worker can take new work; if not, why and when to ask again."""

    available: bool
    reason: str
    retry_after: int = 0  # whole seconds, at least 1 when not available


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "vanished"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name}"
    if exitcode == 0:
        return "stopped by itself (signalled)"
    return f"exited with code {exitcode}"


class EmbeddedWorker:
    """The server's handle on its worker process: starts it, restarts it when it dies, stops it.

    A supervising thread waits on the process; when it dies without being asked to, the
    thread logs one line and starts a new one after `policy.delay(...)`. The new process
    expires the leases of dead local workers when it starts, so the job that was running is
    taken again at once. `availability()` is read by the API (a plain snapshot under a lock:
    no process calls from request threads).
    """

    def __init__(self, policy: RestartPolicy | None = None) -> None:
        self.policy = policy or RestartPolicy()
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._stop_writer: Connection | None = None
        self._started_at = 0.0
        self._restart_at: float | None = None
        self._deaths_in_a_row = 0
        self._stopping = False
        self.restarts = 0
        self.exit_codes: list[int | None] = []  # of every worker that died or stopped
        self._thread = threading.Thread(
            target=self._supervise, name="isomix-worker-supervisor", daemon=True
        )

    # -- what the server and the API see

    @property
    def process(self) -> multiprocessing.process.BaseProcess | None:
        """The worker process running now (None while waiting for a restart)."""
        with self._lock:
            return self._process

    @property
    def pid(self) -> int | None:
        process = self.process
        return process.pid if process is not None else None

    def is_alive(self) -> bool:
        """A worker process is running (it may still be crash-looping: see availability)."""
        with self._lock:
            return self._process is not None and not self._stopping

    def availability(self, now: float | None = None) -> Availability:
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._stopping:
                return Availability(False, "the server is stopping", retry_after=5)
            looping = self._deaths_in_a_row > self.policy.crash_loop
            if self._process is None:
                wait = (self._restart_at or now) - now
                if not looping:
                    reason = f"the embedded worker died; it restarts in {_whole(wait)} s"
                    return Availability(False, reason, _whole(wait))
                reason = (
                    f"the embedded worker keeps dying ({self._deaths_in_a_row} times in a "
                    f"row); it restarts in {_whole(wait)} s"
                )
                # Restarted, it must then run for `stable_after` before it counts again.
                return Availability(False, reason, _whole(wait + self.policy.stable_after))
            if looping:
                wait = self._started_at + self.policy.stable_after - now
                return Availability(
                    False,
                    f"the embedded worker keeps dying ({self._deaths_in_a_row} times in a row); "
                    f"it was restarted and counts as running after {_whole(wait)} s more",
                    _whole(wait),
                )
            return Availability(True, "running")

    # -- life cycle

    def start(self) -> EmbeddedWorker:
        """Start the first worker (an error here is the caller's) and the supervisor."""
        self._spawn()
        self._thread.start()
        # An interpreter that exits without stop() stops it first: before multiprocessing's
        # own exit handler (registered earlier, so run later) terminates daemon children.
        atexit.register(self.stop)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Ask the worker to stop (a running job is handed back to the queue), then wait;
        nothing is restarted any more, and the process and its pipe are closed."""
        atexit.unregister(self.stop)
        with self._lock:
            self._stopping = True
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            process, writer = self._process, self._stop_writer
            self._process, self._stop_writer = None, None
        if process is not None:
            _stop_process(process, writer, timeout)
            self.exit_codes.append(process.exitcode)
            process.close()
        elif writer is not None:
            writer.close()

    # -- the supervising thread

    def _spawn(self) -> None:
        reader, writer = self._context.Pipe(duplex=False)
        try:
            # Looked up at each start, so a test can make every restart fail.
            process = self._context.Process(
                target=_worker_main, args=(reader,), name="isomix-embedded-worker", daemon=True
            )
            process.start()
        except BaseException:
            writer.close()
            raise
        finally:
            reader.close()  # the child has its own copy; EOF on it means "stop"
        with self._lock:
            self._process, self._stop_writer = process, writer
            self._started_at = time.monotonic()
            self._restart_at = None
        log.info("embedded worker started (pid %s)", process.pid)

    def _supervise(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                process, restart_at = self._process, self._restart_at
            if process is not None:
                if wait([process.sentinel], timeout=SUPERVISE_POLL_SECONDS):
                    self._died(process)
                else:
                    self._note_healthy()
                continue
            if restart_at is not None and time.monotonic() < restart_at:
                time.sleep(min(SUPERVISE_POLL_SECONDS, restart_at - time.monotonic()))
                continue
            with self._lock:
                if self._stopping:
                    return
            try:
                self._spawn()
            except Exception as error:  # e.g. out of memory or processes: try again later
                self._spawn_failed(error)

    def _note_healthy(self) -> None:
        with self._lock:
            ran = time.monotonic() - self._started_at
            if self._deaths_in_a_row and ran >= self.policy.stable_after:
                self._deaths_in_a_row = 0
                log.info("embedded worker has run for %.0f s: it counts as healthy again", ran)

    def _died(self, process: multiprocessing.process.BaseProcess) -> None:
        process.join()
        exitcode, pid = process.exitcode, process.pid
        with self._lock:
            if self._stopping:
                return  # stop() owns it now
            writer = self._stop_writer
            self._process, self._stop_writer = None, None
            ran = time.monotonic() - self._started_at
            plan = self._plan_restart(ran)
        self.exit_codes.append(exitcode)
        if writer is not None:
            writer.close()
        process.close()
        self._log_restart(f"embedded worker (pid {pid}) {describe_exit(exitcode)}", ran, plan)

    def _spawn_failed(self, error: Exception) -> None:
        with self._lock:
            plan = self._plan_restart(0.0)
        self._log_restart(f"embedded worker could not be started ({error})", 0.0, plan)

    def _plan_restart(self, ran: float) -> tuple[int, float]:
        """Count a death and set the restart time (with the lock held)."""
        if ran >= self.policy.stable_after:
            self._deaths_in_a_row = 0
        self._deaths_in_a_row += 1
        self.restarts += 1
        delay = self.policy.delay(self._deaths_in_a_row)
        self._restart_at = time.monotonic() + delay
        return self._deaths_in_a_row, delay

    def _log_restart(self, what: str, ran: float, plan: tuple[int, float]) -> None:
        deaths, delay = plan
        looping = (
            f"; {deaths} quick deaths in a row: new work is refused until one runs "
            f"{self.policy.stable_after:.0f} s"
            if deaths > self.policy.crash_loop
            else ""
        )
        log.warning(
            "%s after %.0f s; restarting it in %.0f s (restart %d)%s",
            what,
            ran,
            delay,
            self.restarts,
            looping,
        )


def _whole(seconds: float) -> int:
    return max(1, math.ceil(seconds))


def _stop_process(
    process: multiprocessing.process.BaseProcess, writer: Connection | None, timeout: float
) -> None:
    if writer is not None:
        writer.close()  # EOF on the worker's end: it stops at its next check
    process.join(timeout)
    if process.is_alive():
        log.warning("embedded worker did not stop in %.0f s; terminating it", timeout)
        process.terminate()
        process.join(5)
    if process.is_alive():
        process.kill()
        process.join()


def start_embedded_worker(policy: RestartPolicy | None = None) -> EmbeddedWorker:
    """Start the supervised worker of `isomix serve`."""
    return EmbeddedWorker(policy).start()


def _worker_main(stop_reader: Connection) -> None:
    # A spawned process starts with nothing configured: the server's logging and error
    # reporting, set up again here.
    logs.configure()
    errortracking.init("embedded-worker")
    # The handler only flips a plain flag; the loop notices it at its next check. Ctrl+C
    # reaches the whole process group: the worker leaves SIGINT to the server, which stops
    # it through the pipe (exiting on its own would look like a death and be restarted).
    signalled: list[int] = []
    signal.signal(signal.SIGTERM, lambda received, _frame: signalled.append(received))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Separation runs below the API's priority: requests are answered while it computes.
    priority.lower_priority()
    parent = multiprocessing.parent_process()
    me = worker_id("embedded")
    heartbeat = liveness.Heartbeat("embedded", me).start()  # /metrics: a live worker
    analysing.start_warm_up()  # librosa's numba functions, before the first analysis

    def should_stop() -> bool:
        # The pipe reads as ready once the server closes its end: when it asks us to stop,
        # and also when it died without telling us (the kernel closes it): its successor
        # takes over.
        return (
            bool(signalled) or stop_reader.poll() or (parent is not None and not parent.is_alive())
        )

    from isomix.jobs.cleanup import run_cleanup

    try:
        released = release_dead_local_leases()
        if released:
            log.info("resuming %s job(s) of a worker that died", released)
    except Exception:
        log.exception("could not look for jobs of a dead worker")
    next_cleanup = time.monotonic()
    while not should_stop():
        try:
            if time.monotonic() >= next_cleanup:
                next_cleanup = time.monotonic() + CLEANUP_EVERY_SECONDS
                run_cleanup()
            if run_next_job(worker_id=me, should_stop=should_stop):
                continue
            # Nothing to separate: the MP3 previews of finished songs, one stem at a time
            # (a new job waits at most for one stem's encode).
            if previews.encode_next(should_stop=should_stop, busy=_job_waiting):
                continue
            # Then the analysis of stem sets that have none (older ones), one at a time.
            if analysing.analyse_next():
                continue
        except Exception:  # the database may be briefly unavailable; keep the worker alive
            log.exception("embedded worker loop error")
        stop_reader.poll(POLL_SECONDS)
    stop_reader.close()
    heartbeat.stop()
    log.info("embedded worker stopped")
