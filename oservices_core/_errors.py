"""Errors raised on purpose by oservices.

Every error the framework raises on purpose derives from :class:`OservicesError`;
each subclass also derives from the built-in exception it resembles, so callers
that already catch ``ValueError`` or ``OSError`` keep working::

    OservicesError
    ├── ConfigurationError (also ValueError)     one or more located problems
    ├── NotFoundError (also LookupError)         asked for what is not declared or not there
    ├── ImportTargetError (also ImportError)     a "module:attribute" names nothing callable
    ├── PluginLoadError (also ImportError)       plugins that failed to load, in strict mode
    ├── StageError (also RuntimeError)           a hook failed: names stage, plugin and hook
    ├── AdministratorError (also RuntimeError)   the pool cannot start, or its components fail
    └── ControlError (also ConnectionError)      a running Administrator refused a request
        └── NotRunningError                      no Administrator answers

    OservicesWarning (a UserWarning)
    └── PluginLoadWarning                        a plugin failed to load; the others go on

A plugin's own errors derive from :class:`OservicesError` the same way (the
Django plugin's ``DjangoSetupError``); docs/errors.md lists them all.

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
    "AdministratorError",
    "ConfigurationError",
    "ControlError",
    "ImportTargetError",
    "NotFoundError",
    "NotRunningError",
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

    Carries every problem found at once, so one run shows them all; fix each
    where it says (a file and line, a variable, an argument), as its hint tells.
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


class NotFoundError(OservicesError, LookupError):
    """Asked for something that is not there.

    Raised for what a component does not declare (``CONFIGURATION``, ``Client``,
    ``Mock``, ``load_main()`` of a component without ``configuration``, ``client``,
    ``mock`` or ``main``), for a component the Administrator does not run
    (``stop``, ``restart``...), and by ``oservices logs`` for a component that
    has recorded no output. Fix: declare it on the :class:`Component`, or name a
    component that exists (``oservices status`` lists them).
    """


class ImportTargetError(OservicesError, ImportError):
    """A ``"module:attribute"`` string names nothing that can be called.

    Raised when a component's ``main`` given as a string, or a plugin command
    (entry point group ``oservices.commands``), cannot be imported or is not
    callable. The import error is chained. Fix the string, or install what the
    module needs.
    """


class PluginLoadError(OservicesError, ImportError):
    """Plugins failed to load while failures are fatal (``--strict``).

    Each failure names the entry point, its distribution and version, and why;
    fix or uninstall them, or block them with ``OSERVICES_DISABLE_PLUGINS``.
    """

    def __init__(self, failures: list[PluginOutcome]) -> None:
        self.failures = list(failures)
        lines = [f"  {failure}" for failure in self.failures]
        hint = "fix or uninstall them, or block them with OSERVICES_DISABLE_PLUGINS=name,..."
        super().__init__("\n".join([f"{len(lines)} plugin(s) failed to load:", *lines, hint]))


class StageError(OservicesError, RuntimeError):
    """A hook implementation raised: the stage stopped, and its writes were rolled back.

    The original exception is chained (``__cause__``), traceback included. Fix
    what it says in the plugin named, or block that plugin with
    ``OSERVICES_DISABLE_PLUGINS=name``.
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


class AdministratorError(OservicesError, RuntimeError):
    """The Administrator cannot start its pool, or the components did not come up.

    Raised when its template process cannot load the plugins or dies, when
    another Administrator holds the run directory, when ``wait_ready`` sees a
    component EXITED or FATAL or runs out of time, and by ``oservices up -d``
    when the Administrator it started exits. Fix: read the reason (and the
    component's log, ``oservices logs NAME``), or stop the other Administrator.
    """


class ControlError(OservicesError, ConnectionError):
    """A request on the control socket of a running Administrator failed.

    Raised by ``oservices status/stop/start/restart/reload`` (and
    ``request()``) when the Administrator refuses the request; its reason is
    in the message (an unknown component, a reload refused...). Fix the request.
    Also raised when it does not answer in time (stopped by SIGSTOP, stuck,
    overloaded), exits before answering, or when something other than a socket
    is at its socket's path; the message names the pid or the path, and what to do.
    """


class NotRunningError(ControlError):
    """No Administrator answers on the control socket of this run directory.

    Fix: start one with ``oservices up``, or use the settings (``RUN_DIR``) of
    the one that runs. A system that another engine runs (supervisord,
    systemd...) has no Administrator: that engine's commands manage it.
    ``oservices stop`` takes this as nothing to stop (exit 0).
    """


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
