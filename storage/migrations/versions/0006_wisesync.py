"""Wise-Sync: psa_connections, sync_links (PSA invoice -> Xero invoice), payments back, runs."""

from alembic import op

revision = "0006_wisesync"
down_revision = "0005_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- A merchant's PSA (ConnectWise Manage): where it is and its API member keys (encrypted).
    create table psa_connections (
        id            bigserial primary key,
        merchant_id   bigint not null references merchants(id) on delete cascade,
        provider      text not null default 'connectwise',
        site          text not null,              -- api-na.myconnectwise.net (or a sandbox URL)
        company       text not null,              -- the login company id
        codebase      text not null,              -- v4_6_release/ (from /login/companyinfo)
        client_id     text not null,              -- clientId header (developer.connectwise.com)
        secrets       text not null,              -- Fernet ciphertext: public and private key
        settings      jsonb not null default '{}'::jsonb,
        status        text not null default 'active' check (status in ('active', 'disabled')),
        last_error    text,
        created_at    timestamptz not null default now(),
        updated_at    timestamptz not null default now(),
        unique (merchant_id, provider)
    );

    -- One row per PSA invoice sent to the books. The row exists (pending, with its
    -- idempotency key) before the Xero write; xero_invoice_id is set once Xero answered.
    create table sync_links (
        id                 bigserial primary key,
        merchant_id        bigint not null references merchants(id) on delete cascade,
        psa_connection_id  bigint not null references psa_connections(id) on delete cascade,
        psa_invoice_id     bigint not null,
        psa_invoice_number text not null,
        psa_company_id     bigint,
        tenant_id          text not null,
        xero_invoice_id    text,
        xero_status        text,
        status             text not null default 'pending'
                           check (status in ('pending', 'synced', 'failed', 'skipped')),
        idempotency_key    text not null,
        content_hash       text,                   -- hash of the Xero invoice last written
        pending_hash       text,                   -- hash of the write in flight
        body               jsonb,                  -- the Xero element of the write in flight
        total              bigint,
        asset              text,
        psa_batch          text,                   -- ConnectWise accounting batch identifier
        psa_batched        boolean not null default false,
        last_error         text,
        attempts           integer not null default 0,
        created_at         timestamptz not null default now(),
        updated_at         timestamptz not null default now(),
        unique (merchant_id, psa_connection_id, psa_invoice_id),
        unique (merchant_id, tenant_id, xero_invoice_id)
    );
    create index sync_links_pending on sync_links (merchant_id) where status = 'pending';

    -- PSA company -> Xero contact, learnt by the matching rule or set by hand.
    create table psa_contact_links (
        merchant_id     bigint not null references merchants(id) on delete cascade,
        tenant_id       text not null,
        psa_company_id  bigint not null,
        xero_contact_id text not null,
        source          text not null default 'name',   -- name | created | manual
        created_at      timestamptz not null default now(),
        primary key (merchant_id, tenant_id, psa_company_id)
    );

    -- Payments applied in Xero to linked invoices, applied once each to the PSA invoice.
    -- The row exists before the ConnectWise call; attempts > 0 means a call may have landed.
    create table sync_payments (
        id               bigserial primary key,
        merchant_id      bigint not null references merchants(id) on delete cascade,
        tenant_id        text not null,
        xero_payment_id  text not null,
        sync_link_id     bigint not null references sync_links(id) on delete cascade,
        psa_invoice_id   bigint not null,
        amount           bigint not null check (amount > 0),
        asset            text not null,
        paid_on          date not null,
        status           text not null default 'pending'
                         check (status in ('pending', 'applied', 'failed', 'reversed')),
        psa_payment_id   bigint,
        attempts         integer not null default 0,
        error            text,
        created_at       timestamptz not null default now(),
        updated_at       timestamptz not null default now(),
        unique (merchant_id, tenant_id, xero_payment_id)
    );
    create index sync_payments_pending on sync_payments (merchant_id) where status = 'pending';

    -- Every run of either direction: the status view reads these.
    create table sync_runs (
        id            bigserial primary key,
        merchant_id   bigint not null references merchants(id) on delete cascade,
        direction     text not null check (direction in ('invoices', 'payments')),
        task_id       text,
        interactive   boolean not null default false,
        connection_id bigint,
        connection_role text,
        status        text not null default 'running'
                      check (status in ('running', 'ok', 'partial', 'failed', 'busy')),
        counts        jsonb not null default '{}'::jsonb,
        errors        jsonb not null default '[]'::jsonb,
        xero_calls    integer not null default 0,
        psa_calls     integer not null default 0,
        started_at    timestamptz not null default now(),
        finished_at   timestamptz
    );
    create index sync_runs_merchant on sync_runs (merchant_id, direction, started_at desc);
    """)


def downgrade() -> None:
    op.execute("drop table sync_runs; drop table sync_payments; drop table psa_contact_links; "
               "drop table sync_links; drop table psa_connections;")
