"""Xero: contacts, invoices (the outstanding-transactions view) and accounting_payments."""

from alembic import op

revision = "0004_xero"
down_revision = "0003_wise"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- Contacts of the merchant's books, keyed by merchant, provider and the provider's id.
    create table contacts (
        id                  bigserial primary key,
        merchant_id         bigint not null references merchants(id) on delete cascade,
        provider            text not null default 'xero',
        tenant_id           text,
        external_id         text not null,          -- Xero ContactID (lower case)
        name                text not null default '',
        email               text,
        status              text,                   -- ACTIVE | ARCHIVED | GDPRREQUEST
        is_customer         boolean not null default false,
        is_supplier         boolean not null default false,
        default_currency    text,
        provider_updated_at timestamptz,            -- UpdatedDateUTC
        raw                 jsonb not null default '{}'::jsonb,
        created_at          timestamptz not null default now(),
        updated_at          timestamptz not null default now(),
        unique (merchant_id, provider, external_id)
    );

    -- Every invoice read from the books, whatever its status: an invoice paid, voided or
    -- deleted in Xero is updated here and leaves the outstanding set.
    create table invoices (
        id                  bigserial primary key,
        merchant_id         bigint not null references merchants(id) on delete cascade,
        provider            text not null default 'xero',
        tenant_id           text,
        external_id         text not null,          -- Xero InvoiceID (lower case)
        number              text,
        reference           text,
        type                text not null,          -- ACCREC (receivable) | ACCPAY (payable)
        status              text not null,          -- DRAFT SUBMITTED AUTHORISED PAID VOIDED DELETED
        contact_external_id text,
        currency            text not null,
        asset               text not null,          -- CODE/precision
        total               bigint not null,        -- minor units of asset
        sub_total           bigint not null default 0,
        total_tax           bigint not null default 0,
        amount_due          bigint not null,
        amount_paid         bigint not null default 0,
        amount_credited     bigint not null default 0,
        currency_rate       numeric,
        issued_on           date,
        due_on              date,
        provider_updated_at timestamptz not null,   -- UpdatedDateUTC
        outstanding         boolean generated always as
                            (type in ('ACCREC', 'ACCPAY') and status = 'AUTHORISED' and amount_due > 0) stored,
        raw                 jsonb not null,
        created_at          timestamptz not null default now(),
        updated_at          timestamptz not null default now(),
        unique (merchant_id, provider, external_id)
    );
    create index invoices_outstanding on invoices (merchant_id, type, due_on) where outstanding;

    -- Payments paysync writes to the books. The row exists (pending) before the call; the
    -- Idempotency-Key sent to Xero derives from (merchant_id, payment_id), and a retry is
    -- sent through the connection recorded here, so Xero replays instead of paying twice.
    create table accounting_payments (
        id                  bigserial primary key,
        merchant_id         bigint not null references merchants(id) on delete cascade,
        payment_id          text not null,          -- paysync's id (the idempotency key)
        provider            text not null default 'xero',
        connection_id       bigint references accounting_connections(id) on delete set null,
        tenant_id           text,
        invoice_external_id text not null,
        amount              bigint not null check (amount > 0),
        asset               text not null,
        paid_on             date not null,
        account_code        text not null,
        reference           text,
        idempotency_key     text not null,
        status              text not null default 'pending' check (status in ('pending', 'recorded', 'failed')),
        external_id         text,                   -- Xero PaymentID once recorded
        error               text,
        attempts            integer not null default 0,
        raw                 jsonb,
        created_at          timestamptz not null default now(),
        updated_at          timestamptz not null default now(),
        unique (merchant_id, payment_id)
    );
    create index accounting_payments_pending on accounting_payments (created_at) where status = 'pending';
    """)


def downgrade() -> None:
    op.execute("drop table accounting_payments; drop table invoices; drop table contacts;")
