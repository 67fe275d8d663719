"""How the platform's packages depend on each other, read from the source: `kit` (the shared
plumbing) imports no other part of the platform, and the packages import each other without
cycles.

An import counts wherever it is written (module level or inside a function); one made only
for type checking (`if TYPE_CHECKING:`) does not, as it never runs. The top-level modules
(`runtime`, `app`, `cli`, `wiring`, `contributions`, `models`, `demo`) are the composition
root: they import every package by design and are not part of the graph.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import playerplatform

ROOT = Path(playerplatform.__file__).parent
PACKAGES = frozenset(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file())

# Still one knot, left to the identity work: the users and audit routers import the auth
# dependency (`auth.deps`), and `users.service` reads auth's cache of the user object and the
# identities it lists. No other package may join it, and no other cycle may appear.
KNOWN_CYCLE = frozenset({"auth", "users", "audit"})


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return "TYPE_CHECKING" in ast.unparse(test)


def _imports(nodes: Iterable[ast.AST], module: str, is_package: bool) -> Iterator[str]:
    """Every module the code in `nodes` (of `module`) imports at run time, by absolute name."""
    for node in nodes:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _imports(node.orelse, module, is_package)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        yield from _imports(ast.iter_child_nodes(node), module, is_package)


def platform_imports(root: Path = ROOT) -> dict[str, set[str]]:
    """Each platform module and the platform modules it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        names = _imports([tree], module, path.name == "__init__.py")
        found[module] = {n for n in names if n.startswith("playerplatform.")}
    return found


def package_of(module: str, packages: frozenset[str] = PACKAGES) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in packages else None


def package_graph(imports: dict[str, set[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, targets in imports.items():
        source = package_of(module)
        if source is None:
            continue
        graph.setdefault(source, set())
        for target in targets:
            other = package_of(target)
            if other is not None and other != source:
                graph[source].add(other)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected groups of two or more packages (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(frozenset(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_kit_imports_no_other_part_of_the_platform() -> None:
    outside = {
        f"{module} imports {target}"
        for module, targets in platform_imports().items()
        if package_of(module) == "kit"
        for target in targets
        if package_of(target) != "kit"
    }
    assert sorted(outside) == []


def test_packages_import_each_other_without_cycles() -> None:
    graph = package_graph(platform_imports())
    assert {"kit", "auth", "users", "jobs", "leaderboards", "messaging"} <= set(graph)
    assert [sorted(group) for group in cycles(graph) if group != KNOWN_CYCLE] == []


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]
    modules = {
        "playerplatform.kit.mail": {"playerplatform.jobs.service"},
        "playerplatform.jobs.service": {"playerplatform.kit.db", "playerplatform.runtime"},
    }
    assert package_graph(modules) == {"kit": {"jobs"}, "jobs": {"kit"}}
