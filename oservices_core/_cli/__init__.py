"""The command line: parsers and the commands that format what the kernel returns.

Nothing below this wing imports it; it only formats what the kernel returns.
"""

from oservices_core._cli.app import main

__all__ = ["main"]
