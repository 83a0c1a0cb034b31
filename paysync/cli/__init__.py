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
        metrics,
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
                   sync, autopay, webhooks, supervise, quarantine, doctor, metrics, senders, policy, audit):
        for cmd in getattr(module, "commands", None) or [module.command]:
            cli.add_command(cmd)
    audit.instrument(cli)  # every changing command writes an audit row


_register()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; every error is one line on stderr and a non-zero exit.

    Expected errors (``PaysyncError``, click's usage errors, PostgreSQL or Redis unreachable)
    print their message; anything else prints its type and first line, with the traceback
    only when ``PAYSYNC_DEBUG=1``.
    """
    import os

    import psycopg2
    import redis

    from paysync.logs import configure

    configure("cli")
    try:
        cli.main(args=argv, prog_name="paysync", standalone_mode=False)
        return 0
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 1
    except click.ClickException as exc:
        click.echo(f"error: {_one_line(exc.format_message())}", err=True)
        return exc.exit_code or 2
    except PaysyncError as exc:
        click.echo(f"error: {_one_line(str(exc))}", err=True)
        return 1
    except psycopg2.Error as exc:
        click.echo(f"error: database: {_one_line(str(exc)) or type(exc).__name__}", err=True)
        return 1
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        from paysync.config import settings
        from paysync.redis_client import public_url

        click.echo(f"error: Redis unreachable at {public_url(settings().redis_url)}: {_one_line(str(exc))}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the promise: one line, never a traceback
        if os.environ.get("PAYSYNC_DEBUG") == "1":
            raise
        click.echo(f"error: {_describe(exc)} (PAYSYNC_DEBUG=1 shows the traceback)", err=True)
        return 1


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _describe(exc: BaseException) -> str:
    """An unexpected error's type and first line; connection trouble with the broker named as such."""
    try:
        from kombu.exceptions import OperationalError
    except ImportError:  # pragma: no cover
        OperationalError = ()  # type: ignore[assignment,misc]  # noqa: N806
    if isinstance(exc, OperationalError):
        from paysync.config import settings
        from paysync.redis_client import public_url

        return f"the broker (Redis at {public_url(settings().redis_url)}) is unreachable: {_one_line(str(exc))}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return f"{type(exc).__name__}: {_one_line(str(exc))}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
