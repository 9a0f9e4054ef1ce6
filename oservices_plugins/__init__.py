"""Built-in oservices plugins: each stage's behaviour, one module each.

They register through the same ``oservices`` entry-point group as third-party
plugins (the plugin and workflow issues bring them); importing this package
does nothing.
"""

__all__: list[str] = []
