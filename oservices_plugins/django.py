"""Built-in ``django`` plugin: Django for the components that declare Django applications.

A component lists the Django applications it runs under this plugin's key,
:data:`DJANGO_APPS`, in its extension slot::

    from oservices_plugins.django import DJANGO_APPS

    api = Component(name="shop-api", extensions={DJANGO_APPS: ("shop.app",)})

It contributes the package configuration ``django`` (:class:`DjangoConfiguration`)
and acts only when a component of the system lists Django applications; without
one it does nothing, whether Django is installed or not::

    setup   django.conf.settings.configure(...), then django.setup(): once per process
    init    migrate the configured database (an SQLite file's directory is created first)
    build   CONFIG_DIR/django/settings.py and CONFIG_DIR/django/manage.py

``INSTALLED_APPS`` is ``django.contrib.contenttypes``, ``django.contrib.auth``,
then every component's applications in the system's order, each once. Setup
leaves the process's logging alone (``LOGGING_CONFIG = None``: the logging setup
of oservices owns it); the built ``settings.py`` keeps Django's default logging.
``extra_settings`` is merged last and may override any of this.

Database URLs (a relative SQLite path is relative to HOME)::

    sqlite:///data/django.sqlite3      sqlite:////var/lib/shop/db.sqlite3      sqlite:///:memory:
    postgresql://USER:PASSWORD@HOST:PORT/NAME?sslmode=require     (also postgres://)

PostgreSQL needs a driver: install ``oservices[postgres]`` (psycopg).

The URL is a secret (it may hold a password): masked wherever oservices shows
it, and errors show it with its password masked. ``settings.py`` holds no
secret: ``SECRET_KEY``, ``DATABASES`` and every setting whose name Django itself
hides (KEY, SECRET, PASS, TOKEN, API, AUTH or SIGNATURE) are read when it is
imported, by :func:`secret_settings`, from the configuration ``django`` as it
resolves there and then (its file, written 0600 when it holds a secret, and the
``OSERVICES_DJANGO__*`` variables). ``DJANGO_SECRET_KEY``, when set where it
runs, wins for the secret key (and is required when it was set at build).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import os
import pprint
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import Field, SecretStr, StringConstraints

from oservices_core import (
    Configuration,
    ConfigurationError,
    Context,
    FromSettings,
    OservicesError,
    Problem,
    StashKey,
    hookimpl,
)

if TYPE_CHECKING:
    from oservices_core import Component, System

__all__ = [
    "DEVELOPMENT_SECRET_KEY",
    "DJANGO_APPS",
    "NAME",
    "DjangoConfiguration",
    "DjangoSetupError",
    "django_settings",
    "oservices_build",
    "oservices_configurations",
    "oservices_initialize",
    "oservices_setup",
    "parse_database_url",
    "secret_settings",
]

NAME = "django"
DJANGO_APPS = StashKey[tuple[str, ...]]()
"""A component's Django applications: ``Component(extensions={DJANGO_APPS: (...)})``."""
# Public on purpose: the key is a known one, refused in 'prod'.
DEVELOPMENT_SECRET_KEY = "django-insecure-oservices-development-key-never-use-it-in-production"  # noqa: S105
SECRET_ENV = "DJANGO_SECRET_KEY"  # noqa: S105 - the name of a variable, not a secret
_CORE_APPS = ("django.contrib.contenttypes", "django.contrib.auth")
_DIGEST = "OSERVICES_SETTINGS_DIGEST"  # marks settings this plugin configured
_MASK = "**********"
_NOT_PRIVATE = 0o077  # group and other permission bits
_POSTGRESQL = "postgresql://USER:PASSWORD@HOST:PORT/NAME"
_URLS = f"sqlite:///PATH or {_POSTGRESQL}"
# Names whose values Django's error reports hide (SafeExceptionReporterFilter).
_SENSITIVE = re.compile("API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE", re.IGNORECASE)
_SettingName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$")]


