"""Wise tasks: the polling cycle (service, batch), transfers and payouts (user, interactive),
initiation polls and the sweeper (service, batch). Thin: validate, call
``paysync.connectors.wise``, enqueue what comes next. Payloads carry ids, never secrets.

Polling cycle (the seed's workflow tree), every connector's ``pollingPeriod``::

    wise.poll_due (beat) -> wise.fetch_profiles -> per profile: wise.fetch_accounts -> wise.fetch_payments
                                                                wise.fetch_external_accounts
                                                                wise.fetch_others
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from mappers.money import MAX_MINOR
from paysync import limits
from paysync.connectors.wise import accounts, external_accounts, initiations, others, payments, profiles
from paysync.connectors.wise import settings as wise_settings
from paysync.connectors.wise.context import ConnectorInactive, open_run
from storage import connectors
from storage import wise as wise_store
from tasks.contract import paysync_task
from tasks.routing import enqueue


class ConnectorSchema(Schema):
    connector_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    generation = fields.Integer(load_default=None, strict=True, allow_none=True)


class ProfileSchema(ConnectorSchema):
    profile_id = fields.String(required=True, validate=validate.Regexp(r"^\d{1,20}$"))


class InitiationRequestSchema(Schema):
    connector_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    idempotency_key = fields.String(required=True, validate=validate.Length(min=1, max=limits.IDEMPOTENCY_KEY))
    source_account = fields.String(required=True, validate=validate.Length(min=1, max=64))
    destination_account = fields.String(required=True, validate=validate.Length(min=1, max=64))
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=1, max=MAX_MINOR, error="must be a whole number of minor units from {min} to {max}"))
    asset = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}/\d{1,2}$",
                                                                  error="must be CODE/precision such as EUR/2"))
    amount_side = fields.String(load_default="SOURCE", validate=validate.OneOf(["SOURCE", "TARGET"]))
    reference = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=limits.WISE_REFERENCE))


class PayoutRequestSchema(InitiationRequestSchema):
    # answer what the payout policy and the request's checks would decide; store and send nothing
    dry_run = fields.Boolean(load_default=False)


class TransferRequestSchema(InitiationRequestSchema):
    via_recipient = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))


class PollInitiationSchema(Schema):
    initiation_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    seq = fields.Integer(load_default=None, allow_none=True, strict=True)


class InitiationSchema(Schema):
    initiation_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


def _fanout(name: str, payload: dict[str, Any]) -> None:
    enqueue(name, payload)


def start_cycle(connector_id: int) -> bool:
    """Claim a connector's poll now and enqueue its cycle (install, reset, by hand)."""
    claimed = connectors.claim_now(connector_id)
    if claimed is None:
        return False
    _fanout("wise.fetch_profiles", {"connector_id": claimed["id"], "generation": claimed["generation"]})
    return True


def _guard(fn: Any, *args: Any) -> dict[str, Any]:
    try:
        return fn(*args)
    except ConnectorInactive as exc:
        return {"skipped": str(exc)}


def _records(result: Any) -> int:
    """Rows a fetch reported (its nested counts, calls left out)."""
    if isinstance(result, dict):
        return sum(_records(v) for k, v in result.items() if "call" not in k and "repoll" not in k)
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def _tracked(stream: str, payload: dict[str, Any], fn: Any) -> dict[str, Any]:
    """``_guard(fn)``, and a fetch that went through counts as a page of ``stream`` in ``sync_progress``
    (the sync lag metric, ``paysync connectors status``)."""
    from storage import sync_progress

    result = _guard(fn)
    if "skipped" not in result:
        sync_progress.page(connectors.owner(payload["connector_id"]), stream, _records(result))
    return result


# ----------------------------------------------------------------- polling

