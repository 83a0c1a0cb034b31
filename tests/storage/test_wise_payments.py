"""storage.wise payments: rows built and compared in storage, written only when they change."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from mappers.wise.records import Leg, PaymentRecord, PaymentStatus, PaymentType
from storage import connectors, merchants
from storage import wise as store
from storage.db import fetch_all, transaction

CREATED = datetime(2026, 7, 2, 12, 38, 2, tzinfo=UTC)
SEEN = CREATED + timedelta(minutes=5)


@pytest.fixture
def connector_id(db: str) -> int:
    owner = merchants.create("acme")
    return int(connectors.create(owner["id"], "wise", "wise", {}, {"apiKey": "k"}, 1800)["id"])


def payout(state: str = "processing", status: PaymentStatus = PaymentStatus.PENDING) -> PaymentRecord:
    raw = {"id": 700, "status": state, "sourceValue": Decimal("100.00"), "sourceCurrency": "EUR"}
    return PaymentRecord(reference="700", leg=Leg.PAYOUT, type=PaymentType.PAYOUT, status=status, raw_status=state,
                         amount=10000, asset="EUR/2", created_at=CREATED, source_account_reference="b-1",
                         destination_account_reference="r-1", metadata={"com.wise.spec/transfer_id": "700"}, raw=raw)


def save(connector_id: int, leg: store.LegWrite) -> store.SavedPayments:
    with transaction() as cur:
        stored = store.load_payments(cur, connector_id, [leg.record.reference])
        return store.save_payments(cur, connector_id, "30000001", [leg], stored, "poll")


def row(connector_id: int) -> dict[str, Any]:
    [found] = fetch_all("select *, xmin::text as version from payments where connector_id=%s", (connector_id,))
    return found


def history(connector_id: int) -> list[tuple[str, str]]:
    return [(a["status"], a["raw_status"]) for a in store.list_adjustments(row(connector_id)["id"])]


def test_an_unchanged_transfer_writes_no_row_and_no_history(connector_id: int) -> None:
    first = save(connector_id, store.LegWrite(payout(), status_since=SEEN, watched=True, list_position=3))
    assert first.stats() == {"inserted": 1, "updated": 0, "unchanged": 0, "status_changes": 1}
    before = row(connector_id)
    assert before["row_hash"] == store.payment_hash("PAYOUT", "PENDING", "processing", 10000, "EUR/2", "b-1", "r-1",
                                                    payout().metadata, payout().raw)
    assert before["next_check_at"] == SEEN and before["list_position"] == 3
    # when the same transfer is persisted again (a fresh record, equal content)
    again = save(connector_id, store.LegWrite(payout(), status_since=SEEN, watched=True, list_position=3))
    # then nothing is written: the row keeps its version and the history its one row
    assert again.stats() == {"inserted": 0, "updated": 0, "unchanged": 1, "status_changes": 0}
    assert row(connector_id)["version"] == before["version"]
    assert history(connector_id) == [("PENDING", "processing")]


def test_a_changed_transfer_writes_its_row_and_one_history_row(connector_id: int) -> None:
    save(connector_id, store.LegWrite(payout(), status_since=SEEN, watched=True))
    before = row(connector_id)
    # when its state changes
    later = SEEN + timedelta(hours=1)
    changed = save(connector_id, store.LegWrite(payout("outgoing_payment_received", PaymentStatus.SUCCEEDED),
                                                status_since=later, watched=False))
    # then the row is rewritten with the new hash, one history row is added, and the change is reported
    assert changed.stats() == {"inserted": 0, "updated": 1, "unchanged": 0, "status_changes": 1}
    assert changed.payout_changes == [("700", "SUCCEEDED", "outgoing_payment_received")]
    after = row(connector_id)
    assert after["version"] != before["version"] and after["row_hash"] != before["row_hash"]
    assert (after["status"], after["status_since"], after["next_check_at"]) == ("SUCCEEDED", later, None)
    assert history(connector_id) == [("PENDING", "processing"), ("SUCCEEDED", "outgoing_payment_received")]


def test_content_or_clock_changes_rewrite_the_row_without_history(connector_id: int) -> None:
    save(connector_id, store.LegWrite(payout(), status_since=SEEN, watched=True))
    # a new reference text (same status) and then the watch flag alone rewrite the row, adding no history
    edited = replace(payout(), metadata={**payout().metadata, "com.wise.spec/reference": "INV-1"})
    assert save(connector_id, store.LegWrite(edited, status_since=SEEN, watched=True)).stats()["updated"] == 1
    unwatched = save(connector_id, store.LegWrite(edited, status_since=SEEN, watched=False))
    assert unwatched.stats() == {"inserted": 0, "updated": 1, "unchanged": 0, "status_changes": 0}
    assert row(connector_id)["next_check_at"] is None
    assert history(connector_id) == [("PENDING", "processing")]
