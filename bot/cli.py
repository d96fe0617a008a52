"""Command-line entry: parses arguments and calls into the bot; no business logic here.

One vocabulary in every command: ``--checklist``, ``--budget-usd``, ``--context-bytes``, ``--repo``,
``--config``, ``--base``; ``-v`` before or after the command. A user error (a missing file, a bad
flag, an unknown run, a config that cannot serve) is one line and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from bot import __version__
from bot.domain import Checklist, ItemStatus
from bot.errors import BotError, ChecklistError, ConfigError, UsageError, WorkspaceError
from bot.report.money import usd

if TYPE_CHECKING:
    from bot.config import Config
    from bot.execution.run import RunOutcome

# bot.config (pydantic) is most of the start-up: `--help` and argument errors must not pay for it,
# so it is imported when a command loads a config. The path is bot.config's (a test says so).
DEFAULT_CONFIG_PATH = Path(".github/milestone-bot.toml")


def load_config(path: Path) -> Config:
    from bot.config import load_config as load

    return load(path)


EXIT_INVALID_CONFIG = 2
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (and the same exit code as every user error)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- argument types ----------------------------------------------------------------------------------
def _parse_since(text: str) -> float:
    match = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 12h, 7d or 2w")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return time.time() - int(match.group(1)) * seconds


def _size(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([kK]?)[bB]?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 20000, 20k or 8kb")
    return int(match.group(1)) * (1000 if match.group(2) else 1)


def _whole_number(text: str, *, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{text!r} must be {minimum} or more")
    return value


def _positive(text: str) -> int:
    return _whole_number(text, minimum=1)


def _count(text: str) -> int:
    return _whole_number(text, minimum=0)


def _dollars(text: str) -> Decimal | None:
    if not text.strip():
        return None  # workflows pass an empty value for "no budget of its own"
    try:
        value = Decimal(text.strip().lstrip("$"))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of USD like 2 or 0.50") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more USD")
    return value


# -- shared helpers ----------------------------------------------------------------------------------
def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _config(args: argparse.Namespace) -> Config:
    """``--config``, or the repository's ``.github/milestone-bot.toml``; ``--budget-usd`` overrides
    the run's budget."""
    repo = Path(getattr(args, "repo", ".") or ".")
    config = load_config(Path(args.config) if args.config else repo / DEFAULT_CONFIG_PATH)
    budget = getattr(args, "budget_usd", None)
    if budget is not None:
        config = config.model_copy(
            update={"budget": config.budget.model_copy(update={"per_run_usd": budget})}
        )
    return config


def _checklist(path: Path) -> Checklist:
    from bot.planning.checklist_file import parse

    return parse(_read(path, "checklist"), file=str(path))


def _preflight(config: Config, repo: Path, *, online: bool = True) -> tuple[Config, tuple[str, ...]]:
    """Before anything is spent or created: every tier the run may use can serve, or the run stops
    here (``PreflightError``), unless the tier is optional (then the remarks say it was skipped)."""
    import asyncio

    from bot import preflight
    from bot.execution.services import model_lister, skipped_tiers

    config, remarks = skipped_tiers(config, os.environ)
    lister = model_lister(os.environ, root=repo) if online else None
    failing = asyncio.run(preflight.check(config, env=os.environ, root=repo, list_models=lister))
    config, skipped = preflight.apply(config, failing)
    for remark in skipped:
        print(f"note: {remark}", file=sys.stderr)
    return config, (*remarks, *skipped)


def _clean_after(repo: Path, config: Config) -> None:
    """Worktrees and branches of finished runs go after each run; the newest few keep their branches."""
    from bot.workspace.runs import clean
    from bot.workspace.worktrees import Worktrees

    cleaned = clean(Worktrees(repo), keep=config.cleanup.keep_runs)
    if cleaned.worktrees or cleaned.branches:
        print(f"cleaned up: {cleaned.render()} (cleanup.keep_runs = {config.cleanup.keep_runs})")


def _print_unfinished(outcome: RunOutcome) -> None:
    from bot.report.run_report import reason

    for item in outcome.checklist.items:
        if item.status is not ItemStatus.DONE:
            print(f"  {item.id}: {item.status.value}: {reason(outcome.report, item)}")


