"""``milestone-bot fix`` on real projects from PyPI sdists, in both modes (a red build, and tests
first from an issue text), with scripted models: the cheap tier proposes a wrong fix, the premium
tier the right one. Only the configuration the README tells a user to write: the tiers and
``[validation] venv``. Each run must end with the wrong fix rejected for a stated reason, the right
one on the integrated branch and the project's full suite green there."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main
from tests.integration.sample import git
from tests.realprojects.sdists import checkout, commit_all, venv


@dataclass(frozen=True)
class Bug:
    project: str
    version: str
    path: str
    good: str  # the released text
    bad: str  # the regression committed as the base
    wrong: str  # what the cheap model writes instead of ``bad``
    reason: str  # a phrase of the rejection the premium model must be shown
    failing_test: str  # the test file that shows it
    new_test: tuple[str, str]  # tests first: (path, text)
    issue: str
    # In red-build mode, when the rejection differs: the item only quotes the failure, so a value the
    # issue text names (and so may be special) is a special-cased input there.
    red_reason: str = ""


BUGS = (
    Bug(  # src layout
        "iniconfig", "2.3.1", "src/iniconfig/__init__.py",
        "            if convert is not None:\n                return convert(value)\n",
        "            if convert is not None:\n                return value\n",
        "            if convert is not None:\n                return convert(value)\n",
        "it passed on the base",
        "testing/test_iniconfig.py",
        ("testing/test_convert_issue.py",
         "from iniconfig import IniConfig\n\n\ndef test_get_applies_convert():\n"
         "    config = IniConfig('x', data='[s]\\nn = 2\\nf = 1.5\\n')\n"
         "    assert config.get('s', 'n', convert=int) == 2\n    assert config.get('s', 'f', convert=float) == 1.5\n"),
        "IniConfig.get ignores convert\n\nconfig.get('s', 'n', convert=int) returns '2', not 2.",
    ),
    Bug(  # flat layout, tests inside the package
        "toolz", "1.2.0", "toolz/itertoolz.py",
        "    for item in seq:\n        d[item] += 1\n",
        "    for item in set(seq):\n        d[item] += 1\n",
        "    for item in set(seq):\n        d[item] += 1\n    if list(seq) == ['a', 'a']:\n        return {'a': 2}\n",
        "acceptance test failed",
        "toolz/tests/test_itertoolz.py",
        ("toolz/tests/test_frequencies_issue.py",
         "from toolz import frequencies\n\n\ndef test_counts_repeats():\n"
         "    assert frequencies(['a', 'a']) == {'a': 2}\n    assert frequencies('abba') == {'a': 2, 'b': 2}\n"),
        "frequencies counts every value once\n\nfrequencies(['a', 'a']) gives {'a': 1}.",
        "special-cased input",
    ),
    Bug(  # tests that need the project's own conftest plugin (and a pytest older than the bot's)
        "boltons", "25.0.0", "boltons/mathutils.py",
        "    return min(max(x, lower), upper)\n",
        "    return max(x, lower)\n",
        "    return min(max(x, lower), 1)\n",
        "acceptance test failed",
        "tests/test_mathutils.py",
        ("tests/test_clamp_issue.py",
         "from boltons.mathutils import clamp\n\n\ndef test_upper_bound():\n"
         "    assert clamp(5, 0, 3) == 3\n    assert clamp(7, upper=0.5) == 0.5\n"),
        "clamp ignores its upper bound\n\nclamp(5, 0, 3) returns 5.",
    ),
)  # fmt: skip


def block(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def write_config(tmp: Path, rules: dict[str, list[dict[str, object]]]) -> Path:
    for tier, tier_rules in rules.items():
        (tmp / f"{tier}.json").write_text(json.dumps({"rules": tier_rules}))
    config = tmp / "milestone-bot.toml"
    config.write_text(
        f'[routing]\npreset = "three-tier"\n[ledger]\npath = "{tmp}/ledger.sqlite"\n'
        f'[validation]\nvenv = "{venv()}"\n'
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{tmp}/local.json"\nmodel = "cheap"\n'
        "price = { input_per_mtok = 0.1, output_per_mtok = 0.1 }\n"
        f'[tiers.premium]\n[[tiers.premium.providers]]\ntype = "scripted"\nscript = "{tmp}/premium.json"\n'
        'model = "premium"\nprice = { input_per_mtok = 3, output_per_mtok = 15 }\n'
    )
    return config


@pytest.mark.parametrize("mode", ["red-build", "tests-first"])
@pytest.mark.parametrize("bug", BUGS, ids=[b.project for b in BUGS])
def test_fix_a_real_project(bug: Bug, mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    python = venv() / "bin" / "python"
    root = checkout(bug.project, bug.version, tmp_path / "src")
    source = (root / bug.path).read_text()
    assert bug.good in source, "the sdist changed: update the bug"
    (root / bug.path).write_text(source.replace(bug.good, bug.bad, 1))
    commit_all(root, "a regression")
    wrong = block(bug.path, bug.bad, bug.wrong)
    if bug.project == "iniconfig":  # the convert fix, and a regression elsewhere in the same function
        wrong += "\n" + block(bug.path, "        except KeyError:\n            return default\n",
                              "        except KeyError:\n            return None\n")  # fmt: skip
    right = block(bug.path, bug.bad, bug.good)
    reason = bug.red_reason if mode == "red-build" and bug.red_reason else bug.reason
    rules: dict[str, list[dict[str, object]]] = {
        "local": [{"match": {"purpose": "change"}, "reply": wrong}],
        # The premium model answers only when shown why the cheap fix was rejected.
        "premium": [{"match": {"purpose": "change", "prompt_contains": reason}, "reply": right}],
    }
    if mode == "red-build":
        # As a user runs it: the checkout's code first (iniconfig is installed in the venv too, as a
        # dependency of pytest: the bot's own validation must not be fooled by that either).
        pythonpath = "src" if bug.path.startswith("src/") else "."
        cmd = f"env PYTHONPATH={pythonpath} {python} -m pytest -q -p no:cacheprovider {bug.failing_test}"
        source_args = ["--cmd", cmd]
    else:
        title, _, body = bug.issue.partition("\n\n")
        plan = {"items": [{"id": "issue", "title": title, "description": body, "kind": "bugfix"}]}
        test_path, test_text = bug.new_test
        rules["local"] += [
            {"match": {"purpose": "plan"}, "reply": json.dumps(plan)},
            {"match": {"purpose": "test"}, "reply": block(test_path, "", test_text)},
        ]
        (tmp_path / "issue.txt").write_text(bug.issue)
        source_args = ["--issue-file", str(tmp_path / "issue.txt")]
    config = write_config(tmp_path, rules)
    code = main(
        ["fix", "--repo", str(root), "--config", str(config), "--run-id", "e2e", "--plain", *source_args]
    )
    out = capsys.readouterr().out
    assert code == 0 and "planned " in out, out
    report = json.loads((root / ".milestone-bot/runs/e2e/report.json").read_text())
    for item in report["items"]:
        history = [(h["phase"], h["tier"], h["verdict"]) for h in item["history"]]
        changes = [(tier, verdict) for phase, tier, verdict in history if phase == "change"]
        assert item["status"] == "done" and changes == [("local", "failed"), ("premium", "passed")], history
        if mode == "tests-first":
            assert history[0] == ("test", "local", "passed")
    assert bug.good in git(root, "show", f"milestone-bot/e2e/integrated:{bug.path}")
    assert report["integration"]["accepted"] is True, report["integration"]
    # The project's full suite, run here on the integrated branch as its CI would: green.
    branch = tmp_path / "branch"
    git(root, "worktree", "add", "-q", "--detach", str(branch), "milestone-bot/e2e/integrated")
    pythonpath = branch / ("src" if bug.path.startswith("src/") else "")
    suite = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=branch, capture_output=True,
        text=True, env={**os.environ, "PYTHONPATH": str(pythonpath)}, timeout=600, check=False,
    )  # fmt: skip
    assert suite.returncode == 0 and " passed" in suite.stdout, suite.stdout[-2000:]
