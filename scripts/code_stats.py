"""Numbers for the issue notes: the longest functions in the package and the import cycles.

.venv/bin/python scripts/code_stats.py
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"refusal_lab": ROOT / "refusal_lab", "refusal_lab.analysis": ROOT / "analysis"}


def modules() -> dict[str, Path]:
    out = {}
    for prefix, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([prefix, *parts])
            if prefix == "refusal_lab" and parts[:1] == ["analysis"]:
                continue
            out[name] = path
    return out


def imports(name: str, tree: ast.AST, known: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else ".".join(name.split(".")[: -node.level] + [node.module])
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        found |= {t for t in targets if t in known and t != name}
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main() -> None:
    mods = modules()
    trees = {n: ast.parse(p.read_text()) for n, p in mods.items()}
    graph = {n: imports(n, t, set(mods)) for n, t in trees.items()}
    funcs = sorted(
        (
            (node.end_lineno - node.lineno + 1, f"{n}.{node.name}")
            for n, t in trees.items()
            for node in ast.walk(t)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        ),
        reverse=True,
    )
    print("longest functions:", ", ".join(f"{q} ({k} lines)" for k, q in funcs[:5]))
    found = cycles(graph)
    print(f"import cycles: {len(found)}" + "".join(f"\n  {' <-> '.join(c)}" for c in found))
    commands = [n for n in graph if n.startswith("refusal_lab.commands")]
    importers = sorted(
        n
        for n, deps in graph.items()
        if n not in commands and n != "refusal_lab.cli" and any(d in commands for d in deps)
    )
    print(f"modules importing refusal_lab.commands (besides the entry point cli.py): {len(importers)} {importers}")


if __name__ == "__main__":
    main()