# -- commands ----------------------------------------------------------------------------------------
def _config_check(args: argparse.Namespace) -> int:
    import asyncio

    from bot import preflight
    from bot.execution.services import model_lister

    repo = Path(args.repo)
    path = Path(args.path or args.config or repo / DEFAULT_CONFIG_PATH)
    try:
        config = load_config(path)
    except ConfigError as exc:
        count = len(exc.issues)
        print(f"{path}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue.render()}", file=sys.stderr)
        return EXIT_INVALID_CONFIG
    print(f"ok: {path}")
    print(f"  preset: {config.routing.preset}")
    for name, tier in config.tiers.items():
        providers = ", ".join(f"{p.display_name} ({p.model})" for p in tier.providers)
        print(f"  tier {name}: {providers}" + (" (optional)" if tier.optional else ""))
    b = config.budget
    limits = [
        f"{n}={usd(v)}"
        for n, v in (
            ("attempt", b.per_attempt_usd),
            ("item", b.per_item_usd),
            ("run", b.per_run_usd),
            ("day", b.per_day_usd),
        )
        if v is not None
    ]
    print(f"  budget: {', '.join(limits) or 'unlimited'}")
    lister = model_lister(os.environ, root=repo) if args.online else None
    failing = asyncio.run(preflight.check(config, env=os.environ, root=repo, list_models=lister))
    where = (
        "keys, prices, scripts and endpoints"
        if args.online
        else "keys, prices and scripts; --online asks the endpoints"
    )
    if not failing:
        print(f"  pre-flight: every tier can serve ({where})")
        return 0
    for problems in failing.values():
        for problem in problems:
            print(f"  {problem.render()}", file=sys.stderr)
    blocking = [t for t in failing if not config.tiers[t].optional]
    if blocking:
        print(
            f"pre-flight: tier {', '.join(blocking)} cannot serve: a run would stop before spending",
            file=sys.stderr,
        )
        return EXIT_INVALID_CONFIG
    print(f"  pre-flight: optional tier {', '.join(failing)} would be skipped")
    return 0


