"""SQL of the Wise connector, one module per table family; import it as ``storage.wise``.

- ``accounts``: accounts (balances and recipients) and balances;
- ``payments``: payments and their history (``payment_adjustments``), written from mapped
  records: storage builds each row, computes its change hash and writes only what changed;
- ``initiations``: transfers and payouts paysync makes, and their attempts;
- ``others``: profiles and quotes; ``summary``: row counts; ``rows``: jsonb and the change hash.

Upserts use ``INSERT ... ON CONFLICT DO UPDATE ... WHERE row_hash IS DISTINCT FROM`` so a
row whose normalized content did not change is never rewritten (no new tuple, no
``updated_at`` bump). Every writer runs inside the caller's transaction (``cur``) so a
page of rows and its watermark commit together.
"""

from storage.wise.accounts import (
    account,
    internal_accounts,
    list_accounts,
    list_balances,
    own_recipient_ids,
    upsert_accounts,
    upsert_balances,
)
from storage.wise.initiations import (
    OPEN,
    TERMINAL,
    attempts,
    claim_stale_initiations,
    find_initiation,
    follow_initiations,
    get_initiation,
    insert_initiation,
    list_initiations,
    lock_initiation,
    lock_initiations_of,
    record_attempt,
    update_initiation,
)
from storage.wise.others import open_quotes, profile_ids, upsert_others
from storage.wise.payments import (
    EncodedRecord,
    LegLine,
    LegsInsertedMeanwhile,
    LegWrite,
    SavedPayments,
    Stored,
    adjustment_for_event,
    copy_data,
    copy_line,
    encode_record,
    insert_adjustments,
    insert_new,
    insert_payment,
    leg_line,
    list_adjustments,
    list_payments,
    load_payments,
    lock_payment,
    payment,
    payment_hash,
    payment_status,
    payouts_created_since,
    reclock,
    refine_adjustment,
    save_lines,
    save_payments,
    set_payment_state,
    state_applied_at,
    watched_transfers,
)
from storage.wise.summary import counts

__all__ = [
    "OPEN",
    "TERMINAL",
    "EncodedRecord",
    "LegLine",
    "LegWrite",
    "LegsInsertedMeanwhile",
    "SavedPayments",
    "Stored",
    "account",
    "adjustment_for_event",
    "attempts",
    "claim_stale_initiations",
    "copy_data",
    "copy_line",
    "counts",
    "encode_record",
    "find_initiation",
    "follow_initiations",
    "get_initiation",
    "insert_adjustments",
    "insert_initiation",
    "insert_new",
    "insert_payment",
    "leg_line",
    "internal_accounts",
    "list_accounts",
    "list_adjustments",
    "list_balances",
    "list_initiations",
    "list_payments",
    "load_payments",
    "lock_initiation",
    "lock_initiations_of",
    "lock_payment",
    "open_quotes",
    "own_recipient_ids",
    "payment",
    "payment_hash",
    "payment_status",
    "profile_ids",
    "record_attempt",
    "reclock",
    "refine_adjustment",
    "save_lines",
    "save_payments",
    "set_payment_state",
    "state_applied_at",
    "update_initiation",
    "upsert_accounts",
    "upsert_balances",
    "upsert_others",
    "payouts_created_since",
    "watched_transfers",
]
