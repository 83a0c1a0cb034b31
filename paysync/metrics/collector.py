"""What ``/metrics`` shows, read on each scrape (the families are listed in docs/operations.md).

Each source is read on its own: a source that fails (PostgreSQL down, say) is counted in
``paysync_scrape_errors{source}`` and the others are still shown.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from paysync import metrics

log = logging.getLogger(__name__)

# tasks/dispatch.py: each traffic's batch queue and its .interactive sub-queue
TRAFFIC_QUEUES = ("celery", "user", "user.interactive", "company", "company.interactive", "service",
                  "service.interactive")
PRIORITY_STEPS = (0, 3, 6, 9)
# 0 interactive; 6 a batch job whose merchant has nothing else waiting; 9 one behind its merchant's others
PRIORITY_CLASS = {0: "interactive", 6: "batch", 9: "batch"}

COUNTERS = {
    metrics.JOBS: ("Jobs finished, by task and outcome (success, failure, rescheduled, retry, rejected).",
                   ("task", "outcome")),
    metrics.PROVIDER_CALLS: ("HTTP calls to providers, by provider and outcome (2xx, 4xx, 429, 5xx, lost).",
                             ("provider", "outcome")),
    metrics.RATE_LIMITED: ("429 answers received from providers.", ("provider",)),
    metrics.WEBHOOK_DELIVERIES: ("Webhook deliveries answered by the receiver, by outcome.", ("provider", "outcome")),
}
HISTOGRAMS = {metrics.JOB_SECONDS: ("Job run time in seconds, by task and outcome.", ("task", "outcome"))}


def _labels(field: str, names: tuple[str, ...]) -> list[str]:
    try:
        values = json.loads(field)
    except ValueError:
        values = {}
    return [str(values.get(n, "")) for n in names]


class PaysyncCollector(Collector):
    """Reads Redis (counters, queues, budgets) and PostgreSQL (parked, quarantined, lag, initiations)."""

    def __init__(self, redis_url: str | None = None) -> None:
        self.redis_url = redis_url

    def _redis(self) -> Any:
        from paysync.config import settings
        from paysync.redis_client import redis_client

        return redis_client(self.redis_url or settings().redis_url)

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily("paysync_scrape_errors", "1 when a source could not be read in this scrape.",
                                   labels=["source"])
        sources: tuple[tuple[str, Callable[[], list[Metric]]], ...] = (
            ("counters", self.counters), ("queues", self.queues), ("budgets", self.budgets),
            ("postgresql", self.database))
        for name, read in sources:
            try:
                yield from read()
                errors.add_metric([name], 0)
            except Exception as exc:  # noqa: BLE001 - one source down never hides the others
                log.warning("metrics: %s not read: %s", name, exc)
                errors.add_metric([name], 1)
        yield errors

    # ------------------------------------------------------------ Redis

    def counters(self) -> list[Metric]:
        client = self._redis()
        out: list[Metric] = []
        for family, (doc, names) in COUNTERS.items():
            fam = CounterMetricFamily(family, doc, labels=list(names))
            for field, value in client.hgetall(metrics.counter_key(family)).items():
                fam.add_metric(_labels(field.decode(), names), float(value))
            out.append(fam)
        for family, (doc, names) in HISTOGRAMS.items():
            series: dict[str, dict[str, float]] = {}
            for raw, value in client.hgetall(metrics.histogram_key(family)).items():
                field, _, part = raw.decode().rpartition("\x1f")
                series.setdefault(field, {})[part] = float(value)
            hist = HistogramMetricFamily(family, doc, labels=list(names))
            for field, parts in sorted(series.items()):
                buckets = [(str(b), parts.get(str(b), 0.0)) for b in metrics.BUCKETS]
                buckets.append(("+Inf", parts.get("+Inf", 0.0)))
                hist.add_metric(_labels(field, names), buckets, parts.get("sum", 0.0))
            out.append(hist)
        return out

    def queues(self) -> list[Metric]:
        client = self._redis()
        depth = GaugeMetricFamily("paysync_queue_depth", "Messages waiting in a broker queue, by queue and class.",
                                  labels=["queue", "class"])
        pipe = client.pipeline(transaction=False)
        keys = [(q, p) for q in TRAFFIC_QUEUES for p in PRIORITY_STEPS]
        for queue, step in keys:
            pipe.llen(queue if step == 0 else f"{queue}:{step}")
        totals: dict[tuple[str, str], int] = {}
        for (queue, step), n in zip(keys, pipe.execute(), strict=True):
            cls = PRIORITY_CLASS.get(step, f"priority-{step}")
            totals[(queue, cls)] = totals.get((queue, cls), 0) + int(n)
        for (queue, cls), n in sorted(totals.items()):
            depth.add_metric([queue, cls], n)
        unacked = GaugeMetricFamily("paysync_jobs_unacked", "Messages delivered to workers and not acknowledged yet.")
        unacked.add_metric([], int(client.hlen("unacked")))
        return [depth, unacked]

    def budgets(self) -> list[Metric]:
        from paysync.budgets import shared_limiter
        from paysync.budgets.buckets import connectwise_bucket
        from paysync.clients.wise.client import bucket_for
        from paysync.clients.xero.client import budget_bucket
        from storage import metrics as store

        limiter = shared_limiter()
        labels = ["provider", "owner", "merchant_id", "window"]
        used = GaugeMetricFamily("paysync_budget_used", "Calls used in a budget window now.", labels=labels)
        left = GaugeMetricFamily("paysync_budget_left", "Calls left in a budget window now.", labels=labels)
        limit = GaugeMetricFamily("paysync_budget_limit", "A budget window's limit.", labels=labels)
        flight = GaugeMetricFamily("paysync_budget_in_flight", "Calls in flight on a budget.",
                                   labels=["provider", "owner", "merchant_id"])
        owners = store.budget_owners()
        specs = [("xero", f"connection:{r['id']}", r["merchant_id"], budget_bucket(r["client_id"], r["tenant_id"]))
                 for r in owners["xero"]]
        specs += [("wise", f"connector:{r['id']}", r["merchant_id"], bucket_for(r["id"], r.get("limits") or None))
                  for r in owners["wise"]]
        specs += [("connectwise", f"psa:{r['id']}", r["merchant_id"], connectwise_bucket(r["id"]))
                  for r in owners["connectwise"]]
        for provider, owner, merchant_id, spec in specs:
            state = limiter.remaining(spec)
            for name, window in state.windows.items():
                values = [provider, owner, str(merchant_id), name]
                used.add_metric(values, window.used)
                left.add_metric(values, window.left)
                limit.add_metric(values, window.limit)
            flight.add_metric([provider, owner, str(merchant_id)], state.in_flight)
        return [used, left, limit, flight]

    # ------------------------------------------------------------ PostgreSQL

    #: gauges read from PostgreSQL: name, help, labels, the ``storage.metrics`` reader, value column
    DATABASE_GAUGES = (
        ("paysync_parked_jobs", "Jobs parked until their budget allows, by task.", ("task", "traffic"),
         "parked_jobs", "n"),
        ("paysync_quarantined_records", "Records a sync could not map, still open.", ("provider", "stream"),
         "quarantined", "n"),
        ("paysync_sync_lag_seconds", "Seconds since a stream's last successful page.", ("owner", "stream"),
         "sync_lag", "seconds"),
        ("paysync_initiations", "Payment initiations by kind and status.", ("kind", "status"), "initiations", "n"),
        ("paysync_webhooks_stored", "Stored webhook deliveries by event type and status.", ("event_type", "status"),
         "webhook_deliveries", "n"),
    )

    def database(self) -> list[Metric]:
        from storage import metrics as store

        out: list[Metric] = []
        for name, text, labels, reader, value in self.DATABASE_GAUGES:
            gauge = GaugeMetricFamily(name, text, labels=list(labels))
            for r in getattr(store, reader)():
                gauge.add_metric([r[label] for label in labels], r[value])
            out.append(gauge)
        return out
