"""``--connector`` and ``--connection`` by id or by name: one match, or an error naming the choices."""

from __future__ import annotations

import click
import pytest

from paysync.cli.resolve import CONNECTION, CONNECTOR
from storage import connections, connectors, merchants


def test_names_resolve_to_one_or_fail_naming_the_candidates(db):
    # given a merchant with two connectors and two connections
    m = merchants.create("acme")
    wise = connectors.create(m["id"], "wise", "wise", {}, {}, 60)
    other = connectors.create(m["id"], "wise", "eu", {}, {}, 60)
    user = connections.add(m["id"], "user", "app-1", {})
    connections.add(m["id"], "company", "app-2", {})
    # then an id or a full name picks one; a bare merchant picks the connector named wise
    assert CONNECTOR.convert(str(other["id"]), None, None) == other["id"]
    assert CONNECTOR.convert("acme/eu", None, None) == other["id"]
    assert CONNECTOR.convert("acme", None, None) == wise["id"]
    assert CONNECTION.convert("acme/user", None, None) == user.id
    # and anything else fails naming what exists
    cases = [(CONNECTOR, "acme/us", "merchant 'acme' has no connector named 'us'"),
             (CONNECTOR, "999", "no connector has the id 999"),
             (CONNECTION, "acme", "merchant 'acme' has several connections: name one of acme/user, acme/company"),
             (CONNECTION, "acme/service", "merchant 'acme' has no service connection"),
             (CONNECTION, "nobody/user", "'nobody/user': ")]
    for ref, text, message in cases:
        with pytest.raises(click.BadParameter) as failed:
            ref.convert(text, None, None)
        assert message in str(failed.value), (text, failed.value)
