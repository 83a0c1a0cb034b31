"""Registering the command line's commands: a broken command module fails loudly, and
``sandbox`` / ``demo`` are there without the dev tools but say how to install them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from paysync.cli import cli


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=dict(os.environ), timeout=60)


BROKEN_MODULE = """
    import sys

    class Broken:  # the command module fails to import, as one with a bad import would
        def find_spec(self, name, path=None, target=None):
            if name == "paysync.cli.webhooks":
                raise ImportError("cannot import name 'gone' from 'paysync.webhooks.app'")
            return None

    sys.meta_path.insert(0, Broken())
    import paysync.cli
    print("registered:", sorted(paysync.cli.cli.commands))
"""


def test_a_command_module_that_fails_to_import_stops_the_command_line():
    out = _python(BROKEN_MODULE)
    assert out.returncode != 0, out.stdout
    assert "registered:" not in out.stdout
    assert "ImportError: cannot import name 'gone'" in out.stderr


HIDE_MODULE = """
    import sys

    class Missing:  # {hidden} cannot be found, as when it is not installed
        def find_spec(self, name, path=None, target=None):
            if name == "{hidden}":
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Missing())
    from paysync.cli import cli, main

    print("registered:", " ".join(sorted(cli.commands)))
    sys.exit(main(sys.argv[1:]))
"""


def _paysync_without(hidden: str, *args: str) -> subprocess.CompletedProcess:
    code = textwrap.dedent(HIDE_MODULE).format(hidden=hidden)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=60)


def test_sandbox_and_demo_without_the_dev_tools_are_one_line_and_non_zero():
    for args in (["sandbox", "--port", "0"], ["demo"]):
        out = _paysync_without("paysync_dev", *args)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        registered = out.stdout.split("registered:", 1)[1].split()
        assert "sandbox" in registered and "demo" in registered
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert lines[0].startswith("error: ") and "pip install -e ./devtools" in lines[0]


def test_a_module_missing_inside_the_dev_tools_is_not_mistaken_for_their_absence():
    out = _paysync_without("paysync_dev.sandbox.server", "sandbox", "--port", "0")
    assert out.returncode != 0
    assert "ModuleNotFoundError: No module named 'paysync_dev.sandbox.server'" in out.stderr
    assert "pip install" not in out.stderr


def test_every_command_module_is_registered():
    from pathlib import Path

    import paysync.cli as package

    helpers = {"__init__", "output", "devtools", "connections_authorize", "jobs", "resolve"}
    names = sorted(p.stem for p in Path(package.__file__).parent.glob("*.py") if p.stem not in helpers)
    registered = set(cli.commands.values())
    for name in names:
        module = __import__(f"paysync.cli.{name}", fromlist=["command"])
        for cmd in getattr(module, "commands", None) or [module.command]:
            assert cmd in registered, f"paysync.cli.{name}: {cmd.name} is not registered"
