"""The validation pipeline on a real sample project: real git, real pytest, real ruff."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.execution.run import validate_working_tree
from tests.integration.sample import PYTHON_PROJECT, RUST_PROJECT, make_repo, write

SUB_TEST = "import calc.ops\n\n\ndef test_sub():\n    assert calc.ops.sub(3, 1) == 2\n"
SUB_IMPL = "\n\ndef sub(a, b):\n    return a - b\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "calc", PYTHON_PROJECT)


def stages(verdict: object) -> dict[str, str]:
    return {s.name: s.status for s in verdict.stages}  # type: ignore[attr-defined]


async def test_correct_change_with_red_green_proof_is_accepted(repo: Path) -> None:
    write(repo, "tests/test_sub.py", SUB_TEST)
    write(repo, "calc/ops.py", (repo / "calc/ops.py").read_text() + SUB_IMPL)
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert verdict.accepted, verdict.render()
    assert stages(verdict) == {
        "syntax": "passed", "red_proof": "passed", "new_tests": "passed", "affected_tests": "passed",
        "full_suite": "passed", "evidence": "passed", "lint": "passed",
    }  # fmt: skip
    assert not (repo / ".milestone-bot" / "worktrees" / "_base").exists() or not any(
        (repo / ".milestone-bot" / "worktrees" / "_base").iterdir()
    )


async def test_wrong_change_is_rejected_with_diagnostics(repo: Path) -> None:
    write(repo, "tests/test_sub.py", SUB_TEST)
    write(repo, "calc/ops.py", (repo / "calc/ops.py").read_text() + "\n\ndef sub(a, b):\n    return a + b\n")
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert not verdict.accepted
    assert stages(verdict)["new_tests"] == "failed"
    feedback = verdict.feedback()
    assert "tests/test_sub.py::test_sub" in feedback and "assert 4 == 2" in feedback


async def test_breaking_an_existing_module_fails_affected_tests_first(repo: Path) -> None:
    write(repo, "calc/text.py", "def shout(s):\n    return s.lower()\n")
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert stages(verdict) == {
        "syntax": "passed",
        "affected_tests": "failed",
    }  # stopped before the full suite
    assert "tests/test_text.py::test_shout" in verdict.feedback()


async def test_syntax_error_stops_at_the_first_stage(repo: Path) -> None:
    write(repo, "calc/ops.py", "def add(a, b)\n    return a + b\n")
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert stages(verdict) == {"syntax": "failed"}
    assert "calc/ops.py:1 SyntaxError" in verdict.feedback()


@pytest.mark.parametrize(
    ("rel", "edit", "kind"),
    [
        ("tests/test_text.py", None, "test_deleted"),
        (
            "tests/test_ops.py",
            lambda t: t.replace("def test_mul", "@pytest.mark.skip\ndef test_mul"),
            "skip_added",
        ),
        ("tests/test_ops.py", lambda t: t.replace("== 5", ""), "assertions_weakened"),
        (".github/workflows/ci.yml", lambda t: t + "# off\n", "protected"),
    ],
)
async def test_cheating_changes_are_rejected(repo: Path, rel: str, edit: object, kind: str) -> None:
    path = repo / rel
    if edit is None:
        path.unlink()
    else:
        path.write_text(edit(path.read_text()))  # type: ignore[operator]
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert not verdict.accepted
    assert [f.kind for f in verdict.findings] == [kind]
    assert verdict.stages == ()  # the guard is the cheapest stage: nothing ran


async def test_new_test_that_passes_on_the_base_is_refused_as_proof(repo: Path) -> None:
    write(
        repo,
        "tests/test_more.py",
        "import calc.ops\n\n\ndef test_add_again():\n    assert calc.ops.add(1, 1) == 2\n",
    )
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert stages(verdict)["red_proof"] == "failed"
    assert "passes on the base already" in verdict.feedback()


async def test_new_test_failing_on_import_is_not_behavioural(repo: Path) -> None:
    write(
        repo,
        "tests/test_sub.py",
        "from calc.ops import sub\n\n\ndef test_sub():\n    assert sub(3, 1) == 2\n",
    )
    write(repo, "calc/ops.py", (repo / "calc/ops.py").read_text() + SUB_IMPL)
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert stages(verdict)["red_proof"] == "failed"
    assert "not a behavioural failure" in verdict.feedback()


async def test_flaky_test_is_reported_not_counted(repo: Path, tmp_path: Path) -> None:
    marker = repo / ".ran-once"
    with (repo / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write("\n.ran-once\n")
    flaky = (
        "import pathlib\n\n\ndef test_sometimes():\n"
        f"    p = pathlib.Path({str(marker)!r})\n    n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "    p.write_text(str(n))\n    assert n != 2  # passes on the base, fails once, then passes\n"
    )
    write(repo, "tests/test_flaky.py", flaky)
    from tests.integration.sample import git

    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "flaky test")
    write(repo, "calc/ops.py", (repo / "calc/ops.py").read_text() + SUB_IMPL)
    from bot.config import parse_config

    # The test keeps state across runs in two checkouts (the base's and the change's), which is just
    # what the sandbox forbids: this test of flaky detection runs unsandboxed.
    config = parse_config(
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{tmp_path}/s.json"\n'
        'model = "m"\nprice = { input_per_mtok = 0, output_per_mtok = 0 }\n[routing]\npreset = "single-model"\n'
        '[validation.sandbox]\nisolation = "off"\n'
    )
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=config)
    assert verdict.accepted, verdict.render()
    assert verdict.flaky == ("tests/test_flaky.py::test_sometimes",)


async def test_preexisting_failures_do_not_count_against_the_change(repo: Path) -> None:
    from tests.integration.sample import git

    write(repo, "tests/test_broken.py", "def test_broken():\n    assert 1 == 2\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "already red")
    write(repo, "calc/ops.py", (repo / "calc/ops.py").read_text() + SUB_IMPL)
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert verdict.accepted, verdict.render()
    assert verdict.preexisting == ("tests/test_broken.py::test_broken",)


async def test_lint_counts_only_changed_files(repo: Path) -> None:
    write(repo, "calc/ops.py", "import os\n" + (repo / "calc/ops.py").read_text())
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert stages(verdict)["lint"] == "failed"
    assert "F401" in verdict.feedback()


def test_validate_cli_exit_codes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, "tests/test_sub.py", SUB_TEST)
    write(repo, "calc/ops.py", (repo / "calc/ops.py").read_text() + SUB_IMPL)
    assert main(["validate", "--repo", str(repo)]) == 0
    assert "verdict: accepted" in capsys.readouterr().out
    (repo / "tests/test_text.py").unlink()
    assert main(["validate", "--repo", str(repo), "--json"]) == 1
    assert '"accepted": false' in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed on this machine")
async def test_rust_project_right_and_wrong_changes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "rcalc", RUST_PROJECT)
    lib = (repo / "src/lib.rs").read_text()
    right = lib.replace(
        "#[cfg(test)]", "pub fn sub(a: i64, b: i64) -> i64 {\n    a - b\n}\n\n#[cfg(test)]"
    ).replace(
        "    #[test]\n    fn it_adds",
        "    #[test]\n    fn it_subs() {\n        assert_eq!(sub(3, 1), 2);\n    }\n\n    #[test]\n    fn it_adds",
    )
    write(repo, "src/lib.rs", right)
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert verdict.accepted, verdict.render()
    write(repo, "src/lib.rs", right.replace("a - b", "a + b"))
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert not verdict.accepted
    assert "tests::it_subs" in verdict.feedback()


@pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None, reason="node/npm not installed"
)
async def test_node_project_right_and_wrong_changes(tmp_path: Path) -> None:
    from tests.integration.sample import NODE_PROJECT

    repo = make_repo(tmp_path / "ncalc", NODE_PROJECT)
    write(repo, "sub.js", "exports.sub = (a, b) => a - b;\n")
    write(repo, "sub.test.js", "const test = require('node:test');\nconst assert = require('node:assert');\n"
          "const { sub } = require('./sub');\n\ntest('subs', () => { assert.strictEqual(sub(3, 1), 2); });\n")  # fmt: skip
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert verdict.accepted, verdict.render()
    write(repo, "sub.js", "exports.sub = (a, b) => a + b;\n")
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert not verdict.accepted
    assert "subs" in verdict.feedback()


def test_deny_list_is_configurable() -> None:
    from bot.config import parse_config

    config = parse_config(
        '[routing]\npreset = "single-model"\n[validation]\ndeny_paths = ["infra/*"]\n[tiers.t]\n[[tiers.t.providers]]\n'
        'type = "scripted"\nscript = "s.yaml"\nmodel = "m"\nprice = { input_per_mtok = 0, output_per_mtok = 0 }\n'
    )
    from bot.workspace.apply import apply_edits
    from bot.workspace.edits import WriteFile

    deny = config.validation.deny_paths or ()
    result = apply_edits(Path("/tmp"), [WriteFile("infra/main.tf", "x\n", 1)], deny=deny)
    assert "on the deny list (infra/*)" in result.problems[0].message


async def test_full_suite_does_not_rerun_the_files_the_affected_stage_ran(tmp_path: Path) -> None:
    # test_ops.py logs every run of it into the tree it runs in: the change's tree must see one.
    logged = "import pathlib\n\n(pathlib.Path(__file__).resolve().parents[1] / 'runs.log').open('a').write('x\\n')\n"
    files = {**PYTHON_PROJECT, "tests/test_ops.py": logged + PYTHON_PROJECT["tests/test_ops.py"]}
    repo = make_repo(tmp_path / "calc", files)
    write(repo, "calc/ops.py", (repo / "calc/ops.py").read_text() + "\n\ndef unused():\n    return None\n")
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert verdict.accepted, verdict.render()
    assert stages(verdict)["affected_tests"] == "passed" and stages(verdict)["full_suite"] == "passed"
    assert (repo / "runs.log").read_text().count("x") == 1
    suite = {s.name: s for s in verdict.stages}["full_suite"]
    assert "--ignore=tests/test_ops.py" in suite.command
