"""Find import cycles between the project's own Python modules, from their source (no module is imported).

Every `import` and `from ... import` counts, at module level or inside a function (a function-level import
only postpones the circle, it does not remove it), except those under `if TYPE_CHECKING:`, which never run.
`from package import name` is an edge to `package.name` when that is a module of the project, else to
`package`. Modules are named from their source roots: `lambda_src/` (the Lambda zip's root, on the
PYTHONPATH) and the repository root (`simulator`, `benchmarks`, `tools`).

    python -m tools.import_cycles            # checks simulator/, lambda_src/, benchmarks/, tools/
    python -m tools.import_cycles DIR ...    # checks other package directories

Exit status 0 when there is no cycle; 1 with each cycle printed (one strongly connected component a line).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (package directory, the source root its module names start from)
DEFAULT_PACKAGES: tuple[tuple[Path, Path], ...] = (
    (ROOT / "simulator", ROOT),
    (ROOT / "lambda_src", ROOT / "lambda_src"),
    (ROOT / "benchmarks", ROOT),
    (ROOT / "tools", ROOT),
)


def module_name(path: Path, source_root: Path) -> str:
    parts = list(path.relative_to(source_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover(packages: Iterable[tuple[Path, Path]]) -> dict[str, Path]:
    """Module name -> source file, for every .py file under the package directories."""
    modules: dict[str, Path] = {}
    for directory, source_root in packages:
        for path in sorted(directory.rglob("*.py")):
            if "__pycache__" not in path.parts:
                modules[module_name(path, source_root)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run (the body of `if TYPE_CHECKING:` never does)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        children = list(ast.iter_child_nodes(node))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            children = list(node.orelse)
        stack.extend(children)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imported_modules(module: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """The project modules `module` (source at `path`) imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                base = _resolve_relative(module, path.name == "__init__.py", node.level, node.module)
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        for name in names:
            # `import a.b.c` names a.b.c; a name that is not a module of ours (stdlib, boto3) is no edge
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph(packages: Iterable[tuple[Path, Path]] = DEFAULT_PACKAGES) -> dict[str, set[str]]:
    modules = discover(packages)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0

    for start in sorted(graph):
        if start in index:
            continue
        # iterative DFS: (node, iterator over its successors)
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "packages", nargs="*", type=Path, help="package directories (source root: their parent)"
    )
    args = parser.parse_args(argv)
    packages = [(p.resolve(), p.resolve().parent) for p in args.packages] or list(DEFAULT_PACKAGES)
    graph = import_graph(packages)
    found = cycles(graph)
    for component in found:
        print("import cycle: " + " <-> ".join(component))
    print(f"{len(graph)} modules, {sum(len(e) for e in graph.values())} imports, {len(found)} import cycles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
