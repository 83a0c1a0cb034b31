"""``paysync senders``: the applications allowed to send money-moving and configuration-changing
tasks, and their signing keys (``docs/security.md``)."""

from __future__ import annotations

import click

from paysync.cli.audit import note
from paysync.cli.output import emit, emit_one, json_option

SECRET_ONCE = ("the secret is shown once: give it to the sender now (it signs with key id and secret; "
               "paysync keeps it encrypted and never shows it again)")


@click.group("senders")
def command() -> None:
    """Senders of protected tasks and their signing keys."""


@command.command("add")
@click.argument("name")
@json_option
def add(name: str, as_json: bool) -> None:
    """A new sender and its first key (id and secret, the secret shown once)."""
    from paysync import senders

    cred = senders.add(name)
    note(f"key {cred.key_id}")
    emit_one(cred.as_dict(), as_json)
    click.echo(SECRET_ONCE, err=True)


@command.command("rotate")
@click.argument("name")
@click.option("--overlap", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds the sender's older keys keep working, while its processes change keys.")
@json_option
def rotate(name: str, overlap: float, as_json: bool) -> None:
    """A new key for NAME; its older keys are refused after --overlap seconds (at once by default)."""
    from paysync import senders

    cred = senders.rotate(name, overlap)
    note(f"key {cred.key_id}")
    emit_one(cred.as_dict(), as_json)
    click.echo(SECRET_ONCE, err=True)


@command.command("revoke")
@click.argument("name")
@json_option
def revoke(name: str, as_json: bool) -> None:
    """Refuse NAME and every key of it from now on."""
    from paysync import senders

    row = senders.revoke(name)
    emit_one({"sender": row["name"], "revoked_at": row["revoked_at"]}, as_json)


@command.command("list")
@json_option
def list_(as_json: bool) -> None:
    """Every sender and key (ids and states, never a secret)."""
    from paysync import senders

    emit(senders.list_all(), ("name", "key_id", "live", "created_at", "expires_at", "revoked_at", "created_by"),
         as_json, empty="no senders (paysync senders add NAME)")
