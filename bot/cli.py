"""Command-line entry: parses arguments and calls into the bot; no business logic here."""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.budget.ledger import Ledger, Scope
from bot.config import DEFAULT_CONFIG_PATH, Config, load_config
from bot.domain import Checklist, ItemStatus
from bot.errors import BotError, ConfigError
from bot.report.cost import render_json, render_text

if TYPE_CHECKING:
    from bot.execution.run import RunOutcome

EXIT_INVALID_CONFIG = 2


def _parse_since(text: str) -> float:
    match = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 12h, 7d or 2w")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return time.time() - int(match.group(1)) * seconds


def _config_check(args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path else DEFAULT_CONFIG_PATH
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
        print(f"  tier {name}: {providers}")
    b = config.budget
    limits = [
        f"{n}={v}"
        for n, v in (
            ("attempt", b.per_attempt_usd),
            ("item", b.per_item_usd),
            ("run", b.per_run_usd),
            ("day", b.per_day_usd),
        )
        if v is not None
    ]
    print(f"  budget (USD): {', '.join(limits) or 'unlimited'}")
    return 0


def _cost(args: argparse.Namespace) -> int:
    config = load_config(Path(args.config) if args.config else None)
    path = Path(args.ledger or config.ledger.path)
    if not path.exists():
        print(f"no ledger at {path}: no model calls recorded yet", file=sys.stderr)
        return 0
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
    config = load_config(config_path) if config_path.exists() else None
    verdict = asyncio.run(validate_working_tree(repo, base_ref=args.base, config=config, run_all=args.all))
    print(verdict.to_json() if args.json else verdict.render())
    return 0 if verdict.accepted else 1


def _size(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([kK]?)[bB]?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 20000, 20k or 8kb")
    return int(match.group(1)) * (1000 if match.group(2) else 1)


def _context(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from bot.context.engine import ContextEngine, ItemContext

    repo = Path(args.repo)
    config_path = repo / DEFAULT_CONFIG_PATH
    settings = load_config(config_path).context if config_path.exists() else None
    engine = ContextEngine(repo, settings=settings)
    log = Path(args.log).read_text(encoding="utf-8", errors="replace") if args.log else ""
    budget = args.budget or (settings.budget_bytes if settings else 20_000)
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


def _run(args: argparse.Namespace) -> int:
    import secrets

    from bot.planning.checklist_file import parse

    repo = Path(args.repo)
    config = load_config(Path(args.config) if args.config else repo / DEFAULT_CONFIG_PATH)
    checklist_path = Path(args.milestone_file)
    checklist = parse(checklist_path.read_text(encoding="utf-8"), file=str(checklist_path))
    run_id = args.resume or args.run_id or time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    if args.resume:
        kept = [i.id for i in checklist.items if i.status is ItemStatus.DONE]
        print(f"resuming run {run_id}: {len(kept)} items already done ({', '.join(kept) or 'none'}) are kept")
    print(f"run {run_id}: {checklist.title} ({len(checklist.items)} items, parallel {args.parallel})")
    outcome = _run_with_view(
        repo, checklist, config, run_id, args, checklist_path, parallel=args.parallel, base_ref=args.base
    )
    done = sum(1 for i in outcome.checklist.items if i.status is ItemStatus.DONE)
    spent = outcome.report.costs.total.quantize(Decimal("0.000001"))
    print(f"\n{done} of {len(outcome.checklist.items)} items done; spent ${spent}")
    if outcome.integration is not None:
        print(f"integrated branch: {outcome.integration.branch} ({outcome.integration.commit[:10]})")
    print(f"report: {outcome.report_dir / 'report.md'} (and report.json)")
    return 0 if done == len(outcome.checklist.items) else 1


def _fix(args: argparse.Namespace) -> int:
    import asyncio
    import secrets
    import shlex

    from bot.execution.plan import plan_issue
    from bot.execution.run import save_checklist
    from bot.planning.planner import plan_red_build
    from bot.workspace import proc

    repo = Path(args.repo).resolve()
    config = load_config(Path(args.config) if args.config else repo / DEFAULT_CONFIG_PATH)
    run_id = args.run_id or "fix-" + time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    if args.issue_file:
        checklist = asyncio.run(
            plan_issue(repo, Path(args.issue_file).read_text(encoding="utf-8"), config=config, run_id=run_id)
        )
    else:
        if args.cmd:
            # The user's own command, split like a shell would, run as an argv list in the sandbox.
            result = asyncio.run(
                proc.run(shlex.split(args.cmd), cwd=repo, root=repo, timeout_s=config.validation.timeout_s)
            )
            if result.ok:
                print(f"`{args.cmd}` passes: nothing to fix")
                return 0
            log = result.output
        else:
            log = Path(args.log).read_text(encoding="utf-8", errors="replace")
        checklist = plan_red_build(log, ref="local#build", title="Fix the failing build")
    folder = repo / ".milestone-bot" / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    checklist_path = folder / "checklist.md"
    save_checklist(checklist_path, checklist)
    print(f"planned {len(checklist.items)} item(s) in {checklist_path}:")
    for item in checklist.items:
        print(f"  - {item.id}: {item.title}")
    outcome = _run_with_view(repo, checklist, config, run_id, args, checklist_path)
    done = sum(1 for i in outcome.checklist.items if i.status is ItemStatus.DONE)
    print(f"{done} of {len(outcome.checklist.items)} fixed; report: {outcome.report_dir / 'report.md'}")
    if outcome.integration is not None:
        print(f"integrated branch: {outcome.integration.branch}")
    return 0 if done == len(outcome.checklist.items) else 1


def _handle_event(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import os

    from bot.app import ActionsEnv, build_event_handler

    name = args.event_name or os.environ.get("GITHUB_EVENT_NAME", "")
    path = args.event_path or os.environ.get("GITHUB_EVENT_PATH", "")
    if not name or not path:
        print(
            "error: no event: set GITHUB_EVENT_NAME and GITHUB_EVENT_PATH, "
            "or pass --event-name and --event-path",
            file=sys.stderr,
        )
        return 2
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: cannot read the event payload {path}: {exc}", file=sys.stderr)
        return 2
    repo = Path(args.repo).resolve()
    config = load_config(Path(args.config) if args.config else repo / DEFAULT_CONFIG_PATH)
    actions = ActionsEnv.read(os.environ)
    if args.dry_run:
        from bot.events.payloads import parse_event

        event = parse_event(name, payload)
        print(f"dry run: {name} -> {type(event).__name__ if event else 'ignored'}; nothing was done")
        return 0
    fanout = Path(args.fanout_dir) if args.fanout_dir else None
    handler = build_event_handler(repo, config, actions, env=os.environ, base_branch=args.base, fanout=fanout)
    outcomes = asyncio.run(handler.handle(name, payload))
    for outcome in outcomes:
        print(f"{name}: {outcome.action}: {outcome.detail}")
    if actions.output is not None:
        spent = sum((o.spent for o in outcomes), Decimal(0))
        pull = next((o.pull for o in outcomes if o.pull), None)
        conclusion = next((o.conclusion for o in outcomes if o.conclusion == "failure"), None) or (
            outcomes[-1].conclusion if outcomes else "neutral"
        )
        with actions.output.open("a", encoding="utf-8") as out:
            out.write(f"conclusion={conclusion}\ncost={spent}\npr={pull or ''}\n")
    return 1 if any(o.action == "error" for o in outcomes) else 0


def _runner_check(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from bot.config import OpenAICompatProvider
    from bot.models.health import check_server

    base_url, model, key_env = args.base_url, args.model, args.api_key_env
    if not (base_url and model):
        config = load_config(Path(args.config) if args.config else Path(args.repo) / DEFAULT_CONFIG_PATH)
        tier = config.tiers.get(args.tier)
        local = (
            next((p for p in tier.providers if isinstance(p, OpenAICompatProvider)), None) if tier else None
        )
        if local is None:
            print(
                f"error: tier {args.tier!r} has no openai_compat provider to check; "
                "pass --base-url and --model",
                file=sys.stderr,
            )
            return 2
        base_url, model, key_env = (
            base_url or local.base_url,
            model or local.model,
            key_env or local.api_key_env,
        )
    key = os.environ.get(key_env) if key_env else None
    health = asyncio.run(check_server(base_url, model, api_key=key, timeout_s=args.timeout))
    print(health.render())
    return 0 if health.usable else 1


def _write_outputs(values: dict[str, str]) -> None:
    """Step outputs for the workflow (``$GITHUB_OUTPUT``), when there is one."""
    import os

    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.writelines(f"{k}={v}\n" for k, v in values.items())


def _plan(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import os

    from bot.app import ActionsEnv, build_gateway
    from bot.events.sources import resolve
    from bot.execution.fanout import matrix
    from bot.execution.plan import plan_source
    from bot.execution.run import save_checklist
    from bot.planning.checklist_file import parse

    repo = Path(args.repo).resolve()
    config = load_config(Path(args.config) if args.config else repo / DEFAULT_CONFIG_PATH)
    out = Path(args.out)
    if args.source:
        target = resolve(build_gateway(config, ActionsEnv.read(os.environ)), args.source)
        run_id = args.run_id or "plan-" + time.strftime("%Y%m%d-%H%M%S")
        checklist = asyncio.run(
            plan_source(repo, target.source, config=config, run_id=run_id, env=os.environ)
        )
        save_checklist(out, checklist)
        print(f"planned {len(checklist.items)} item(s) for {target.spec} in {out}", file=sys.stderr)
    else:
        checklist = parse(out.read_text(encoding="utf-8"), file=str(out))
    if args.emit_matrix:
        budget = Decimal(args.budget) if args.budget else config.budget.per_run_usd
        jobs = matrix(checklist, budget=budget, max_jobs=args.max_jobs)
        text = json.dumps(jobs, separators=(",", ":"))
        print(text)
        _write_outputs({"matrix": text, "has_work": "true" if jobs["include"] else "false"})
    return 0


def _work(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from bot.execution.jobs import work_items
    from bot.planning.checklist_file import parse

    repo = Path(args.repo).resolve()
    config = load_config(Path(args.config) if args.config else repo / DEFAULT_CONFIG_PATH)
    path = Path(args.checklist)
    checklist = parse(path.read_text(encoding="utf-8"), file=str(path))
    items = args.items.split()
    result = asyncio.run(
        work_items(
            repo, checklist, items, config=config, out=Path(args.out), job=args.job,
            budget=Decimal(args.budget) if args.budget else None, env=os.environ, request=path.parent,
        )
    )  # fmt: skip
    for item in result.items:
        why = f" {item.reason}" if item.reason else ""
        print(f"{item.id}: {item.status} ({item.attempts} attempts, ${item.cost_usd}){why}")
    print(f"{args.job}: spent ${result.spent_usd}; artifact in {args.out}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from bot.app import ActionsEnv, build_gateway
    from bot.events.fanout import publish_fanout

    repo = Path(args.repo).resolve()
    config = load_config(Path(args.config) if args.config else repo / DEFAULT_CONFIG_PATH)
    actions = ActionsEnv.read(os.environ)
    artifacts = sorted(p for p in Path(args.artifacts).iterdir() if (p / "result.json").exists())
    published = asyncio.run(
        publish_fanout(
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
        "cost": str(published.report.costs.total), "more": "true" if published.more else "false",
        "run": published.run,
    })  # fmt: skip
    return 0 if published.conclusion != "failure" else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="milestone-bot", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log routing decisions")
    sub = parser.add_subparsers(dest="command", required=True)

    config = sub.add_parser("config", help="configuration commands")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a config file (default .github/milestone-bot.toml)")
    check.add_argument("path", nargs="?")
    check.set_defaults(func=_config_check)

    cost = sub.add_parser("cost", help="spend by tier and model, and what the premium tier alone would cost")
    cost.add_argument("--run", help="only this run id")
    cost.add_argument("--since", type=_parse_since, help="only calls this recent: 30m, 12h, 7d, 2w")
    cost.add_argument("--json", action="store_true", help="machine-readable output")
    cost.add_argument("--config", help="config file (default .github/milestone-bot.toml)")
    cost.add_argument("--ledger", help="ledger file (default: the config's ledger.path)")
    cost.set_defaults(func=_cost)

    val = sub.add_parser("validate", help="run the validation pipeline on the working tree's changes")
    val.add_argument("--repo", default=".", help="repository (default: here)")
    val.add_argument("--base", default="HEAD", help="the ref the changes are measured against (default HEAD)")
    val.add_argument("--json", action="store_true", help="machine-readable verdict")
    val.add_argument("--all", action="store_true", help="run every stage even after one fails")
    val.add_argument("--config", help="config file (default: <repo>/.github/milestone-bot.toml)")
    val.set_defaults(func=_validate)

    ctx = sub.add_parser(
        "context", help="show the context the bot would send for an item, with sizes and reasons"
    )
    ctx.add_argument("--item", default="", help="the item's text (title and description)")
    ctx.add_argument("--repo", default=".", help="repository (default: here)")
    ctx.add_argument("--log", help="a CI log or command output with the failure")
    ctx.add_argument("--kind", default="", help="task kind, for project guidance (bugfix, infra, api, ...)")
    ctx.add_argument("--budget", type=_size, help="bytes: 20000, 20k (default: the config's, or 20k)")
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
    ctx.set_defaults(func=_context)

    run = sub.add_parser(
        "run", help="work a checklist: items in parallel, tests first, validated, integrated"
    )
    run.add_argument(
        "--milestone-file", required=True, help="the checklist file (checklists/<slug>.md); updated in place"
    )
    run.add_argument("--repo", default=".", help="repository (default: here)")
    run.add_argument("--parallel", type=int, default=None, help="items at once (default: the config's)")
    run.add_argument("--base", default="HEAD", help="the ref to start from (default HEAD)")
    run.add_argument("--config", help="config file (default: <repo>/.github/milestone-bot.toml)")
    run.add_argument("--run-id", help="name the run (default: time and a random suffix)")
    run.add_argument(
        "--resume", metavar="RUN_ID", help="continue an interrupted run from its checklist file and branches"
    )
    run.add_argument(
        "--plain",
        action="store_true",
        help="plain progress lines even on a terminal (default: a live table there)",
    )
    run.set_defaults(func=_run)

    fix = sub.add_parser("fix", help="plan and run a red-build or single-issue checklist locally")
    source = fix.add_mutually_exclusive_group(required=True)
    source.add_argument("--log", help="a CI log or test output with the failures")
    source.add_argument("--cmd", help='a command that fails now, e.g. "pytest -q"')
    source.add_argument("--issue-file", help="an issue: first line the title, the rest its body")
    fix.add_argument("--repo", default=".", help="repository (default: here)")
    fix.add_argument("--config", help="config file (default: <repo>/.github/milestone-bot.toml)")
    fix.add_argument("--run-id", help="name the run")
    fix.add_argument(
        "--plain",
        action="store_true",
        help="plain progress lines even on a terminal (default: a live table there)",
    )
    fix.set_defaults(func=_fix)

    plan = sub.add_parser("plan", help="fan-out: plan a checklist and print the matrix of ready items")
    plan.add_argument("--source", help="issue:N or milestone:N, read from GitHub and planned by the models")
    plan.add_argument("--out", required=True, help="the checklist file (read when --source is not given)")
    plan.add_argument(
        "--emit-matrix", action="store_true", help="print the strategy.matrix JSON of ready items"
    )
    plan.add_argument("--budget", help="the USD to split across the jobs (default: the config's per_run_usd)")
    plan.add_argument(
        "--max-jobs", type=int, default=256, help="at most this many jobs (GitHub's limit: 256)"
    )
    plan.add_argument("--repo", default=".", help="repository (default: here)")
    plan.add_argument("--config", help="config file (default: <repo>/.github/milestone-bot.toml)")
    plan.add_argument("--run-id", help="name the planning run in the ledger")
    plan.set_defaults(func=_plan)

    work = sub.add_parser(
        "work", help="fan-out: run some items of a checklist and leave an artifact (no token)"
    )
    work.add_argument("--checklist", required=True, help="the checklist file")
    work.add_argument("--items", required=True, help="item ids, space-separated (a matrix entry's items)")
    work.add_argument("--job", required=True, help="the job's name (the matrix entry's job)")
    work.add_argument("--out", required=True, help="the artifact folder to write")
    work.add_argument("--budget", help="this job's slice of the run budget in USD")
    work.add_argument("--repo", default=".", help="repository (default: here)")
    work.add_argument("--config", help="config file (default: <repo>/.github/milestone-bot.toml)")
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
    publish.add_argument("--repo", default=".", help="repository (default: here)")
    publish.add_argument("--config", help="config file (default: <repo>/.github/milestone-bot.toml)")
    publish.add_argument("--run-id", help="name the integration run")
    publish.set_defaults(func=_publish)

    runner = sub.add_parser("runner", help="the self-hosted GPU runner")
    runner_sub = runner.add_subparsers(dest="runner_command", required=True)
    check = runner_sub.add_parser(
        "check", help="is the local model server usable? (models, one tiny completion, a timeout)"
    )
    check.add_argument("--base-url", help="default: the tier's openai_compat provider in the config")
    check.add_argument("--model", help="default: that provider's model")
    check.add_argument("--api-key-env", help="the variable holding the server's key, if it wants one")
    check.add_argument("--tier", default="local", help="the tier to check (default local)")
    check.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole check (default 30)")
    check.add_argument("--repo", default=".", help="repository whose config to read (default: here)")
    check.add_argument("--config", help="config file (default: <repo>/.github/milestone-bot.toml)")
    check.set_defaults(func=_runner_check)

    event = sub.add_parser("handle-event", help="act on a GitHub event (what the Action runs)")
    event.add_argument("--event-name", help="default: $GITHUB_EVENT_NAME")
    event.add_argument("--event-path", help="the payload JSON; default: $GITHUB_EVENT_PATH")
    event.add_argument("--repo", default=".", help="the repository checkout (default: here)")
    event.add_argument("--config", help="config file (default: <repo>/.github/milestone-bot.toml)")
    event.add_argument("--base", default="", help="the branch PRs target (default: the repository's default)")
    event.add_argument(
        "--dry-run", action="store_true", help="parse and say what it would handle; change nothing"
    )
    event.add_argument(
        "--fanout-dir",
        help="hand runs on to the workflow's work jobs: write the checklist and the request here",
    )
    event.set_defaults(func=_handle_event)

    demo = sub.add_parser(
        "demo", help="run the routing layer end to end, offline, against local fake servers"
    )
    demo.add_argument("--workdir", help="keep the demo's files (config, script, ledger) here")
    demo.add_argument(
        "--github",
        action="store_true",
        help="drive it through comments on the GitHub simulator, ending in a PR",
    )
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INVALID_CONFIG
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
