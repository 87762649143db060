"""The package's import graph from its source (AST, no imports executed): modules, edges, cycles, sizes.

``python -m benchmarks.import_graph`` prints the strongly connected components with more than one module (import
cycles; imports inside functions count too, since they still tie the modules together), the modules by size and
the edges between top-level areas. ``tests/test_layering.py`` uses :func:`import_graph` and :func:`cycles`.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "planner"


def module_files(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (``pkg/__init__.py`` is ``pkg``)."""
    files = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: Path = ROOT, package: str = PACKAGE, top_level_only: bool = False) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from pkg import sub`` counts as importing ``pkg.sub``).

    With ``top_level_only`` imports inside functions are left out and importing ``a.b.c`` also runs the packages
    ``a.b`` (their ``__init__``) that are not the importer's own: the graph Python follows at import time.
    """
    files = module_files(root, package)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        nodes = tree.body if top_level_only else list(ast.walk(tree))
        if top_level_only:
            nodes = [n for stmt in tree.body for n in ast.walk(stmt)
                     if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        targets: set[str] = set()
        for node in nodes:
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node)
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for name in names:
                if name in files and name != module:
                    targets.add(name)
                elif name.startswith(package + ".") or name == package:
                    # `from pkg.mod import func`: the module itself
                    parent = name.rsplit(".", 1)[0]
                    if parent in files and parent != module:
                        targets.add(parent)
        if top_level_only:
            own = {module.rsplit(".", n)[0] for n in range(module.count(".") + 1)}
            for target in list(targets):
                parts = target.split(".")
                targets |= {".".join(parts[:n]) for n in range(2, len(parts))} - own
        # `from . import x` also names the package itself; keep only real modules
        graph[module] = {t for t in targets if t in files and not (t == package and module.startswith(package + "."))}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components, key=lambda c: (-len(c), c))


def cycle_path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete cycle through the component's first module (for messages)."""
    members = set(component)
    start = component[0]
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [start] + list(reversed(path[:-1])) + [start] if len(path) > 1 else [start, node, start]
                if nxt not in parents:
                    parents[nxt] = node
                    following.append(nxt)
        frontier = following
    return component


def area(module: str, depth: int = 2) -> str:
    return ".".join(module.split(".")[:depth])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to measure")
    parser.add_argument("--sizes", type=int, default=15, help="how many of the largest modules to list")
    parser.add_argument("--areas", action="store_true", help="print the edges between top-level areas")
    args = parser.parse_args()
    files = module_files(args.root)
    graph = import_graph(args.root)
    edges = sum(len(v) for v in graph.values())
    lines = {m: len(p.read_text().splitlines()) for m, p in files.items()}
    print(f"{len(files)} modules, {sum(lines.values()):,} lines, {edges} import edges")
    for label, g in (("any import", graph), ("import time (top level)", import_graph(args.root, top_level_only=True))):
        components = cycles(g)
        print(f"cycles ({label}): {len(components)}")
        for component in components:
            print(f"  {len(component)} modules: {' '.join(component)}")
            print(f"    e.g. {' -> '.join(cycle_path(g, component))}")
    print(f"largest modules (of {len(files)}; over 600 lines: {sum(1 for n in lines.values() if n > 600)}):")
    for module, count in sorted(lines.items(), key=lambda kv: -kv[1])[: args.sizes]:
        print(f"  {count:5d} {module}")
    if args.areas:
        pairs: dict[tuple[str, str], int] = {}
        for source, targets in graph.items():
            for target in targets:
                key = (area(source), area(target))
                if key[0] != key[1]:
                    pairs[key] = pairs.get(key, 0) + 1
        for (a, b), n in sorted(pairs.items()):
            print(f"  {a} -> {b}: {n}")


if __name__ == "__main__":
    main()
