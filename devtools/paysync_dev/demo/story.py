"""The demo's story (``make demo`` / ``paysync demo``): its chapters in order.

1. jobs sent by name from a bare Celery app reach every queue (:mod:`.smoke`);
2. the Wise connector on its own: install, a polling cycle, a payout (:mod:`.wise_connector`);
3. **the story's merchant**: three Xero connections (three apps, one tenant),
   multi-connection on, outstanding invoices downloaded (user) and polled (service), a
   payment written back (``ctx.facts["xero_merchant"]``) (:mod:`.xero`);
4. auto-payments on that merchant: its Wise connector with webhooks, bills entered in
   Xero, scheduled by ``autopay.schedule`` (service), paid by Wise payouts and written back
   to Xero by ``autopay.run_due`` (user), the payouts' webhooks translated into its payments
   (:mod:`.autopay`);
5. Wise-Sync on that merchant, both directions, over its company connection (:mod:`.wisesync`);
6. Wise webhooks in depth: a payout that bounces and is refunded, delivered and translated
   (:mod:`.wise_webhooks`);
7. the report: calls and 429s per connection (the sandbox's counters), rows in PostgreSQL
   (:mod:`.report`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paysync_dev.demo.autopay import autopay_story
from paysync_dev.demo.report import calls_per_connection
from paysync_dev.demo.runner import Chapter, Section, run_chapters
from paysync_dev.demo.smoke import smoke_through_every_queue
from paysync_dev.demo.wise_connector import wise_connector
from paysync_dev.demo.wise_webhooks import wise_webhooks
from paysync_dev.demo.wisesync import wisesync_both_directions
from paysync_dev.demo.xero import xero_multi_connection

# wise_connector resets the sandbox's counters, so it runs before the story's merchant exists.
CHAPTERS: list[Chapter] = [
    smoke_through_every_queue,
    wise_connector,
    xero_multi_connection,
    autopay_story,
    wisesync_both_directions,
    wise_webhooks,
    calls_per_connection,
]


def run_demo(as_json: bool = False, logdir: Path | None = None, sandbox_url: str | None = None,
             ctx_out: dict[str, Any] | None = None) -> list[Section]:
    """Play the whole story (see :func:`~paysync_dev.demo.runner.run_chapters` for the arguments)."""
    return run_chapters(CHAPTERS, as_json=as_json, logdir=logdir, sandbox_url=sandbox_url, ctx_out=ctx_out)
