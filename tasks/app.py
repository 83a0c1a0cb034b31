"""The Celery application. Importable as ``celery -A tasks``."""

from celery import Celery

from tasks import observability

app = Celery("paysync")
app.config_from_object("celeryconfig")
observability.install(app)  # logging set-up, log context, job metrics, the worker's heartbeat file
