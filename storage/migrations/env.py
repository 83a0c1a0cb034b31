"""Alembic environment: online migrations only, with the URL from paysync's settings."""

from alembic import context
from sqlalchemy import create_engine, pool

configured = context.config.get_main_option("sqlalchemy.url")
if not configured:
    raise RuntimeError("alembic has no sqlalchemy.url: run migrations with 'paysync db upgrade'")
url = configured.replace("postgresql://", "postgresql+psycopg2://", 1)
engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        # Serialise concurrent upgrades (two containers starting at once).
        connection.exec_driver_sql("select pg_advisory_xact_lock(727379)")
        context.run_migrations()
engine.dispose()
