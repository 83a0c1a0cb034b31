"""``paysync doctor``: check every connection and connector against its real provider."""

from __future__ import annotations

import click

from paysync.cli.output import json_option, to_json
from paysync.errors import PaysyncError


@click.command("doctor")
@click.option("--merchant", default=None, help="Merchant name or id (default: every merchant).")
@json_option
def command(merchant: str | None, as_json: bool) -> None:
    """Check credentials, token refresh, scopes, tenants, budgets, webhook URLs and clocks; one line
    per check, a non-zero exit when any fails."""
    from paysync import doctor

    checks = doctor.run(merchant)
    bad = doctor.failed(checks)
    if as_json:
        click.echo(to_json({"checks": [c.as_dict() for c in checks], "failed": len(bad)}))
    else:
        for line in doctor.lines(checks):
            click.echo(line)
        if not checks:
            click.echo("nothing to check: no connections or connectors")
    if bad:
        raise PaysyncError(f"{len(bad)} check(s) failed: " + "; ".join(f"{c.subject}: {c.name}" for c in bad))
