"""A Celery app for bench_limiter.py: one task, Celery's own per-worker rate_limit.

Started as ``celery -A _limiter_celery worker`` from this folder; the bench sets
BENCH_CELERY_BROKER, BENCH_CELERY_QUEUE, BENCH_CELERY_RATE and BENCH_RECORD_URL.
"""

from __future__ import annotations

import os

import redis
from celery import Celery

app = Celery("bench_limiter", broker=os.environ["BENCH_CELERY_BROKER"])
app.conf.update(
    task_default_queue=os.environ["BENCH_CELERY_QUEUE"],
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
)
_record = redis.Redis.from_url(os.environ["BENCH_RECORD_URL"])


@app.task(name="bench_limiter.call", rate_limit=os.environ["BENCH_CELERY_RATE"])
def call(out: str) -> None:
    """Stand-in for an API call: note the Redis time it started."""
    seconds, micros = _record.time()
    _record.rpush(out, seconds * 1_000_000 + micros)
