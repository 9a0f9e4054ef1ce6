"""The generated command-line reference names every command the parser has.

``docs/_cli_reference.py`` renders the reference from ``oservices``'s own
argparse parser when the documentation is built; these tests keep it from
drifting: every command and subcommand, and every option, is in it.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

from oservices_core._cli.app import _parser

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "cli-reference.md"


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_cli_reference", ROOT / "docs" / "_cli_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("oservices",)
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _walk(sub, (*path, name))
    return found


def test_every_command_has_a_section() -> None:
    reference = _hook().render()
    headings = {line.lstrip("#").strip() for line in reference.splitlines() if line.startswith("#")}
    commands = {" ".join(path) for path, _ in _walk(_parser()[0])}
    assert commands == headings
    assert {
        "oservices check mocks",
        "oservices check neutral",
        "oservices config show",
        "oservices up",
        "oservices run",
    } <= headings


def test_every_option_and_usage_is_shown() -> None:
    reference = _hook().render()
    for path, parser in _walk(_parser()[0]):
        assert f"usage: {' '.join(path)}" in reference, path
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:  # internal: not for users
                continue
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in reference, (path, option)


def test_the_page_holds_the_marker() -> None:
    hook = _hook()
    text = PAGE.read_text(encoding="utf-8")
    assert hook.MARKER in text
    page = hook.on_page_markdown(text, None, None, None)
    assert hook.MARKER not in page
    assert "## oservices\n" in page
    assert hook.on_page_markdown("# other page\n", None, None, None) == "# other page\n"
