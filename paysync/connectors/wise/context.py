"""What every capability needs for one run: the connector row and a budgeted client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from paysync.clients.http import BudgetedHTTP
from paysync.clients.wise import WiseClient, for_connector
from paysync.errors import PaysyncError
from storage import connectors


class ConnectorInactive(PaysyncError):
    """The connector was uninstalled (or reset since this job was sent): nothing to do."""


@dataclass
class Run:
    connector: dict[str, Any]
    client: BudgetedHTTP

    @property
    def id(self) -> int:
        return int(self.connector["id"])

    @property
    def generation(self) -> int:
        return int(self.connector["generation"])

    @property
    def page_size(self) -> int:
        return int(self.connector["config"].get("pageSize") or 25)

    @property
    def owner(self) -> str:
        return connectors.owner(self.id)


def open_run(connector_id: int, *, interactive: bool = False, generation: int | None = None,
             client: BudgetedHTTP | None = None) -> Run:
    """The connector and its client; :class:`ConnectorInactive` when it no longer polls."""
    row = connectors.get(connector_id)
    if row["status"] != "active":
        raise ConnectorInactive(f"connector {connector_id} is {row['status']}")
    if generation is not None and row["generation"] != generation:
        raise ConnectorInactive(f"connector {connector_id} was reset since this job was sent")
    if client is None:
        client = for_connector(row, connectors.secret(connector_id)["apiKey"], interactive=interactive)
    return Run(row, client)


def utcnow() -> datetime:
    return datetime.now(UTC)


def wise_now(client: BudgetedHTTP) -> datetime:
    """Wise's time now as the client's latest answer showed it (``WiseClient.now``); ours for a
    client that does not follow Wise's clock."""
    return client.now() if isinstance(client, WiseClient) else utcnow()
