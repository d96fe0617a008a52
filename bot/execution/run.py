"""Running a checklist in one process: items in parallel in their worktrees, their branches
integrated, the report written; and validating a working tree the way an item is validated."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot.budget.ledger import Scope
from bot.config import DEFAULT_CONFIG_PATH, Config
from bot.domain import Checklist, Item, ItemStatus
from bot.execution.carry import carry_over, restore, without_merges
from bot.execution.integrate import Integration, integrate
from bot.execution.item_loop import ItemResult, ItemRunner
from bot.execution.scheduler import run_checklist
from bot.execution.services import build_router, cost_summary, open_ledger, sandbox_for, skipped_tiers
from bot.planning.checklist_file import render
from bot.report.run_report import RunReport, render_markdown, to_json
from bot.routing.driver import OnAttempt
from bot.routing.presets import policy_for
from bot.routing.router import Sleep
from bot.routing.speculative import speculation_for
from bot.validation.baseline import Baseline, BaselineCache
from bot.validation.detect import toolchain
from bot.validation.environment import base_validation
from bot.validation.environment import prepare as prepare_environment
from bot.validation.validate import Change, test_files_in, validate
from bot.validation.verdict import ValidationVerdict
from bot.workspace.paths import DEFAULT_DENY
from bot.workspace.sandbox import probe
from bot.workspace.worktrees import Worktrees


async def validate_working_tree(
    repo: Path, *, base_ref: str, config: Config | None, run_all: bool = False, trust_config: bool = False
) -> ValidationVerdict:
    """Validate the uncommitted and committed changes of ``repo`` against ``base_ref``, as the bot
    would validate an item's worktree (``milestone-bot validate``)."""
    trees = Worktrees(repo)
    base = trees.resolve(base_ref)
    root = trees.repo_path
    files = trees.before_after(root, base)
    changed = list(files)
    new_tests = tuple(r for r in test_files_in(changed) if files[r][0] is None and files[r][1] is not None)
    change = Change(root=root, files=files, new_tests=new_tests, test_files=test_files_in(trees.files(root)))
    validation = config.validation if config else None
    if not trust_config:
        # The commands that judge a change come from the base commit, never from the tree under
        # validation (which may have edited them: the guard says so, but must not obey them).
        validation = base_validation(trees.read_at(base, str(DEFAULT_CONFIG_PATH))) or validation
    environment, settings = await prepare_environment(
        root, validation, run_all=run_all, sandbox=sandbox_for(config, root=root)
    )
    base_dir = trees.detached(f"validate-{base[:12]}", base)
    tools = toolchain(base_dir, validation, python=environment.python)
    baselines = BaselineCache(root / ".milestone-bot" / "baseline")

    async def baseline() -> Baseline:
        assert tools.test is not None
        return await baselines.get(base, base_dir, tools.test, settings)

    try:
        per_test = tools.test is not None and tools.test.per_test
        return await validate(
            change, tools, settings=settings, base=base_dir, baseline=baseline if per_test else None
        )
    finally:
        trees.remove(base_dir)


