"""``paysync supervise -- COMMAND...``: run a process and restart it whenever it dies."""

from __future__ import annotations

import click


@click.command("supervise", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--name", default=None, help="How the log lines name the process (default: the command).")
@click.option("--min-uptime", default=10.0, show_default=True,
              help="A process that ran less than this many seconds is restarted after a growing wait.")
@click.option("--max-backoff", default=30.0, show_default=True, help="The longest wait before a restart.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def command(name: str | None, min_uptime: float, max_backoff: float, command: tuple[str, ...]) -> None:
    """Run COMMAND, restart it whenever it exits or is killed, and log why (exit code or
    signal, uptime, last output). SIGTERM / Ctrl-C stop both.

    Example: paysync supervise --name beat -- celery -A tasks beat
    """
    from paysync.supervise import Supervisor

    code = Supervisor(command, name or command[0], min_uptime=min_uptime, max_backoff=max_backoff).run()
    raise SystemExit(code)
