"""Auto-payments: autopay_rules, autopay_limits, autopay_payees, scheduled_payments (+ events).

Also one additive column on ``accounting_payments``: ``currency_rate`` (sent to Xero as
``CurrencyRate`` when the bank account's currency differs from the bill's; part of the
stored request, so a retry sends the same bytes).
"""

from alembic import op

revision = "0007_autopay"
down_revision = "0006_wisesync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- One rule set per merchant: which Wise connector and balance pays, the Xero bank
    -- account mapped to that balance, and how many days before the due date to pay.
    create table autopay_rules (
        merchant_id      bigint primary key references merchants(id) on delete cascade,
        enabled          boolean not null default true,
        connector_id     bigint not null references connectors(id) on delete restrict,
        source_balance   text not null,            -- Wise balance id (accounts.reference, INTERNAL)
        balance_currency text not null,            -- that balance's currency
        account_code     text not null,            -- Xero bank account mapped to the balance
        base_currency    text,                     -- the Xero organisation's base currency (cross-currency)
        days_before_due  integer not null default 0 check (days_before_due between 0 and 365),
        created_at       timestamptz not null default now(),
        updated_at       timestamptz not null default now()
    );

    -- Limits per merchant and currency (the bill's currency), in minor units. A currency
    -- without a row is never paid automatically.
    create table autopay_limits (
        merchant_id  bigint not null references merchants(id) on delete cascade,
        currency     text not null,
        per_payment  bigint not null check (per_payment > 0),
        per_day      bigint not null check (per_day > 0),
        updated_at   timestamptz not null default now(),
        primary key (merchant_id, currency)
    );

    -- The allow-list: Xero contacts that may be paid, each mapped to a Wise recipient.
    create table autopay_payees (
        merchant_id         bigint not null references merchants(id) on delete cascade,
        contact_external_id text not null,         -- Xero ContactID (lower case)
        recipient           text not null,         -- Wise recipient id (accounts.reference, EXTERNAL)
        recipient_currency  text not null,
        note                text,
        created_at          timestamptz not null default now(),
        updated_at          timestamptz not null default now(),
        primary key (merchant_id, contact_external_id)
    );

    -- Exactly one scheduled payment per bill. state:
    --   scheduled -> claimed -> payout_requested -> payout_succeeded -> written_back
    --   held (rules say no; re-evaluated by the scheduler), cancelled (paid / voided elsewhere,
    --   payee removed), exception (needs a person: never moved automatically).
    create table scheduled_payments (
        id                  bigserial primary key,
        merchant_id         bigint not null references merchants(id) on delete cascade,
        invoice_external_id text not null,
        invoice_number      text,
        contact_external_id text,
        tenant_id           text,
        amount              bigint not null check (amount > 0),   -- minor units of asset (the bill's amount due)
        asset               text not null,
        currency            text not null,
        due_on              date,
        pay_on              date,
        state               text not null default 'scheduled' check (state in
                            ('scheduled', 'held', 'cancelled', 'claimed', 'payout_requested', 'payout_succeeded',
                             'written_back', 'exception')),
        reason              text,
        exception_kind      text,
        attempt             integer not null default 1,
        not_before          timestamptz,          -- per-day limit reached: not before this time
        next_check_at       timestamptz,          -- follow-up dispatch (claimed with skip locked)
        claimed_at          timestamptz,
        -- what was committed when the payout was requested (per-day limit counts these)
        committed_on        date,
        committed_amount    bigint,
        connector_id        bigint,
        source_balance      text,
        recipient           text,
        account_code        text,
        initiation_key      text,
        initiation_id       bigint,               -- payment_initiations.id (no FK: a key-share lock would block the connector's NOWAIT step lock)
        transfer_id         text,
        source_amount       bigint,
        source_asset        text,
        fee_amount          bigint,
        fee_asset           text,
        rate                numeric,
        currency_rate       numeric,              -- sent to Xero as CurrencyRate (null: same currency)
        paid_on             date,
        accounting_payment_id text,                -- accounting_payments.payment_id
        xero_payment_id     text,
        writeback_attempts  integer not null default 0,
        reversed_at         timestamptz,
        created_at          timestamptz not null default now(),
        updated_at          timestamptz not null default now(),
        unique (merchant_id, invoice_external_id)
    );
    create index scheduled_payments_due on scheduled_payments (pay_on) where state = 'scheduled';
    create index scheduled_payments_inflight on scheduled_payments (next_check_at)
        where state in ('claimed', 'payout_requested', 'payout_succeeded', 'written_back');
    create index scheduled_payments_committed on scheduled_payments (merchant_id, currency, committed_on)
        where committed_amount is not null;

    -- What happened to each scheduled payment, in order (the exceptions view shows it).
    create table scheduled_payment_events (
        id                   bigserial primary key,
        scheduled_payment_id bigint not null references scheduled_payments(id) on delete cascade,
        state                text not null,
        what                 text not null,
        created_at           timestamptz not null default now()
    );
    create index scheduled_payment_events_sp on scheduled_payment_events (scheduled_payment_id, id);

    alter table accounting_payments add column currency_rate numeric;
    """)


def downgrade() -> None:
    op.execute("""
    alter table accounting_payments drop column currency_rate;
    drop table scheduled_payment_events; drop table scheduled_payments; drop table autopay_payees;
    drop table autopay_limits; drop table autopay_rules;
    """)
