"""The sandbox's policy pieces: credential-free git config, the environment allow list, refusing
without isolation, and never showing a hidden folder again through a PATH entry."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import SandboxUnavailable
from bot.workspace import proc, sandbox
from bot.workspace.sandbox import SandboxPolicy, allowed_env, launch, probe
from bot.workspace.view import sanitize_git_config


def test_git_config_loses_every_credential() -> None:
    text = (
        '[core]\n\tbare = false\n[remote "origin"]\n\turl = https://x-access-token:ghs_abc@github.com/o/r.git\n'
        '[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic Z2hzX2FiYw==\n'
        '[credential]\n\thelper = store\n[credential "https://github.com"]\n\tusername = x\n'
        "[user]\n\tname = someone\n"
    )
    clean = sanitize_git_config(text)
    assert (
        "ghs_abc" not in clean and "Z2hz" not in clean and "helper" not in clean and "username" not in clean
    )
    assert (
        "url = https://github.com/o/r.git" in clean and "name = someone" in clean and "bare = false" in clean
    )


def test_environment_is_an_allow_list_and_secrets_never_pass() -> None:
    env = {
        "PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "DATABASE_URL": "postgres://u:p@h/db",
        "GITHUB_PAT": "x", "SLACK_WEBHOOK_URL": "https://hooks", "SSH_AUTH_SOCK": "/tmp/agent",
        "MY_TOOL_OPTS": "-v", "MY_TOOL_TOKEN": "t",
    }  # fmt: skip
    assert allowed_env(env) == {"PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C"}
    passed = allowed_env(env, pass_env=["MY_TOOL_*"], secret=["*_TOKEN"])
    assert passed == {"PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "MY_TOOL_OPTS": "-v"}


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A host without bubblewrap: PATH holds only a folder with python in it."""
    only = tmp_path / "bin"
    only.mkdir()
    (only / "python").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(only))
    probe.cache_clear()
    yield
    probe.cache_clear()


@pytest.mark.usefixtures("no_bwrap")
async def test_without_isolation_validation_refuses_unless_the_config_accepts_it(tmp_path: Path) -> None:
    assert not probe().isolated and "bubblewrap" in probe().reason
    with pytest.raises(SandboxUnavailable, match="refusing to run repository code without a sandbox"):
        await proc.run(["python", "-c", "pass"], cwd=tmp_path, root=tmp_path, timeout_s=10)
    for isolation in ("best-effort", "off"):
        result = await proc.run(
            ["python", "-c", "print('ran')"], cwd=tmp_path, root=tmp_path, timeout_s=10,
            sandbox=SandboxPolicy(isolation=isolation),  # type: ignore[arg-type]
        )  # fmt: skip
        assert result.ok and "ran" in result.output
        assert not result.sandboxed and result.isolation.startswith("UNSANDBOXED")


@pytest.mark.skipif(not probe().isolated, reason=f"no sandbox on this host: {probe().reason}")
def test_a_path_entry_never_shows_a_hidden_home_again(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "bin").mkdir(parents=True)
    (home / ".git-credentials").write_text("secret\n")
    root = tmp_path / "work"
    root.mkdir()
    host_env = {"HOME": str(home), "PATH": f"{home / 'bin'}:/usr/bin:/bin"}
    plan = launch(
        ["true"],
        cwd=root,
        root=root,
        policy=SandboxPolicy(),
        env={"PATH": host_env["PATH"]},
        host_env=host_env,
    )
    try:
        argv = list(plan.argv)
        shown = {argv[i + 1] for i, a in enumerate(argv) if a in ("--ro-bind", "--bind")}
        assert str(home) not in shown and str(tmp_path) not in shown
        assert str(home / "bin") in shown  # the entry itself is fine
        hidden = {argv[i + 1] for i, a in enumerate(argv) if a == "--tmpfs"}
        assert str(home) in hidden
    finally:
        if plan.scratch is not None:
            import shutil

            shutil.rmtree(plan.scratch)
    assert sandbox.probe().isolated


@pytest.mark.skipif(not probe().isolated, reason=f"no sandbox on this host: {probe().reason}")
async def test_in_the_main_checkout_the_bots_folder_stays_hidden(tmp_path: Path) -> None:
    """``milestone-bot validate`` runs in the main checkout itself: the ledger and the items'
    worktrees under ``.milestone-bot`` are still out of reach, whatever the config says."""
    from bot.workspace.worktrees import Worktrees
    from tests.integration.sample import PYTHON_PROJECT, make_repo

    repo = make_repo(tmp_path / "repo", PYTHON_PROJECT)
    item = Worktrees(repo).create("run", "item", "HEAD").path
    (repo / ".milestone-bot" / "ledger.sqlite").write_text("ledger rows\n")
    code = (
        "import os, sys\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        print(p, os.listdir(p) if os.path.isdir(p) else open(p).read())\n"
        "        open(os.path.join(p, 'x') if os.path.isdir(p) else p, 'a').write('x')\n"
        "        print('WROTE', p)\n"
        "    except OSError as exc:\n"
        "        print('blocked', p, exc.errno)\n"
    )
    targets = [str(repo / ".milestone-bot" / "ledger.sqlite"), str(item)]
    result = await proc.run([sys.executable, "-c", code, *targets], cwd=repo, root=repo, timeout_s=30)
    assert result.ok, result.output
    assert "ledger rows" not in result.output and "WROTE" not in result.output, result.output
    assert (repo / ".milestone-bot" / "ledger.sqlite").read_text() == "ledger rows\n"
    assert not (item / "x").exists()


@pytest.mark.skipif(not probe().isolated, reason=f"no sandbox on this host: {probe().reason}")
async def test_a_venv_named_after_env_and_variables_is_shown(tmp_path: Path) -> None:
    """``env PYTHONPATH=src /project-cache/venv/bin/python -m pytest``, as a user writes it for
    ``fix --cmd``: the venv (here under /tmp, which the sandbox replaces by a private folder) is the
    program, not ``env``, and must be shown read-only, or the command cannot even start."""
    import venv

    from bot.workspace.view import program

    env_dir = tmp_path / "cache" / "venv"
    venv.create(env_dir, with_pip=False, symlinks=True)
    work = tmp_path / "work"
    work.mkdir()
    python = env_dir / "bin" / "python"
    argv = ["env", "-u", "NOTHING", "PYTHONPATH=src", str(python), "-c", "import sys; print(sys.prefix)"]
    result = await proc.run(argv, cwd=work, root=work, timeout_s=30)
    assert result.ok and str(env_dir) in result.output, result.output
    assert "UNSANDBOXED" not in result.isolation
    assert program(["env", "-u", "X", "-i", "A=1", "/v/bin/python", "-m", "x"]) == "/v/bin/python"
    assert program(["/usr/bin/env", "python3"]) == "python3" and program(["pytest", "-q"]) == "pytest"
