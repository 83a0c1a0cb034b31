"""The task contract: declarations, validation before sending, routing from the declaration."""

from __future__ import annotations

import pytest

from paysync.errors import PayloadError
from tasks.contract import BATCH_PRIORITY, INTERACTIVE_PRIORITY, REGISTRY
from tasks.routing import enqueue, route, task_id_for


def test_every_task_declares_traffic_and_class():
    import tasks  # noqa: F401

    assert REGISTRY, "no task registered"
    for name, contract in REGISTRY.items():
        assert contract.traffic in ("user", "company", "service"), name
        assert isinstance(contract.interactive, bool), name
        assert name.split(".")[0] in ("paysync", "connectors", "wise", "accounting", "autopay", "wisesync"), name


def test_router_sends_each_task_to_its_traffic_queue_with_its_class_priority():
    assert route("paysync.smoke_user", (), {}, {}) == {"queue": "user.interactive", "priority": INTERACTIVE_PRIORITY}
    assert route("paysync.smoke_service", (), {}, {}) == {"queue": "service", "priority": BATCH_PRIORITY}
    # a scheduled (batch) run of an interactive task takes the batch queue and priority
    batch = route("paysync.smoke_user", (), {}, {"headers": {"paysync_class": "batch"}})
    assert batch == {"queue": "user", "priority": BATCH_PRIORITY}
    assert route("celery.chord_unlock", (), {}, {}) is None


def test_enqueue_refuses_a_bad_payload_before_sending_naming_the_field(redis_client):
    with pytest.raises(PayloadError) as err:
        enqueue("paysync.smoke_user", {"token": "", "sleep": -1})
    assert set(err.value.errors) == {"token", "sleep"}
    assert "token" in str(err.value) and "sleep" in str(err.value)
    # nothing reached the broker
    assert not any(k.startswith(b"user") for k in redis_client.keys("*"))


def test_unknown_task_name_is_refused():
    with pytest.raises(PayloadError, match="no paysync task is named"):
        enqueue("wise.does_not_exist", {})


def test_task_id_is_derived_from_the_idempotency_key():
    from marshmallow import Schema, fields

    from tasks.contract import paysync_task

    class S(Schema):
        key = fields.String(required=True)

    @paysync_task("paysync.test_idempotent", traffic="user", interactive=True, schema=S,
                  idempotency_key=lambda p: p["key"])
    def _t(task, payload):  # pragma: no cover - never run
        return payload

    try:
        a = task_id_for("paysync.test_idempotent", {"key": "k1"})
        assert a == task_id_for("paysync.test_idempotent", {"key": "k1"})
        assert a != task_id_for("paysync.test_idempotent", {"key": "k2"})
        assert task_id_for("paysync.smoke_user", {"token": "x"}) is None
    finally:
        REGISTRY.pop("paysync.test_idempotent")


def test_reliability_settings():
    import celeryconfig
    from paysync.config import settings

    assert celeryconfig.task_acks_late is True
    assert celeryconfig.task_reject_on_worker_lost is True
    assert celeryconfig.worker_prefetch_multiplier == 1
    assert celeryconfig.accept_content == ["json"]
    assert celeryconfig.broker_transport_options["visibility_timeout"] == settings().visibility_timeout
    assert settings().max_countdown < settings().visibility_timeout
    assert celeryconfig.beat_scheduler == "redbeat.RedBeatScheduler"
