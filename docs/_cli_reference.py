"""MkDocs hook: write the command-line reference from the ``oservices`` argparse parser.

The page that holds the marker gets one section per command and subcommand,
in the parser's order, each with its usage, its help and a table of its
arguments. The parser is the one ``oservices`` itself builds
(``oservices_core._cli.app._parser()``), so the reference cannot drift from it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

MARKER = "<!-- cli-reference -->"
WIDTH = 88  # usage lines are wrapped at this width, whatever the terminal's


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the marker with the reference of every command."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())


def render() -> str:
    """The reference of the ``oservices`` command line, as Markdown."""
    from oservices_core._cli.app import _parser

    parser, _ = _parser()
    return "\n".join(_section(path, sub, text) for path, sub, text in commands(parser))


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("oservices",), text: str = ""
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """``(words, parser, help)`` of the command line itself and every command under it."""
    yield path, parser, text or (parser.description or "")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name), helps.get(name, ""))


def _section(path: tuple[str, ...], parser: argparse.ArgumentParser, text: str) -> str:
    level = "#" * min(len(path) + 1, 4)
    lines = [f"{level} {' '.join(path)}", ""]
    if text:
        lines += [_sentence(text), ""]
    lines += ["```text", _usage(parser).rstrip(), "```", ""]
    arguments = [_row(action) for action in parser._actions if _shown(action)]
    if arguments:
        lines += ["| argument | meaning |", "|---|---|", *arguments, ""]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            title = action.metavar.lower() if isinstance(action.metavar, str) else "command"
            lines += [f"| {title} | what it does |", "|---|---|"]
            for choice in action._choices_actions:
                anchor = "-".join((*path, choice.dest))
                lines.append(f"| [`{choice.dest}`](#{anchor}) | {_cell(choice.help or '')} |")
            lines.append("")
    return "\n".join(lines)


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help()


def _shown(action: argparse.Action) -> bool:
    if isinstance(action, argparse._SubParsersAction):
        return False  # listed in a table of its own
    return action.help != argparse.SUPPRESS and action.dest != "help"


def _row(action: argparse.Action) -> str:
    if action.option_strings:
        metavar = _metavar(action)
        names = ", ".join(
            f"`{option}{' ' + metavar if metavar else ''}`" for option in action.option_strings
        )
    else:
        names = f"`{_metavar(action)}`"
    meaning = [action.help or ""]
    if action.nargs in ("*", "?"):
        meaning.append("optional")
    if action.nargs == "*":
        meaning.append("any number")
    if action.option_strings and action.required:
        meaning.append("required")
    if isinstance(action, argparse._AppendAction) and "repeatable" not in (action.help or ""):
        meaning.append("repeatable")
    if _default_shown(action):
        meaning.append(f"default: `{action.default}`")
    return f"| {names} | {_cell('; '.join(part for part in meaning if part)) or '-'} |"


def _default_shown(action: argparse.Action) -> bool:
    default = action.default
    if not action.option_strings or action.nargs == 0 or default in (None, [], False):
        return False
    # A negative number is a sentinel ("-n -1": every line), not a value to show.
    return not (isinstance(default, int | float) and default < 0)


def _metavar(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if isinstance(action.metavar, str):
        return action.metavar
    return action.dest.upper() if action.option_strings else action.dest


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
