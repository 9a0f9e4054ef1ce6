"""Meta-tests: every hook is documented, in the reference and in its docstring, and tested."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from oservices_core import hookspecs

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(name for name in vars(hookspecs) if name.startswith("oservices_"))


def _reference() -> str:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_hookspecs", ROOT / "docs" / "_hookspecs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (ROOT / "docs" / "hooks.md").read_text()
    rendered: str = module.on_page_markdown(text, None, None, None)
    return rendered


@pytest.mark.parametrize("name", SPECS)
def test_docstring_names_every_argument(name: str) -> None:
    function = getattr(hookspecs, name)
    doc = inspect.getdoc(function) or ""
    assert "Called " in doc, f"{name} does not say when it is called"
    for parameter in inspect.signature(function).parameters:
        assert f":param {parameter}:" in doc, f"{name} does not document {parameter}"


@pytest.mark.parametrize("name", SPECS)
def test_in_the_reference(name: str) -> None:
    assert f"## `{name}`" in _reference()


@pytest.mark.parametrize(
    "name",
    SPECS,
)
def test_exercised_by_a_test(name: str) -> None:
    implemented = re.compile(rf"def {name}\(")
    # Hooks are implemented by test modules and by the plugins the tests install.
    tests = [p for p in (ROOT / "tests").rglob("*.py") if p.name != "test_hookspecs.py"]
    assert any(implemented.search(p.read_text()) for p in tests), f"no test implements {name}"


def test_every_hook_is_in_the_typed_facade() -> None:
    from oservices_core._plugins.hooks import Hooks

    facade = {f"oservices_{name}" for name in vars(Hooks) if not name.startswith("_")}
    assert facade == set(SPECS)
