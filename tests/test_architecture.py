"""The kernel's architecture (docs/architecture.md): no import loop, the layers, the module map.

The import graph is grimp's, the engine of import-linter, and holds what runs:
imports under ``if TYPE_CHECKING:`` are left out, imports inside functions
count. CI's ``lint`` session runs ``lint-imports`` on every contract of
``[tool.importlinter]`` in pyproject.toml; the layers contract is checked here
too, read from the same table, so that a plain pytest run catches an import
that goes up.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import grimp
import pytest

import oservices_core

ROOT = Path(__file__).resolve().parent.parent
KERNEL = ROOT / "oservices_core"
PAGE = ROOT / "docs" / "architecture.md"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
IMPORTLINTER: dict[str, Any] = PYPROJECT["tool"]["importlinter"]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    """The kernel's import graph: what runs, so annotation-only imports are left out."""
    # No cache: a cache directory would be written into the clone at every run.
    return grimp.build_graph("oservices_core", exclude_type_checking_imports=True, cache_dir=None)


def loops(imports: Mapping[str, Collection[str]]) -> list[list[str]]:
    """The import loops of a graph: its strongly connected components (Tarjan's
    algorithm) of more than one module, or of one module that imports itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(imports.get(module, ())):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            start = stack.index(module)
            component = stack[start:]
            del stack[start:]
            if len(component) > 1 or module in imports.get(module, ()):
                found.append(sorted(component))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return sorted(found)


def _direct_imports(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    return {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}


def _shown_loop(graph: grimp.ImportGraph, loop: list[str]) -> str:
    lines = [" <-> ".join(loop)]
    for importer in loop:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & set(loop)):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                lines.append(f"  {importer}:{detail['line_number']}: {detail['line_contents']}")
    return "\n".join(lines)


def test_loops_finds_strongly_connected_modules() -> None:
    imports = {
        "p": {"p.a"},  # a package's __init__ importing its own submodule counts
        "p.a": {"p.b"},
        "p.b": {"p", "q"},
        "p.c": {"p.a"},
        "q": set(),
        "r": {"r"},
    }
    assert loops(imports) == [["p", "p.a", "p.b"], ["r"]]
    assert loops({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_kernel_has_no_import_loop(graph: grimp.ImportGraph) -> None:
    found = loops(_direct_imports(graph))
    assert not found, "import loops:\n" + "\n".join(_shown_loop(graph, loop) for loop in found)


def _layers_contract() -> dict[str, Any]:
    contracts: list[dict[str, Any]] = IMPORTLINTER["contracts"]
    (contract,) = [c for c in contracts if c["type"] == "layers"]
    return contract


def test_the_layers_hold(graph: grimp.ImportGraph) -> None:
    # import-linter builds its graph the same way (annotation-only imports left out).
    assert IMPORTLINTER["exclude_type_checking_imports"] is True
    layers: list[str] = _layers_contract()["layers"]
    illegal = graph.find_illegal_dependencies_for_layers(layers=layers)
    shown = [
        f"{dependency.imported} is imported by {dependency.importer}: "
        + "; ".join(
            " -> ".join([",".join(sorted(r.heads)), *r.middle, ",".join(sorted(r.tails))])
            for r in sorted(dependency.routes)
        )
        for dependency in sorted(illegal)
    ]
    assert not shown, "\n".join(shown)


def _wings() -> list[str]:
    return sorted(p.parent.name for p in KERNEL.glob("*/__init__.py"))


def test_every_wing_is_a_layer() -> None:
    layers = _layers_contract()["layers"]
    assert sorted(layers) == [f"oservices_core.{wing}" for wing in _wings()]


def test_nothing_below_the_command_line_imports_it(graph: grimp.ImportGraph) -> None:
    cli = {m for m in graph.modules if m.split(".")[:2] == ["oservices_core", "_cli"]}
    importers = {i for m in cli for i in graph.find_modules_that_directly_import(m)} - cli
    assert importers == {"oservices_core.__main__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_graph_is_of_these_files(graph: grimp.ImportGraph) -> None:
    assert Path(oservices_core.__file__).resolve() == KERNEL / "__init__.py"
    assert graph.modules == {_module_name(p) for p in KERNEL.rglob("*.py")}


def module_map(text: str) -> dict[str, list[str]]:
    """The folders the page's module map names (``oservices_core/_config/``), each with
    the modules its table lists."""
    section = text.split("\n## Module map\n", 1)[1].split("\n## ", 1)[0]
    found: dict[str, list[str]] = {}
    folder: str | None = None
    for line in section.splitlines():
        heading = re.match(r"### `(oservices_core/(?:\w+/)*)`", line)
        if heading is not None:
            folder = heading[1]
            assert folder not in found, f"{folder} is mapped twice"
            found[folder] = []
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        module = re.fullmatch(r"`(\w+\.py)`", cells[0])
        if module is not None and folder is not None:
            assert len(cells) == 2, f"{folder}{module[1]}: a module and its role, nothing else"
            assert cells[1], f"{folder}{module[1]} needs its one-line role"
            found[folder].append(module[1])
    return found


def test_module_map_finds_headings_and_rows() -> None:
    text = (
        "# Page\n\n## Module map\n\nIntro.\n\n### `oservices_core/_x/`: x\n\n"
        "| module | role |\n|---|---|\n| `__init__.py` | the wing |\n| `a.py` | does a |\n\n"
        "### `oservices_core/`: top\n\n| module | role |\n|---|---|\n| `b.py` | does b |\n\n"
        "## Next\n\n### `oservices_core/_y/`\n\n| `c.py` | not in the map |\n"
    )
    assert module_map(text) == {
        "oservices_core/_x/": ["__init__.py", "a.py"],
        "oservices_core/": ["b.py"],
    }


def test_the_module_map_names_exactly_the_modules_of_each_folder() -> None:
    mapped = {
        folder: sorted(modules) for folder, modules in module_map(PAGE.read_text("utf-8")).items()
    }
    present = {
        package.parent.relative_to(ROOT).as_posix() + "/": sorted(
            p.name for p in package.parent.glob("*.py")
        )
        for package in KERNEL.rglob("__init__.py")
    }
    drift = [
        f"{folder}: not mapped {sorted(set(files) - set(listed))}, "
        f"not present {sorted(set(listed) - set(files))}"
        for folder in sorted(mapped.keys() | present.keys())
        if (listed := mapped.get(folder, [])) != (files := present.get(folder, []))
    ]
    assert mapped == present, "docs/architecture.md's module map drifted:\n" + "\n".join(drift)


def test_the_page_draws_the_layers_in_the_contracts_order() -> None:
    section = PAGE.read_text("utf-8").split("\n## What may import what\n", 1)[1]
    drawing = section.split("```text\n", 1)[1].split("```", 1)[0]
    drawn = [line.split()[0] for line in drawing.splitlines() if line.startswith("_")]
    layers: list[str] = _layers_contract()["layers"]
    assert drawn == [layer.removeprefix("oservices_core.") for layer in layers]
