"""The workflow: stages as data, their context, and what is up to date."""
