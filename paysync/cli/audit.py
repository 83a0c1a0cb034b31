"""``paysync audit list``: the audit log; and the audit rows of the command line itself.

:func:`instrument` wraps every command that changes something (all but :data:`READ_ONLY`)
so that each run appends one row: the OS user, the command, its options (secrets left out:
hidden prompts and any option named like a secret, key, token or password), ``ok`` or
``error`` with the message. A command added later is audited unless it is listed here.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

import click

from paysync.cli.output import emit, json_option

# Commands that only read (or start a long-running process that is audited by what it does).
READ_ONLY = frozenset({
    "accounts list", "autopay dry-run", "autopay exceptions", "autopay list", "autopay payees list",
    "autopay rules show", "balances list", "connections list", "connections verify", "connectors list",
    "connectors show", "connectors poll", "db status", "demo", "doctor", "external-accounts list",
    "initiations list", "initiations needing-action", "invoices download", "invoices list", "invoices payments",
    "keys generate", "merchants list", "payments list", "psa list", "quarantine list", "sandbox", "supervise",
    "sync status", "tasks", "webhooks list", "webhooks serve", "senders list", "policy show", "policy refusals",
    "audit list",
})
SECRET_NAME = re.compile(r"secret|password|token|key", re.IGNORECASE)
SUBJECT_PARAMS = (("merchant", "merchant"), ("connector_id", "connector"), ("connector", "connector"),
                  ("connection", "connection"), ("initiation_id", "initiation"))
COLUMNS = ("id", "at", "actor", "action", "task_id", "subject", "outcome", "detail")


def _secret(cmd: click.Command, name: str) -> bool:
    for param in cmd.params:
        if param.name == name:
            return bool(getattr(param, "hide_input", False)) or bool(SECRET_NAME.search(name))
    return bool(SECRET_NAME.search(name))


def _shown(cmd: click.Command, params: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(params.items())
            if v not in (None, (), False) and k != "as_json" and not _secret(cmd, k)}


def note(text: str) -> None:
    """Add a (non-secret) fact to the running command's audit row, such as a new key id."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta.setdefault(NOTES, []).append(text)


NOTES = "paysync.audit_notes"


def _record(path: str, cmd: click.Command, params: dict[str, Any], outcome: str, error: str | None) -> None:
    from paysync import audit, signing

    shown = _shown(cmd, params)
    subject = next((f"{label} {shown[name]}" for name, label in SUBJECT_PARAMS if name in shown), None)
    ctx = click.get_current_context(silent=True)
    notes = list(ctx.meta.get(NOTES, [])) if ctx is not None else []
    options = " ".join([*(f"{k}={v}" for k, v in shown.items()), *notes])
    detail = f"{error} | {options}" if error else options
    try:
        audit.record(f"cli: {path}", outcome, signing.process_actor(), payload=shown, detail=detail or None,
                     subject_text=subject)
    except Exception as exc:  # noqa: BLE001 - the command's own outcome stands; say the row is missing
        click.echo(f"warning: the audit log did not record 'paysync {path}': {type(exc).__name__}", err=True)


def _audited(path: str, cmd: click.Command) -> None:
    callback = cmd.callback
    if callback is None:
        return

    @functools.wraps(callback)
    def run(*args: Any, **params: Any) -> Any:
        try:
            out = callback(*args, **params)
        except click.exceptions.Exit as exc:
            _record(path, cmd, params, "ok" if not exc.exit_code else "error", None)
            raise
        except (Exception, click.exceptions.Abort) as exc:
            message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            _record(path, cmd, params, "error", f"{type(exc).__name__}: {message}"[:300])
            raise
        _record(path, cmd, params, "ok", None)
        return out

    cmd.callback = run


def instrument(group: click.Group) -> None:
    """Audit every changing command of the ``paysync`` command line; this process is 'cli'."""
    from paysync import signing

    signing.set_role("cli")

    def walk(cmd: click.Command, path: list[str]) -> None:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
        elif " ".join(path) not in READ_ONLY:
            _audited(" ".join(path), cmd)

    walk(group, [])


def _when(text: str | None) -> dt.datetime | None:
    """An ISO date or time (UTC when no zone), or a duration back from now: 30m, 12h, 7d."""
    if not text:
        return None
    found = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    if found:
        seconds = int(found.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[found.group(2)]
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r}: want an ISO time (2024-05-01T12:00) or a duration (30m, 12h, 7d)") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@click.group("audit")
def command() -> None:
    """The audit log: every money-moving or configuration-changing action (append-only)."""


@command.command("list")
@click.option("--since", default=None, help="From this time (ISO) or this long ago (30m, 12h, 7d).")
@click.option("--until", default=None, help="Before this time (ISO) or this long ago.")
@click.option("--actor", default=None, help="Part of the actor: a sender's name, an OS user, 'beat'.")
@click.option("--sender", default=None, help="Exactly this sender.")
@click.option("--action", default=None, help="Part of the action: a task name or a command.")
@click.option("--outcome", default=None,
              help="refused, succeeded, failed, refused_by_policy, dry_run (tasks); ok, error (commands).")
@click.option("--task-id", default=None, help="One task id.")
@click.option("--subject", default=None, help="What the action named, e.g. 'connector 3'.")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@json_option
def list_(since: str | None, until: str | None, actor: str | None, sender: str | None, action: str | None,
          outcome: str | None, task_id: str | None, subject: str | None, limit: int, as_json: bool) -> None:
    """Audit rows, newest first."""
    from paysync import audit

    rows = audit.rows(since=_when(since), until=_when(until), actor=actor, sender=sender, action=action,
                      outcome=outcome, task_id=task_id, subject=subject, limit=limit)
    columns: tuple[str, ...] = COLUMNS if not as_json else (*COLUMNS[:3], "sender", "key_id", "os_user", "host",
                                                             *COLUMNS[3:6], "payload_digest", *COLUMNS[6:])
    emit(rows, columns, as_json, empty="no audit rows")

