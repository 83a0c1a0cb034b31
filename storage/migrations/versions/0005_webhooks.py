"""Wise webhooks: every verified delivery (``webhooks``) and the balance movements they report
(``balance_movements``)."""

from alembic import op

revision = "0005_webhooks"
down_revision = "0004_xero"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- One row per verified delivery, keyed by connector and Wise's X-Delivery-Id: a redelivery
    -- is a no-op. The body is kept exactly as received (the signature can be checked again).
    create table webhooks (
        id              bigserial primary key,
        connector_id    bigint not null references connectors(id) on delete cascade,
        delivery_id     text not null,
        event_type      text not null,
        schema_version  text,
        subscription_id text,
        occurred_at     timestamptz,                -- data.occurred_at, when it parses
        body            text not null,              -- the raw body, as signed
        signature       text not null,              -- X-Signature-SHA256 (base64)
        status          text not null default 'received'
                        check (status in ('received', 'translated', 'ignored', 'failed')),
        result          jsonb,                      -- what translation did
        error           text,
        attempts        integer not null default 0, -- translation runs
        next_sweep_at   timestamptz not null default now(),  -- wise.sweep_webhooks re-sends after this
        received_at     timestamptz not null default now(),
        translated_at   timestamptz,
        unique (connector_id, delivery_id)
    );
    create index webhooks_untranslated on webhooks (next_sweep_at) where status = 'received';

    -- Money into (credit: the balance is the destination) or out of (debit: the source) a Wise
    -- balance, as balances#update reports it. One row per balance transaction step.
    create table balance_movements (
        id                  bigserial primary key,
        connector_id        bigint not null references connectors(id) on delete cascade,
        profile_id          text,
        balance_reference   text not null,      -- the Wise balance id (accounts.reference)
        direction           text not null check (direction in ('credit', 'debit')),
        amount              bigint not null check (amount >= 0),   -- minor units
        asset               text not null,      -- CODE/precision
        source_account_reference      text,
        destination_account_reference text,
        post_transaction_balance      bigint,   -- minor units, when Wise sends it
        transfer_reference  text,
        channel_name        text,
        step_id             text,
        occurred_at         timestamptz not null,
        dedupe_key          text not null,
        webhook_id          bigint references webhooks(id) on delete set null,
        raw                 jsonb not null,
        created_at          timestamptz not null default now(),
        unique (connector_id, dedupe_key)
    );
    create index balance_movements_balance on balance_movements (connector_id, balance_reference, occurred_at);
    """)


def downgrade() -> None:
    op.execute("drop table balance_movements; drop table webhooks;")
