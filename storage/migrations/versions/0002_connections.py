"""Connections: accounting_connections (encrypted credentials) and parked_jobs."""

from alembic import op

revision = "0002_connections"
down_revision = "0001_platform"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create table accounting_connections (
        id                bigserial primary key,
        merchant_id       bigint not null references merchants(id) on delete cascade,
        role              text not null check (role in ('user', 'company', 'service')),
        provider          text not null default 'xero',
        tenant_id         text,
        tenant_name       text,
        client_id         text not null,   -- the app: Xero counts budgets per app and tenant
        credentials       text,            -- Fernet ciphertext (client secret, tokens)
        status            text not null default 'pending'
                          check (status in ('pending', 'active', 'needs_reauth', 'disabled')),
        last_error        text,
        access_expires_at timestamptz,
        created_at        timestamptz not null default now(),
        updated_at        timestamptz not null default now(),
        unique (merchant_id, provider, role)
    );

    -- Jobs waiting for a budget that will not come back within a countdown
    -- (a spent daily limit). A beat task re-dispatches them once not_before passes.
    create table parked_jobs (
        id            bigserial primary key,
        task_name     text not null,
        task_id       text not null,
        payload       jsonb not null,
        traffic       text not null,
        interactive   boolean not null default false,
        merchant_id   bigint references merchants(id) on delete cascade,
        bucket        text,
        reason        text not null,
        not_before    timestamptz not null,
        created_at    timestamptz not null default now(),
        dispatched_at timestamptz
    );
    create unique index parked_jobs_waiting_task on parked_jobs (task_id) where dispatched_at is null;
    create index parked_jobs_due on parked_jobs (not_before) where dispatched_at is null;
    """)


def downgrade() -> None:
    op.execute("drop table parked_jobs; drop table accounting_connections;")
