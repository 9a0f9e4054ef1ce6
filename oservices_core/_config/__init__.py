"""Configuration: models, TOML, settings, layered resolution and located problems."""
