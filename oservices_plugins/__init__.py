"""Built-in oservices plugins: each stage's behaviour, one module each.

They register through the same ``oservices`` entry-point group as third-party
plugins (the plugin and workflow issues bring them); importing this package
does nothing. Each plugin's public names live in its own module, the key a
component declares the plugin's data under included (``files.FILES``,
``django.DJANGO_APPS``).
"""

__all__: list[str] = []
