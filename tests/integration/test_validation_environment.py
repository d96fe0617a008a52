"""The project's environment, the import-root probe, setup, commands from the base's config, the
baseline cache and honest red proofs: real git, real interpreters, real pytest."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.app import validate_working_tree
from bot.config import Validation
from bot.errors import ValidationEnvironmentError
from bot.validation.baseline import BaselineCache
from bot.validation.detect import Check, toolchain
from bot.validation.environment import find_environment, packages, prepare, probe, settings_for
from bot.validation.pipeline import Settings
from bot.validation.validate import Change, validate
from tests.integration.sample import PYTHON_PROJECT, git, make_repo, write

SRC_PROJECT = {
    "pyproject.toml": '[project]\nname = "srcpkg"\nversion = "0"\n',
    "src/srcpkg/__init__.py": "def answer():\n    return 41\n",
    "tests/test_answer.py": "from srcpkg import answer\n\n\ndef test_answer():\n    assert answer() == 42\n",
}


def fake_venv(folder: Path) -> Path:
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").symlink_to(sys.executable)
    return folder / "bin" / "python"


def test_environment_is_configured_or_detected_and_says_why(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    assert find_environment(repo, Validation(python=sys.executable)).why == "configured: [validation] python"
    env = find_environment(repo, Validation(venv="envs/p", env={"X": "1"}), environ={})
    assert env.python.endswith("envs/p/bin/python") and env.env["X"] == "1" and env.env["VIRTUAL_ENV"]
    active = fake_venv(tmp_path / "active")
    assert find_environment(repo, None, environ={"VIRTUAL_ENV": str(tmp_path / "active")}).python == str(
        active
    )
    local = fake_venv(repo / ".venv")
    found = find_environment(repo, None, environ={})
    assert (found.python, found.why) == (str(local), ".venv/ in the repository")
    assert found.import_roots == (".",) and found.packages == ("calc",)


def test_src_layout_import_roots_and_the_probe(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "main", SRC_PROJECT)
    assert packages(main) == ("srcpkg",)
    worktree = make_repo(
        tmp_path / "wt", {**SRC_PROJECT, "src/srcpkg/__init__.py": "def answer():\n    return 42\n"}
    )
    env = find_environment(main, Validation(python=sys.executable))
    assert env.import_roots == ("src",)
    # An editable install of the main checkout is a path entry for its src/: it shadows the worktree
    # unless the worktree's import roots come first.
    shadowed = Validation(python=sys.executable, import_roots=[], env={"PYTHONPATH": str(main / "src")})
    settings = settings_for(find_environment(main, shadowed), shadowed)
    # The sandbox hides other checkouts (and /tmp): show that src/ as a config's `readable` would.
    import dataclasses

    from bot.workspace.sandbox import SandboxPolicy

    settings = dataclasses.replace(settings, sandbox=SandboxPolicy(readable=(main / "src",)))
    import asyncio

    problem = asyncio.run(probe(settings, worktree))
    assert "imports from" in problem and str(main / "src") in problem
    good = Validation(python=sys.executable, env={"PYTHONPATH": str(main / "src")})
    assert asyncio.run(probe(settings_for(find_environment(main, good), good), worktree)) == ""
    broken = Validation(python=sys.executable, import_roots=["nowhere"])
    assert "does not import" in asyncio.run(
        probe(settings_for(find_environment(main, broken), broken), worktree)
    )


async def test_src_layout_change_is_validated_against_the_worktree_code(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "srcpkg", SRC_PROJECT)
    write(
        repo, ".github/milestone-bot.toml", f'[validation]\nenv = {{ PYTHONPATH = "{repo / "nowhere"}" }}\n'
    )
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "config")
    write(repo, "src/srcpkg/__init__.py", "def answer():\n    return 42\n")
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert verdict.accepted, verdict.render()
    assert "import roots src" in verdict.environment
    assert verdict.preexisting == ()  # the acceptance of a red test: it failed on the base


async def test_setup_runs_once_and_a_failing_setup_stops(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    count = repo / "count"  # setup runs sandboxed: it may write its checkout and its venv, no more
    setup = [
        sys.executable,
        "-c",
        f"import pathlib; p = pathlib.Path({str(count)!r}); p.write_text(p.read_text() + 'x' if p.exists() else 'x')",
    ]
    config = Validation(python=sys.executable, setup=setup)
    await prepare(repo, config)
    await prepare(repo, config)
    assert count.read_text() == "x"
    with pytest.raises(ValidationEnvironmentError, match="setup command"):
        await prepare(
            repo, Validation(python=sys.executable, setup=[sys.executable, "-c", "raise SystemExit(3)"])
        )


async def test_commands_come_from_the_base_commits_config(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    write(
        repo,
        ".github/milestone-bot.toml",
        f'[validation]\ntest = ["{sys.executable}", "-m", "pytest", "-q"]\n',
    )
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "config")
    write(repo, ".github/milestone-bot.toml", '[validation]\ntest = ["true"]\n')
    write(repo, "calc/text.py", "def shout(s):\n    return s.lower()\n")
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None, run_all=True)
    assert [f.kind for f in verdict.findings] == ["protected"]
    suite = {s.name: s for s in verdict.stages}["full_suite"]
    assert "pytest" in suite.command and suite.status == "failed"  # the base's command ran, not `true`


async def test_baseline_runs_once_per_base_commit_and_is_cached_on_disk(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    check = toolchain(repo).test
    assert check is not None
    cache = BaselineCache(tmp_path / "baseline")
    first = await cache.get("c1", repo, check, Settings())
    again = await cache.get("c1", repo, check, Settings())
    assert (
        cache.runs == 1
        and first is again
        and first.passed
        == {"tests/test_ops.py::test_add", "tests/test_ops.py::test_mul", "tests/test_text.py::test_shout"}
    )
    later = BaselineCache(tmp_path / "baseline")
    loaded = await later.get("c1", repo, check, Settings())
    assert later.runs == 0 and loaded.cached and loaded.outcomes == first.outcomes


async def test_nothing_collected_is_a_failure(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    tools = toolchain(repo)
    assert tools.test is not None
    nothing = tools.__class__(name="python", test=Check((*tools.test.argv, "-k", "no_such_test"), "pytest"))
    change = Change(root=repo, files={"calc/ops.py": ("x", (repo / "calc/ops.py").read_text())})
    verdict = await validate(change, nothing)
    suite = {s.name: s for s in verdict.stages}["full_suite"]
    assert not verdict.accepted and suite.status == "failed" and "no test was collected" in suite.note


HONEST = "from calc.neg import neg\n\n\ndef test_neg():\n    assert neg(2) == -2\n"
GUARDS = (
    "import calc.ops\n\n\ndef test_add_still_works():\n    assert calc.ops.add(1, 1) == 2\n\n\n"
    "def test_mul_of_negative():\n    assert calc.ops.neg(2) * 1 == -2\n"
)


async def test_red_proof_accepts_a_new_module_and_reports_passing_cases_as_guards(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    write(repo, "tests/test_neg.py", HONEST)
    write(repo, "calc/neg.py", "def neg(x):\n    return -x\n")
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert verdict.accepted, verdict.render()  # the ImportError names the module the change creates
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "neg")
    write(repo, "tests/test_more.py", GUARDS)
    write(repo, "calc/ops.py", (repo / "calc/ops.py").read_text() + "\n\ndef neg(x):\n    return -x\n")
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert verdict.accepted, verdict.render()
    red = {s.name: s for s in verdict.stages}["red_proof"]
    assert "1 new test(s) fail on the base" in red.note and "test_add_still_works" in red.note
    write(repo, "tests/test_more.py", GUARDS.split("\n\n\ndef test_mul")[0] + "\n")
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert {s.name: s.status for s in verdict.stages}["red_proof"] == "failed"


async def test_the_workflows_setup_command_runs_sandboxed_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The workflows hand their setup-command to the bot instead of running it as a step: the
    # checkout may hold model-written code (a setup.py), so it runs in the sandbox, with no secret.
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_not-for-setup")
    monkeypatch.setenv("MILESTONE_BOT_SETUP", 'echo "token=${GITHUB_TOKEN:-none}" >> made-by-setup')
    await prepare(repo, Validation(python=sys.executable))
    await prepare(repo, Validation(python=sys.executable))  # once per project files
    assert (repo / "made-by-setup").read_text() == "token=none\n"
    # The config's own setup comes first.
    monkeypatch.setenv("MILESTONE_BOT_SETUP", "exit 3")
    await prepare(repo, Validation(python=sys.executable, setup=[sys.executable, "-c", "pass"]))
    with pytest.raises(ValidationEnvironmentError, match="setup command bash -c exit 3 failed"):
        await prepare(repo, None)
