"""A well-behaved oservices plugin: a service, hooks and a command."""
