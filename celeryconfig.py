"""Celery configuration: Redis broker, JSON only, the three traffic queues, reliability.

Queues: ``user``, ``company`` and ``service`` carry the three kinds of traffic (one per
accounting connection, see docs/architecture.md); ``celery`` (the default queue) receives
jobs sent by name from applications without paysync's routing, and its worker forwards
each to the queue its task declares.
"""

from kombu import Queue

from paysync.config import settings

_s = settings()

broker_url = _s.redis_url
result_backend = _s.redis_url
broker_connection_retry_on_startup = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]
result_expires = 7 * 24 * 3600
result_extended = True

task_default_queue = "celery"
task_queues = (Queue("user"), Queue("company"), Queue("service"), Queue("celery"))
task_routes = ("tasks.routing.route",)

# Reliability: a message is acknowledged only after its task finished; a worker process
# that dies mid-task gives its message back; one message reserved per process so a
# rate-limited queue never hides work in a busy worker's prefetch buffer.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_cancel_long_running_tasks_on_connection_loss = True
broker_transport_options = {
    # Unacknowledged messages come back after this; every countdown stays well below it
    # (settings().max_countdown), or Redis would deliver the task again and again.
    "visibility_timeout": _s.visibility_timeout,
    # Sweep for unacknowledged messages of dead workers often enough to matter
    # (kombu's default sweep runs every 100 s whatever the timeout).
    "unacked_restore_interval": max(1, min(10, _s.visibility_timeout // 3)),
    "unacked_restore_throttle": 1,
    # Message priority on Redis: 0 is served first. Interactive jobs use 0, batch 9.
    "priority_steps": [0, 3, 6, 9],
    "sep": ":",
    "queue_order_strategy": "priority",
    # Explicit timeouts (PAYSYNC_REDIS_TIMEOUT): a broker that stops answering fails the
    # command instead of hanging it; at least 2 s, above kombu's 1 s BRPOP.
    "socket_timeout": max(2.0, _s.redis_timeout),
    "socket_connect_timeout": _s.redis_timeout,
}
result_backend_transport_options = {"visibility_timeout": _s.visibility_timeout}
redis_socket_timeout = _s.redis_timeout
redis_socket_connect_timeout = _s.redis_timeout

# Monitoring (Flower): task events on, sent events recorded.
worker_send_task_events = True
task_send_sent_event = True
task_track_started = True

# Beat: the schedule lives in Redis under a lock, so a second beat waits instead of
# doubling every job (celery-redbeat). Jobs themselves are idempotent too.
beat_scheduler = "redbeat.RedBeatScheduler"
redbeat_redis_url = _s.redis_url
redbeat_key_prefix = "paysync:redbeat"
redbeat_lock_timeout = 300
redbeat_redis_options = {"socket_timeout": _s.redis_timeout, "socket_connect_timeout": _s.redis_timeout}


# The schedule is declared beside the tasks (tasks/schedule.py).
from tasks import schedule as _schedule  # noqa: E402

beat_schedule = _schedule.beat_schedule
