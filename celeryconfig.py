"""Celery configuration: Redis broker, JSON only, the three traffic queues, reliability.

Queues: ``user``, ``company`` and ``service`` carry the three kinds of traffic (one per
accounting connection, see docs/architecture.md); ``celery`` (the default queue) receives
jobs sent by name from applications without paysync's routing, and its worker forwards
each to the queue its task declares.
"""

from kombu import Queue

from paysync.config import settings
from paysync.errors import ConfigError

try:
    _s = settings()
except ConfigError as exc:  # a process that cannot start says why in one line
    raise SystemExit(f"paysync: {exc}") from None

broker_url = _s.redis_url
result_backend = _s.redis_url
# The broker going away is waited out, never fatal: retry the connection forever (None),
# at startup too, with waits growing to 10 s; publishes retry too (docs/reliability.md).
broker_connection_retry = True
broker_connection_retry_on_startup = True
broker_connection_max_retries = None
broker_connection_timeout = 5
task_publish_retry = True
task_publish_retry_policy = {"max_retries": 30, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}
redis_backend_health_check_interval = 10
result_backend_always_retry = True
result_backend_max_retries = 30

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
# A lost broker connection must not cut running jobs short: cancelling them (True) makes
# this Celery terminate them and acknowledge their messages once reconnected, and the jobs
# are lost (measured in docs/reliability.md). Kept running, a job finishes; its message,
# which could not be acknowledged, comes back after the visibility timeout and the
# execution claim drops it (tasks/executions.py).
worker_cancel_long_running_tasks_on_connection_loss = False
broker_transport_options = {
    # Unacknowledged messages come back after this; every countdown stays well below it
    # (settings().max_countdown), or Redis would deliver the task again and again.
    "visibility_timeout": _s.visibility_timeout,
    # Sweep for unacknowledged messages of dead workers often enough to matter
    # (kombu's default sweep runs every 100 s whatever the timeout).
    "unacked_restore_interval": _s.restore_interval,
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
# A rediss:// REDIS_URL: TLS for the broker, the results and beat, the server's certificate
# verified (against PAYSYNC_REDIS_CA_FILE when set).
_tls = _s.redis_tls()
if _tls is not None:
    broker_use_ssl = _tls
    redis_backend_use_ssl = _tls
    redbeat_redis_use_ssl = _tls
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
# A beat that dies holds the lock at most this long; the live beat extends it every loop
# (at most a sixth of it apart), so a second beat takes over within the lock timeout plus
# one loop (PAYSYNC_BEAT_LOCK_SECONDS, default 30 s: under 60 s).
redbeat_lock_timeout = _s.beat_lock_seconds
beat_max_loop_interval = max(1, _s.beat_lock_seconds // 6)
redbeat_redis_options = {"socket_timeout": _s.redis_timeout, "socket_connect_timeout": _s.redis_timeout}


# The schedule is declared beside the tasks (tasks/schedule.py).
from tasks import schedule as _schedule  # noqa: E402

beat_schedule = _schedule.beat_schedule