def save_checklist(path: Path, checklist: Checklist) -> None:
    """Write atomically: a kill at any moment leaves the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(render(checklist), encoding="utf-8")
    tmp.replace(path)


@dataclass(frozen=True)
class RunOutcome:
    checklist: Checklist
    integration: Integration | None
    report: RunReport
    report_dir: Path


async def run_milestone(
    repo: Path,
    checklist: Checklist,
    *,
    config: Config,
    run_id: str,
    parallel: int | None = None,
    base_ref: str = "HEAD",
    env: Mapping[str, str] | None = None,
    sleep: Sleep | None = None,
    on_update: Callable[[Item, str], None] | None = None,
    on_attempt: OnAttempt | None = None,
    checklist_path: Path | None = None,
    should_stop: Callable[[], bool] | None = None,
    remote: str | None = None,
    fetch_env: Mapping[str, str] | None = None,
    remarks: tuple[str, ...] = (),
) -> RunOutcome:
    """A whole run: the checklist's items in parallel, their branches integrated, the report written.
    Items done by an earlier job are carried over (``carry``), fetched from ``remote`` if need be.
    ``remarks`` are about the run as a whole (tiers pre-flight skipped), for the report."""
    width = parallel or config.concurrency.parallel
    # Items hand their git and file work to threads; the default pool (cores + 4) is too narrow
    # for many items in flight, and a queued hand-off is time an item waits for nothing.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=2 * width + 4, thread_name_prefix="milestone-bot")
    )
    trees = Worktrees(repo)
    root = trees.repo_path
    base = trees.resolve(base_ref)
    carried = carry_over(root, checklist, base, remote=remote, env=fetch_env)
    checklist = carried.checklist
    ledger = open_ledger(config, root=root)
    router, guard = build_router(config, ledger=ledger, root=root, env=env, sleep=sleep)
    validation = config.validation
    sandbox = sandbox_for(config, root=root)
    environment, settings = await prepare_environment(root, validation, sandbox=sandbox)
    tools = toolchain(root, validation, python=environment.python)
    runner = ItemRunner(
        router=router,
        policy=policy_for(config.routing),
        ledger=ledger,
        guard=guard,
        worktrees=trees,
        toolchain=tools,
        settings=settings,
        run_id=run_id,
        repo=root.name,
        context_budget=config.context.budget_bytes,
        context_requests=config.context.requests_per_attempt,
        context_settings=config.context,
        deny=tuple(validation.deny_paths) if validation.deny_paths is not None else DEFAULT_DENY,
        on_attempt=on_attempt,
        speculation=speculation_for(config.routing),
    )
    results: dict[str, ItemResult] = {}
    notes: dict[str, str] = dict(carried.notes)
    report_update = on_update or (lambda item, note: None)

    current = {i.id: i for i in checklist.items}

    def update(item: Item, note: str) -> None:
        if item.status in (ItemStatus.SKIPPED, ItemStatus.FAILED, ItemStatus.BUDGET_EXCEEDED):
            notes[item.id] = notes.get(item.id) or note
        current[item.id] = item
        if checklist_path is not None and item.status is not ItemStatus.RUNNING:
            # Saved after every item, so a run killed at any point resumes without redoing it.
            save_checklist(
                checklist_path,
                dataclasses.replace(checklist, items=tuple(current[i.id] for i in checklist.items)),
            )
        # Views get the item's reason (set when its run ended), not just its status.
        report_update(item, notes.get(item.id, note) if item.id in notes else note)

    finished: dict[str, Item] = {i.id: i for i in checklist.items if i.status is ItemStatus.DONE}

    def start_for(item: Item) -> str:
        """An item starts from its dependencies' work: one dependency's commit, or their merge."""
        deps = [
            finished[d]
            for d in item.depends_on
            if d in finished and finished[d].commit and d not in carried.in_base  # in base already
        ]
        if not deps:
            return base
        if len(deps) == 1:
            return deps[0].commit
        workspace = trees.create(run_id, f"{item.id}-deps", base, resume=False)
        for dep in deps:
            if trees.merge(workspace.path, dep.branch, f"Merge {dep.id} for {item.id}"):
                trees.remove(workspace)
                return deps[0].commit  # conflicting dependencies: integration will sort it out
        head = trees.head(workspace.path)
        trees.remove(workspace)
        return head

    async def run_item(item: Item) -> Item:
        result = await runner.run(item, base_ref=await asyncio.to_thread(start_for, item))
        finished[item.id] = result.item
        results[item.id] = result
        if result.item.status is not ItemStatus.DONE:
            notes[item.id] = result.reason
        return result.item

    async def redo(item: Item, on: str) -> Item:
        result = await runner.run(item, base_ref=on, fresh=True)
        results[item.id] = result
        return result.item

    worked = await run_checklist(
        checklist, run_item=run_item, parallel=width, on_update=update, should_stop=should_stop
    )
    integrated, integration = await integrate(
        without_merges(worked, carried.in_base),
        trees=trees, run_id=run_id, base_ref=base, redo=redo, toolchain=tools, settings=settings,
        baselines=runner.baselines,
    )  # fmt: skip
    integrated = restore(integrated, worked, carried.in_base)
    costs = cost_summary(config, ledger.calls(Scope(run_id=run_id)))
    _, skipped = skipped_tiers(config, os.environ if env is None else env)
    isolation = probe()
    if not isolation.isolated or sandbox.isolation == "off":
        # Accepted by the config, never silent: every report of such a run says it.
        why = "the config turns it off" if sandbox.isolation == "off" else isolation.reason
        skipped = (*skipped, f"validation ran UNSANDBOXED ({why}): repository code could reach this host")
    report = RunReport(run_id, integrated, results, integration, costs, notes, (*remarks, *skipped))
    report_dir = root / ".milestone-bot" / "runs" / run_id
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    (report_dir / "report.json").write_text(to_json(report), encoding="utf-8")
    if checklist_path is not None:
        save_checklist(checklist_path, integrated)
    ledger.close()
    return RunOutcome(integrated, integration, report, report_dir)
