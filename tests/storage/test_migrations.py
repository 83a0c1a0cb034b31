from storage import migrate


def test_migrations_have_a_single_head():
    assert len(migrate.heads()) == 1


def test_database_is_at_head(db):
    assert migrate.current(db) == migrate.heads()[0]


def test_upgrade_twice_is_harmless(db):
    migrate.upgrade("head", url=db)
    assert migrate.current(db) == migrate.heads()[0]
