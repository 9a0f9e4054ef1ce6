"""Whether a component's Mock still offers its Client's public interface."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oservices_core._plugins.component import Component

__all__ = ["check_mocks"]


def check_mocks(component: Component) -> list[str]:
    """How ``component``'s Mock differs from its Client: one line per difference.

    Compared: the constructor and every public method (a name not starting
    with ``_``): its presence on both sides, its parameters (names, kinds,
    defaults, annotations) and its return annotation. Empty means they match.
    """
    client, mock = component.Client, component.Mock
    theirs, ours = _interface(client), _interface(mock)
    found = []
    for name in sorted(theirs.keys() | ours.keys()):
        if name not in ours:
            lacking = f"{name}{_shown(theirs[name])}"
            found.append(f"{component.name}: {mock.__name__} lacks {lacking}")
        elif name not in theirs:
            found.append(f"{component.name}: {mock.__name__}.{name} is not in {client.__name__}")
        else:
            found += _compare(component.name, name, theirs[name], ours[name])
    return found


def _interface(cls: type[Any]) -> dict[str, inspect.Signature]:
    members = {"__init__": cls.__init__}
    for name, member in inspect.getmembers(cls):
        if not name.startswith("_") and (callable(member) or isinstance(member, property)):
            members[name] = member.fget if isinstance(member, property) else member
    return {name: _signature(member) for name, member in members.items()}


def _signature(member: Any) -> inspect.Signature:
    try:
        return inspect.signature(member)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return inspect.Signature()


def _compare(
    component: str, name: str, client: inspect.Signature, mock: inspect.Signature
) -> list[str]:
    found = []
    if _parameters(client) != _parameters(mock):
        found.append(
            f"{component}: {name}: the Client takes {_shown(_bare(client))}, "
            f"the Mock takes {_shown(_bare(mock))}"
        )
    if _annotation(client.return_annotation) != _annotation(mock.return_annotation):
        found.append(
            f"{component}: {name}: the Client returns {_annotation(client.return_annotation)}, "
            f"the Mock returns {_annotation(mock.return_annotation)}"
        )
    return found


def _parameters(signature: inspect.Signature) -> list[tuple[str, Any, str, str]]:
    return [
        (p.name, p.kind, repr(p.default), _annotation(p.annotation))
        for p in signature.parameters.values()
    ]


def _bare(signature: inspect.Signature) -> inspect.Signature:
    return signature.replace(return_annotation=inspect.Signature.empty)


def _shown(signature: inspect.Signature) -> str:
    class _Written:  # an annotation shown as written, without the quotes of a string
        def __init__(self, text: str) -> None:
            self.text = text

        def __repr__(self) -> str:
            return self.text

    parameters = [
        p.replace(annotation=_Written(_annotation(p.annotation)))
        if p.annotation is not p.empty
        else p
        for p in signature.parameters.values()
    ]
    returns = signature.return_annotation
    shown = str(inspect.Signature(parameters))
    return shown if returns is signature.empty else f"{shown} -> {_annotation(returns)}"


def _annotation(annotation: Any) -> str:
    if annotation is inspect.Signature.empty:
        return "(none)"
    if isinstance(annotation, str):  # ``from __future__ import annotations``
        return annotation
    return inspect.formatannotation(annotation)
