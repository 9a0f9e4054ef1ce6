"""What a release ships agrees with what it declares: license, Pythons, changelog, lint pins.

The distributions themselves (sdist and wheel contents, an install in a fresh venv)
are built and checked by ``nox -s build``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from oservices_core import __version__

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
KEEP_A_CHANGELOG_KINDS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def classifier_pythons(pyproject: dict[str, Any] = PYPROJECT) -> list[tuple[int, int]]:
    prefix = "Programming Language :: Python :: "
    versions = [
        c.removeprefix(prefix)
        for c in pyproject["project"]["classifiers"]
        if c.startswith(prefix) and re.fullmatch(r"3\.\d+", c.removeprefix(prefix))
    ]
    return sorted((3, int(version.split(".")[1])) for version in versions)


def test_the_license_file_is_the_declared_license() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def test_the_classifiers_name_every_python_from_requires_python_on() -> None:
    pythons = classifier_pythons()
    oldest, newest = pythons[0], pythons[-1]
    assert pythons == [(3, minor) for minor in range(oldest[1], newest[1] + 1)]  # no gap
    requires = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert f"{oldest[0]}.{oldest[1]}" in requires
    assert f"{oldest[0]}.{oldest[1] - 1}" not in requires  # the oldest named is the oldest allowed
    assert newest >= (3, 13)


def test_the_demo_shop_names_the_same_pythons() -> None:
    demo = tomllib.loads((ROOT / "examples/shop/pyproject.toml").read_text(encoding="utf-8"))
    assert classifier_pythons(demo) == classifier_pythons()
    assert demo["project"]["requires-python"] == PYPROJECT["project"]["requires-python"]


def test_pre_commit_runs_the_lint_group_at_its_pinned_versions() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooked = {
        dependency
        for repo in config["repos"]
        for hook in repo["hooks"]
        for dependency in hook.get("additional_dependencies", [])
    }
    lint = set(PYPROJECT["dependency-groups"]["lint"])
    assert hooked == lint
    for requirement in map(Requirement, lint):  # pinned: one version, the same for both
        (specifier,) = requirement.specifier
        assert specifier.operator == "=="


def test_the_changelog_keeps_a_changelog_and_starts_at_this_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "[Keep a Changelog](https://keepachangelog.com/" in text
    releases = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert releases, "no release heading"
    for heading in releases:
        assert re.fullmatch(r"\[Unreleased\]|\[\d+\.\d+\.\d+\S*\] - \d{4}-\d{2}-\d{2}", heading)
    # The newest entry is either still unreleased or this version's release.
    assert releases[0] == "[Unreleased]" or releases[0].startswith(f"[{__version__}] - ")
    kinds = set(re.findall(r"^### (.+)$", text, flags=re.MULTILINE))
    assert kinds <= KEEP_A_CHANGELOG_KINDS
