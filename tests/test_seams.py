"""The seams between folders, as facts: who may speak HTTP, who may hold SQL, where the dev tools live.

Each check reads the source (``ast``), so a violation names the file and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("paysync", "tasks", "mappers", "storage")
SQL = re.compile(r"^\s*(select\s.+\sfrom\s|insert\s+into\s|update\s+\w+\s+set\s|delete\s+from\s)", re.I | re.S)


def _modules(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def _imports(tree: ast.AST) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno))
    return out


def _sql_strings(tree: ast.AST) -> list[int]:
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.lineno for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
            and SQL.match(n.value)]


def test_only_the_clients_speak_http() -> None:
    offenders = [f"{p.relative_to(ROOT)}:{line}" for p in _modules(*PRODUCT)
                 if "paysync/clients/" not in p.as_posix()
                 for name, line in _imports(ast.parse(p.read_text())) if name.split(".")[0] == "requests"]
    assert offenders == [], f"requests imported outside paysync/clients/: {offenders}"


def test_sql_lives_in_storage_only() -> None:
    offenders = [f"{p.relative_to(ROOT)}:{line}" for p in _modules(*PRODUCT, "devtools/paysync_dev", "bench")
                 if not p.relative_to(ROOT).as_posix().startswith("storage/")
                 for line in _sql_strings(ast.parse(p.read_text()))]
    assert offenders == [], f"SQL outside storage/: {offenders}"


def test_the_sql_check_catches_a_statement() -> None:
    tree = ast.parse('"""select x from y is prose here"""\ndef f():\n    return "select id from merchants where x=1"\n')
    assert _sql_strings(tree) == [3]


def test_the_product_carries_no_dev_tools() -> None:
    inside = [p.relative_to(ROOT).as_posix() for p in (ROOT / "paysync").rglob("*")
              if p.name in ("sandbox", "demo", "devstack.py") or p.name.startswith("demo_")]
    assert inside == [], f"dev tools inside the product package: {inside}"
    imports = [f"{p.relative_to(ROOT)}:{line}" for p in _modules(*PRODUCT)
               if p.relative_to(ROOT).as_posix() != "paysync/cli/devtools.py"
               for name, line in _imports(ast.parse(p.read_text())) if name.split(".")[0] == "paysync_dev"]
    assert imports == [], f"the product imports the dev tools: {imports}"
