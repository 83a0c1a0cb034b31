"""``paysync tasks``: the task reference (names, queues, classes, payloads)."""

from __future__ import annotations

import click

from paysync.cli.output import emit, json_option


@click.command("tasks")
@json_option
@click.option("--markdown", is_flag=True, help="Print docs/tasks.md.")
def command(as_json: bool, markdown: bool) -> None:
    """List every task other applications can send by name."""
    from paysync import task_reference

    if markdown:
        click.echo(task_reference.markdown(), nl=False)
        return
    emit(task_reference.task_rows(), ("task", "traffic", "class", "senders", "payload", "doc"), as_json)
