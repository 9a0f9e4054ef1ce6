"""The version, kept apart so that ``oservices --version`` imports nothing else."""

__version__ = "0.1.0"
