"""``paysync metrics serve``: ``/metrics`` in Prometheus's text format, ``/healthz`` for health checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from paysync.metrics.collector import PaysyncCollector


def registry(redis_url: str | None = None) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(PaysyncCollector(redis_url))
    return reg


def wsgi_app(reg: CollectorRegistry | None = None) -> Callable[..., Iterable[bytes]]:
    reg = reg or registry()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            body = generate_latest(reg)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"status": "ok"}']
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: /metrics or /healthz\n"]

    return app


def create_server(host: str = "127.0.0.1", port: int = 9464) -> Any:
    from waitress.server import create_server as waitress_server

    return waitress_server(wsgi_app(), host=host, port=port, threads=4, ident="paysync-metrics")
