"""Plugins: the manager, hooks, registry, components, services and systems."""
