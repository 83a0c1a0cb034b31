"""Initiations by transfer: every write of a transfer's payment first locks the initiations
that follow it (``storage.wise.lock_initiations_of``), and a funded initiation follows its
transfer's later states (``follow_initiations``); both look initiations up by transfer id.
"""

from alembic import op

revision = "0014_initiation_transfers"
down_revision = "0013_trust"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create index payment_initiations_transfer on payment_initiations (connector_id, transfer_id)
        where transfer_id is not null;
    """)


def downgrade() -> None:
    op.execute("drop index if exists payment_initiations_transfer;")
