"""Composition root: the only place that builds concrete providers, the ledger and the router."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.budget.guard import BudgetGuard
from bot.budget.ledger import CallRecord, Ledger, Scope
from bot.budget.pricing import call_cost
from bot.config import AnthropicProvider as AnthropicConfig
from bot.config import Config, GpuPrice, ProviderConfig
from bot.config import OpenAICompatProvider as OpenAIConfig
from bot.config import ScriptedProvider as ScriptedConfig
from bot.domain import Checklist, Item, ItemStatus, Verdict
from bot.errors import ChecklistError, ChecklistProblem, ConfigError, ConfigIssue
from bot.events.handler import EventHandler
from bot.execution.fanout import BUNDLE, LEDGER, ItemOutcome, JobResult
from bot.execution.integrate import Integration, integrate
from bot.execution.item_loop import AttemptRecord, ItemResult, ItemRunner
from bot.execution.scheduler import run_checklist
from bot.github.gateway import GitHubGateway
from bot.models.anthropic_api import AnthropicProvider
from bot.models.base import Provider, Usage
from bot.models.openai_compat import OpenAICompatProvider
from bot.models.scripted import ScriptedProvider
from bot.planning.checklist_file import render
from bot.planning.planner import IssueText, PlanSource, plan
from bot.report.cost import CostSummary, summarize
from bot.report.run_report import RunReport, render_markdown, to_json
from bot.routing.breaker import CircuitBreaker
from bot.routing.driver import OnAttempt
from bot.routing.presets import policy_for
from bot.routing.quota import DAY, QuotaTracker
from bot.routing.router import Router, Sleep, Slot, TierSlots
from bot.routing.speculative import speculation_for
from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.validation.validate import Change, test_files_in, validate
from bot.validation.verdict import StageResult, ValidationVerdict
from bot.workspace.paths import DEFAULT_DENY
from bot.workspace.worktrees import Worktrees
from bot.workspace.worktrees import slug as slug_of

log = logging.getLogger(__name__)


def build_provider(cfg: ProviderConfig, *, env: Mapping[str, str], root: Path) -> tuple[Provider, str | None]:
    """The provider for ``cfg``, and why it cannot serve (a missing API key), if so."""
    name = cfg.display_name
    if isinstance(cfg, ScriptedConfig):
        script = Path(cfg.script)
        return ScriptedProvider(
            script if script.is_absolute() else root / script, model=cfg.model, name=name
        ), None
    key = env.get(cfg.api_key_env) if cfg.api_key_env else None
    missing = f"environment variable {cfg.api_key_env} is not set" if cfg.api_key_env and not key else None
    if isinstance(cfg, OpenAIConfig):
        provider: Provider = OpenAICompatProvider(
            name=name, model=cfg.model, base_url=cfg.base_url, api_key=key, timeout_s=cfg.timeout_s
        )
        return provider, missing
    if isinstance(cfg, AnthropicConfig):
        provider = AnthropicProvider(
            name=name, model=cfg.model, base_url=cfg.base_url, api_key=key, timeout_s=cfg.timeout_s
        )
        return provider, missing
    raise AssertionError(f"unhandled provider config {type(cfg).__name__}")  # pragma: no cover


def open_ledger(config: Config, *, root: Path) -> Ledger:
    path = Path(config.ledger.path)
    return Ledger(path if path.is_absolute() else root / path)


SKIP_TIERS_ENV = "MILESTONE_BOT_SKIP_TIERS"  # e.g. "local": set by workflows when `runner check` fails


def skipped_tiers(config: Config, env: Mapping[str, str]) -> tuple[Config, tuple[str, ...]]:
    """The config without the tiers this run must skip, and a remark for the report about each."""
    names = [n.strip() for n in env.get(SKIP_TIERS_ENV, "").split(",") if n.strip()]
    skip = [n for n in names if n in config.tiers]
    if not skip:
        return config, ()
    kept = {n: t for n, t in config.tiers.items() if n not in skip}
    if not kept:
        raise ConfigError([ConfigIssue("environment", SKIP_TIERS_ENV, f"skips every tier ({', '.join(skip)})",
                                       "leave at least one tier to run on")])  # fmt: skip
    routing = config.routing.model_copy(
        update={
            "start_tier": None if config.routing.start_tier in skip else config.routing.start_tier,
            "plan_tier": None if config.routing.plan_tier in skip else config.routing.plan_tier,
        }
    )
    remarks = tuple(
        f"tier {n} skipped for this run ({SKIP_TIERS_ENV}; e.g. its runner check failed)" for n in skip
    )
    return config.model_copy(update={"tiers": kept, "routing": routing}), remarks


def build_router(
    config: Config,
    *,
    ledger: Ledger,
    root: Path,
    env: Mapping[str, str] | None = None,
    sleep: Sleep | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[Router, BudgetGuard]:
    env = os.environ if env is None else env
    config, _ = skipped_tiers(config, env)
    tiers: list[TierSlots] = []
    for tier_name, tier in config.tiers.items():
        slots: list[Slot] = []
        for cfg in tier.providers:
            provider, disabled = build_provider(cfg, env=env, root=root)
            if disabled:
                log.warning("tier %s: provider %s cannot serve: %s", tier_name, cfg.display_name, disabled)
            history = ledger.provider_usage(cfg.display_name, since=clock() - DAY) if cfg.quota else []
            slots.append(
                Slot(
                    config=cfg,
                    provider=provider,
                    disabled=disabled,
                    breaker=CircuitBreaker(
                        failures=config.routing.breaker_failures, cooldown_s=config.routing.breaker_cooldown_s
                    ),
                    quota=QuotaTracker(cfg.quota, clock=clock, history=history),
                )
            )
        tiers.append(TierSlots(name=tier_name, balance=tier.balance, slots=slots))
    guard = BudgetGuard(ledger, config.budget, clock=clock)
    kwargs = {"sleep": sleep} if sleep is not None else {}
    return Router(tiers, routing=config.routing, guard=guard, ledger=ledger, **kwargs), guard


async def validate_working_tree(
    repo: Path, *, base_ref: str, config: Config | None, run_all: bool = False
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
    settings = Settings(
        timeout_s=validation.timeout_s if validation else 900.0,
        secrets=tuple(validation.secret_env) if validation else (),
        run_all=run_all,
    )
    base_dir = trees.detached(f"validate-{base[:12]}", base)
    try:
        return await validate(change, toolchain(root, validation), settings=settings, base=base_dir)
    finally:
        trees.remove(base_dir)


def save_checklist(path: Path, checklist: Checklist) -> None:
    """Write atomically: a kill at any moment leaves the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(render(checklist), encoding="utf-8")
    tmp.replace(path)


