"""Every SQL statement paysync runs, the connection pool, migrations and encrypted secrets."""
