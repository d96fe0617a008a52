"""The fan-out matrix: ready items only, items sharing files in one job, at most 256 jobs, budget slices."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from bot.domain import Checklist, Item, ItemStatus
from bot.execution.fanout import groups, matrix, ready


def test_ready_items_are_those_whose_dependencies_are_done() -> None:
    checklist = Checklist("m#1", "m", (
        Item("a", "a", status=ItemStatus.DONE), Item("b", "b", depends_on=("a",)),
        Item("c", "c", depends_on=("b",)), Item("d", "d", status=ItemStatus.FAILED), Item("e", "e"),
    ))  # fmt: skip
    assert [i.id for i in ready(checklist)] == ["b", "e"]


def test_items_that_share_files_go_to_one_job_transitively() -> None:
    items = [
        Item("a", "a", allowed_files=("src/x.py",)),
        Item("b", "b", allowed_files=("src/y.py",)),
        Item("c", "c", allowed_files=("src/*.py",)),  # overlaps a and b: all three together
        Item("d", "d", allowed_files=("docs/z.md",)),
        Item("e", "e"),  # names no files: never held back
    ]
    assert [[i.id for i in g] for g in groups(items)] == [["a", "b", "c"], ["d"], ["e"]]


def test_at_most_max_jobs_and_the_budget_split_between_them() -> None:
    checklist = Checklist("m#1", "m", tuple(Item(f"i{n}", "t") for n in range(300)))
    jobs = matrix(checklist, budget=Decimal("10"), max_jobs=256)["include"]
    assert isinstance(jobs, list) and len(jobs) == 256
    assert sorted(i for j in jobs for i in j["items"].split()) == sorted(f"i{n}" for n in range(300))
    assert {j["budget"] for j in jobs} == {"0.0391"}
    assert matrix(Checklist("m#1", "m", (Item("a", "a", status=ItemStatus.DONE),)), budget=None) == {
        "include": []
    }


def test_publish_reads_only_the_folder_each_artifact_is_named_for(tmp_path: Path) -> None:
    # Downloaded without merge-multiple, each work artifact sits in its own folder; a job that
    # ran model-written code may plant another job's folder in its artifact: not read.
    from bot.execution.jobs import artifact_folders

    for artifact, job in [("milestone-bot-work-job1", "job1"), ("milestone-bot-work-job1", "job2"),
                          ("milestone-bot-work-job2", "job2"), ("milestone-bot-work-job3", "job3")]:  # fmt: skip
        (tmp_path / "dl" / artifact / job).mkdir(parents=True)
        (tmp_path / "dl" / artifact / job / "result.json").write_text("{}")
    (tmp_path / "dl" / "milestone-bot-work-job3" / "job3" / "result.json").unlink()  # no result
    assert artifact_folders(tmp_path / "dl") == [
        tmp_path / "dl" / "milestone-bot-work-job1" / "job1",
        tmp_path / "dl" / "milestone-bot-work-job2" / "job2",
    ]
    # The CLI's own layout (the local fan-out, the tests): job folders directly.
    (tmp_path / "flat" / "job1").mkdir(parents=True)
    (tmp_path / "flat" / "job1" / "result.json").write_text("{}")
    (tmp_path / "flat" / "notes").mkdir()
    assert artifact_folders(tmp_path / "flat") == [tmp_path / "flat" / "job1"]
