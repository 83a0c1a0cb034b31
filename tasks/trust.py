"""Who may send what: signed task messages, checked before any work, and their audit rows.

A task declared ``protected=True`` on ``@paysync_task`` (it moves money, or changes
configuration, or dispatches jobs that do) runs only from a message signed by a live
sender key or by paysync itself (``paysync/signing.py`` has the format). The base class
calls :func:`admit` first, before the payload is validated, forwarded or claimed. A
refusal (no signature, an unknown, revoked or rotated-out key, a wrong signature, a stale
or future timestamp) is logged, written to the audit log and raised as
:class:`SenderRefused`: the job fails at once, is acknowledged (never re-queued, never
retried), takes no execution claim and stores nothing else. Read-only and polling tasks are
open (``docs/security.md`` says why).

Every message a paysync process publishes is signed here, in one ``before_task_publish``
handler, with paysync's own key and the actor it acts for: inside a protected task, the
actor that task was verified for (the sender that started the work); elsewhere the
process (the command-line user, beat). So the forwarder's copies, re-checks, retries,
budget re-schedules, parked jobs sent again, follow-up jobs and beat's jobs all arrive
signed, and the audit row of a job names who started it. Flower is the exception: its task
sending (a web form) would act as paysync, so a Flower process signs nothing and a
protected task sent from it is refused like any unsigned one.

Replays: a signature covers the task name, the task id, the payload and the time; a
second run of a finished task id is dropped by the execution claim (``tasks/executions.py``),
and a signature older than ``PAYSYNC_SIGNATURE_MAX_AGE`` (below the time a finished id is
remembered) is refused. A message admitted once stays admitted when it comes back later
(handed back to the broker after a long outage, redelivered after a worker died): its
signature is remembered with its task id for as long as a finished id is, so an outage
never turns a job into a refusal, and a replay of it is still the same task id.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

from celery import current_task
from celery.signals import beat_init, before_task_publish, worker_process_init

from paysync import audit, senders, signing
from paysync.audit import Actor
from paysync.config import RUN_ONCE_MEMORY, settings
from paysync.errors import PaysyncError

log = logging.getLogger(__name__)

HEADERS = signing.SIGNATURE_HEADERS


class SenderRefused(PaysyncError):
    """A protected task's message did not prove its sender; nothing was done."""


class Refusal(Exception):
    """Why a message is refused (internal to :func:`check`)."""


def _signed_at(value: Any) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise Refusal(f"{signing.SIGNED_AT_HEADER} {str(value)[:40]!r} is not a Unix time in whole seconds") from None


def check(task: str, task_id: str, payload: Any, headers: Mapping[str, Any], now: float | None = None) -> Actor:
    """The actor a message's signature proves; :class:`Refusal` naming why not."""
    key_id = headers.get(signing.KEY_HEADER)
    signature = headers.get(signing.SIGNATURE_HEADER)
    if not key_id:
        raise Refusal(f"unsigned: no {signing.KEY_HEADER} header")
    if not isinstance(key_id, str):
        raise Refusal(f"{signing.KEY_HEADER} is not text")
    if not isinstance(signature, str) or not signature:
        raise Refusal(f"no {signing.SIGNATURE_HEADER} header")
    signed_at = _signed_at(headers.get(signing.SIGNED_AT_HEADER))
    age = (time.time() if now is None else now) - signed_at
    if -age > signing.FUTURE_SKEW:
        raise Refusal(f"signed {-age:.0f}s in the future (clocks more than {signing.FUTURE_SKEW}s apart?)")
    actor = _signer(task, task_id, payload, headers, key_id, signature, signed_at)
    max_age = settings().signature_max_age
    if age > max_age and not _admitted_before(task_id, signature):
        raise Refusal(f"signed {age:.0f}s ago, beyond PAYSYNC_SIGNATURE_MAX_AGE ({max_age}s)")
    return actor


def _signer(task: str, task_id: str, payload: Any, headers: Mapping[str, Any], key_id: str, signature: str,
            signed_at: int) -> Actor:
    if key_id == signing.INTERNAL_KEY_ID:
        actor_text = headers.get(signing.ACTOR_HEADER)
        actor = audit.parse_actor(actor_text)
        if actor is None or not isinstance(actor_text, str):
            raise Refusal(f"signed by paysync without a valid {signing.ACTOR_HEADER} header")
        if not any(signing.matches(s, signature, task, task_id, signed_at, payload, actor_text)
                   for s in signing.internal_secrets()):
            raise Refusal("wrong signature for paysync's own key")
        return actor
    try:
        key = senders.lookup(key_id)
    except senders.KeyRefused as exc:
        raise Refusal(str(exc)) from None
    if not signing.matches(key.secret, signature, task, task_id, signed_at, payload):
        raise Refusal(f"wrong signature for key {key_id} of sender {key.sender}")
    return {"kind": "sender", "name": key.sender, "key": key_id}


