"""The publish job believes nothing in a work job's artifact it can check: that job ran
model-written code, which could have rewritten its result and its ledger.

Real git (a bundle made as a work job makes it), the real ledger, real re-validation of a small
project; the artifacts are written by hand as a tampered job would write them.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path

from bot.budget.ledger import CallRecord, Ledger
from bot.domain import Checklist, Item, ItemStatus
from bot.events.fanout import planned, read_request
from bot.execution.fanout import BUNDLE, LEDGER, Grant, ItemOutcome, JobResult, matrix
from bot.execution.jobs import publish_artifacts
from bot.models.base import Usage
from bot.planning.checklist_file import render
from tests.integration.sample import PYTHON_PROJECT, git, make_repo
from tests.integration.test_pr_followup import config_for

IDS = ("opt", "empty", "old", "stray", "good")


def repo_with_bundle(tmp_path: Path) -> tuple[Path, str, str, str]:
    """The checkout at its base, a bundle of the job's branch (one good commit), and a commit the
    bundle does not hold. Returns the repo, the base, the good commit and the stray one."""
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    base = git(repo, "rev-parse", "HEAD").strip()
    ident = ["-c", "user.name=t", "-c", "user.email=t@t"]
    git(repo, "checkout", "-q", "-b", "stray")
    (repo / "calc" / "stray.py").write_text("X = 1\n")
    git(repo, *ident, "add", "-A")
    git(repo, *ident, "commit", "-q", "-m", "stray")
    stray = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "job", base)
    (repo / "calc" / "neg.py").write_text("def neg(a):\n    return -a\n")
    git(repo, *ident, "add", "-A")
    git(repo, *ident, "commit", "-q", "-m", "good: neg")
    good = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "bundle", "create", "-q", str(tmp_path / BUNDLE), "job", f"^{base}")
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "job")
    return repo, base, good, stray


def artifact(folder: Path, tmp_path: Path, *, job: str, commits: dict[str, str], spent: str = "0") -> Path:
    folder.mkdir(parents=True)
    (folder / BUNDLE).write_bytes((tmp_path / BUNDLE).read_bytes())
    outcomes = tuple(ItemOutcome(i, "done", 1, "0.01", c, "", ()) for i, c in commits.items())
    JobResult(job, "job", commits.get("good", ""), spent, outcomes).write(folder)
    return folder


def ledger(folder: Path, *, run_id: str, usd: str) -> None:
    book = Ledger(folder / LEDGER)
    try:
        book.record_call(
            CallRecord(
                run_id, "good", 1, "change", "fast", "scripted", "m", Usage(10, 10), Decimal(usd), 0.1, "ok"
            )
        )
    finally:
        book.close()


async def test_a_done_without_a_verifiable_commit_fails_and_a_lost_ledger_costs_the_whole_slice(
    tmp_path: Path,
) -> None:
    repo, base, good, stray = repo_with_bundle(tmp_path)
    checklist = Checklist("m#1", "m", tuple(Item(i, f"do {i}") for i in IDS))
    commits = {"opt": "--upload-pack=touch pwned", "empty": "", "old": base, "stray": stray, "good": good}
    folder = artifact(tmp_path / "work" / "job1", tmp_path, job="job1", commits=commits)  # no ledger
    plan = {"job1": Grant(IDS, Decimal("0.75"))}
    report, calls = await publish_artifacts(
        repo, checklist, [folder], config=config_for(tmp_path, []), run_id="pub", base_ref=base, plan=plan
    )
    status = {i.id: i.status for i in report.checklist.items}
    assert status == {**{i: ItemStatus.FAILED for i in IDS[:-1]}, "good": ItemStatus.DONE}
    assert report.notes["opt"] == report.notes["empty"] == "the work job reported done without a commit"
    assert "not in its bundle" in report.notes["stray"]
    assert "already in the start commit" in report.notes["old"]
    assert report.checklist.item("good").commit == good
    assert all(not report.checklist.item(i).commit for i in IDS[:-1])
    assert not (repo / "pwned").exists()
    # The ledger is missing: the job is charged all it was given, and the report says so.
    assert [c.cost for c in calls] == [Decimal("0.75")] and report.costs.total == Decimal("0.75")
    assert any("job1 left no ledger: charged the whole slice" in r for r in report.remarks)


async def test_a_ledger_under_another_name_or_an_artifact_outside_the_matrix_is_not_believed(
    tmp_path: Path,
) -> None:
    repo, base, good, _ = repo_with_bundle(tmp_path)
    checklist = Checklist("m#1", "m", (Item("good", "do good"), Item("other", "do other")))
    renamed = artifact(tmp_path / "work" / "job1", tmp_path, job="job9", commits={"good": good})
    ledger(renamed, run_id="job9", usd="0.01")  # its calls are under the name it chose: $0.01 of $2
    honest = artifact(tmp_path / "work" / "job2", tmp_path, job="job2", commits={"good": good, "other": good})
    ledger(honest, run_id="job2", usd="0.02")
    extra = artifact(tmp_path / "work" / "job3", tmp_path, job="job3", commits={"other": good})
    plan = {"job1": Grant(("good",), Decimal("2")), "job2": Grant(("other",), Decimal("2"))}
    report, calls = await publish_artifacts(
        repo, checklist, [renamed, honest, extra], config=config_for(tmp_path, []), run_id="pub",
        base_ref=base, plan=plan,
    )  # fmt: skip
    assert sorted(c.cost for c in calls) == [Decimal("0.02"), Decimal("2")]
    assert any("job1 left a ledger for 'job9'" in r for r in report.remarks)
    assert any("job2 reported good, not one of its items" in r for r in report.remarks)
    assert any("job3 is no job of this wave's matrix" in r for r in report.remarks)
    # job2 did "other" with a commit of its bundle: done; job3 is not a job and its word is ignored.
    assert report.checklist.item("other").status is ItemStatus.DONE


def test_the_publish_job_recomputes_the_plan_jobs_matrix(tmp_path: Path) -> None:
    """Both publishes (``/bot run`` and a follow-up) read the slices this way."""
    checklist = Checklist("m#1", "m", (Item("a", "a"), Item("b", "b")))
    folder = tmp_path / "fanout"
    folder.mkdir()
    (folder / "checklist.md").write_text(render(checklist))
    raw = {"key": "k", "issue": 1, "closes": [], "parallel": None, "budget": None, "tier": None,
           "start": "HEAD", "target": "main", "remaining": "3"}  # fmt: skip
    (folder / "request.json").write_text(json.dumps(raw))
    request, saved = read_request(folder)
    plan = planned(request, saved, config_for(tmp_path, []))
    expected = matrix(request.checklist, budget=Decimal("3"))["include"]
    assert [
        {"job": j, "items": " ".join(g.items), "budget": str(g.budget)} for j, g in plan.items()
    ] == expected
    assert {j: asdict(g)["budget"] for j, g in plan.items()} == {
        "job1": Decimal("1.5"),
        "job2": Decimal("1.5"),
    }