def cost_summary(config: Config, calls: Iterable[CallRecord]) -> CostSummary:
    """Summarize calls, comparing with the premium tier's first provider (the last tier)."""
    premium = config.tiers[config.tier_names[-1]].providers[0]

    def at_premium(usage: Usage) -> Decimal:
        return call_cost(premium, usage, latency_s=0.0)

    comparable = not isinstance(premium.price, GpuPrice)
    return summarize(calls, premium=at_premium if comparable else None, premium_model=premium.model)


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
) -> RunOutcome:
    """A whole run: the checklist's items in parallel, their branches integrated, the report written."""
    width = parallel or config.concurrency.parallel
    # Items hand their git and file work to threads; the default pool (cores + 4) is too narrow
    # for many items in flight, and a queued hand-off is time an item waits for nothing.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=2 * width + 4, thread_name_prefix="milestone-bot")
    )
    trees = Worktrees(repo)
    root = trees.repo_path
    base = trees.resolve(base_ref)
    ledger = open_ledger(config, root=root)
    router, guard = build_router(config, ledger=ledger, root=root, env=env, sleep=sleep)
    validation = config.validation
    settings = Settings(timeout_s=validation.timeout_s, secrets=tuple(validation.secret_env))
    tools = toolchain(root, validation)
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
    notes: dict[str, str] = {}
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
        report_update(item, note)

    finished: dict[str, Item] = {i.id: i for i in checklist.items if i.status is ItemStatus.DONE}

    def start_for(item: Item) -> str:
        """An item starts from its dependencies' work: one dependency's commit, or their merge."""
        deps = [finished[d] for d in item.depends_on if d in finished and finished[d].commit]
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
        worked, trees=trees, run_id=run_id, base_ref=base, redo=redo, toolchain=tools, settings=settings
    )
    costs = cost_summary(config, ledger.calls(Scope(run_id=run_id)))
    _, remarks = skipped_tiers(config, os.environ if env is None else env)
    report = RunReport(run_id, integrated, results, integration, costs, notes, remarks)
    report_dir = root / ".milestone-bot" / "runs" / run_id
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    (report_dir / "report.json").write_text(to_json(report), encoding="utf-8")
    if checklist_path is not None:
        save_checklist(checklist_path, integrated)
    ledger.close()
    return RunOutcome(integrated, integration, report, report_dir)


async def plan_source(
    repo: Path,
    source: PlanSource,
    *,
    config: Config,
    run_id: str,
    env: Mapping[str, str] | None = None,
    budget_usd: Decimal | None = None,
) -> Checklist:
    """Plan a milestone or an issue through the router (purpose ``plan``)."""
    ledger = open_ledger(config, root=repo)
    router, _guard = build_router(config, ledger=ledger, root=repo, env=env)
    try:
        return await plan(
            source,
            router=router,
            policy=policy_for(config.routing),
            ledger=ledger,
            run_id=run_id,
            budget_usd=budget_usd,
        )
    finally:
        ledger.close()


