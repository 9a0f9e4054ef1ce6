"""Every ```python block of the documentation and the README runs and passes.

Each block runs on its own: a fresh namespace, a temporary working directory, no
``OSERVICES_*`` variable from the machine, and a copy of the context, so settings
it activates end with it. When a block is followed by a line ``prints:`` and a
fenced block, what the code prints must be that block's text.
"""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>[^\n`]*)$")


@dataclass(frozen=True, slots=True)
class Fence:
    """One fenced block of a Markdown page."""

    line: int  # of the opening fence
    info: str
    body: str
    announced: bool  # whether the text just above it is the line "prints:"


@dataclass(frozen=True, slots=True)
class Block:
    """One ```python block: where it starts, its code and what it says it prints."""

    path: Path
    line: int
    code: str
    prints: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def fenced_blocks(path: Path) -> Iterator[Block]:
    """The ```python blocks of a Markdown file, with the output announced after each."""
    fences = list(_fences(path.read_text(encoding="utf-8").splitlines()))
    for index, fence in enumerate(fences):
        if fence.info == "python":
            following = fences[index + 1 : index + 2]
            prints = following[0].body if following and following[0].announced else None
            yield Block(path, fence.line, fence.body, prints)


def _fences(lines: list[str]) -> Iterator[Fence]:
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        line, body = index, []
        while index < len(lines) and not _closes(lines[index], opening):
            body.append(lines[index].removeprefix(opening["indent"]))
            index += 1
        index += 1
        text = "\n".join(body) + "\n"
        yield Fence(line, opening["info"].strip(), text, _announced(lines[: line - 1]))


def _announced(above: list[str]) -> bool:
    text = [line for line in above if line.strip()]
    return bool(text) and text[-1].strip() == "prints:"


def _closes(line: str, opening: re.Match[str]) -> bool:
    fence = opening["fence"]
    stripped = line.strip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


BLOCKS = [block for path in SOURCES if path.exists() for block in fenced_blocks(path)]


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary working directory and an environment free of OSERVICES_* variables."""
    for name in list(os.environ):
        if name.upper().startswith("OSERVICES_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    saved = dict(os.environ)
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
@pytest.mark.usefixtures("sandbox")
def test_python_block_runs(block: Block, capsys: pytest.CaptureFixture[str]) -> None:
    code = compile(block.code, f"{block.path}:{block.line}", "exec", dont_inherit=True)
    namespace = {"__name__": "__main__"}
    contextvars.copy_context().run(exec, code, namespace)
    if block.prints is not None:
        assert capsys.readouterr().out.rstrip("\n") == block.prints.rstrip("\n")


def test_documentation_has_python_blocks() -> None:
    assert len(BLOCKS) >= 10, "the documentation shows its examples in ```python blocks"


def test_fenced_blocks_finds_python_blocks_only(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n```python\nx = 1\n```\n\n```toml\nx = 1\n```\n\n"
        "```console\n$ oservices\n```\n\n````python\ny = '```'\n````\n",
        encoding="utf-8",
    )
    found = [(block.line, block.code, block.prints) for block in fenced_blocks(page)]
    assert found == [(3, "x = 1\n", None), (15, "y = '```'\n", None)]


def test_fenced_blocks_pairs_output_announced_by_prints(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nprint(1)\n```\n\nprints:\n\n```text\n1\n```\n\n"
        "```python\nx = 2\n```\n\n```text\nnot output\n```\n",
        encoding="utf-8",
    )
    found = [(block.line, block.prints) for block in fenced_blocks(page)]
    assert found == [(1, "1\n"), (11, None)]
