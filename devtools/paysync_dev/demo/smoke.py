"""The demo's first chapter: a job per traffic queue, sent by name from a bare Celery app."""

from __future__ import annotations

import uuid

from paysync_dev.demo.runner import DemoContext, Section


def smoke_through_every_queue(ctx: DemoContext) -> Section:
    """A job per traffic queue, sent by name from a bare Celery app (as another application would)."""
    from celery import Celery

    from paysync.config import settings

    url = settings().redis_url
    bare = Celery("another-application", broker=url, backend=url)
    rows = []
    for task in ("paysync.smoke_user", "paysync.smoke_company", "paysync.smoke_service"):
        where = bare.send_task(task, kwargs={"token": uuid.uuid4().hex}).get(timeout=60)
        rows.append({"task": task, "queue": where["queue"], "worker": where["worker"], "pid": where["pid"]})
    return Section("smoke jobs sent by name from a bare Celery app", ("task", "queue", "worker", "pid"), rows)