async def plan_issue(
    repo: Path, text: str, *, config: Config, run_id: str, env: Mapping[str, str] | None = None
) -> Checklist:
    """Plan one issue (first line: its title; the rest: its body) through the router."""
    title, _, body = text.strip().partition("\n")
    source = PlanSource(
        ref="issue#local", title=title.strip("# ").strip() or "Issue", issues=(IssueText(0, title, body),)
    )
    return await plan_source(repo, source, config=config, run_id=run_id, env=env)


@dataclass(frozen=True)
class ActionsEnv:
    """What GitHub Actions tells a step about itself, read from its environment."""

    repository: str
    token: str
    api_url: str = "https://api.github.com"
    run_url: str = ""
    step_summary: Path | None = None
    output: Path | None = None

    @classmethod
    def read(cls, env: Mapping[str, str]) -> ActionsEnv:
        repository = env.get("GITHUB_REPOSITORY", "")
        token = env.get("GITHUB_TOKEN", "")
        missing = [
            ConfigIssue("environment", name, "not set", fix)
            for name, value, fix in (
                ("GITHUB_REPOSITORY", repository, "GitHub Actions sets it; elsewhere export owner/name"),
                ("GITHUB_TOKEN", token, "pass `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` to the step"),
            )
            if not value
        ]
        if missing:
            raise ConfigError(missing)
        server, run = env.get("GITHUB_SERVER_URL", "https://github.com"), env.get("GITHUB_RUN_ID", "")
        return cls(
            repository,
            token,
            env.get("GITHUB_API_URL", "https://api.github.com"),
            f"{server}/{repository}/actions/runs/{run}" if run else "",
            Path(env["GITHUB_STEP_SUMMARY"]) if env.get("GITHUB_STEP_SUMMARY") else None,
            Path(env["GITHUB_OUTPUT"]) if env.get("GITHUB_OUTPUT") else None,
        )


def build_gateway(
    config: Config, actions: ActionsEnv, gateway_options: Mapping[str, object] | None = None
) -> GitHubGateway:
    from bot.github.pygithub_gateway import PyGithubGateway

    return PyGithubGateway(
        actions.repository,
        token=actions.token,
        base_url=actions.api_url,
        bot_login=config.github.bot_login,
        **dict(gateway_options or {}),  # type: ignore[arg-type]
    )


def build_event_handler(
    repo: Path,
    config: Config,
    actions: ActionsEnv,
    *,
    env: Mapping[str, str] | None = None,
    base_branch: str = "",
    gateway_options: Mapping[str, object] | None = None,
    fanout: Path | None = None,
) -> EventHandler:
    """The bot as it runs in a workflow: the PyGithub gateway, work in the checkout, the handler."""
    from bot.events.work import FanoutWork, RepoWork

    gateway = build_gateway(config, actions, gateway_options)

    options: dict[str, Any] = {
        "repo": repo,
        "config": config,
        "gateway": gateway,
        "base_branch": base_branch or "main",
        "run_url": actions.run_url,
        "env": env,
        "summary_path": actions.step_summary,
    }
    # With a fan-out folder the event job only plans and hands the items to the workflow's matrix
    # of work jobs, which hold no write token; without one, it runs them itself.
    work = (
        FanoutWork(folder=fanout, output=actions.output, **options)
        if fanout is not None
        else RepoWork(**options)
    )
    return EventHandler(gateway=gateway, config=config, work=work)


