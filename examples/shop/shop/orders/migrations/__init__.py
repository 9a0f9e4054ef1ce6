"""Migrations of the shop's application; the initialize stage (``oservices init``) applies them."""
