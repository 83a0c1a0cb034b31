"""What both directions share: the clients for a run, the run record, the report."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mappers import MapperError
from paysync.clients.connectwise import ConnectWiseClient
from paysync.clients.http import BudgetExhausted
from paysync.clients.xero import XeroClient
from storage import connections, psa, quarantine
from storage import wisesync as wisesync_store
from storage.connections import Resolution
from storage.db import text_column, transaction
from storage.psa import PsaConnection

Progress = Callable[[str, int, int], None]


def batch_size() -> int:
    """Invoices per Xero write (``PAYSYNC_WISESYNC_BATCH``, default 50; 1 = one call per invoice)."""
    return max(1, min(int(os.environ.get("PAYSYNC_WISESYNC_BATCH", "50") or 50), 100))


@dataclass
class Report:
    direction: str
    merchant_id: int
    counts: Counter = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    run_id: int | None = None
    connection_role: str | None = None
    connection_id: int | None = None
    tenant_id: str | None = None
    xero_calls: int = 0
    psa_calls: int = 0
    status: str = "running"

    def error(self, ref: str, message: str, kind: str = "error") -> None:
        """Note one error; the run's errors are stored as jsonb, which cannot hold U+0000: a NUL
        in a provider's text (a reference, a name) is shown as U+FFFD."""
        self.counts[kind] += 1
        self.errors.append({"ref": text_column(ref), "kind": kind, "message": text_column(message, 500)})

    def as_dict(self) -> dict[str, Any]:
        return {"direction": self.direction, "merchant_id": self.merchant_id, "run_id": self.run_id,
                "status": self.status, "connection_role": self.connection_role, "connection_id": self.connection_id,
                "tenant_id": self.tenant_id, "counts": dict(self.counts), "errors": self.errors,
                "xero_calls": self.xero_calls, "psa_calls": self.psa_calls}


@dataclass
class Context:
    merchant_id: int
    interactive: bool
    psa: PsaConnection
    resolution: Resolution
    xero: XeroClient
    cw: ConnectWiseClient
    report: Report
    progress: Progress

    @property
    def tenant_id(self) -> str:
        return str(self.resolution.connection.tenant_id)

    def quarantine(self, provider: str, stream: str, reference: str, payload: Any, exc: MapperError) -> None:
        """Keep a record that cannot be mapped (raw payload, the error naming field and value);
        the run goes on with the others. Xero records belong to the accounting connection that
        read them (its connections view shows them), ConnectWise ones to the PSA connection."""
        owner = f"connection:{self.resolution.connection.id}" if provider == "xero" else f"psa:{self.psa.id}"
        scope = f"tenant:{self.tenant_id}" if provider == "xero" else ""
        with transaction() as cur:
            quarantine.put(cur, owner, provider, stream, scope, reference, payload, str(exc), exc.field, exc.value)
        self.report.error(reference, f"quarantined: {exc}")

    def mapped(self, provider: str, stream: str, references: list[str]) -> None:
        """Records that map now leave quarantine (fixed at the source)."""
        owner = f"connection:{self.resolution.connection.id}" if provider == "xero" else f"psa:{self.psa.id}"
        with transaction() as cur:
            quarantine.resolve(cur, owner, stream, references)


def _quiet(_stage: str, _done: int, _total: int) -> None:
    pass


@contextmanager
def run(direction: str, merchant_id: int, *, interactive: bool, task_id: str | None = None,
        progress: Progress | None = None) -> Iterator[Context]:
    """Lock, resolve the company connection now, build both clients, record the run."""
    with wisesync_store.run_lock(merchant_id, direction):
        resolution = connections.resolve(merchant_id, "company")
        psa_conn = psa.for_merchant(merchant_id)
        report = Report(direction, merchant_id, connection_role=resolution.connection.role,
                        connection_id=resolution.connection.id, tenant_id=resolution.connection.tenant_id)
        xero = XeroClient.for_connection(resolution.connection, interactive=interactive)
        cw = ConnectWiseClient(psa_conn, interactive=interactive)
        report.run_id = wisesync_store.start_run(merchant_id, direction, task_id, interactive, resolution.connection.id,
                                        resolution.connection.role)
        ctx = Context(merchant_id, interactive, psa_conn, resolution, xero, cw, report, progress or _quiet)
        status = "failed"
        try:
            yield ctx
            status = "partial" if report.errors else "ok"
        except BudgetExhausted as exc:
            report.errors.append({"ref": "-", "kind": "budget", "message": str(exc)})
            raise
        except Exception as exc:
            report.errors.append({"ref": "-", "kind": "failed", "message": str(exc)[:500]})
            raise
        finally:
            report.status = status
            report.xero_calls, report.psa_calls = xero.calls, cw.calls
            wisesync_store.finish_run(report.run_id, status, dict(report.counts), report.errors, xero.calls, cw.calls)
            if status == "failed":
                psa.set_error(psa_conn.id, report.errors[-1]["message"] if report.errors else None)


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
