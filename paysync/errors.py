"""Errors that carry a message meant for a person: the CLI prints them as one line."""

from __future__ import annotations


class PaysyncError(Exception):
    """Base class for every error paysync raises on purpose."""


class ConfigError(PaysyncError):
    """The environment or a config file is wrong; the message names the setting."""


class NotFound(PaysyncError):
    """A merchant, connection or connector that does not exist."""


class PayloadError(PaysyncError):
    """A task payload failed validation; `errors` maps each field to its problems."""

    def __init__(self, task: str, errors: dict):
        self.task = task
        self.errors = errors
        fields = "; ".join(f"{field}: {', '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                           for field, msgs in sorted(errors.items()))
        super().__init__(f"invalid payload for {task}: {fields}")

    def __reduce__(self) -> tuple[type[PayloadError], tuple[str, dict]]:  # picklable across processes
        return (PayloadError, (self.task, self.errors))
