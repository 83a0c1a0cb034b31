"""No import cycle among paysync's modules (``scripts/import-graph.py``): product and dev tools."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "import-graph.py"


def _graph() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycle_among_the_product_and_the_dev_tools():
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 import cycle(s)" in out.stdout


def test_the_graph_reads_every_package_and_the_dev_tools():
    graph = _graph()
    names = graph.modules()
    assert {"paysync.cli", "tasks.app", "mappers.jsonnum", "storage.reports", "paysync_dev.sandbox.wise",
            "paysync_dev.demo.story"} <= set(names)
    assert not any(n.startswith("storage.migrations") for n in names)
    edges = graph.edges(names)
    assert "paysync_dev.sandbox.wise_webhooks" in edges["paysync_dev.sandbox.wise"]
    assert "paysync_dev.sandbox.wise" not in edges["paysync_dev.sandbox.wise_webhooks"]


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path):
    pkg = tmp_path / "loop"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from loop.b import thing\n")
    (pkg / "b.py").write_text("def thing():\n    from loop import a\n    return a\n")
    (pkg / "c.py").write_text("from . import a\n")
    found = _graph().cycles(packages={"loop": tmp_path})
    assert found == [(["loop.a", "loop.b"], ["loop.a", "loop.b", "loop.a"])]
