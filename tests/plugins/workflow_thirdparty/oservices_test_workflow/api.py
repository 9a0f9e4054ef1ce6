"""The ``wf-api`` component: a port, a greeting and a secret token, all with defaults;
and a motto for the plugin's hooks, in its extension slot."""

from __future__ import annotations

from pydantic import Field, SecretStr

from oservices_core import Component, Configuration
from oservices_test_workflow.hooks import MOTTO

# The tests check that this never shows: not in a built file, a diff or any output.
DEFAULT_TOKEN = "wf-default-token-0451"  # noqa: S105 - a test value, never to be shown
WF_MOTTO = "declared in the extension slot"


class WfApiConfiguration(Configuration):
    """The wf-api component."""

    port: int = Field(8000, description="Port wf-api listens on.")
    greeting: str = Field("hello", description="What wf-api says first.")
    token: SecretStr = Field(SecretStr(DEFAULT_TOKEN), description="Token clients present.")


component = Component(
    name="wf-api",
    configuration=WfApiConfiguration,
    description="A third-party API component.",
    extensions={MOTTO: WF_MOTTO},  # the wf-hooks plugin's own declaration
)
