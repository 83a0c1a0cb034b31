"""The Celery application. Importable as ``celery -A tasks``."""

from celery import Celery

app = Celery("paysync")
app.config_from_object("celeryconfig")
