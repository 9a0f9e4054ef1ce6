"""``oservices completion SHELL``: each script loaded in the real shell, asked to complete.

bash: the script is sourced and its function called with ``COMP_WORDS`` and
``COMP_CWORD`` set, as bash does on TAB; zsh: an interactive ``zsh -f`` in a
terminal of its own, the script in its ``fpath``, a TAB typed; fish:
``complete -C``. Component names are those of ``tests/programs``.

A shell that is not installed skips its tests here, and fails them under CI
(the ``CI`` variable), which installs bash, zsh and fish (``.ci/run``).
"""

from __future__ import annotations

import os
import pty
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _run import environ

PROGRAMS = Path(__file__).resolve().parent / "programs"
BIN = Path(sys.executable).parent  # where pip put the console script ``oservices``


def _shell(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        reason = f"{name} is not installed here (Debian: apt-get install {name})"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The test programs installed, a plugin command too, and ``oservices`` on the PATH."""
    assert (BIN / "oservices").exists(), "the console script 'oservices' is not installed"
    commands = tmp_path / "commands"
    info = commands / "oservices_test_commands-0.1.dist-info"
    info.mkdir(parents=True)
    # Never run here: completion lists a plugin command without importing it.
    (info / "entry_points.txt").write_text("[oservices.commands]\nshop-report = nowhere:report\n")
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return environ(tmp_path, {"PYTHONPATH": f"{PROGRAMS}{os.pathsep}{commands}", "PATH": path})


def _script(shell: str, env: dict[str, str], tmp_path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "oservices_core", "completion", shell],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


# bash ---------------------------------------------------------------------------


def _bash(line: str, env: dict[str, str], tmp_path: Path) -> list[str]:
    """What bash's completion offers for ``line`` (the cursor at its end)."""
    script = tmp_path / "oservices.bash"
    if not script.exists():
        script.write_text(_script("bash", env, tmp_path))
    words = line.split(" ")
    program = "\n".join(
        [
            f"source {shlex.quote(str(script))}",
            f"COMP_WORDS=({' '.join(map(shlex.quote, words))})",
            f"COMP_CWORD={len(words) - 1}",
            "_shtab_oservices",
            'printf "%s\\n" "${COMPREPLY[@]}"',
        ]
    )
    result = subprocess.run(
        [_shell("bash"), "--norc", "--noprofile", "-c", program],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [word for word in result.stdout.splitlines() if word]


def test_bash_completes_commands(env: dict[str, str], tmp_path: Path) -> None:
    assert {"status", "stop"} <= set(_bash("oservices st", env, tmp_path))
    assert "completion" in _bash("oservices com", env, tmp_path)
    assert _bash("oservices config sh", env, tmp_path) == ["show"]
    assert _bash("oservices completion f", env, tmp_path) == ["fish"]


def test_bash_completes_options(env: dict[str, str], tmp_path: Path) -> None:
    assert "--timeout" in _bash("oservices stop --", env, tmp_path)
    assert _bash("oservices logs --fo", env, tmp_path) == ["--follow"]
    # What is not for users is not offered.
    assert "--report-fd" not in _bash("oservices up --", env, tmp_path)


def test_bash_completes_component_and_service_names(env: dict[str, str], tmp_path: Path) -> None:
    assert _bash("oservices stop obe", env, tmp_path) == ["obedient"]
    assert _bash("oservices logs chat", env, tmp_path) == ["chatty"]
    assert _bash("oservices restart list", env, tmp_path) == ["listener"]  # "listening": a service
    assert _bash("oservices describe rep", env, tmp_path) == ["reporting"]


def test_bash_completes_configuration_names_and_keys(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert _bash("oservices config show obe", env, tmp_path) == ["obedient"]
    assert _bash("oservices config show listen", env, tmp_path) == ["listener", "listening"]
    assert _bash("oservices config schema logg", env, tmp_path) == ["logging"]
    assert _bash("oservices config explain obedient.gr", env, tmp_path) == ["obedient.greeting"]
    assert _bash("oservices config explain listener.", env, tmp_path) == [
        "listener.host",
        "listener.port",
    ]


def test_bash_completes_plugin_commands(env: dict[str, str], tmp_path: Path) -> None:
    assert _bash("oservices shop-", env, tmp_path) == ["shop-report"]


# zsh ----------------------------------------------------------------------------

_ZSH_SETUP = """\
bindkey -e
bindkey '^I' complete-word
fpath=({functions} $fpath)
autoload -Uz compinit && compinit -u -D
# Every candidate the completion functions add is written down, then added as usual.
compadd() {{
  if (( ${{@[(I)-[OAD]]}} )); then
    builtin compadd "$@"
    return
  fi
  local -a found
  builtin compadd -O found "$@"
  (( $#found )) && print -rl -- $found >> {out}
  builtin compadd "$@"
}}
_oservices_test_done() {{ print -r -- '<done>' >> {out} }}
comppostfuncs=(_oservices_test_done)
print -r -- '<ready>' >> {out}
"""


def _zsh(line: str, env: dict[str, str], tmp_path: Path) -> list[str]:
    """What zsh's completion offers when TAB is typed after ``line``."""
    functions = tmp_path / "zsh-functions"
    if not functions.exists():
        functions.mkdir()
        (functions / "_oservices").write_text(_script("zsh", env, tmp_path))
    out = tmp_path / "zsh.out"
    out.write_text("")
    setup = tmp_path / "setup.zsh"
    setup.write_text(_ZSH_SETUP.format(functions=functions, out=out))
    master, slave = pty.openpty()
    shell = subprocess.Popen(
        [_shell("zsh"), "-f", "-i"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=tmp_path,
        env={**env, "TERM": "xterm"},
        start_new_session=True,
    )
    os.close(slave)
    screen = bytearray()
    try:
        os.write(master, f"source {shlex.quote(str(setup))}\n".encode())
        _wait_for(out, "<ready>", master, screen)
        os.write(master, f"{line}\t".encode())
        _wait_for(out, "<done>", master, screen)
    finally:
        os.killpg(shell.pid, signal.SIGKILL)
        shell.wait(10)
        os.close(master)
    lines = out.read_text().splitlines()
    return lines[lines.index("<ready>") + 1 : lines.index("<done>")]


def _wait_for(path: Path, marker: str, master: int, screen: bytearray) -> None:
    """Read the terminal (so that the shell never blocks on it) until ``marker`` is written."""
    deadline = time.monotonic() + 60
    while marker not in path.read_text().splitlines():
        assert time.monotonic() < deadline, f"zsh wrote no {marker}; its terminal:\n{screen!r}"
        if select.select([master], [], [], 0.05)[0]:
            try:
                screen += os.read(master, 65536)
            except OSError:  # the shell is gone: the assertion above will say so
                time.sleep(0.05)


def test_zsh_completes_commands(env: dict[str, str], tmp_path: Path) -> None:
    assert {"status", "stop"} <= set(_zsh("oservices st", env, tmp_path))
    assert _zsh("oservices shop-", env, tmp_path) == ["shop-report"]


def test_zsh_completes_component_and_service_names(env: dict[str, str], tmp_path: Path) -> None:
    assert _zsh("oservices stop obe", env, tmp_path) == ["obedient"]
    assert _zsh("oservices describe rep", env, tmp_path) == ["reporting"]
    assert _zsh("oservices config show obe", env, tmp_path) == ["obedient"]


# fish ---------------------------------------------------------------------------


def _fish(line: str, env: dict[str, str], tmp_path: Path) -> list[str]:
    """What fish's completion offers for ``line``: ``complete -C``, descriptions dropped."""
    script = tmp_path / "oservices.fish"
    if not script.exists():
        script.write_text(_script("fish", env, tmp_path))
    program = f"source {shlex.quote(str(script))}; complete -C {shlex.quote(line)}"
    result = subprocess.run(
        [_shell("fish"), "--no-config", "-c", program],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return [candidate.split("\t")[0] for candidate in result.stdout.splitlines()]


def test_fish_completes_commands_and_options(env: dict[str, str], tmp_path: Path) -> None:
    assert {"status", "stop"} <= set(_fish("oservices st", env, tmp_path))
    assert _fish("oservices config sh", env, tmp_path) == ["show"]
    assert "--timeout" in _fish("oservices stop --", env, tmp_path)
    assert _fish("oservices completion f", env, tmp_path) == ["fish"]
    # A subcommand's name is offered where it is a command, not as any argument.
    assert _fish("oservices config show sh", env, tmp_path) == []
    # Files where a file is expected, and only there.
    assert "oservices.fish" in _fish("oservices config check ", env, tmp_path)
    assert _fish("oservices stop --timeout ", env, tmp_path) == []


def test_fish_completes_component_and_service_names(env: dict[str, str], tmp_path: Path) -> None:
    assert _fish("oservices stop obe", env, tmp_path) == ["obedient"]
    assert _fish("oservices describe rep", env, tmp_path) == ["reporting"]


def test_fish_completes_configuration_names_and_keys(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert _fish("oservices config show obe", env, tmp_path) == ["obedient"]
    assert _fish("oservices config explain obedient.gr", env, tmp_path) == ["obedient.greeting"]


def test_fish_completes_plugin_commands(env: dict[str, str], tmp_path: Path) -> None:
    assert _fish("oservices shop-", env, tmp_path) == ["shop-report"]


# the command ----------------------------------------------------------------------


def test_a_missing_shell_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install zsh"):
        _shell("zsh")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="zsh is not installed here"):
        _shell("zsh")


def test_an_unknown_shell_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "oservices_core", "completion", "tcsh"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid choice: 'tcsh'" in result.stderr


def test_component_names_one_a_line(env: dict[str, str], tmp_path: Path) -> None:
    def listed(option: str) -> list[str]:
        result = subprocess.run(
            [sys.executable, "-m", "oservices_core", "components", option],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.splitlines()

    assert {"obedient", "chatty", "reporter"} <= set(listed("--names"))
    assert {"reporting", "listening"} <= set(listed("--services"))
