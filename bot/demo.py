"""``milestone-bot demo``: the whole product, offline, on a bundled sample project.

A small Python project is copied to a temporary folder and made a git repository; a four-item
milestone with dependencies runs through the real pipeline: tests first, proven red then green,
items in parallel, validation with the project's own pytest, escalation from the local tier to the
fast and premium tiers, integration of the item branches, and the report with its cost table.

The three tiers are real clients (openai, groq, anthropic SDKs) talking HTTP to the in-tree fake
servers on 127.0.0.1, which answer from the bundled script: a local vLLM-style server priced by GPU
time, a Groq fast API (sending Groq's rate-limit headers) and an Anthropic premium API priced from
the catalog.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bot.config import Config, load_config
from bot.demo_project import CHECKLIST, FILES, SCRIPT
from bot.domain import ItemStatus
from bot.execution.run import run_milestone
from bot.models.script import Script
from bot.planning.checklist_file import parse
from bot.report.progress import Board
from bot.report.run_report import escalations
from bot.testing.anthropic_server import FakeAnthropicServer
from bot.testing.groq_server import FakeGroqServer
from bot.testing.openai_server import FakeOpenAIServer
from bot.workspace.worktrees import init_repository

CONFIG = """\
[routing]
preset = "three-tier"
backoff_initial_s = 0.2

[budget]
per_item_usd = 0.50
per_run_usd = 2

[concurrency]
parallel = 4

[ledger]
path = "{ledger}"

# The demo validates the bundled sample it wrote itself: sandboxed where the host can (bubblewrap),
# and on a machine without it still run, every stage saying UNSANDBOXED. A repository's own config
# keeps the default, "required": no sandbox, no validation.
[validation.sandbox]
isolation = "best-effort"

[tiers.local]
[[tiers.local.providers]]
type = "openai_compat"
name = "vllm-local"
base_url = "{local}"
model = "qwen2.5-coder-7b-instruct"
price = {{ gpu_usd_per_hour = 1.20 }}

[tiers.fast]
[[tiers.fast.providers]]
type = "groq"
name = "groq"
base_url = "{fast}"
model = "llama-3.3-70b-versatile"
price_provider = "groq"
api_key_env = "DEMO_GROQ_KEY"

[tiers.premium]
[[tiers.premium.providers]]
type = "anthropic"
name = "anthropic"
base_url = "{premium}"
model = "claude-sonnet-4-6"
api_key_env = "DEMO_ANTHROPIC_KEY"
"""


def write_config(workdir: Path, local: str, fast: str, premium: str) -> Config:
    """The demo's config, pointing the three tiers at the fake servers, written and loaded."""
    path = workdir / "milestone-bot.toml"
    text = CONFIG.format(
        ledger=workdir / "ledger.sqlite", local=local, fast=fast, premium=premium.rstrip("/")
    )
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def _sample(root: Path) -> Path:
    repo = root / "calc"
    for rel, text in FILES.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text, encoding="utf-8")
    init_repository(repo, "calc: the sample project")
    return repo


async def _run(workdir: Path, out: Callable[[str], None]) -> int:
    started = time.monotonic()
    repo = _sample(workdir)
    script = Script.model_validate(SCRIPT)
    (workdir / "demo-script.json").write_text(json.dumps(SCRIPT, indent=2), encoding="utf-8")
    with (
        FakeOpenAIServer(script) as local,
        FakeGroqServer(script) as fast,
        FakeAnthropicServer(script) as premium,
    ):
        config = write_config(workdir, local.base_url, fast.base_url, premium.base_url)
        checklist_path = workdir / "checklists" / "complete-the-calculator.md"
        checklist_path.parent.mkdir(parents=True, exist_ok=True)
        checklist_path.write_text(CHECKLIST, encoding="utf-8")
        checklist = parse(CHECKLIST, file=str(checklist_path))
        out(f"sample project: {repo}")
        out(
            f"milestone: {checklist.title}, {len(checklist.items)} items; tiers {' -> '.join(config.tier_names)}"
        )
        out("")

        board = Board(checklist)

        outcome = await run_milestone(
            repo,
            checklist,
            config=config,
            run_id="demo",
            parallel=4,
            base_ref="main",
            on_update=lambda item, note: out(board.item(item, note)),
            on_attempt=lambda event: out(board.attempt(event)),
            env={"DEMO_GROQ_KEY": "demo", "DEMO_ANTHROPIC_KEY": "demo"},
            checklist_path=checklist_path,
        )
    out("")
    for item_id, result in outcome.report.results.items():
        path = " -> ".join(f"{a.phase}@{a.tier}:{a.verdict.value}" for a in result.attempts)
        out(f"{item_id:<10} {result.item.status.value:<6} {path}")
        for line in escalations(result.attempts):  # which tier was left, and why
            out(f"{'':<17}{line}")
    report = (outcome.report_dir / "report.md").read_text(encoding="utf-8")
    out("")
    out(report[report.index("### Cost") :].split("### Attempts")[0].strip())
    out("")
    if outcome.integration is not None:
        accepted = outcome.integration.verdict is not None and outcome.integration.verdict.accepted
        out(
            f"integrated branch: {outcome.integration.branch} in {repo} ({'validated' if accepted else 'NOT validated'})"
        )
    out(f"report: {outcome.report_dir / 'report.md'} and report.json; checklist: {checklist_path}")
    out(f"done in {time.monotonic() - started:.1f}s")
    ok = all(i.status is ItemStatus.DONE for i in outcome.checklist.items)
    return 0 if ok and outcome.integration is not None and outcome.integration.verdict is not None else 1


def run_demo(workdir: Path | None, out: Callable[[str], None] = print) -> int:
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(_run(workdir, out))
    # Kept after the run: the integrated branch and the report are what the demo points at.
    return asyncio.run(_run(Path(tempfile.mkdtemp(prefix="milestone-bot-demo-")), out))
