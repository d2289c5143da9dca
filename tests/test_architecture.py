"""The package's layering, checked from its source (issue 11): no module reaches into another
module's private names, and the imports between modules, lazy ones included, have no cycle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gdtrace"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, str, int]]:
    """(imported module, imported name or '', line) for every import in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found: list[tuple[str, str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("gdtrace"):
                    found.append((alias.name, "", node.lineno))
        elif isinstance(node, ast.ImportFrom):
            target = resolve(name, is_package, node)
            if not target.startswith("gdtrace"):
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if submodule in known:
                    found.append((submodule, "", node.lineno))
                else:
                    found.append((target, alias.name, node.lineno))
    return found


def owner(module: str, known: dict[str, Path]) -> str:
    """The nearest known module for an imported dotted name."""
    while module and module not in known:
        module = module.rpartition(".")[0]
    return module


def test_no_module_imports_a_private_name_of_another() -> None:
    known = modules()
    offences = []
    for name, path in known.items():
        for target, imported, line in imports_of(name, path, known):
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            if imported.startswith("_") and not imported.startswith("__"):
                offences.append(f"{where} imports {target}.{imported}")
            elif target.rpartition(".")[2].startswith("_") and not target.endswith("__"):
                if owner(target, known).rpartition(".")[0] != name.rpartition(".")[0]:
                    offences.append(f"{where} imports {target}")
        offences.extend(private_attributes(name, path, known))
    assert not offences, "\n".join(offences)


def private_attributes(name: str, path: Path, known: dict[str, Path]) -> list[str]:
    """`module._name` where `module` is another gdtrace module bound by an import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = resolve(name, is_package, node)
            for alias in node.names:
                if f"{target}.{alias.name}" in known:
                    bound[alias.asname or alias.name] = f"{target}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in known:
                    bound[alias.asname] = alias.name
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
            and bound[node.value.id] != name
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            where = path.relative_to(PACKAGE.parent)
            found.append(f"{where}:{node.lineno} uses {bound[node.value.id]}.{node.attr}")
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, _imported, _line in imports_of(name, path, known):
            module = owner(target, known)
            # a package's __init__ importing from its own modules, or a module importing its own
            # package's __init__ for a re-export, is how packages are assembled, not a layer cycle
            if module and module != name and not name.startswith(module + "."):
                graph[name].add(module)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                return stack[stack.index(child):] + [child]
            if child not in state:
                cycle = visit(child)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_imports_have_no_cycle_lazy_or_not() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def documented_files() -> set[str]:
    """The files named in docs/architecture.md's "Every file" table (``a.py``, ``b.py`` cells
    share their row's folder; ``check/…`` stands for a whole package)."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Every file", 1)[1].split("\n## ", 1)[0]
    named: set[str] = set()
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        cell = row.split("|")[1]
        folder = ""
        for name in re.findall(r"`([^`]+)`", cell):
            if "/" in name:
                folder = name.rsplit("/", 1)[0] + "/"
                named.add(name)
            else:
                named.add(folder + name)
    return named


def test_architecture_md_names_every_file() -> None:
    named = documented_files()
    packages = {name[: -len("/…")] for name in named if name.endswith("/…")}
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in named or relative.split("/")[0] in packages:
            continue
        missing.append(relative)
    assert not missing, f"docs/architecture.md's table lacks: {', '.join(missing)}"
    stale = [name for name in named - {p + "/…" for p in packages}
             if not (PACKAGE / name).exists()]
    assert not stale, f"docs/architecture.md names files that do not exist: {stale}"
