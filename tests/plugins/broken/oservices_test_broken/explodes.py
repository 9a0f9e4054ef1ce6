"""A component module whose import fails, as when a dependency is missing."""

raise ImportError("oservices-test-broken needs the missing module frobnicate")
