"""A third-party component, ``wf-api``, and hooks that configure it and build a file."""
