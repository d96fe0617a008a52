"""Fan-out reports show what the single-job report shows: context bytes per attempt and links to the
saved calls. A real work job (scripted model, real git and pytest) leaves its artifact; publish reads
it back, and its report links calls that exist under the publish run's folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.config import parse_config
from bot.domain import Checklist, Item, ItemKind
from bot.execution.fanout import JobResult
from bot.execution.jobs import publish_artifacts, work_items
from bot.report.run_report import render_markdown
from bot.workspace.runs import RUNS_DIR
from tests.integration.sample import PYTHON_PROJECT, make_repo
from tests.integration.test_item_loop import RIGHT, TEST_ANSWER

SUB = Item("add-sub", "Add subtraction", "calc.ops needs sub(a, b).", kind=ItemKind.FEATURE)


async def test_publish_report_shows_each_attempts_context_and_links_its_saved_calls(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    (tmp_path / "s.json").write_text(json.dumps({"rules": [
        {"match": {"item": "add-sub", "purpose": "test"}, "reply": TEST_ANSWER},
        {"match": {"item": "add-sub", "purpose": "change"}, "reply": RIGHT},
    ]}))  # fmt: skip
    config = parse_config(
        f'[routing]\npreset = "single-model"\nmax_attempts = 1\n[ledger]\npath = "{tmp_path}/l.sqlite"\n'
        f'[tiers.fast]\n[[tiers.fast.providers]]\ntype = "scripted"\nscript = "{tmp_path}/s.json"\nmodel = "m"\n'
        "price = { input_per_mtok = 1, output_per_mtok = 2 }\n"
    )
    checklist = Checklist("issue#1", "Calc", (SUB,))
    artifact = tmp_path / "artifacts" / "job-1"
    job = await work_items(repo, checklist, ["add-sub"], config=config, out=artifact, job="job-1")

    # The artifact carries each attempt's context bytes and its saved calls, as files.
    [outcome] = JobResult.read(artifact).items
    assert outcome.context == job.items[0].context and len(outcome.context) == len(outcome.history) >= 2
    for size, calls in outcome.context:
        assert size > 0 and calls
        assert all((artifact / c).is_file() for c in calls)

    report, _calls = await publish_artifacts(repo, checklist, [artifact], config=config, run_id="pub")
    text = render_markdown(report)
    lines = [x for x in text.splitlines() if "of context" in x]
    assert len(lines) == len(outcome.context), text
    sizes = [size for size, _ in outcome.context]
    for line, size in zip(lines, sizes, strict=True):
        assert f"{size / 1000:.1f} KB of context" in line
    links = re.findall(r"\]\(([^)]+)\)", "\n".join(lines))
    assert len(links) == sum(len(c) for _, c in outcome.context)
    run_dir = repo / RUNS_DIR / "pub"
    for link in links:
        assert link.startswith("job-1/calls/")
        saved = (run_dir / link).read_text(encoding="utf-8")
        assert "add-sub" in saved or "sub(a, b)" in saved  # the call's own prompt, not an empty file
    assert "Context sent to models:" in text
