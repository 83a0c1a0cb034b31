"""Trust: senders and their signing keys, the payout policy per merchant, the audit log.

- ``senders`` / ``sender_keys``: applications allowed to send money-moving and
  configuration-changing tasks; each key's secret is Fernet ciphertext (``storage.secrets``),
  a rotated-out key gets ``expires_at``, a revoked one ``revoked_at``.
- ``payout_policies``, ``payout_limits``, ``payout_recipients``: what a direct payout may be.
- ``payout_decisions``: every payout the policy admitted (what the day's total counts) or
  refused (with its reason).
- ``audit_log``: append-only, enforced here: a trigger refuses UPDATE, DELETE and TRUNCATE.
"""

from alembic import op

revision = "0013_trust"
down_revision = "0012_operators"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create table senders (
        id          bigserial primary key,
        name        text not null unique check (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$' and name <> 'paysync'),
        created_at  timestamptz not null default now(),
        created_by  text not null,                 -- the OS user who ran 'paysync senders add'
        revoked_at  timestamptz
    );

    create table sender_keys (
        key_id      text primary key,              -- sk_ + 24 hex characters, public
        sender_id   bigint not null references senders(id) on delete cascade,
        secret      text not null,                 -- Fernet ciphertext of the HMAC secret
        created_at  timestamptz not null default now(),
        expires_at  timestamptz,                   -- rotated out: refused from this time
        revoked_at  timestamptz
    );
    create index sender_keys_sender on sender_keys (sender_id);

    -- Direct payouts (wise.create_payout) per merchant. A currency without a limit is refused.
    create table payout_policies (
        merchant_id            bigint primary key references merchants(id) on delete cascade,
        recipients_restricted  boolean not null default false,   -- only payout_recipients may be paid
        updated_at             timestamptz not null default now()
    );

    create table payout_limits (
        merchant_id  bigint not null references merchants(id) on delete cascade,
        currency     text not null check (currency ~ '^[A-Z]{3}$'),
        per_payment  bigint not null check (per_payment > 0),
        per_day      bigint not null check (per_day > 0),
        updated_at   timestamptz not null default now(),
        primary key (merchant_id, currency)
    );

    create table payout_recipients (
        merchant_id   bigint not null references merchants(id) on delete cascade,
        connector_id  bigint not null references connectors(id) on delete cascade,
        recipient     text not null,               -- Wise recipient id (accounts.reference, EXTERNAL)
        note          text,
        created_at    timestamptz not null default now(),
        primary key (merchant_id, connector_id, recipient)
    );

    -- One row per decision: 'admitted' rows are what a day's total counts (under an advisory
    -- lock per merchant and currency); 'refused' rows are the list a person reads.
    create table payout_decisions (
        id                   bigserial primary key,
        merchant_id          bigint not null,
        connector_id         bigint not null,
        idempotency_key      text not null,
        task_id              text,
        actor                text not null,
        destination_account  text not null,
        amount               bigint not null,
        asset                text not null,
        currency             text not null,
        day                  date not null,
        decision             text not null check (decision in ('admitted', 'refused')),
        reason               text,
        created_at           timestamptz not null default now()
    );
    create unique index payout_decisions_admitted_once on payout_decisions (connector_id, idempotency_key)
        where decision = 'admitted';
    create index payout_decisions_day on payout_decisions (merchant_id, currency, day) where decision = 'admitted';
    create index payout_decisions_refused on payout_decisions (merchant_id, id desc) where decision = 'refused';

    create table audit_log (
        id              bigserial primary key,
        at              timestamptz not null default clock_timestamp(),
        actor           text not null,             -- 'sender billing', 'cli alice@host', 'beat@host', ...
        sender          text,                      -- the sender's name, when a sender started it
        key_id          text,                      -- that sender's key id (never its secret)
        os_user         text,
        host            text,
        action          text not null,             -- a task name, or 'cli: <command>'
        task_id         text,
        subject         text,                      -- ids the payload names: 'connector 3', 'merchant 1'
        payload_digest  text,                      -- SHA-256 of the payload's canonical JSON
        outcome         text not null,
        detail          text
    );
    create index audit_log_at on audit_log (at desc);
    create index audit_log_task on audit_log (task_id) where task_id is not null;

    create function audit_log_append_only() returns trigger language plpgsql as $$
    begin
        raise exception 'audit_log is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end $$;
    create trigger audit_log_no_change before update or delete on audit_log
        for each row execute function audit_log_append_only();
    create trigger audit_log_no_truncate before truncate on audit_log
        for each statement execute function audit_log_append_only();
    """)


def downgrade() -> None:
    op.execute("""
    drop table if exists audit_log;
    drop function if exists audit_log_append_only();
    drop table if exists payout_decisions;
    drop table if exists payout_recipients;
    drop table if exists payout_limits;
    drop table if exists payout_policies;
    drop table if exists sender_keys;
    drop table if exists senders;
    """)
