"""Wise connector: connectors, accounts, balances, payments, payment_adjustments,
payment_initiations (+ attempts) and others."""

from alembic import op

revision = "0003_wise"
down_revision = "0002_connections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- One installed connector per merchant, provider and name. config holds no secret;
    -- secrets is Fernet ciphertext (storage.secrets.ENCRYPTED_COLUMNS).
    create table connectors (
        id              bigserial primary key,
        merchant_id     bigint not null references merchants(id) on delete cascade,
        provider        text not null check (provider in ('wise')),
        name            text not null,
        config          jsonb not null,
        secrets         text,
        status          text not null default 'installing'
                        check (status in ('installing', 'active', 'uninstalled')),
        generation      integer not null default 1,   -- bumped by reset: older jobs stop writing
        polling_seconds integer not null,
        next_poll_at    timestamptz,                  -- claimed by wise.poll_due (update ... returning)
        last_poll_at    timestamptz,
        last_error      text,
        created_at      timestamptz not null default now(),
        updated_at      timestamptz not null default now(),
        unique (merchant_id, provider, name)
    );
    create index connectors_due on connectors (next_poll_at) where status = 'active';

    -- Wise balances (INTERNAL) and recipients (EXTERNAL).
    create table accounts (
        id            bigserial primary key,
        connector_id  bigint not null references connectors(id) on delete cascade,
        reference     text not null,
        type          text not null check (type in ('INTERNAL', 'EXTERNAL')),
        profile_id    text,
        name          text not null,
        default_asset text not null,
        metadata      jsonb not null default '{}',
        raw           jsonb not null,
        row_hash      text not null,
        provider_created_at timestamptz,
        created_at    timestamptz not null default now(),
        updated_at    timestamptz not null default now(),
        unique (connector_id, reference, type)
    );

    create table balances (
        account_id  bigint not null references accounts(id) on delete cascade,
        asset       text not null,
        amount      bigint not null,      -- minor units
        reserved    bigint,               -- minor units
        provider_updated_at timestamptz,
        updated_at  timestamptz not null default now(),
        primary key (account_id, asset)
    );

    -- One row per Wise transfer and leg ('payout'; 'refund' for funds_refunded).
    create table payments (
        id            bigserial primary key,
        connector_id  bigint not null references connectors(id) on delete cascade,
        profile_id    text,
        reference     text not null,        -- the Wise transfer id
        leg           text not null check (leg in ('payout', 'refund')),
        type          text not null,        -- PAYOUT | TRANSFER | PAYIN
        status        text not null,        -- PENDING | SUCCEEDED | FAILED | CANCELLED | OTHER
        raw_status    text not null,        -- Wise's state, as sent
        amount        bigint not null,      -- minor units
        asset         text not null,        -- CODE/precision
        source_account_reference      text,
        destination_account_reference text,
        metadata      jsonb not null default '{}',
        raw           jsonb not null,
        row_hash      text not null,        -- unchanged rows are not rewritten
        list_position integer,              -- index in GET /v1/transfers?profile= (ascending)
        status_since  timestamptz not null, -- first seen in raw_status (settlement window)
        next_check_at timestamptz,          -- re-polled while due; null: settled for good
        provider_created_at timestamptz not null,
        created_at    timestamptz not null default now(),
        updated_at    timestamptz not null default now(),
        unique (connector_id, reference, leg)
    );
    create index payments_watch on payments (connector_id, profile_id, next_check_at)
        where next_check_at is not null;

    -- Every status change of a payment, with its time.
    create table payment_adjustments (
        id          bigserial primary key,
        payment_id  bigint not null references payments(id) on delete cascade,
        status      text not null,
        raw_status  text not null,
        occurred_at timestamptz not null,
        source      text not null default 'poll',   -- poll | initiation | webhook
        raw         jsonb,
        created_at  timestamptz not null default now(),
        unique (payment_id, status, raw_status, occurred_at)
    );

    -- Transfers and payouts paysync makes, keyed by the caller's idempotency key.
    create table payment_initiations (
        id                  bigserial primary key,
        connector_id        bigint not null references connectors(id) on delete cascade,
        idempotency_key     text not null,
        kind                text not null check (kind in ('TRANSFER', 'PAYOUT')),
        profile_id          text not null,
        source_account      text not null,      -- Wise balance id
        destination_account text not null,      -- recipient id (payout) or balance id (transfer)
        target_account      text not null,      -- the recipient Wise pays (targetAccount)
        amount              bigint not null,    -- minor units of asset
        asset               text not null,
        amount_side         text not null check (amount_side in ('SOURCE', 'TARGET')),
        source_currency     text not null,
        target_currency     text not null,
        reference           text,
        request             jsonb not null,
        status              text not null default 'PENDING' check (status in
                            ('PENDING', 'PROCESSING', 'WAITING_FOR_APPROVAL', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
        step                text not null default 'created' check (step in
                            ('created', 'quoted', 'transfer_created', 'funding', 'funded', 'awaiting_approval',
                             'done')),
        attempt             integer not null default 1,
        customer_transaction_id uuid not null,   -- stored before the first call
        quote_id            text,
        quote_expires_at    timestamptz,
        transfer_id         text,
        funding             jsonb,
        raw_status          text,
        error               text,
        poll_seq            integer not null default 0,
        next_action_at      timestamptz,          -- when the next poll is due (sweeper)
        created_at          timestamptz not null default now(),
        updated_at          timestamptz not null default now(),
        unique (connector_id, idempotency_key)
    );
    create unique index payment_initiations_cti on payment_initiations (customer_transaction_id);
    create index payment_initiations_open on payment_initiations (next_action_at)
        where status not in ('SUCCEEDED', 'FAILED', 'CANCELLED');

    create table payment_initiation_attempts (
        initiation_id bigint not null references payment_initiations(id) on delete cascade,
        attempt       integer not null,
        customer_transaction_id uuid not null,
        quote_id      text,
        transfer_id   text,
        outcome       text,
        created_at    timestamptz not null default now(),
        primary key (initiation_id, attempt)
    );

    -- Anything else surfaced under wise-* (wise-profiles, wise-quotes).
    create table others (
        connector_id bigint not null references connectors(id) on delete cascade,
        type         text not null,
        id           text not null,
        metadata     jsonb not null default '{}',
        raw          jsonb not null,
        row_hash     text not null,
        provider_created_at timestamptz,
        created_at   timestamptz not null default now(),
        updated_at   timestamptz not null default now(),
        primary key (connector_id, type, id)
    );
    """)


def downgrade() -> None:
    op.execute("""
    drop table others; drop table payment_initiation_attempts; drop table payment_initiations;
    drop table payment_adjustments; drop table payments; drop table balances; drop table accounts;
    drop table connectors;
    """)