class DjangoSetupError(OservicesError, RuntimeError):
    """Django cannot be set up in this process as this system wants it.

    Raised by the setup and build hooks (so it reaches you inside a
    ``StageError``) and by :func:`django_settings`: when Django is not
    installed, when this process's Django settings were configured elsewhere or
    with other values (Django is set up once per process), or when the
    configuration ``django`` of the run is not a :class:`DjangoConfiguration`.
    Fix: install ``oservices[django]``; run the setup in a fresh process; let no
    other plugin register a configuration named ``django``.
    """


class DjangoConfiguration(Configuration):
    """Django settings for the components that run Django applications."""

    database_url: Annotated[
        SecretStr, FromSettings(lambda s: f"sqlite:///{s.data_dir / 'django.sqlite3'}")
    ] = Field(
        SecretStr("sqlite:///data/django.sqlite3"),
        description=f"The database, as a URL: {_URLS}. Default: DATA_DIR/django.sqlite3. "
        "Secret, as it may hold a password.",
    )
    secret_key: SecretStr = Field(
        SecretStr(DEVELOPMENT_SECRET_KEY),
        description="Django's SECRET_KEY. The default is for development: refused in 'prod'.",
    )
    debug: Annotated[bool, FromSettings(lambda s: s.environment == "dev")] = Field(
        False, description="Django's DEBUG. Default: on in the 'dev' environment only."
    )
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Django's ALLOWED_HOSTS: host names served."
    )
    time_zone: str = Field("UTC", description="Django's TIME_ZONE (USE_TZ is always on).")
    root_urlconf: str | None = Field(
        None, description="Django's ROOT_URLCONF: the module of the URL patterns, if any."
    )
    extra_settings: dict[_SettingName, Any] = Field(
        default_factory=dict,
        description="More Django settings, by their upper-case names; merged last.",
    )

    @classmethod
    def read_by(cls, component: Component) -> bool:
        """Whether ``component``'s process reads this configuration: it declares Django
        applications. The container exports mount it, and check its database, only there."""
        return bool(_declared_apps(component))


# Hooks --------------------------------------------------------------------------------


@hookimpl(trylast=True)
def oservices_configurations() -> Mapping[str, type[Configuration]]:
    """The package configuration ``django``."""
    return {NAME: DjangoConfiguration}


@hookimpl(trylast=True)
def oservices_setup(context: Context) -> None:
    """Configure Django's settings and set Django up, if a component runs Django."""
    if not _apps(context.system):
        return
    django = _import_django(context.system)
    _configure({"LOGGING_CONFIG": None} | django_settings(context))
    django.setup()


@hookimpl(trylast=True)
def oservices_initialize(context: Context) -> None:
    """Migrate the database; a second run applies nothing. A dry run lists what would apply."""
    if not _apps(context.system):
        return
    from django.core.management import call_command
    from django.db import DEFAULT_DB_ALIAS, connections

    connection = connections[DEFAULT_DB_ALIAS]
    if context.dry_run:
        pending = _pending(connection)
        listed = ", ".join(f"{app}.{name}" for app, name in pending) or "nothing"
        context.out.write(f"django: migrate would apply {listed}\n")
        return
    for alias in connections:
        _sqlite_directory(connections[alias].settings_dict)
    call_command("migrate", database=DEFAULT_DB_ALIAS, interactive=False, verbosity=0)


@hookimpl(trylast=True)
def oservices_build(context: Context) -> None:
    """Write ``django/settings.py`` and ``django/manage.py``, if a component runs Django."""
    if not _apps(context.system):
        return
    values = django_settings(context)
    _check_literals(context, values)
    here = _Here(
        str(context.settings.home), context.settings.system_path(), SECRET_ENV in os.environ
    )
    secret = _secret_names(values)
    text = _settings_module(context.system.name, values, here, secret)
    # Private if it ever held what Django itself would hide (it does not: read at run time).
    private = text != _settings_module(context.system.name, _masked(values), here, secret)
    context.write_file("django/settings.py", text, mode=0o600 if private else 0o644)
    context.write_file("django/manage.py", _MANAGE.format(system=context.system.name), mode=0o755)


# Settings -----------------------------------------------------------------------------