@paysync_task("wise.poll_due", traffic="service", interactive=False)
def poll_due(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Beat: enqueue a cycle for every connector whose poll is due (claimed: two beats are safe)."""
    claimed = connectors.claim_due("wise")
    for c in claimed:
        _fanout("wise.fetch_profiles", {"connector_id": c["id"], "generation": c["generation"]})
    return {"connectors": [c["id"] for c in claimed]}


@paysync_task("wise.fetch_profiles", traffic="service", interactive=False, schema=ConnectorSchema)
def fetch_profiles(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    def body() -> dict[str, Any]:
        run = open_run(payload["connector_id"], generation=payload["generation"])
        result = profiles.fetch(run)
        for pid in result["profiles"] if "skipped" not in result else []:
            child = {"connector_id": run.id, "generation": run.generation, "profile_id": pid}
            for name in ("wise.fetch_accounts", "wise.fetch_external_accounts", "wise.fetch_others"):
                _fanout(name, child)
        return result

    return _tracked("profiles", payload, body)


@paysync_task("wise.fetch_accounts", traffic="service", interactive=False, schema=ProfileSchema)
def fetch_accounts(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Balances (accounts + balances from one payload), then the profile's transfers."""
    def body() -> dict[str, Any]:
        run = open_run(payload["connector_id"], generation=payload["generation"])
        result = accounts.fetch(run, payload["profile_id"])
        if "skipped" not in result:
            _fanout("wise.fetch_payments", {**payload, "generation": run.generation})
        return result

    return _tracked("accounts", payload, body)


@paysync_task("wise.fetch_external_accounts", traffic="service", interactive=False, schema=ProfileSchema)
def fetch_external_accounts(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _tracked("recipients", payload, lambda: external_accounts.fetch(
        open_run(payload["connector_id"], generation=payload["generation"]), payload["profile_id"]))


@paysync_task("wise.fetch_payments", traffic="service", interactive=False, schema=ProfileSchema)
def fetch_payments(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _tracked("transfers", payload, lambda: payments.fetch(
        open_run(payload["connector_id"], generation=payload["generation"]), payload["profile_id"]))


@paysync_task("wise.fetch_others", traffic="service", interactive=False, schema=ProfileSchema)
def fetch_others(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _tracked("quotes", payload, lambda: others.fetch(
        open_run(payload["connector_id"], generation=payload["generation"]), payload["profile_id"]))


# ----------------------------------------------------------------- transfers and payouts

def _follow(outcome: initiations.Outcome) -> dict[str, Any]:
    if outcome.poll_in is not None and outcome.seq is not None:
        enqueue("wise.poll_initiation", {"initiation_id": outcome.initiation_id, "seq": outcome.seq},
                countdown=outcome.poll_in)
    return outcome.as_dict()


def _initiate(task: Any, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    row = initiations.create(payload["connector_id"], kind, payload)
    result = _follow(initiations.advance(row["id"], interactive=task.interactive))
    return {**result, "customer_transaction_id": str(row["customer_transaction_id"])}


def _key(p: dict[str, Any]) -> str:
    return f"{p['connector_id']}:{p['idempotency_key']}" + (":dry-run" if p.get("dry_run") else "")


@paysync_task("wise.create_transfer", traffic="user", interactive=True, protected=True, schema=TransferRequestSchema,
              idempotency_key=_key)
def create_transfer(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Between two of the connector's own balances (through the recipient that stands for the target)."""
    return _initiate(task, "TRANSFER", payload)


@paysync_task("wise.create_payout", traffic="user", interactive=True, protected=True, schema=PayoutRequestSchema,
              idempotency_key=_key)
def create_payout(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """From one of the connector's balances to a recipient, within the merchant's payout policy
    (``paysync/payout_policy.py``): a payout beyond it is refused, recorded with its reason, and
    nothing is sent to Wise. ``dry_run`` answers what would happen."""
    from paysync import payout_policy, signing
    from paysync.audit import describe

    actor = describe(getattr(task.request, "paysync_actor", None) or signing.process_actor())
    request = {k: v for k, v in payload.items() if k != "dry_run"}
    if payload["dry_run"]:
        decision = payout_policy.admit(payload["connector_id"], request, actor=actor, task_id=task.request.id,
                                       dry_run=True)
        try:
            initiations.validate(payload["connector_id"], "PAYOUT", {**request, "via_recipient": None})
            problems = None
        except initiations.InitiationError as exc:
            problems = exc.errors
        return {"dry_run": True, "admitted": decision.admitted and problems is None, "reason": decision.reason,
                "request_errors": problems, "policy": decision.as_dict()}
    decision = payout_policy.admit(payload["connector_id"], request, actor=actor, task_id=task.request.id)
    if not decision.admitted:
        return {"status": "REFUSED", "reason": decision.reason, "policy": decision.as_dict()}
    return _initiate(task, "PAYOUT", request)


@paysync_task("wise.poll_initiation", traffic="service", interactive=False, protected=True,
              schema=PollInitiationSchema)
def poll_initiation(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The next step of an initiation (scheduled with a countdown; stale copies are ignored)."""
    try:
        return _follow(initiations.advance(payload["initiation_id"], seq=payload["seq"]))
    except ConnectorInactive as exc:
        return {"skipped": str(exc)}


@paysync_task("wise.retry_initiation", traffic="user", interactive=True, protected=True, schema=InitiationSchema)
def retry_initiation(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Another go at a FAILED initiation: a transfer of any attempt that may still pay is adopted, else a new attempt."""
    return _follow(initiations.retry(payload["initiation_id"], interactive=task.interactive))


@paysync_task("wise.sweep_initiations", traffic="service", interactive=False, protected=True)
def sweep_initiations(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Beat: re-dispatch open initiations whose next step is overdue (claimed: two beats are safe)."""
    stale = wise_store.claim_stale_initiations(wise_settings.stale_after().total_seconds())
    for s in stale:
        enqueue("wise.poll_initiation", {"initiation_id": s["id"], "seq": s["poll_seq"]})
    return {"dispatched": [s["id"] for s in stale]}
