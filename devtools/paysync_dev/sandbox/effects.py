"""What the providers of the sandbox hold now, counted: the effects of every outside write.

``/_sandbox/effects`` answers these counts, read from each provider's state (nothing is
counted on the way in, so a replayed answer or a refused second write never counts twice):

- ``xero:<tenant>:payments`` (not deleted), ``...:payments_deleted``, ``...:invoices``,
  ``...:contacts``; ``xero:<client id>:grants`` (authorisations: code exchanges and control
  grants) and ``xero:<client id>:rotations`` (refresh tokens rotated; a replay within the
  grace period rotates nothing);
- ``wise:quotes``, ``wise:quotes_used`` (by a transfer), ``wise:transfers``,
  ``wise:transfers_funded``, ``wise:transfers_cancelled``, ``wise:subscriptions``;
- ``connectwise:payments``, ``connectwise:batches``.

A test takes the counts before and after and compares (:meth:`SandboxControl.effects`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import Blueprint, current_app, jsonify, request


def _xero(state: Any, provider: Any, out: Counter) -> None:
    for tenant_id, tenant in list(getattr(provider, "tenants", {}).items()):
        with tenant.lock:
            payments = list(tenant.payments.values())
            invoices, contacts = len(tenant.invoices), len(tenant.contacts)
        out[f"xero:{tenant_id}:payments"] += sum(1 for p in payments if p.get("Status") != "DELETED")
        out[f"xero:{tenant_id}:payments_deleted"] += sum(1 for p in payments if p.get("Status") == "DELETED")
        out[f"xero:{tenant_id}:invoices"] += invoices
        out[f"xero:{tenant_id}:contacts"] += contacts
    oauth = getattr(provider, "oauth", None)
    if oauth is None:
        return
    with oauth.lock:
        for grant in oauth.grants.values():
            out[f"xero:{grant.client_id}:grants"] += 1
        for token in oauth.refresh.values():
            if token.superseded_at is not None:
                out[f"xero:{token.client_id}:rotations"] += 1


def _wise(state: Any, provider: Any, out: Counter) -> None:
    with state.lock:  # the Wise stand-in changes its world under the sandbox lock
        world = provider.engine.world
        out["wise:quotes"] += len(world.quotes)
        out["wise:quotes_used"] += sum(1 for q in world.quotes.values() if q.used_by is not None)
        out["wise:transfers"] += len(world.transfers)
        out["wise:transfers_funded"] += sum(1 for t in world.transfers.values() if t.funded)
        out["wise:transfers_cancelled"] += sum(1 for t in world.transfers.values() if t.status == "cancelled")
        hooks = getattr(provider, "webhooks", None)
        out["wise:subscriptions"] += len(getattr(hooks, "subscriptions", {}) or {})


def _connectwise(state: Any, provider: Any, out: Counter) -> None:
    with provider.lock:
        out["connectwise:payments"] += sum(len(inv.payments) for inv in provider.data.invoices.values())
        out["connectwise:batches"] += len(provider.data.batches)


_PROBES = {"xero": _xero, "wise": _wise, "connectwise": _connectwise}


def effects(state: Any, prefix: str = "") -> dict[str, int]:
    """The counts (module docstring). Each provider is read under the lock it writes under,
    one at a time (never two locks at once: the providers take theirs before the sandbox's)."""
    out: Counter = Counter()
    for name, provider in list(state.providers.items()):
        probe = _PROBES.get(name)
        if probe is not None:
            probe(state, provider, out)
    return {k: v for k, v in sorted(out.items()) if k.startswith(prefix)}


control = Blueprint("sandbox_effects", __name__)


@control.get("/effects")
def effects_view() -> Any:
    return jsonify(effects(current_app.config["SANDBOX_STATE"], request.args.get("prefix", "")))
