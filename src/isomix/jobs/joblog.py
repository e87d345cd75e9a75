"""What a worker's log lines and error reports say about the job it runs: the request id of
the API request that created the job (read from the row), the job's id and its project's.

Both runners wrap each job in `job_context`: the Celery thin tasks (celery_app.py) and the
embedded worker (embedded.run_job). The row is read here rather than carried in the message,
so a job re-sent by the reconciler or taken again after a crash keeps its request id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from isomix import errortracking, logs
from isomix.db import get_sessionmaker
from isomix.models import Export, Project

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobFacts:
    request_id: str | None = None
    project_id: str | None = None
    filename: str | None = None  # the user's: concealed in error reports


def facts_of(table: str, job_id: str) -> JobFacts:
    """The job's request id, project and file name; empty when the row is gone (the job will
    say so itself) or the database cannot be read now."""
    try:
        with get_sessionmaker()() as db:
            if table == Project.__tablename__:
                row = db.execute(
                    select(Project.request_id, Project.filename).where(Project.id == job_id)
                ).first()
                if row is not None:
                    return JobFacts(row.request_id, job_id, row.filename)
            else:
                found = db.execute(
                    select(Export.request_id, Export.project_id, Project.filename)
                    .join(Project, Project.id == Export.project_id)
                    .where(Export.id == job_id)
                ).first()
                if found is not None:
                    return JobFacts(found.request_id, found.project_id, found.filename)
    except SQLAlchemyError as error:  # the job's own claim reports a database outage
        log.warning("no log context for %s %s: %s", table, job_id, error)
    return JobFacts()


@contextmanager
def job_context(table: str, job_id: str) -> Iterator[None]:
    """Log lines and error reports inside the block carry the job's request id and ids."""
    facts = facts_of(table, job_id)
    fields = {
        "request_id": facts.request_id,
        "job_id": job_id,
        "project_id": facts.project_id,
    }
    concealed = (facts.filename,) if facts.filename else ()
    with logs.log_context(**fields), errortracking.job_scope(concealed=concealed, **fields):
        yield
