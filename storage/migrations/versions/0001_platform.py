"""Platform: merchants and sync_states (every watermark and bookmark)."""

from alembic import op

revision = "0001_platform"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create table merchants (
        id              bigserial primary key,
        name            text not null unique,
        multi_connection boolean not null default false,
        created_at      timestamptz not null default now(),
        updated_at      timestamptz not null default now()
    );

    -- One row per (owner, stream, scope): an owner is what the state belongs to
    -- ('connector:7', 'connection:3', 'merchant:1'), a stream what is read
    -- ('transfers', 'invoices'), a scope the slice ('profile:123', '' for none).
    create table sync_states (
        owner       text not null,
        stream      text not null,
        scope       text not null default '',
        state       jsonb not null,
        updated_at  timestamptz not null default now(),
        primary key (owner, stream, scope)
    );
    """)


def downgrade() -> None:
    op.execute("drop table sync_states; drop table merchants;")
