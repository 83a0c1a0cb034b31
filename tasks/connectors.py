"""Connector lifecycle tasks (service, batch). Install is a command, never a task: it carries
an API key, and no secret travels through the broker."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from storage import connectors
from tasks.contract import paysync_task


class UninstallSchema(Schema):
    connector_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    purge = fields.Boolean(load_default=False)


class ResetSchema(Schema):
    connector_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {"connector_id": row["id"], "status": row["status"], "generation": row["generation"],
            "removed": row.get("removed", {})}


@paysync_task("connectors.uninstall", traffic="service", interactive=False, protected=True, schema=UninstallSchema)
def uninstall(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Stop polling, forget the credentials; ``purge`` deletes the synced rows too."""
    from paysync.connectors.wise.webhooks import on_uninstall  # the subscriptions go while the key is known

    on_uninstall(payload["connector_id"])
    return _plain(connectors.uninstall(payload["connector_id"], payload["purge"]))


@paysync_task("connectors.reset", traffic="service", interactive=False, protected=True, schema=ResetSchema)
def reset(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Synced rows and watermarks afresh; the next cycle starts now."""
    row = connectors.reset(payload["connector_id"])
    from tasks.wise import start_cycle

    start_cycle(row["id"])
    return _plain(row)