def _config_init(args: argparse.Namespace) -> int:
    from bot.config_init import render_config

    path = Path(args.path or args.config or Path(args.repo) / DEFAULT_CONFIG_PATH)
    if path.exists() and not args.force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    text, config = render_config(
        args.provider, model=args.model, base_url=args.base_url, api_key_env=args.api_key_env
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    provider = config.tiers["main"].providers[0]
    key = getattr(provider, "api_key_env", None)
    print(f"wrote {path}: one tier, {provider.display_name} ({provider.model})")
    if key:
        print(f"next: export {key}=<your key>, then `milestone-bot config check --online`")
    return 0


def _cost(args: argparse.Namespace) -> int:
    config = _config(args)
    path = Path(args.ledger or config.ledger.path)
    if not path.is_absolute() and not args.ledger:
        path = Path(args.repo) / path
    if not path.exists():
        print(f"no ledger at {path}: no model calls recorded yet", file=sys.stderr)
        return 0
    from bot.budget.ledger import Ledger, Scope
    from bot.report.cost import render_json, render_text

    ledger = Ledger(path)
    calls = ledger.calls(Scope(run_id=args.run, since=args.since))
    from bot.execution.services import cost_summary

    summary = cost_summary(config, calls)
    print(render_json(summary) if args.json else render_text(summary))
    return 0


def _demo(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir) if args.workdir else None
    if args.github:
        from bot.demo_github import run_github_demo

        return run_github_demo(workdir)
    from bot.demo import run_demo

    return run_demo(workdir)


def _validate(args: argparse.Namespace) -> int:
    import asyncio

    from bot.execution.run import validate_working_tree

    repo = Path(args.repo)
    config_path = Path(args.config) if args.config else repo / DEFAULT_CONFIG_PATH
    config = load_config(config_path) if config_path.exists() or args.config else None
    verdict = asyncio.run(
        validate_working_tree(
            repo, base_ref=args.base, config=config, run_all=args.all, trust_config=bool(args.config)
        )
    )
    print(verdict.to_json() if args.json else verdict.render())
    return 0 if verdict.accepted else 1


def _context(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from bot.context.engine import ContextEngine, ItemContext

    repo = Path(args.repo)
    config_path = Path(args.config) if args.config else repo / DEFAULT_CONFIG_PATH
    settings = load_config(config_path).context if config_path.exists() or args.config else None
    engine = ContextEngine(repo, settings=settings)
    log = _read(Path(args.log), "log") if args.log else ""
    budget = args.context_bytes or (settings.budget_bytes if settings else 20_000)
    if args.prompt:
        return _context_prompt(args, engine, log=log, budget=budget)
    if not args.item:
        raise SystemExit("context: --item is needed (or --prompt with --checklist or --log)")
    if args.plan:
        pack = engine.for_plan(args.item, budget=budget)
    else:
        pack = engine.for_item(ItemContext(args.item, kind=args.kind, log=log, budget=budget))
    if args.json:
        print(json.dumps({**asdict(pack), "size": pack.size}, indent=2))
        return 0
    index = engine.index
    print(f"index: {len(index.files)} files ({index.parsed} parsed, the rest cached) in {index.seconds:.2f}s")
    print(f"context: {pack.size} of {pack.budget} bytes; sections: {', '.join(pack.sections) or 'none'}")
    for item in pack.included:
        print(f"  + {item.key:<50} {item.bytes:>6} B  {item.score:6.3f}  {'; '.join(item.reasons)}")
    for item in pack.left_out:
        print(f"  - {item.key:<50} {item.bytes:>6} B  {item.score:6.3f}  (left out: over budget)")
    if args.show:
        print()
        print(pack.text)
    return 0


def _context_prompt(args: argparse.Namespace, engine: Any, *, log: str, budget: int) -> int:
    """Exactly the request an item's first attempt gets in ``run``/``fix``: the same builder."""
    from bot.domain import CallScope, Item, ItemKind, Purpose
    from bot.execution.prompts import build_request, first_phase, render_request
    from bot.planning.checklist_file import parse as parse_checklist
    from bot.planning.planner import plan_red_build

    if args.checklist:
        items = parse_checklist(Path(args.checklist).read_text(encoding="utf-8"), file=args.checklist).items
    elif log:
        items = plan_red_build(log, ref="local#build", title="Fix the failing build").items  # as `fix` plans
    elif args.item:
        title, _, description = args.item.partition("\n")
        kind = ItemKind(args.kind) if args.kind in ItemKind.__members__.values() else ItemKind.FEATURE
        items = (Item("item", title, description.strip(), kind=kind),)
    else:
        raise SystemExit("context --prompt: give --checklist, --log or --item")
    if args.item_id:
        items = tuple(i for i in items if i.id == args.item_id)
        if not items:
            raise SystemExit(f"context --prompt: no item {args.item_id!r}")
    for item in items:
        phase = args.phase or first_phase(item)
        purpose = Purpose.TEST if phase == "test" else Purpose.CHANGE
        request, pack = build_request(
            engine, item, phase, CallScope("preview", purpose, item.id), budget=budget
        )
        print(f"# item {item.id}, {phase} phase: {pack.size} bytes of context (budget {budget})")
        print(render_request(request))
    return 0


def _run_with_view(
    repo: Path,
    checklist: Checklist,
    config: Config,
    run_id: str,
    args: argparse.Namespace,
    checklist_path: Path,
    **options: Any,
) -> RunOutcome:
    """A run with its progress shown: a live table on a terminal, plain lines otherwise."""
    import asyncio

    from bot.execution.run import run_milestone
    from bot.report.live import TerminalProgress
    from bot.report.progress import Board

    with TerminalProgress(Board(checklist), live=False if args.plain else None) as view:
        return asyncio.run(
            run_milestone(
                repo,
                checklist,
                config=config,
                run_id=run_id,
                checklist_path=checklist_path,
                on_update=view.on_update,
                on_attempt=view.on_attempt,
                **options,
            )
        )


def _work_checklist(
    args: argparse.Namespace, checklist: Checklist, checklist_path: Path, *, run_id: str, config: Config
) -> int:
    """The part of ``run`` and ``retry`` after the checklist is chosen: pre-flight, the run, the
    results with their reasons, the cleanup."""
    repo = Path(args.repo).resolve()
    pending = [i.id for i in checklist.items if i.status is ItemStatus.PENDING]
    if not pending:
        print(f"nothing to do: every item of {checklist_path} has ended (done, failed or skipped)")
        return 0 if all(i.status is ItemStatus.DONE for i in checklist.items) else 1
    config, remarks = _preflight(config, repo)
    parallel = args.parallel or config.concurrency.parallel
    print(
        f"run {run_id}: {checklist.title} ({len(pending)} of {len(checklist.items)} items to work, "
        f"parallel {parallel})"
    )
    outcome = _run_with_view(
        repo, checklist, config, run_id, args, checklist_path, parallel=args.parallel, base_ref=args.base,
        remarks=remarks,
    )  # fmt: skip
    done = sum(1 for i in outcome.checklist.items if i.status is ItemStatus.DONE)
    print(f"\n{done} of {len(outcome.checklist.items)} items done; spent {usd(outcome.report.costs.total)}")
    _print_unfinished(outcome)
    if outcome.integration is not None:
        print(f"integrated branch: {outcome.integration.branch} ({outcome.integration.commit[:10]})")
    print(f"report: {outcome.report_dir / 'report.md'} (and report.json)")
    _clean_after(repo, config)
    return 0 if done == len(outcome.checklist.items) else 1


def _new_run_id(prefix: str = "") -> str:
    import secrets

    return prefix + time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def _run(args: argparse.Namespace) -> int:
    from bot.execution.run import save_checklist
    from bot.planning.reopen import reopen, unfinished
    from bot.workspace.runs import known_runs, run_exists
    from bot.workspace.worktrees import Worktrees

    repo = Path(args.repo).resolve()
    checklist_path = _checklist_path(args)
    checklist = _checklist(checklist_path)
    config = _config(args)
    if args.resume:
        trees = Worktrees(repo)
        if not run_exists(trees, args.resume):
            runs = ", ".join(known_runs(trees)[-5:]) or "none"
            raise UsageError(f"no run {args.resume!r} to resume in {repo} (runs there: {runs})")
        kept = [i.id for i in checklist.items if i.status is ItemStatus.DONE]
        print(
            f"resuming run {args.resume}: {len(kept)} items already done "
            f"({', '.join(kept) or 'none'}) are kept"
        )
    left = unfinished(checklist)
    if args.retry_failed and left:
        checklist, reopened = reopen(checklist, left)
        save_checklist(checklist_path, checklist)
        print(f"retrying {len(reopened)} items that ended unfinished: {', '.join(reopened)}")
    elif left:
        print(
            f"note: {len(left)} items ended unfinished earlier and stay so ({', '.join(left)}); "
            "retry them with --retry-failed, or one with `milestone-bot retry ITEM`"
        )
    run_id = args.resume or args.run_id or _new_run_id()
    return _started(args, checklist, checklist_path, run_id=run_id, config=config)


def _started(
    args: argparse.Namespace, checklist: Checklist, checklist_path: Path, *, run_id: str, config: Config
) -> int:
    """The run's folder exists from here on (so a run killed at any later moment resumes by its
    id); it is removed again when nothing came of it (nothing to do, a pre-flight stop, an error)."""
    from bot.workspace.runs import mark_started

    folder = mark_started(Path(args.repo).resolve(), run_id)
    try:
        return _work_checklist(args, checklist, checklist_path, run_id=run_id, config=config)
    finally:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _retry(args: argparse.Namespace) -> int:
    from bot.execution.run import save_checklist
    from bot.planning.reopen import reopen

    checklist_path = _checklist_path(args)
    checklist, reopened = reopen(_checklist(checklist_path), args.items)
    config = _config(args)
    save_checklist(checklist_path, checklist)
    more = [i for i in reopened if i not in args.items]
    print(
        f"retrying {', '.join(args.items)}"
        + (f" (and {', '.join(more)}, skipped because of it)" if more else "")
    )
    return _started(
        args, checklist, checklist_path, run_id=args.run_id or _new_run_id("retry-"), config=config
    )


def _fix(args: argparse.Namespace) -> int:
    import asyncio

    from bot.errors import PlanningError
    from bot.execution.plan import plan_issue
    from bot.execution.run import save_checklist
    from bot.planning.planner import plan_red_build
    from bot.workspace import proc
    from bot.workspace.user_command import parse_user_command
    from bot.workspace.worktrees import Worktrees

    repo = Path(args.repo).resolve()
    config = _config(args)
    trees = Worktrees(repo)
    dirty = trees.dirty()
    if dirty and args.base == "HEAD":
        shown = ", ".join(line[3:] for line in dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise UsageError(
            f"the working tree has {len(dirty)} uncommitted changes ({shown}); the bot fixes commits, "
            "so it would not see them: commit or stash them first (or pass --base REF to fix that commit)"
        )
    run_id = args.run_id or _new_run_id("fix-")
    issue_text = _read(Path(args.issue_file), "issue file") if args.issue_file else None
    log = ""
    if issue_text is None and args.cmd:
        command = parse_user_command(args.cmd, cwd=repo)
        if args.base != "HEAD":
            raise UsageError(
                "--cmd runs in the working tree, which is not --base; use --log with that commit's output"
            )
        result = asyncio.run(
            proc.run(
                command.argv,
                cwd=repo,
                root=repo,
                timeout_s=config.validation.timeout_s,
                extra_env=command.env,
            )
        )
        if result.timed_out:
            raise UsageError(
                f"`{args.cmd}` did not finish within {config.validation.timeout_s:g}s (validation.timeout_s)"
            )
        if result.ok:
            print(f"`{args.cmd}` passes: nothing to fix")
            return 0
        log = result.output
    elif issue_text is None:
        log = _read(Path(args.log), "log")
    if issue_text is None:  # planning from a log is free: it comes before pre-flight
        try:
            checklist = plan_red_build(log, ref="local#build", title="Fix the failing build")
        except PlanningError:
            tail = " | ".join(line.strip() for line in log.strip().splitlines()[-3:] if line.strip())[:300]
            source = f"`{args.cmd}` failed" if args.cmd else f"{args.log}"
            raise UsageError(
                f"{source}, but no test failure could be read from its output (last lines: {tail})"
            ) from None
    config, remarks = _preflight(config, repo)
    if issue_text is not None:
        checklist = asyncio.run(plan_issue(repo, issue_text, config=config, run_id=run_id))
    folder = repo / ".milestone-bot" / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    checklist_path = folder / "checklist.md"
    save_checklist(checklist_path, checklist)
    print(f"planned {len(checklist.items)} item(s) in {checklist_path}:")
    for item in checklist.items:
        print(f"  - {item.id}: {item.title}")
    outcome = _run_with_view(
        repo, checklist, config, run_id, args, checklist_path, base_ref=args.base, remarks=remarks
    )
    done = sum(1 for i in outcome.checklist.items if i.status is ItemStatus.DONE)
    print(f"{done} of {len(outcome.checklist.items)} fixed; spent {usd(outcome.report.costs.total)}; "
          f"report: {outcome.report_dir / 'report.md'}")  # fmt: skip
    _print_unfinished(outcome)
    if outcome.integration is not None:
        print(f"integrated branch: {outcome.integration.branch}")
    _clean_after(repo, config)
    return 0 if done == len(outcome.checklist.items) else 1


def _clean(args: argparse.Namespace) -> int:
    from bot.workspace.runs import clean
    from bot.workspace.worktrees import Worktrees

    repo = Path(args.repo).resolve()
    keep = args.keep
    if keep is None:
        path = Path(args.config) if args.config else repo / DEFAULT_CONFIG_PATH
        keep = load_config(path).cleanup.keep_runs if path.exists() or args.config else 5
    cleaned = clean(Worktrees(repo), keep=keep, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(cleaned.render().replace("removed", verb, 1))
    for path in cleaned.worktrees:
        print(f"  worktree {path}")
    for branch in cleaned.branches:
        print(f"  branch {branch}")
    return 0


def _handle_event(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from bot.app import ActionsEnv, build_event_handler

    name = args.event_name or os.environ.get("GITHUB_EVENT_NAME", "")
    path = args.event_path or os.environ.get("GITHUB_EVENT_PATH", "")
    if not name or not path:
        raise UsageError(
            "no event: set GITHUB_EVENT_NAME and GITHUB_EVENT_PATH, or pass --event-name and --event-path"
        )
    try:
        payload = json.loads(_read(Path(path), "event payload"))
    except ValueError as exc:
        raise UsageError(f"the event payload {path} is not JSON: {exc}") from None
    repo = Path(args.repo).resolve()
    config = _config(args)
    if args.dry_run:
        from bot.events.dryrun import describe
        from bot.events.payloads import parse_event

        for line in describe(name, parse_event(name, payload), config):
            print(line)
        print("dry run: nothing was done")
        return 0
    actions = ActionsEnv.read(os.environ)
    fanout = Path(args.fanout_dir) if args.fanout_dir else None
    handler = build_event_handler(repo, config, actions, env=os.environ, base_branch=args.base, fanout=fanout)
    outcomes = asyncio.run(handler.handle(name, payload))
    for outcome in outcomes:
        print(f"{name}: {outcome.action}: {outcome.detail}")
    if actions.output is not None:
        from bot.report.money import decimal_str

        spent = sum((o.spent for o in outcomes), Decimal(0))
        pull = next((o.pull for o in outcomes if o.pull), None)
        conclusion = next((o.conclusion for o in outcomes if o.conclusion == "failure"), None) or (
            outcomes[-1].conclusion if outcomes else "neutral"
        )
        with actions.output.open("a", encoding="utf-8") as out:
            out.write(f"conclusion={conclusion}\ncost={decimal_str(spent)}\npr={pull or ''}\n")
    return 1 if any(o.action == "error" for o in outcomes) else 0


def _runner_check(args: argparse.Namespace) -> int:
    import asyncio

    from bot.config import OpenAICompatProvider
    from bot.models.health import check_server

    base_url, model, key_env = args.base_url, args.model, args.api_key_env
    if not (base_url and model):
        config = _config(args)
        tier = config.tiers.get(args.tier)
        local = (
            next((p for p in tier.providers if isinstance(p, OpenAICompatProvider)), None) if tier else None
        )
        if local is None:
            raise UsageError(
                f"tier {args.tier!r} has no openai_compat provider to check; pass --base-url and --model"
            )
        base_url, model, key_env = (
            base_url or local.base_url,
            model or local.model,
            key_env or local.api_key_env,
        )
    key = os.environ.get(key_env, "").strip() if key_env else None
    if key_env and not key:
        state = "is empty" if key_env in os.environ else "is not set"
        print(f"local tier NOT usable: environment variable {key_env} {state} (the server's key)")
        return 1
    health = asyncio.run(check_server(base_url, model, api_key=key, timeout_s=args.timeout))
    print(health.render())
    return 0 if health.usable else 1


def _write_outputs(values: dict[str, str]) -> None:
    """Step outputs for the workflow (``$GITHUB_OUTPUT``), when there is one."""
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.writelines(f"{k}={v}\n" for k, v in values.items())


def _plan(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from bot.app import ActionsEnv, build_gateway
    from bot.events.sources import resolve
    from bot.execution.fanout import matrix
    from bot.execution.plan import plan_source
    from bot.execution.run import save_checklist

    repo = Path(args.repo).resolve()
    config = _config(args)
    out = _checklist_path(args)
    if args.source:
        target = resolve(build_gateway(config, ActionsEnv.read(os.environ)), args.source)
        run_id = args.run_id or "plan-" + time.strftime("%Y%m%d-%H%M%S")
        config, _ = _preflight(config, repo)
        checklist = asyncio.run(
            plan_source(repo, target.source, config=config, run_id=run_id, env=os.environ)
        )
        save_checklist(out, checklist)
        print(f"planned {len(checklist.items)} item(s) for {target.spec} in {out}", file=sys.stderr)
    else:
        checklist = _checklist(out)
    if args.emit_matrix:
        jobs = matrix(checklist, budget=config.budget.per_run_usd, max_jobs=args.max_jobs)
        text = json.dumps(jobs, separators=(",", ":"))
        print(text)
        _write_outputs({"matrix": text, "has_work": "true" if jobs["include"] else "false"})
    return 0


def _work(args: argparse.Namespace) -> int:
    import asyncio

    from bot.execution.jobs import work_items

    repo = Path(args.repo).resolve()
    config = load_config(Path(args.config) if args.config else repo / DEFAULT_CONFIG_PATH)
    path = _checklist_path(args)
    checklist = _checklist(path)
    result = asyncio.run(
        work_items(
            repo, checklist, args.items.split(), config=config, out=Path(args.out), job=args.job,
            budget=args.budget_usd, env=os.environ, request=path.parent,
        )
    )  # fmt: skip
    for item in result.items:
        why = f" {item.reason}" if item.reason else ""
        print(f"{item.id}: {item.status} ({item.attempts} attempts, {usd(Decimal(item.cost_usd))}){why}")
    print(f"{args.job}: spent {usd(Decimal(result.spent_usd))}; artifact in {args.out}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    import asyncio

    from bot.app import ActionsEnv, build_gateway
    from bot.events.fanout import publish_fanout
    from bot.events.fanout_followup import is_followup, publish_followup
    from bot.execution.jobs import artifact_folders
    from bot.report.money import decimal_str

    repo = Path(args.repo).resolve()
    config = _config(args)
    actions = ActionsEnv.read(os.environ)
    folder = Path(args.artifacts)
    if not folder.is_dir():
        raise UsageError(f"artifacts folder {folder} does not exist")
    artifacts = artifact_folders(folder)
    # A follow-up on a PR lands on the PR's own branch; a run's wave on milestone-bot/<key>.
    publish = publish_followup if is_followup(Path(args.fanout_dir)) else publish_fanout
    published = asyncio.run(
        publish(
            repo, Path(args.fanout_dir), artifacts, config=config, gateway=build_gateway(config, actions),
            base_branch=args.base, run_id=args.run_id or "publish-" + time.strftime("%Y%m%d-%H%M%S"),
            run_url=actions.run_url, summary_path=actions.step_summary, ci_token=actions.ci_token,
            token=actions.token,
        )
    )  # fmt: skip
    print(published.summary)
    if published.pull:
        print(f"PR #{published.pull}")
    _write_outputs({
        "conclusion": published.conclusion, "pr": str(published.pull or ""),
        "cost": decimal_str(published.report.costs.total), "more": "true" if published.more else "false",
        "run": published.run,
    })  # fmt: skip
    return 0 if published.conclusion != "failure" else 1


# -- the parser --------------------------------------------------------------------------------------
_HIDDEN = argparse.SUPPRESS


def _common(parser: argparse.ArgumentParser, *, repo: bool = True, config: bool = True) -> None:
    # default=SUPPRESS: a -v after the command must not be undone by the command's default.
    parser.add_argument("-v", "--verbose", action="store_true", default=_HIDDEN, help="log routing decisions")
    if repo:
        parser.add_argument("--repo", default=".", help="the repository (default: here)")
    if config:
        parser.add_argument("--config", help="config file (default: <repo>/.github/milestone-bot.toml)")


def _checklist_flag(parser: argparse.ArgumentParser, *, old: str = "", help: str) -> None:
    # Required, but checked by _checklist_path: argparse would demand --checklist even when the
    # old name (kept working, out of --help) was given.
    parser.add_argument("--checklist", dest="checklist", help=f"{help} (required)")
    if old:
        parser.add_argument(old, dest="checklist", help=_HIDDEN)


def _checklist_path(args: argparse.Namespace) -> Path:
    if not args.checklist:
        raise UsageError(f"{args.command}: the --checklist FILE argument is required")
    return Path(args.checklist)


def _budget_flag(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--budget-usd", type=_dollars, help=help)
    parser.add_argument("--budget", dest="budget_usd", type=_dollars, help=_HIDDEN)


def _run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--parallel", type=_positive, default=None, help="items at once (default: the config's)"
    )
    parser.add_argument("--base", default="HEAD", help="the ref to start from (default HEAD)")
    _budget_flag(parser, "this run's budget in USD (default: the config's budget.per_run_usd)")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="plain progress lines even on a terminal (default: a live table there)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="milestone-bot", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log routing decisions")
    parser.add_argument("--version", action="version", version=f"milestone-bot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    config = sub.add_parser("config", help="check a config, or write a first one")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    check = config_sub.add_parser(
        "check", help="validate a config and pre-flight its tiers (keys, prices; --online: endpoints)"
    )
    check.add_argument("path", nargs="?", help="the config file (same as --config)")
    check.add_argument(
        "--online",
        action="store_true",
        help="also ask each endpoint whether it serves the model (no completion is paid for)",
    )
    _common(check)
    check.set_defaults(func=_config_check)
    init = config_sub.add_parser("init", help="write a minimal, commented config for one provider")
    init.add_argument(
        "--provider", choices=("groq", "anthropic", "openai_compat"), default="groq", help="default groq"
    )
    init.add_argument("--model", help="default: a sensible model for the provider")
    init.add_argument("--base-url", help="the endpoint (openai_compat: default http://localhost:8000/v1)")
    init.add_argument(
        "--api-key-env", help="the variable holding the key (default GROQ_API_KEY / ANTHROPIC_API_KEY)"
    )
    init.add_argument(
        "--path", help="where to write it (default: the --config path, or <repo>/.github/milestone-bot.toml)"
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    _common(init)
    init.set_defaults(func=_config_init)

    cost = sub.add_parser("cost", help="spend by tier and model, and an estimate of the premium tier alone")
    cost.add_argument("--run", help="only this run id")
    cost.add_argument("--since", type=_parse_since, help="only calls this recent: 30m, 12h, 7d, 2w")
    cost.add_argument("--json", action="store_true", help="machine-readable output")
    cost.add_argument("--ledger", help="ledger file (default: the config's ledger.path)")
    _common(cost)
    cost.set_defaults(func=_cost)

    val = sub.add_parser("validate", help="run the validation pipeline on the working tree's changes")
    val.add_argument("--base", default="HEAD", help="the ref the changes are measured against (default HEAD)")
    val.add_argument("--json", action="store_true", help="machine-readable verdict")
    val.add_argument("--all", action="store_true", help="run every stage even after one fails")
    _common(val)
    val.set_defaults(func=_validate)

    ctx = sub.add_parser(
        "context", help="show the context the bot would send for an item, with sizes and reasons"
    )
    ctx.add_argument("--item", default="", help="the item's text (title and description)")
    ctx.add_argument("--log", help="a CI log or command output with the failure")
    ctx.add_argument("--kind", default="", help="task kind, for project guidance (bugfix, infra, api, ...)")
    ctx.add_argument("--context-bytes", type=_size, help="bytes: 20000, 20k (default: the config's, or 20k)")
    ctx.add_argument("--budget", dest="context_bytes", type=_size, help=_HIDDEN)
    ctx.add_argument("--plan", action="store_true", help="the planning context (repository map) instead")
    ctx.add_argument("--show", action="store_true", help="print the context text itself too")
    ctx.add_argument("--json", action="store_true", help="machine-readable output")
    ctx.add_argument(
        "--prompt", action="store_true",
        help="print the whole request an item's attempt gets in run/fix (from --checklist, --log or --item)",
    )  # fmt: skip
    ctx.add_argument("--checklist", help="with --prompt: a checklist file to take the items from")
    ctx.add_argument("--item-id", help="with --prompt: only this item")
    ctx.add_argument("--phase", choices=("test", "change"), help="with --prompt: the phase (default: first)")
    _common(ctx)
    ctx.set_defaults(func=_context)

    run = sub.add_parser(
        "run", help="work a checklist: items in parallel, tests first, validated, integrated"
    )
    _checklist_flag(
        run, old="--milestone-file", help="the checklist file (checklists/<slug>.md); updated in place"
    )
    _run_flags(run)
    run.add_argument("--run-id", help="name the run (default: time and a random suffix)")
    run.add_argument(
        "--resume", metavar="RUN_ID", help="continue an interrupted run from its checklist file and branches"
    )
    run.add_argument(
        "--retry-failed",
        action="store_true",
        help="work the items that ended failed, over budget or skipped again",
    )
    _common(run)
    run.set_defaults(func=_run)

    retry = sub.add_parser("retry", help="run checklist items again (and the items skipped because of them)")
    retry.add_argument("items", nargs="+", metavar="ITEM", help="item ids")
    _checklist_flag(retry, help="the checklist file; updated in place")
    _run_flags(retry)
    retry.add_argument("--run-id", help="name the run (default: retry- and the time)")
    _common(retry)
    retry.set_defaults(func=_retry)

    fix = sub.add_parser("fix", help="plan and run a red-build or single-issue checklist locally")
    source = fix.add_mutually_exclusive_group(required=True)
    source.add_argument("--log", help="a CI log or test output with the failures")
    source.add_argument(
        "--cmd",
        help='a command that fails now, run without a shell, e.g. "pytest -q" '
        "(VAR=x prefixes work; pipes do not)",
    )
    source.add_argument("--issue-file", help="an issue: first line the title, the rest its body")
    fix.add_argument(
        "--base", default="HEAD", help="the commit to fix (default HEAD; the working tree must be clean)"
    )
    _budget_flag(fix, "this run's budget in USD (default: the config's budget.per_run_usd)")
    fix.add_argument("--run-id", help="name the run")
    fix.add_argument(
        "--plain",
        action="store_true",
        help="plain progress lines even on a terminal (default: a live table there)",
    )
    _common(fix)
    fix.set_defaults(func=_fix)

    clean = sub.add_parser(
        "clean", help="remove worktrees and branches of finished runs (also done after each run)"
    )
    clean.add_argument(
        "--keep",
        type=_count,
        help="keep the branches of this many newest runs (default: cleanup.keep_runs, 5)",
    )
    clean.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")
    _common(clean)
    clean.set_defaults(func=_clean)

    plan = sub.add_parser("plan", help="fan-out: plan a checklist and print the matrix of ready items")
    plan.add_argument("--source", help="issue:N or milestone:N, read from GitHub and planned by the models")
    _checklist_flag(plan, old="--out", help="the checklist file (written with --source, else read)")
    plan.add_argument(
        "--emit-matrix", action="store_true", help="print the strategy.matrix JSON of ready items"
    )
    _budget_flag(plan, "the USD to split across the jobs (default: the config's budget.per_run_usd)")
    plan.add_argument(
        "--max-jobs", type=_positive, default=256, help="at most this many jobs (GitHub's limit: 256)"
    )
    plan.add_argument("--run-id", help="name the planning run in the ledger")
    _common(plan)
    plan.set_defaults(func=_plan)

    work = sub.add_parser(
        "work", help="fan-out: run some items of a checklist and leave an artifact (no token)"
    )
    _checklist_flag(work, help="the checklist file")
    work.add_argument("--items", required=True, help="item ids, space-separated (a matrix entry's items)")
    work.add_argument("--job", required=True, help="the job's name (the matrix entry's job)")
    work.add_argument("--out", required=True, help="the artifact folder to write")
    _budget_flag(work, "this job's slice of the run budget in USD")
    _common(work)
    work.set_defaults(func=_work)

    publish = sub.add_parser(
        "publish", help="fan-out: integrate the work artifacts, push, open or update the PR"
    )
    publish.add_argument("--fanout-dir", required=True, help="the folder handle-event --fanout-dir wrote")
    publish.add_argument(
        "--artifacts", required=True, help="the folder holding the work jobs' artifact folders"
    )
    publish.add_argument(
        "--base", default="main", help="the branch the PR targets when the request names none"
    )
    publish.add_argument("--run-id", help="name the integration run")
    _common(publish)
    publish.set_defaults(func=_publish)

    runner = sub.add_parser("runner", help="the self-hosted GPU runner")
    runner_sub = runner.add_subparsers(dest="runner_command", required=True, metavar="SUBCOMMAND")
    rcheck = runner_sub.add_parser(
        "check", help="is the local model server usable? (key, models, one tiny completion, a timeout)"
    )
    rcheck.add_argument("--base-url", help="default: the tier's openai_compat provider in the config")
    rcheck.add_argument("--model", help="default: that provider's model")
    rcheck.add_argument("--api-key-env", help="the variable holding the server's key, if it wants one")
    rcheck.add_argument("--tier", default="local", help="the tier to check (default local)")
    rcheck.add_argument(
        "--timeout", type=float, default=30.0, help="seconds for the whole check (default 30)"
    )
    _common(rcheck)
    rcheck.set_defaults(func=_runner_check)

    event = sub.add_parser("handle-event", help="act on a GitHub event (what the Action runs)")
    event.add_argument("--event-name", help="default: $GITHUB_EVENT_NAME")
    event.add_argument("--event-path", help="the payload JSON; default: $GITHUB_EVENT_PATH")
    event.add_argument("--base", default="", help="the branch PRs target (default: the repository's default)")
    event.add_argument(
        "--dry-run",
        action="store_true",
        help="print the parsed event, its commands and what it would do; change nothing",
    )
    event.add_argument(
        "--fanout-dir",
        help="hand runs on to the workflow's work jobs: write the checklist and the request here",
    )
    _common(event)
    event.set_defaults(func=_handle_event)

    demo = sub.add_parser(
        "demo", help="run the whole product end to end, offline, against local fake servers"
    )
    demo.add_argument("--workdir", help="keep the demo's files (config, script, ledger) here")
    demo.add_argument(
        "--github",
        action="store_true",
        help="drive it through comments on the GitHub simulator, ending in a PR",
    )
    _common(demo, repo=False, config=False)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except ConfigError as exc:  # a broken config, or pre-flight: nothing was spent
        print(str(exc), file=sys.stderr)
        return EXIT_INVALID_CONFIG
    except (UsageError, ChecklistError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except WorkspaceError as exc:  # not a git repository, an unknown ref ...
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: resume with `milestone-bot run --resume RUN_ID`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
