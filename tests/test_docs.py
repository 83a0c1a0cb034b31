"""Docs that are generated must match the code."""

from pathlib import Path

from paysync import task_reference

ROOT = Path(__file__).resolve().parent.parent


def test_task_reference_is_up_to_date():
    expected = task_reference.markdown()
    actual = (ROOT / "docs" / "tasks.md").read_text()
    assert actual == expected, "docs/tasks.md is stale: run 'paysync tasks --markdown > docs/tasks.md'"