def _admitted_key(task_id: str) -> str:
    return f"paysync:admitted:{task_id}"


def _admitted_before(task_id: str, signature: str) -> bool:
    from paysync.redis_client import redis_client

    remembered = redis_client().get(_admitted_key(task_id))
    if isinstance(remembered, bytes):
        remembered = remembered.decode()
    return remembered == signature.strip().lower()


def _remember(task_id: str, signature: str) -> None:
    from paysync.redis_client import redis_client

    redis_client().set(_admitted_key(task_id), signature.strip().lower(), ex=RUN_ONCE_MEMORY)


def admit(task: str, task_id: str, payload: Any, protected: bool, headers: Mapping[str, Any]) -> Actor | None:
    """Called by the task base class before any work: the verified actor of a protected
    task's message (None for an open task); a refusal is logged, audited and raised."""
    if not protected:
        return None
    try:
        actor = check(task, task_id, payload, headers)
        _remember(task_id, str(headers.get(signing.SIGNATURE_HEADER)))
        return actor
    except Refusal as exc:
        key = headers.get(signing.KEY_HEADER)
        log.warning("%s[%s] refused before any work: %s", task, task_id, exc)
        audit.record(task, "refused", {"kind": "refused", "key": str(key)[:64] if key else ""}, task_id=task_id,
                     payload=payload, detail=str(exc))
        raise SenderRefused(f"{task}[{task_id}] refused: {exc}") from None


def record_outcome(task: str, task_id: str, payload: Any, actor: Actor | None, status: str, retval: Any) -> None:
    """The audit row of a protected task that finished (after_return: SUCCESS or FAILURE)."""
    if status == "SUCCESS":
        outcome, detail = "succeeded", None
        if isinstance(retval, dict):
            if retval.get("dry_run"):
                outcome, detail = "dry_run", retval.get("reason") or ("would be admitted" if retval.get(
                    "admitted") else None)
            elif retval.get("status") == "REFUSED":
                outcome, detail = "refused_by_policy", retval.get("reason")
            elif retval.get("status") is not None:
                detail = f"status {retval['status']}"
    else:
        outcome, detail = "failed", f"{type(retval).__name__}: {retval}"
    audit.record(task, outcome, actor or {"kind": "unknown"}, task_id=task_id, payload=payload, detail=detail)


def current_actor() -> Actor:
    """Who a message published now acts for: the verified actor of the protected task running
    in this process, else this process (a task that runs open names itself)."""
    task = current_task._get_current_object() if current_task else None
    if task is not None and getattr(task, "request", None) is not None:
        actor = getattr(task.request, "paysync_actor", None)
        if isinstance(actor, dict):
            return actor
        if not (task.request.called_directly or task.request.is_eager):
            return {"kind": "task", "task": str(task.name), "host": signing.host()}
    return signing.process_actor()


def _payload(body: Any) -> Any:
    """The payload a signature covers: the keyword arguments (or a lone positional dict)."""
    if isinstance(body, tuple | list) and len(body) >= 2:
        args, kwargs = body[0], body[1]
        if not kwargs and isinstance(args, list | tuple) and len(args) == 1 and isinstance(args[0], dict):
            return args[0]
        return kwargs or {}
    if isinstance(body, dict):  # task protocol 1
        return body.get("kwargs") or {}
    return {}


@before_task_publish.connect
def sign_outgoing(sender: str | None = None, body: Any = None, headers: dict[str, Any] | None = None,
                  **_: Any) -> None:
    """Sign every message this paysync process publishes with paysync's own key (never Flower's)."""
    if headers is None or headers.get(signing.SIGNATURE_HEADER) or signing.role() == "flower":
        return
    task = str(headers.get("task") or sender or "")
    task_id = str(headers.get("id") or "")
    actor_text = audit.actor_header(current_actor())
    signed_at = int(time.time())
    headers[signing.KEY_HEADER] = signing.INTERNAL_KEY_ID
    headers[signing.SIGNED_AT_HEADER] = signed_at
    headers[signing.ACTOR_HEADER] = actor_text
    headers[signing.SIGNATURE_HEADER] = signing.sign(signing.internal_secrets()[0], task, task_id, signed_at,
                                                     _payload(body), actor_text)


if "flower" in sys.argv[1:]:  # celery -A tasks flower: its web form sends tasks for whoever logs in
    signing.set_role("flower")


@beat_init.connect
def _in_beat(**_: Any) -> None:
    signing.set_role("beat")


@worker_process_init.connect
def _in_worker(**_: Any) -> None:
    signing.set_role("worker")
