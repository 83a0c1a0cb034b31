"""Operators: the progress of each sync stream and the webhook subscriptions of each connector.

``sync_progress``: one row per (owner, stream): when its last page was stored (the sync lag
metric and ``paysync connectors status``), pages and records since the cycle started, and
in all. ``connector_subscriptions``: one row per (connector, profile, event): the Wise
subscription created for it, or the error that kept it from being created.
"""

from alembic import op

revision = "0012_operators"
down_revision = "0009_quarantine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create table sync_progress (
        owner             text not null,               -- connector:7, merchant:2 (Xero downloads)
        stream            text not null,               -- transfers, balances, xero.invoices...
        last_page_at      timestamptz not null default now(),
        cycle_started_at  timestamptz not null default now(),
        cycle_pages       integer not null default 0,
        cycle_records     bigint not null default 0,
        pages             bigint not null default 0,
        records           bigint not null default 0,
        primary key (owner, stream)
    );

    create table connector_subscriptions (
        connector_id     bigint not null references connectors(id) on delete cascade,
        profile_id       text not null,
        event            text not null,
        subscription_id  text,
        url              text,
        status           text not null check (status in ('active', 'failed')),
        last_error       text,
        updated_at       timestamptz not null default now(),
        primary key (connector_id, profile_id, event)
    );
    """)


def downgrade() -> None:
    op.execute("drop table connector_subscriptions; drop table sync_progress;")
