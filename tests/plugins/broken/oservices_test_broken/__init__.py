"""An oservices plugin whose entry points fail: one at import, one at validation."""
