"""Quarantine: provider records that could not be mapped, kept with their raw payload.

One row per (owner, stream, reference): a record that fails again updates its row (the
latest payload and error, one more sighting); one that maps later is marked resolved.
"""

from alembic import op

revision = "0009_quarantine"
down_revision = "0007_autopay"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create table quarantined_records (
        id            bigserial primary key,
        owner         text not null,               -- whose sync read it: connector:7, psa:3, merchant:2
        provider      text not null check (provider in ('wise', 'xero', 'connectwise')),
        stream        text not null,               -- transfers, balances, recipients, webhooks, invoices, payments
        scope         text not null default '',    -- profile:123, tenant:..., '' for none
        reference     text not null,               -- the record's id at the provider
        payload       jsonb not null,              -- the record exactly as received
        error         text not null,               -- the mapper's message: field and value
        field         text,
        value         text,
        sightings     integer not null default 1,
        first_seen_at timestamptz not null default now(),
        last_seen_at  timestamptz not null default now(),
        resolved_at   timestamptz,
        resolution    text,                        -- 'retried' (stored by paysync quarantine retry), 'mapped' (a later read)
        unique (owner, stream, reference)
    );
    create index quarantined_records_open on quarantined_records (owner, last_seen_at desc) where resolved_at is null;
    """)


def downgrade() -> None:
    op.execute("drop table if exists quarantined_records")
