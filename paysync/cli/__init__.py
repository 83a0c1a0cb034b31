"""The ``paysync`` command: one module per noun, errors as one line and a non-zero exit."""

from __future__ import annotations

import sys

import click

from paysync.errors import PaysyncError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="paysync")
def cli() -> None:
    """paysync: keep payments, books and PSA in step (Wise, Xero, ConnectWise)."""


def _register() -> None:
    """Add every command module's commands (its ``commands``, else its ``command``).

    Nothing here catches an import error: a module that cannot be imported stops the
    command line with its traceback instead of silently losing its commands. ``sandbox``
    and ``demo`` load the dev tools only when they run (:mod:`paysync.cli.devtools`).
    """
    from paysync.cli import (
        accounting,
        audit,
        autopay,
        connections,
        connectors,
        db,
        demo,
        doctor,
        keys,
        merchants,
        policy,
        quarantine,
        sandbox,
        senders,
        supervise,
        sync,
        tasks,
        webhooks,
        wise_records,
    )

    for module in (db, merchants, keys, sandbox, demo, tasks, connections, connectors, wise_records, accounting,
                   sync, autopay, webhooks, supervise, quarantine, doctor, senders, policy, audit):
        for cmd in getattr(module, "commands", None) or [module.command]:
            cli.add_command(cmd)
    audit.instrument(cli)  # every changing command writes an audit row


_register()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; every expected error is one line on stderr and exit 1."""
    import psycopg2

    try:
        cli.main(args=argv, prog_name="paysync", standalone_mode=False)
        return 0
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 1
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code or 2
    except PaysyncError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    except psycopg2.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        click.echo(f"error: database: {first}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
