#!/usr/bin/env python3
"""Import cycles among paysync's own modules (the product and the dev tools).

    .venv/bin/python scripts/import-graph.py [--only PREFIX ...] [--edges]

Reads the source (nothing is imported): every ``import`` and ``from ... import`` of
``paysync``, ``tasks``, ``mappers``, ``storage`` (migrations excluded) and ``paysync_dev``
(``devtools/``), wherever it stands (module level, inside a function, under
``if TYPE_CHECKING``), is an edge to the module it names: ``from a.b import c`` points at
``a.b.c`` when that is a module, else at ``a.b``. A package's own ``__init__`` is not an
implicit edge of its submodules. Prints every cycle (one strongly connected group of
modules each, with one closed path through it) and exits 1 when there is one; ``--only``
keeps the cycles that touch a module under one of the prefixes.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: package -> the folder that holds it
PACKAGES = {"paysync": ROOT, "tasks": ROOT, "mappers": ROOT, "storage": ROOT, "paysync_dev": ROOT / "devtools"}
EXCLUDED = ("storage.migrations",)


def modules(packages: dict[str, Path] | None = None) -> dict[str, tuple[Path, bool]]:
    """dotted name -> (file, is a package) for every module of ``packages`` (:data:`PACKAGES`)."""
    found: dict[str, tuple[Path, bool]] = {}
    for package, base in (packages or PACKAGES).items():
        for path in sorted((base / package).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            name = ".".join(parts)
            if not name.startswith(EXCLUDED):
                found[name] = (path, is_package)
    return found


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([target] if target else []))


def edges(known: dict[str, tuple[Path, bool]]) -> dict[str, set[str]]:
    """module -> the modules of ours it imports."""

    def ours(name: str) -> str | None:
        parts = name.split(".")
        while parts:  # the longest prefix that is one of our modules
            candidate = ".".join(parts)
            if candidate in known:
                return candidate
            parts.pop()
        return None

    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, (path, is_package) in known.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve_relative(name, is_package, node.level, node.module) if node.level else node.module
                if base is None:
                    continue
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                           for alias in node.names]
            for target in targets:
                resolved = ours(target)
                if resolved is not None and resolved != name:
                    graph[name].add(resolved)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of two or more modules that import each other, directly or not (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def closed_path(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """One cycle through the group's first module (breadth first: a shortest one)."""
    members, start = set(group), group[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return group  # unreachable for a strongly connected group


def cycles(only: list[str] | None = None,
           packages: dict[str, Path] | None = None) -> list[tuple[list[str], list[str]]]:
    """(group, one closed path) per cycle; ``only`` keeps those touching a module under a prefix."""
    graph = edges(modules(packages))
    found = []
    for group in strongly_connected(graph):
        if only and not any(m == p or m.startswith(f"{p}.") for m in group for p in only):
            continue
        found.append((group, closed_path(graph, group)))
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="keep cycles touching these packages or modules")
    ap.add_argument("--edges", action="store_true", help="print every edge first")
    args = ap.parse_args()
    if args.edges:
        for name, targets in sorted(edges(modules()).items()):
            for target in sorted(targets):
                print(f"{name} -> {target}")
    found = cycles(args.only)
    for group, path in found:
        print(f"cycle of {len(group)} modules: {', '.join(group)}")
        print(f"  e.g. {' -> '.join(path)}")
    scope = ", ".join(args.only) if args.only else ", ".join(PACKAGES)
    print(f"{len(found)} import cycle(s) among {scope}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