def django_settings(context: Context) -> dict[str, Any]:
    """The Django settings of the run's system, from its ``django`` configuration.

    :raises ConfigurationError: a database URL that is not understood, or the
        development secret key in the ``prod`` environment; located, no secret shown.
    :raises DjangoSetupError: the run's configuration ``django`` is not a
        :class:`DjangoConfiguration` (the configure stage did not run).
    """
    configuration = _configuration(context)
    _check_secret_key(context, configuration)
    database = parse_database_url(
        configuration.database_url.get_secret_value(),
        home=context.settings.home,
        where=_where(context, "database_url"),
    )
    values: dict[str, Any] = {
        "INSTALLED_APPS": list(dict.fromkeys((*_CORE_APPS, *_apps(context.system)))),
        "DATABASES": {"default": database},
        "SECRET_KEY": configuration.secret_key.get_secret_value(),
        "DEBUG": configuration.debug,
        "ALLOWED_HOSTS": list(configuration.allowed_hosts),
        "TIME_ZONE": configuration.time_zone,
        "USE_TZ": True,
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
    }
    if configuration.root_urlconf is not None:
        values["ROOT_URLCONF"] = configuration.root_urlconf
    return values | configuration.extra_settings


def parse_database_url(url: str, *, home: Path, where: str = "database_url") -> dict[str, Any]:
    """Django's settings of one database from ``sqlite:///`` or ``postgresql://`` URL.

    A relative SQLite path is taken relative to ``home``. ``where`` locates the
    URL in errors, which show it with its password masked.

    :raises ConfigurationError: another scheme, or a URL missing a part.
    """
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        return _sqlite(url, home, where)
    if scheme in ("postgresql", "postgres"):
        return _postgresql(url, where)
    raise _url_error(where, url, f"a URL {_URLS}", "use SQLite or PostgreSQL")


def _sqlite(url: str, home: Path, where: str) -> dict[str, Any]:
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix) or len(url) == len(prefix):
        raise _url_error(where, url, "an SQLite URL sqlite:///PATH (four slashes if absolute)")
    path = url[len(prefix) :]
    name = path if path == ":memory:" else str(home / path)  # an absolute path stays absolute
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}


def _postgresql(url: str, where: str) -> dict[str, Any]:
    try:
        parts = urlsplit(url)
    except ValueError:
        raise _url_error(where, url, f"a well-formed PostgreSQL URL {_POSTGRESQL}") from None
    try:
        port = parts.port
    except ValueError:
        raise _url_error(where, url, "a PostgreSQL URL with a numeric port") from None
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise _url_error(where, url, "a PostgreSQL URL naming the database after its host")
    database: dict[str, Any] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": unquote(parts.hostname or ""),
        "PORT": "" if port is None else str(port),
    }
    options = dict(parse_qsl(parts.query))
    if options:
        database["OPTIONS"] = options
    return database


def _url_error(where: str, url: str, expected: str, hint: str = "") -> ConfigurationError:
    problem = Problem(where, "database_url", expected, _masked_url(url), hint=hint)
    return ConfigurationError(problem, subject=f"configuration {NAME!r}")


def _masked_url(url: str) -> str:
    """``url`` as it may be shown: its password, if any, masked."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "a URL that cannot be parsed (not shown: it may hold a password)"
    if password is None:
        return repr(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return repr(parts._replace(netloc=f"{user}:{_MASK}@{host}").geturl())


def _check_secret_key(context: Context, configuration: DjangoConfiguration) -> None:
    if context.settings.environment != "prod":
        return
    if configuration.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY:
        problem = Problem(
            _where(context, "secret_key"),
            "secret_key",
            "a secret key of this installation's own in the 'prod' environment",
            "the development default",
            hint="set OSERVICES_DJANGO__SECRET_KEY, for example to the output of "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'",
        )
        raise ConfigurationError(problem, subject=f"configuration {NAME!r}")


def _where(context: Context, field: str, *inside: str) -> str:
    """Where ``field`` (or a key ``inside`` it) was set: a file and line, a variable, a default."""
    resolved = context.resolved.get(NAME)
    if resolved is None:
        return f"configuration {NAME!r}"
    source = resolved.explain(field).source
    where = source.where((field, *inside))
    return f"configuration {NAME!r} ({where})" if source.kind in ("default", "settings") else where


def _configuration(context: Context) -> DjangoConfiguration:
    value = context.configurations.get(NAME)
    if not isinstance(value, DjangoConfiguration):
        raise DjangoSetupError(
            f"configuration {NAME!r} of this run is {type(value).__name__}, not a "
            f"DjangoConfiguration: run the configure stage first, and let no other plugin "
            f"register a configuration named {NAME!r}"
        )
    return value


def _apps(system: System) -> list[str]:
    """Every component's Django applications, in order, each once."""
    names = (app for c in system.components.values() for app in _declared_apps(c))
    return list(dict.fromkeys(names))


