"""``paysync keys``: the encryption key for secrets at rest."""

from __future__ import annotations

import click

from paysync.cli.output import emit_one, json_option


@click.group("keys")
def command() -> None:
    """Encryption keys for secrets at rest."""


@command.command("generate")
def generate() -> None:
    """Print a new key for PAYSYNC_SECRET_KEY."""
    from storage.secrets import generate_key

    click.echo(generate_key())


@command.command("rotate")
@json_option
def rotate(as_json: bool) -> None:
    """Re-encrypt every stored secret under PAYSYNC_SECRET_KEY (old keys in PAYSYNC_OLD_SECRET_KEYS)."""
    from storage.keys import rotate_all

    emit_one(rotate_all(), as_json)
