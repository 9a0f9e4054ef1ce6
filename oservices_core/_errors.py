"""Errors raised on purpose by oservices.

Every error the framework raises on purpose derives from :class:`OservicesError`;
each subclass also derives from the built-in exception it resembles, so callers
that already catch ``ValueError`` or ``OSError`` keep working::

    OservicesError
    ├── ConfigurationError (also ValueError)   one or more located problems
    ├── PluginLoadError (also ImportError)     plugins that failed to load, in strict mode
    └── StageError (also RuntimeError)         a hook failed: names stage, plugin and hook

    OservicesWarning (a UserWarning)
    └── PluginLoadWarning                      a plugin failed to load; the others go on

A :class:`Problem` is one located complaint: where (a file and line, or an
environment variable), which dotted key, what was expected, what was found and
how to fix it. Found values of secret fields are never kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from oservices_core._plugins.manager import PluginOutcome

__all__ = [
    "ConfigurationError",
    "OservicesError",
    "OservicesWarning",
    "PluginLoadError",
    "PluginLoadWarning",
    "Problem",
    "StageError",
]


class OservicesError(Exception):
    """Root of every error oservices raises on purpose."""


@final
@dataclass(frozen=True, slots=True)
class Problem:
    """One located complaint about an input.

    ``where`` is ``"path:line"``, ``"path"``, ``"environment variable NAME"`` or
    ``"override NAME"``; ``key`` is the dotted key in the configuration.
    """

    where: str
    key: str
    expected: str
    found: str
    hint: str = ""

    def __str__(self) -> str:
        key = f" {self.key}:" if self.key else ""
        text = f"{self.where}:{key} expected {self.expected}, found {self.found}"
        return f"{text}. {self.hint}" if self.hint else text


class ConfigurationError(OservicesError, ValueError):
    """Input that does not make a valid configuration or settings.

    Carries every problem found at once, so one run shows them all.
    """

    def __init__(self, problems: list[Problem] | Problem, *, subject: str = "") -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        self.subject = subject
        super().__init__(self._message())

    def _message(self) -> str:
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''}"
        head = f"{head} in {self.subject}" if self.subject else head
        return "\n".join([f"{head}:", *(f"  {problem}" for problem in self.problems)])


class PluginLoadError(OservicesError, ImportError):
    """Plugins failed to load while failures are fatal (``--strict``).

    Each failure names the entry point, its distribution and version, and why.
    """

    def __init__(self, failures: list[PluginOutcome]) -> None:
        self.failures = list(failures)
        lines = [f"  {failure}" for failure in self.failures]
        hint = "fix or uninstall them, or block them with OSERVICES_DISABLE_PLUGINS=name,..."
        super().__init__("\n".join([f"{len(lines)} plugin(s) failed to load:", *lines, hint]))


class StageError(OservicesError, RuntimeError):
    """A hook implementation raised: the stage stopped, and its writes were rolled back.

    The original exception is chained (``__cause__``), traceback included.
    """

    def __init__(
        self, stage: str, plugin: str, distribution: str, hook: str, error: BaseException
    ) -> None:
        self.stage = stage
        self.plugin = plugin
        self.distribution = distribution
        self.hook = hook
        super().__init__(
            f"stage {stage!r} failed in plugin {plugin!r} ({distribution}), hook {hook}: "
            f"{type(error).__name__}: {error}"
        )


class OservicesWarning(UserWarning):
    """Root of every warning oservices issues: something worth telling that does not stop it."""


class PluginLoadWarning(OservicesWarning):
    """A plugin failed to load and the others go on (without ``--strict``).

    Its text names the entry point, its distribution and version, and why;
    ``outcome`` is the :class:`~oservices_core.PluginOutcome`.
    """

    def __init__(self, outcome: PluginOutcome) -> None:
        self.outcome = outcome
        super().__init__(str(outcome))
