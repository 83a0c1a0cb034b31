"""Polling against the strict sandbox, whatever order Wise lists transfers in: transfers created
while paysync pages through the list are all found, each stored once, over several cycles."""

from __future__ import annotations

import pytest
import requests

from paysync.connectors.wise import payments
from paysync.connectors.wise.context import open_run
from storage.db import fetch_all
from tests.connectors.wise.sandbox_helpers import install

pytestmark = pytest.mark.e2e


def every_transfer(wise_url: str, token: str, profile: str) -> list[int]:
    """The profile's transfers as Wise lists them now (read with no arrivals)."""
    ids, offset = [], 0
    while True:
        page = requests.get(f"{wise_url}/v1/transfers", params={"profile": profile, "offset": offset, "limit": 100},
                            headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        ids += [t["id"] for t in page]
        if len(page) < 100:
            return ids
        offset += 100


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
def test_transfers_created_between_page_reads_are_neither_lost_nor_doubled(db, redis_client, sandbox_ctl, order):
    # (no seeded history: nothing in flight that a re-poll would re-read the list for)
    sandbox_ctl.reset(seed=4, size={"wise": {"users": 1, "profiles": 2, "transfers": 0}})
    wise_url = sandbox_ctl.url("wise")
    conn, user = install("acme", wise_url, pageSize=3)
    business = str(user["profiles"][1]["id"])
    run = open_run(conn["id"])
    # given Wise listing in this order, eight transfers to start with, and then a new one after every
    # page paysync reads
    sandbox_ctl.wise_config(transfer_order=order, arrivals_per_list=8)
    every_transfer(wise_url, user["token"], business)
    sandbox_ctl.wise_config(arrivals_per_list=1)
    for _cycle in range(6):
        payments.fetch(run, business)
        sandbox_ctl.advance(1200)  # past the overlap: each window holds the last pass's arrivals
    # when the arrivals stop and one more cycle runs
    sandbox_ctl.wise_config(arrivals_per_list=0)
    reads = sandbox_ctl.counters("wise:GET /v1/transfers")["wise:GET /v1/transfers"] - 1  # paysync's
    payments.fetch(run, business)
    # then every transfer Wise lists is stored, each once
    truth = every_transfer(wise_url, user["token"], business)
    stored = [r["reference"] for r in fetch_all(
        "select reference from payments where connector_id=%s and profile_id=%s and leg='payout'",
        (conn["id"], business))]
    assert len(stored) == len(set(stored))
    assert set(stored) == {str(t) for t in truth}
    assert len(truth) == 8 + reads and reads > 10  # one arrival after each page paysync read
