"""Install, uninstall and reset a Wise connector.

Install is a command, never a task: the API key comes from the config file, is validated
with the rest of the config (every problem at once), verified against Wise
(``GET /v2/profiles``), and goes straight to encrypted storage. The caller then schedules
the first polling cycle (``tasks.wise.start_cycle``).
"""

from __future__ import annotations

from typing import Any

from paysync.clients.http import ProviderError
from paysync.clients.wise import for_connector
from paysync.clients.wise import profiles as api
from paysync.connectors.wise import PROVIDER, others
from paysync.connectors.wise.config import parse_config
from paysync.errors import PaysyncError
from storage import connectors, merchants
from storage.db import transaction


class InstallError(PaysyncError):
    """Wise refused the token, or could not be reached; nothing was kept."""


def install(merchant: str | int, raw_config: Any, name: str = "wise") -> dict[str, Any]:
    """Validate, verify the token, store the connector and its profiles; returns the row with
    ``profiles`` (id and type). The connector's first poll is due at once."""
    cfg = parse_config(raw_config)
    owner = merchants.get(merchant)
    row = connectors.create(owner["id"], PROVIDER, name, cfg.public(), cfg.secrets(),
                            int(cfg.polling_period.total_seconds()))
    try:
        client = for_connector(row, cfg.api_key, interactive=True)
        try:
            profiles = api.list_profiles(client)
        except ProviderError as exc:
            hint = " (check apiKey)" if exc.status in (401, 403) else ""
            raise InstallError(f"Wise did not accept the token at {cfg.base_url}: {exc}{hint}") from None
        if not isinstance(profiles, list):
            raise InstallError(f"GET {cfg.base_url}/v2/profiles did not answer a list of profiles")
        with transaction() as cur:
            others.persist_profiles(cur, row["id"], profiles)
    except BaseException:
        connectors.delete(row["id"])
        raise
    out = connectors.activate(row["id"])
    out["profiles"] = [{"id": str(p["id"]), "type": p.get("type")} for p in profiles]
    from paysync.connectors.wise.webhooks import on_install  # subscribe when publicUrl is set

    out["webhooks"] = on_install(row["id"])
    return out


def uninstall(connector_id: int, purge: bool = False) -> dict[str, Any]:
    """Stop polling and forget the API key; keep the synced rows unless ``purge``."""
    from paysync.connectors.wise.webhooks import on_uninstall  # the subscriptions go while the key is known

    hooks = on_uninstall(connector_id)
    row = connectors.uninstall(connector_id, purge)
    row["webhooks"] = hooks
    return row


def reset(connector_id: int) -> dict[str, Any]:
    """Delete synced rows and watermarks; the next cycle starts from the first page."""
    return connectors.reset(connector_id)