def _declared_apps(component: Component) -> tuple[str, ...]:
    """The Django applications ``component`` declares under :data:`DJANGO_APPS` (often none).

    :raises ConfigurationError: the value is not a sequence of application names.
    """
    apps: object = component.extensions.get(DJANGO_APPS, ())
    if (
        isinstance(apps, str)
        or not isinstance(apps, Sequence)
        or not all(isinstance(app, str) and app for app in apps)
    ):
        raise ConfigurationError(
            Problem(
                f"component {component.name!r}",
                "extensions[DJANGO_APPS]",
                "a tuple of Django application names",
                repr(apps),
                hint='for example extensions={DJANGO_APPS: ("shop.app",)}',
            )
        )
    return tuple(apps)


# Setup --------------------------------------------------------------------------------


def _import_django(system: System) -> ModuleType:
    try:
        django = importlib.import_module("django")
    except ImportError as exc:
        users = [repr(c.name) for c in system.components.values() if _declared_apps(c)]
        who = (
            f"component {users[0]} runs"
            if len(users) == 1
            else f"components {', '.join(users)} run"
        )
        raise DjangoSetupError(
            f"{who} Django applications, but Django cannot be imported "
            f"({exc}): install it with pip install 'oservices[django]'"
        ) from exc
    return django


def _configure(values: dict[str, Any]) -> None:
    """``settings.configure(**values)``, or nothing if this process has them already."""
    from django.conf import settings

    digest = hashlib.sha256(pprint.pformat(values).encode()).hexdigest()
    if not settings.configured:
        settings.configure(**values, **{_DIGEST: digest})
        return
    ours = getattr(settings, _DIGEST, None)
    if ours is None:
        module = os.environ.get("DJANGO_SETTINGS_MODULE")
        by = f"from module {module!r}" if module else "by another settings.configure() call"
        raise DjangoSetupError(
            f"Django's settings were already configured in this process {by}, not by "
            "oservices: set Django up in one place only (run the setup stage in a fresh "
            "process, or block the plugin with OSERVICES_DISABLE_PLUGINS=django)"
        )
    if ours != digest:
        raise DjangoSetupError(
            "Django is already set up in this process with other settings (another system, "
            "settings or configuration), and Django cannot be configured twice: run this "
            "setup in a process of its own"
        )


# Initialize ---------------------------------------------------------------------------


def _sqlite_directory(database: Mapping[str, Any]) -> None:
    name = str(database.get("NAME", ""))
    if "sqlite3" in str(database.get("ENGINE", "")) and name and name != ":memory:":
        Path(name).parent.mkdir(parents=True, exist_ok=True)


def _pending(connection: Any) -> list[tuple[str, str]]:
    """The migrations ``migrate`` would apply, without creating a missing SQLite file."""
    from django.db.migrations.loader import MigrationLoader

    name = str(connection.settings_dict.get("NAME", ""))
    missing = connection.vendor == "sqlite" and name != ":memory:" and not Path(name).exists()
    loader = MigrationLoader(None if missing else connection, ignore_no_migrations=True)
    applied = loader.applied_migrations or {}
    plan = (
        key
        for leaf in loader.graph.leaf_nodes()
        for key in loader.graph.forwards_plan(leaf)
        if key not in applied
    )
    return list(dict.fromkeys(plan))


# Build --------------------------------------------------------------------------------


