"""The built-in ``django`` plugin, with real Django: settings, migrations, manage.py.

Django's settings are configured once per process, so every stage that sets
Django up runs in a child process: the real ``oservices`` command line, in a
temporary home, with a tiny Django application and a component declaring it
installed as a distribution (a ``dist-info`` on ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from oservices_core import (
    ConfigurationError,
    Registry,
    Resolver,
    Settings,
    StageError,
    System,
    get_plugin_manager,
    load_settings,
    run_workflow,
)
from oservices_plugins.django import (
    DEVELOPMENT_SECRET_KEY,
    DjangoConfiguration,
    django_settings,
    parse_database_url,
)

SECRET = "s3cret-key-of-this-installation-0123456789abcdefghijklmnopqrstuvwxyz"  # noqa: S105 - a test's
PASSWORD = "pg-passw0rd-42"  # noqa: S105 - a test's
PLUGINS = "django,toml,djtest-shop-api,djtest-cleaner"  # nothing else installed interferes

FILES = {
    "shopapp/__init__.py": "",
    "shopapp/apps.py": """
        from django.apps import AppConfig

        class ShopappConfig(AppConfig):
            name = "shopapp"
    """,
    "shopapp/models.py": """
        from django.db import models

        class Item(models.Model):
            name = models.CharField(max_length=100)
    """,
    "shopapp/migrations/__init__.py": "",
    "shopapp/migrations/0001_initial.py": """
        from django.db import migrations, models

        class Migration(migrations.Migration):
            initial = True
            dependencies = []
            operations = [
                migrations.CreateModel(
                    name="Item",
                    fields=[
                        ("id", models.BigAutoField(
                            auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                        )),
                        ("name", models.CharField(max_length=100)),
                    ],
                ),
            ]
    """,
    "djtest_components.py": """
        from oservices_core import Component
        from oservices_plugins.django import DJANGO_APPS

        api = Component(name="shop-api", extensions={DJANGO_APPS: ("shopapp",)})
        cleaner = Component(name="cleaner")
        twin = Component(
            name="shop-admin", extensions={DJANGO_APPS: ("django.contrib.auth", "shopapp")}
        )
        bare = Component(name="shop-bare", extensions={DJANGO_APPS: "shopapp"})  # not a tuple
    """,
    "djtest_shop-0.1.dist-info/METADATA": """
        Metadata-Version: 2.1
        Name: djtest-shop
        Version: 0.1
    """,
    "djtest_shop-0.1.dist-info/entry_points.txt": """
        [oservices]
        djtest-shop-api = djtest_components:api
        djtest-cleaner = djtest_components:cleaner
    """,
}
# Put first on PYTHONPATH, it makes `import django` fail as if Django were not installed.
NO_DJANGO = "raise ImportError(\"No module named 'django' (simulated)\")\n"


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


@dataclass
class Site:
    """A home and an installed Django component; runs commands against them."""

    home: Path
    src: Path
    env: dict[str, str]

    @property
    def config(self) -> Path:
        return self.home / "config" / "django"

    @property
    def database(self) -> Path:
        return self.home / "data" / "django.sqlite3"

    def run(self, *args: str | Path, env: dict[str, str] | None = None) -> Run:
        out = subprocess.run(
            [sys.executable, *map(str, args)],
            cwd=self.home,
            env=self.env | (env or {}),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        return Run(out.returncode, out.stdout, out.stderr)

    def oservices(self, *args: str, env: dict[str, str] | None = None) -> Run:
        return self.run("-m", "oservices_core", *args, env=env)

    def manage(self, *args: str, env: dict[str, str] | None = None) -> Run:
        return self.run(self.config / "manage.py", *args, env=env)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def site(tmp_path: Path) -> Site:
    src, home = tmp_path / "src", tmp_path / "home"
    write_tree(src, FILES)
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("OSERVICES_", "DJANGO_")) and k != "PYTHONPATH"
    }
    env |= {
        "OSERVICES_HOME": str(home),
        "OSERVICES_AUTOLOAD_PLUGINS": "false",
        "OSERVICES_PLUGINS": PLUGINS,
        "PYTHONPATH": str(src),
    }
    return Site(home, src, env)


def migrations(database: Path) -> list[tuple[object, ...]]:
    # A connection's own with-block commits but does not close (Python 3.13 warns).
    with closing(sqlite3.connect(database)) as db:
        return db.execute("SELECT id, app, name, applied FROM django_migrations").fetchall()


def tables(database: Path) -> set[str]:
    with closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# Setup and initialize ----------------------------------------------------------------


def test_init_migrates_the_database_once(site: Site) -> None:
    first = site.oservices("init")
    assert first.code == 0, first.output
    assert "shopapp_item" in tables(site.database)
    applied = migrations(site.database)
    assert ("shopapp", "0001_initial") in [(app, name) for _, app, name, _ in applied]

    second = site.oservices("init")
    assert second.code == 0, second.output
    assert migrations(site.database) == applied  # nothing applied again
    dry = site.oservices("init", "--dry-run")
    assert "django: migrate would apply nothing" in dry.stdout


def test_init_dry_run_lists_migrations_and_creates_no_database(site: Site) -> None:
    dry = site.oservices("init", "--dry-run")
    assert dry.code == 0, dry.output
    assert "shopapp.0001_initial" in dry.stdout
    assert "auth.0001_initial" in dry.stdout
    assert not site.database.exists()


def test_setup_twice_in_one_process(site: Site) -> None:
    script = """
        import sys
        from importlib.metadata import EntryPoint
        from oservices_core import OservicesError, Registry, System
        from oservices_core import get_plugin_manager, load_settings, run_workflow

        settings = load_settings()
        points = [
            EntryPoint("django", "oservices_plugins.django", "oservices"),
            EntryPoint("shop-api", "djtest_components:api", "oservices"),
            EntryPoint("shop-admin", "djtest_components:twin", "oservices"),
        ]
        system = System.from_registry(Registry(get_plugin_manager(settings, entry_points=points)))
        if sys.argv[1] == "foreign":
            from django.conf import settings as django_settings
            django_settings.configure()
        for overrides in ({}, {}, {"django.time_zone": "Europe/Paris"}):
            try:
                run_workflow(system, ["setup"], settings=settings, overrides=overrides)
            except OservicesError as exc:
                print("error:", exc)
                break
            print("ok")
        from django.conf import settings as django_settings
        print(django_settings.INSTALLED_APPS)
        print(django_settings.LOGGING_CONFIG)  # the process's logging is left alone
    """
    (site.src / "twice.py").write_text(textwrap.dedent(script))
    every = {"OSERVICES_AUTOLOAD_PLUGINS": "true"}  # the script names its entry points
    ours = site.run(site.src / "twice.py", "ours", env=every)
    assert ours.code == 0, ours.output
    lines = ours.stdout.splitlines()
    assert lines[:2] == ["ok", "ok"]  # the same settings again: left as they are
    assert "cannot be configured twice" in lines[2]
    apps = ["django.contrib.contenttypes", "django.contrib.auth", "shopapp"]
    assert lines[3:] == [repr(apps), "None"]  # apps in order, each once

    foreign = site.run(site.src / "twice.py", "foreign", env=every)
    assert foreign.code == 0, foreign.output
    assert "already configured in this process by another settings.configure()" in foreign.stdout


# Build -------------------------------------------------------------------------------


def test_build_writes_a_working_manage_py(site: Site) -> None:
    secret = {"OSERVICES_DJANGO__SECRET_KEY": SECRET}
    runs = [site.oservices("init", env=secret), site.oservices("build", env=secret)]
    assert [run.code for run in runs] == [0, 0], [run.output for run in runs]
    settings_py, manage_py = site.config / "settings.py", site.config / "manage.py"
    assert SECRET not in settings_py.read_text()  # read when imported, from the configuration
    assert (mode(settings_py), mode(manage_py)) == (0o644, 0o755)
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    printed = site.manage("shell", "-v", "0", "-c", code, env=secret)  # where it runs
    assert printed.stdout.strip() == SECRET, printed.output

    check = site.manage("check")
    assert check.code == 0, check.output
    assert "System check identified no issues" in check.stdout
    migrated = site.manage("migrate", "--check")
    assert migrated.code == 0, migrated.output
    again = site.oservices("build", env=secret)
    assert "build: nothing changed" in again.stdout
    for run in [*runs, check, migrated, again]:
        assert SECRET not in run.output


def test_build_reads_the_secret_key_from_the_environment(site: Site) -> None:
    env = {"OSERVICES_DJANGO__SECRET_KEY": SECRET, "DJANGO_SECRET_KEY": "from-the-environment"}
    build = site.oservices("build", env=env)
    assert build.code == 0, build.output
    settings_py = site.config / "settings.py"
    text = settings_py.read_text()
    assert SECRET not in text
    assert 'SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]' in text
    assert mode(settings_py) == 0o644  # no secret in it
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    printed = site.manage("shell", "-v", "0", "-c", code, env=env)
    assert printed.stdout.strip() == "from-the-environment", printed.output


def test_dry_run_build_masks_secrets(site: Site) -> None:
    env = {
        "OSERVICES_DJANGO__SECRET_KEY": SECRET,
        "OSERVICES_DJANGO__DATABASE_URL": f"postgresql://shop:{PASSWORD}@db.example:5433/shop",
    }
    dry = site.oservices("build", "--dry-run", env=env)
    assert dry.code == 0, dry.output
    assert f"+++ {site.config / 'settings.py'}" in dry.stdout  # no secret in it: shown
    assert SECRET not in dry.output
    assert PASSWORD not in dry.output
    assert not site.config.exists()

    build = site.oservices("build", env=env)
    assert build.code == 0, build.output
    # Never written in settings.py: read when it is imported, from the configuration.
    assert PASSWORD not in (site.config / "settings.py").read_text()
    assert SECRET not in (site.config / "settings.py").read_text()
    assert mode(site.config / "settings.py") == 0o644
    code = "from django.conf import settings; print(settings.DATABASES['default']['PASSWORD'])"
    printed = site.manage("shell", "-v", "0", "-c", code, env=env)  # where it runs
    assert printed.stdout.strip() == PASSWORD, printed.output
    unchanged = site.oservices("build", "--dry-run", env=env)
    assert PASSWORD not in unchanged.output
    assert "nothing changed" in unchanged.stdout
    changed = site.oservices("build", "--dry-run", env=env | {"OSERVICES_DJANGO__DEBUG": "0"})
    assert "DEBUG = False" in changed.stdout  # a file without secrets: its diff is shown
    assert "build: would write 2 files (2 would update)" in changed.stdout  # and django.toml
    shown = site.oservices("config", "show", "django", env=env)
    for run in (changed, shown):
        assert (run.code, SECRET in run.output, PASSWORD in run.output) == (0, False, False)


# Bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["setup", "init", "build"])
def test_a_bad_database_url_is_located_without_its_password(site: Site, stage: str) -> None:
    url = {"OSERVICES_DJANGO__DATABASE_URL": f"mysql://shop:{PASSWORD}@db/shop"}
    run = site.oservices(stage, env=url)
    assert run.code == 2
    assert "environment variable OSERVICES_DJANGO__DATABASE_URL: database_url:" in run.stderr
    assert "found 'mysql://shop:**********@db/shop'" in run.stderr
    assert PASSWORD not in run.output
    assert "Traceback" not in run.stderr
    assert not site.config.exists()


def test_prod_refuses_the_development_secret_key(site: Site) -> None:
    prod = {"OSERVICES_ENVIRONMENT": "prod"}
    refused = site.oservices("setup", env=prod)
    assert refused.code == 2
    assert "secret_key: expected a secret key of this installation's own" in refused.stderr
    assert "OSERVICES_DJANGO__SECRET_KEY" in refused.stderr
    assert DEVELOPMENT_SECRET_KEY not in refused.output
    accepted = site.oservices("setup", env=prod | {"OSERVICES_DJANGO__SECRET_KEY": SECRET})
    assert accepted.code == 0, accepted.output


def test_without_django_only_django_components_fail(site: Site) -> None:
    write_tree(site.home / "fake", {"django/__init__.py": NO_DJANGO})
    env = {"PYTHONPATH": f"{site.home / 'fake'}{os.pathsep}{site.src}"}
    (site.home / "plain.toml").write_text('components = ["cleaner"]\n')
    for stage in ("setup", "init", "build"):
        quiet = site.oservices(stage, "--system", "plain.toml", env=env)
        assert (quiet.code, quiet.stderr) == (0, ""), quiet.output
        assert "django" not in quiet.stdout.lower()

    failed = site.oservices("setup", env=env)
    assert failed.code == 2
    assert "component 'shop-api' runs Django applications" in failed.stderr
    assert "pip install 'oservices[django]'" in failed.stderr


def test_the_module_is_neutral(site: Site) -> None:
    run = site.oservices("check", "neutral", "oservices_plugins.django")
    assert run.code == 0, run.output
    assert "oservices_plugins.django: neutral" in run.stdout


# In this process: configuration and settings, Django never configured ---------------


@pytest.fixture
def shop(site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(site.src))
    yield site.src
    sys.modules.pop("djtest_components", None)


def system_of(settings: Settings, *components: str) -> System:
    points = [EntryPoint("django", "oservices_plugins.django", "oservices")] + [
        EntryPoint(name, f"djtest_components:{name}", "oservices") for name in components
    ]
    return System.from_registry(Registry(get_plugin_manager(settings, entry_points=points)))


@pytest.mark.usefixtures("shop")
def test_django_settings_of_a_system(settings: Settings) -> None:
    context, _ = run_workflow(system_of(settings, "api", "cleaner", "twin"), ["configure"])
    values = django_settings(context)
    assert values["INSTALLED_APPS"] == [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "shopapp",
    ]
    database = settings.data_dir / "django.sqlite3"
    assert values["DATABASES"] == {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}
    }
    assert (values["SECRET_KEY"], values["DEBUG"], values["USE_TZ"]) == (
        DEVELOPMENT_SECRET_KEY,
        True,  # the dev environment
        True,
    )
    assert "ROOT_URLCONF" not in values


@pytest.mark.usefixtures("shop")
def test_applications_that_are_not_a_tuple_of_names_are_located(settings: Settings) -> None:
    with pytest.raises(StageError) as caught:
        run_workflow(system_of(settings, "api", "bare"), ["build"])
    error = caught.value.__cause__
    assert isinstance(error, ConfigurationError)
    (problem,) = error.problems
    assert (problem.where, problem.key, problem.found) == (
        "component 'shop-bare'",
        "extensions[DJANGO_APPS]",
        "'shopapp'",
    )


@pytest.mark.usefixtures("shop")
def test_extra_settings_are_merged_last(settings: Settings) -> None:
    overrides = {
        "django.extra_settings": '{"DEBUG": false, "LANGUAGE_CODE": "fr"}',
        "django.root_urlconf": "shop.urls",
    }
    context, _ = run_workflow(system_of(settings, "api"), ["configure"], overrides=overrides)
    values = django_settings(context)
    assert (values["DEBUG"], values["LANGUAGE_CODE"]) == (False, "fr")
    assert values["ROOT_URLCONF"] == "shop.urls"


@pytest.mark.usefixtures("shop")
def test_build_hides_what_django_hides(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DJANGO_SECRET_KEY", "from-the-environment")
    extra = f'{{"EMAIL_HOST_PASSWORD": "{PASSWORD}", "LANGUAGE_CODE": "fr"}}'
    monkeypatch.setenv("OSERVICES_DJANGO__EXTRA_SETTINGS", extra)
    run_workflow(system_of(settings, "api"), ["build"], dry_run=True)
    shown = capsys.readouterr().out
    settings_py = settings.config_dir / "django" / "settings.py"
    assert f"+++ {settings_py}" in shown  # no secret in it: shown
    assert PASSWORD not in shown

    run_workflow(system_of(settings, "api"), ["build"])
    assert PASSWORD not in settings_py.read_text()
    assert "EMAIL_HOST_PASSWORD = _SECRETS['EMAIL_HOST_PASSWORD']" in settings_py.read_text()
    assert mode(settings_py) == 0o644


@pytest.mark.usefixtures("shop")
def test_build_refuses_values_python_cannot_write(settings: Settings) -> None:
    (settings.config_dir).mkdir(parents=True)
    toml = settings.config_dir / "django.toml"
    toml.write_text('[extra_settings]\nLANGUAGE_CODE = "fr"\nSINCE = 1979-05-27T07:32:00Z\n')
    with pytest.raises(StageError) as caught:
        run_workflow(system_of(settings, "api"), ["build"])
    assert f"{toml}:3: extra_settings.SINCE: expected a value Python writes" in str(caught.value)
    assert not (settings.config_dir / "django").exists()


def test_extra_settings_names_are_upper_case() -> None:
    with pytest.raises(ValueError, match=r"extra_settings\.debug"):
        DjangoConfiguration.from_toml("[extra_settings]\ndebug = true\n")


def test_configuration_derives_from_settings(home: Path) -> None:
    settings = load_settings(environment="staging")
    value = Resolver(settings).resolve(DjangoConfiguration, "django").value
    assert (
        value.database_url.get_secret_value() == f"sqlite:///{settings.data_dir / 'django.sqlite3'}"
    )
    assert value.debug is False  # on in dev only


def test_the_plugin_is_blocked_by_name(home: Path) -> None:
    point = EntryPoint("django", "oservices_plugins.django", "oservices")
    pm = get_plugin_manager(load_settings(disable_plugins="django"), entry_points=[point])
    assert [(o.name, o.state) for o in pm.outcomes] == [("django", "blocked")]
    assert "django" not in Registry(pm).configurations


# Database URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/x.sqlite3", {"NAME": "/srv/shop/data/x.sqlite3"}),
        ("sqlite:////var/lib/x.sqlite3", {"NAME": "/var/lib/x.sqlite3"}),
        ("sqlite:///:memory:", {"NAME": ":memory:"}),
    ],
)
def test_sqlite_urls(url: str, expected: dict[str, str]) -> None:
    sqlite = {"ENGINE": "django.db.backends.sqlite3"}
    assert parse_database_url(url, home=Path("/srv/shop")) == sqlite | expected


def test_postgresql_urls() -> None:
    url = "postgresql://shop%40eu:p%3Ass@db.example:5433/shop?sslmode=require"
    assert parse_database_url(url, home=Path("/srv")) == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "shop",
        "USER": "shop@eu",
        "PASSWORD": "p:ss",
        "HOST": "db.example",
        "PORT": "5433",
        "OPTIONS": {"sslmode": "require"},
    }
    short = parse_database_url("postgres://db/shop", home=Path("/srv"))
    assert (short["HOST"], short["PORT"], short["USER"], short["PASSWORD"]) == ("db", "", "", "")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"mysql://shop:{PASSWORD}@db/shop", "a URL sqlite:///PATH or postgresql://"),
        (f"postgresql://shop:{PASSWORD}@db:port/shop", "a PostgreSQL URL with a numeric port"),
        (f"postgresql://shop:{PASSWORD}@db:5432/", "a PostgreSQL URL naming the database"),
        ("sqlite://relative.db", "an SQLite URL sqlite:///PATH"),
        (f"postgresql://shop:{PASSWORD}@[db/shop", "a well-formed PostgreSQL URL postgresql://"),
    ],
)
def test_bad_urls_never_show_the_password(url: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_database_url(url, home=Path("/srv"), where="shop.toml:3")
    message = str(caught.value)
    assert "shop.toml:3: database_url: expected " + expected in message
    assert PASSWORD not in message
