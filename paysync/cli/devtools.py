"""The dev tools (``paysync_dev``) behind ``paysync sandbox`` and ``paysync demo``.

They are a distribution of their own (``devtools/``), not part of a production install;
the commands stay in the product's command line and load them only when run.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import click

INSTALL_HINT = "pip install -e ./devtools"


def load(module: str) -> ModuleType:
    """Import ``module`` from ``paysync_dev``; a one-line error naming the install when it is missing.

    Only the package's own absence is turned into that error: an import that fails inside
    ``paysync_dev`` is a bug and propagates as it is.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != "paysync_dev":
            raise
        raise click.ClickException(f"the dev tools (paysync_dev) are not installed: run '{INSTALL_HINT}' "
                                   "in a paysync checkout") from None