def _masked(value: Any, key: str = "") -> Any:
    """``value`` with every string Django would hide masked (its error reports' rule)."""
    if isinstance(value, Mapping):
        return {k: _masked(v, str(k)) for k, v in value.items()}
    if not _SENSITIVE.search(key):
        return value
    if isinstance(value, list | tuple):
        return [_masked(item, key) for item in value]
    return _MASK if isinstance(value, str) and value else value


@dataclass(frozen=True)
class _Here:
    """Where the built ``settings.py`` reads its secrets: the home and system file of the
    build, and whether the secret key comes from ``DJANGO_SECRET_KEY``."""

    home: str
    system_file: Path | None
    from_env: bool


def _secret_names(values: dict[str, Any]) -> list[str]:
    """The settings read at run time: the secret key, the databases (their URL is a secret),
    and every setting Django would hide."""
    hidden = [name for name, value in values.items() if _masked(value, name) != value]
    return list(dict.fromkeys(["SECRET_KEY", "DATABASES", *hidden]))


def _settings_module(system: str, values: dict[str, Any], here: _Here, secret: list[str]) -> str:
    system_file = None if here.system_file is None else str(here.system_file)
    lines = [
        _SETTINGS_HEAD.format(system=system),
        "from oservices_plugins.django import secret_settings",
        "",
        "# Secrets are read here and now, from the configuration 'django' (never this file).",
        f"_SECRETS = secret_settings(home={here.home!r}, system_file={system_file!r}, "
        f"names={tuple(secret)!r})",
        "",
    ]
    for name, value in values.items():
        if name not in secret:
            lines.append(f"{name} = {_literal(value)}")
        elif name != "SECRET_KEY":
            lines.append(f"{name} = _SECRETS[{name!r}]")
        elif here.from_env:
            lines.append(f'{name} = os.environ["{SECRET_ENV}"]')
        else:
            lines.append(f'{name} = os.environ.get("{SECRET_ENV}") or _SECRETS[{name!r}]')
    return "\n".join(lines) + "\n"


def secret_settings(
    *, home: str, system_file: str | None = None, names: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The Django settings ``names`` that hold secrets, as the configuration ``django``
    resolves now for the installation at ``home``: what a built ``settings.py`` calls
    when imported, so that no secret is written in it.

    :raises ConfigurationError: the database URL is not understood (shown masked).
    """
    from oservices_core import Resolver, load_settings

    where: dict[str, Any] = {"home": home}
    if system_file is not None:
        where["system_file"] = system_file
    settings = load_settings(**where)
    configuration = Resolver(settings).resolve(DjangoConfiguration, NAME).value
    url = configuration.database_url.get_secret_value()
    values: dict[str, Any] = {
        "SECRET_KEY": configuration.secret_key.get_secret_value(),
        "DATABASES": {"default": parse_database_url(url, home=settings.home)},
        **configuration.extra_settings,
    }
    return {name: values[name] for name in names if name in values}


def _check_literals(context: Context, values: dict[str, Any]) -> None:
    """Every value must be one Python writes as a literal (a TOML date is not)."""
    problems = [
        Problem(
            _where(context, "extra_settings", name),
            f"extra_settings.{name}",
            "a value Python writes as a literal: a string, finite number, boolean, list or table",
            f"a value of type {type(value).__name__}",
        )
        for name, value in values.items()
        if not _is_literal(value)
    ]
    if problems:
        raise ConfigurationError(problems, subject=f"configuration {NAME!r}")


def _is_literal(value: Any) -> bool:
    try:
        return bool(ast.literal_eval(_literal(value)) == value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def _literal(value: Any) -> str:
    return pprint.pformat(value, sort_dicts=False)


_SETTINGS_HEAD = '''\
"""Django settings, written by `oservices build` (plugin django).

Do not edit: the next build rewrites this file. Change the configuration
'django' instead (`oservices config sample django`).
"""

# System: {system!r}

import os
'''

_MANAGE = '''\
#!/usr/bin/env python
"""Django's command line, written by `oservices build` (plugin django).

Run it with the Python that has the system's components installed:
python manage.py check, python manage.py migrate, ...
"""

# System: {system!r}

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
'''