async def work_items(
    repo: Path,
    checklist: Checklist,
    item_ids: Sequence[str],
    *,
    config: Config,
    out: Path,
    job: str,
    budget: Decimal | None = None,
    env: Mapping[str, str] | None = None,
) -> JobResult:
    """One fan-out job: run ``item_ids`` from the checkout's HEAD (their dependencies are done and
    in it), with a ledger of the job's own, and leave the artifact in ``out``. No GitHub token."""
    known = {i.id for i in checklist.items}
    unknown = [i for i in item_ids if i not in known]
    if unknown:
        raise ChecklistError(
            "the checklist",
            [ChecklistProblem(0, f"no item {u!r}", "use an id from the matrix") for u in unknown],
        )
    selected = tuple(
        dataclasses.replace(i, depends_on=tuple(d for d in i.depends_on if d in item_ids))
        for i in checklist.items
        if i.id in item_ids
    )
    out.mkdir(parents=True, exist_ok=True)
    updates: dict[str, Any] = {
        "ledger": config.ledger.model_copy(update={"path": str((out / LEDGER).resolve())})
    }
    if budget is not None:
        updates["budget"] = config.budget.model_copy(update={"per_run_usd": budget})
    job_config = config.model_copy(update=updates)
    trees = Worktrees(repo)
    head = trees.resolve("HEAD")
    outcome = await run_milestone(
        repo,
        dataclasses.replace(checklist, items=selected),
        config=job_config,
        run_id=job,
        base_ref=head,
        env=env,
    )
    branch = ""
    commit = ""
    integration = outcome.integration
    validated = integration is not None and integration.verdict is not None and integration.verdict.accepted
    if validated and integration is not None and trees.bundle(out / BUNDLE, integration.branch, exclude=head):
        branch, commit = integration.branch, integration.commit
    items = []
    for item in outcome.checklist.items:
        result = outcome.report.results.get(item.id)
        history = (
            tuple((a.phase, a.tier, a.verdict.value, str(a.cost)) for a in result.attempts) if result else ()
        )
        # Done only if its work is in the bundle: a done item whose integration did not validate
        # has nothing to hand on.
        done = item.status is ItemStatus.DONE and bool(branch)
        status = ItemStatus.FAILED if item.status is ItemStatus.DONE and not done else item.status
        items.append(
            ItemOutcome(
                item.id,
                status.value,
                item.attempts,
                str(item.cost_usd),
                item.commit if done else "",
                outcome.report.notes.get(item.id, "") or (result.reason if result else ""),
                history,
                tuple((st.name, st.status) for st in result.verdict.stages)
                if result and result.verdict
                else (),
            )
        )
    job_result = JobResult(job, branch, commit, str(outcome.report.costs.total), tuple(items))
    job_result.write(out)
    (out / "report.md").write_text(render_markdown(outcome.report), encoding="utf-8")
    return job_result


async def publish_artifacts(
    repo: Path,
    checklist: Checklist,
    artifacts: Sequence[Path],
    *,
    config: Config,
    run_id: str,
    base_ref: str = "HEAD",
) -> RunReport:
    """Collect the fan-out jobs' artifacts: fetch their branches, integrate in dependency order,
    re-validate (scrubbed environment, no model: a conflict fails the item), and sum their ledgers
    into one cost table."""
    trees = Worktrees(repo)
    base = trees.resolve(base_ref)
    items = {i.id: i for i in checklist.items}
    results: dict[str, ItemResult] = {}
    notes: dict[str, str] = {}
    calls: list[CallRecord] = []
    for folder in artifacts:
        job = JobResult.read(folder)
        ref = f"milestone-bot/{run_id}/{slug_of(job.job)}"
        if job.branch:
            trees.fetch_bundle(folder / BUNDLE, job.branch, ref)
        if (folder / LEDGER).exists():
            job_ledger = Ledger(folder / LEDGER)
            try:
                calls += job_ledger.calls()
            finally:
                job_ledger.close()
        for outcome in job.items:
            if outcome.id not in items:
                notes[outcome.id] = f"in artifact {folder.name} but not in the checklist: ignored"
                continue
            status = ItemStatus(outcome.status)
            item = dataclasses.replace(
                items[outcome.id],
                status=status,
                attempts=items[outcome.id].attempts + outcome.attempts,
                cost_usd=items[outcome.id].cost_usd + Decimal(outcome.cost_usd),
                branch=ref if status is ItemStatus.DONE else "",
                commit=outcome.commit,
            )
            items[outcome.id] = item
            if outcome.reason and status is not ItemStatus.DONE:
                notes[outcome.id] = outcome.reason
            attempts = tuple(
                AttemptRecord(phase, tier, Verdict(verdict), Decimal(cost))  # type: ignore[arg-type]
                for phase, tier, verdict, cost in outcome.history
            )
            verdict = (
                ValidationVerdict(tuple(StageResult(name, status) for name, status in outcome.stages))  # type: ignore[arg-type]
                if outcome.stages
                else None
            )
            results[outcome.id] = ItemResult(item, attempts, outcome.reason, verdict)
    worked = dataclasses.replace(checklist, items=tuple(items[i.id] for i in checklist.items))
    validation = config.validation
    settings = Settings(timeout_s=validation.timeout_s, secrets=tuple(validation.secret_env))

    async def no_models(item: Item, on: str) -> Item:
        # The publish job runs no model-written code beyond re-validation: a conflict fails the item.
        notes[item.id] = "its branch conflicts with the other jobs' work; run it again in the next wave"
        return dataclasses.replace(item, status=ItemStatus.FAILED)

    integrated, integration = await integrate(
        worked, trees=trees, run_id=run_id, base_ref=base, redo=no_models,
        toolchain=toolchain(trees.repo_path, validation), settings=settings,
    )  # fmt: skip
    costs = cost_summary(config, calls)
    return RunReport(run_id, integrated, results, integration, costs, notes)
