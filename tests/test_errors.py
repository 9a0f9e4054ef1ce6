"""Every error oservices raises on purpose is a documented class of one tree.

The tree is drawn twice, in the docstring of ``oservices_core._errors`` and in
docs/errors.md; both name every class, the page explains each, each class is
also the built-in exception it resembles, and no code raises the bare root.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import oservices_core
import oservices_plugins
from oservices_core import _errors
from oservices_core._errors import OservicesError, OservicesWarning

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "errors.md"
# A line of a tree: "OservicesError", "├── NotFoundError (also ...", "│   └── NotRunningError".
TREE_LINE = re.compile(r"^\s*(?:[│ ]*[├└]── )?(?P<name>[A-Z]\w*(?:Error|Warning))\b", re.MULTILINE)
BARE_ROOT = re.compile(r"raise\s+OservicesError\b")


def _classes(module_name: str) -> list[type[BaseException]]:
    module = importlib.import_module(module_name)
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, OservicesError | OservicesWarning)
        and value.__module__ == module_name
    ]


CORE = _classes(_errors.__name__)
PLUGINS = [
    cls
    for info in pkgutil.walk_packages(oservices_plugins.__path__, "oservices_plugins.")
    for cls in _classes(info.name)
]


def _page_tree() -> set[str]:
    text = PAGE.read_text(encoding="utf-8")
    block = text.split("```text\n", 1)[1].split("```", 1)[0]
    return set(TREE_LINE.findall(block))


def test_the_classes_are_found() -> None:
    names = {cls.__name__ for cls in CORE}
    assert {"OservicesError", "ConfigurationError", "NotRunningError", "PluginLoadWarning"} <= names
    assert "DjangoSetupError" in {cls.__name__ for cls in PLUGINS}


@pytest.mark.parametrize("cls", CORE, ids=lambda cls: cls.__name__)
def test_each_core_class_is_in_the_module_docstring_tree(cls: type[BaseException]) -> None:
    assert cls.__name__ in TREE_LINE.findall(_errors.__doc__ or "")


@pytest.mark.parametrize("cls", CORE + PLUGINS, ids=lambda cls: cls.__name__)
def test_each_class_is_in_the_page_tree_and_explained(cls: type[BaseException]) -> None:
    assert cls.__name__ in _page_tree()
    roots = {"OservicesError", "OservicesWarning"}
    if cls.__name__ not in roots:
        assert f"| `{cls.__name__}` |" in PAGE.read_text(encoding="utf-8"), "no row in the table"


def test_the_trees_name_no_class_that_does_not_exist() -> None:
    names = {cls.__name__ for cls in CORE + PLUGINS}
    assert _page_tree() <= names
    assert set(TREE_LINE.findall(_errors.__doc__ or "")) <= names


@pytest.mark.parametrize(
    "cls",
    [c for c in CORE + PLUGINS if issubclass(c, OservicesError) and c is not OservicesError],
    ids=lambda cls: cls.__name__,
)
def test_each_error_is_also_the_built_in_it_resembles(cls: type[BaseException]) -> None:
    built_in = [c for c in cls.__mro__ if c.__module__ == "builtins"]
    assert built_in[0] not in (Exception, BaseException), f"{cls.__name__} is only an Exception"
    assert cls.__doc__, f"{cls.__name__} has no docstring"


def test_no_code_raises_the_bare_root() -> None:
    packages = [Path(oservices_core.__file__).parent, Path(oservices_plugins.__file__).parent]
    found = [
        f"{path}:{number}"
        for package in packages
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if BARE_ROOT.search(line)
    ]
    assert found == []
