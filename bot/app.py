"""Composition root: builds the concrete gateway and the event handler from the config and the
environment, and wires them to the execution layer. It holds no orchestration of its own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.errors import ConfigError, ConfigIssue
from bot.events.handler import EventHandler
from bot.github.gateway import GitHubGateway

# Names of variables, not secrets. "true": the workflow passed an App's or a person's token.
CI_TOKEN_ENV = "MILESTONE_BOT_CI_TOKEN"  # noqa: S105
# The token for check runs when GITHUB_TOKEN is a person's (only Apps may create check runs).
CHECKS_TOKEN_ENV = "MILESTONE_BOT_CHECKS_TOKEN"  # noqa: S105


@dataclass(frozen=True)
class ActionsEnv:
    """What GitHub Actions tells a step about itself, read from its environment."""

    repository: str
    token: str
    api_url: str = "https://api.github.com"
    run_url: str = ""
    step_summary: Path | None = None
    output: Path | None = None
    ci_token: bool = False  # a GitHub App's or a person's token: its pushes and PRs start workflows
    checks_token: str = ""  # empty: check runs use ``token`` too

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
            env.get(CI_TOKEN_ENV, "").lower() == "true",
            env.get(CHECKS_TOKEN_ENV, ""),
        )


def build_gateway(
    config: Config, actions: ActionsEnv, gateway_options: Mapping[str, object] | None = None
) -> GitHubGateway:
    from bot.github.pygithub_gateway import PyGithubGateway
    from bot.github.split import ChecksThrough

    def gateway(token: str) -> PyGithubGateway:
        return PyGithubGateway(
            actions.repository,
            token=token,
            base_url=actions.api_url,
            bot_login=config.github.bot_login,
            **dict(gateway_options or {}),  # type: ignore[arg-type]
        )

    main = gateway(actions.token)
    if actions.checks_token and actions.checks_token != actions.token:
        return ChecksThrough(main, gateway(actions.checks_token))  # type: ignore[return-value]
    return main


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
    from bot.events.fanout_followup import FanoutFollowUps
    from bot.events.followup_work import RepoFollowUps

    gateway = build_gateway(config, actions, gateway_options)

    options: dict[str, Any] = {
        "repo": repo,
        "config": config,
        "gateway": gateway,
        "base_branch": base_branch,  # empty: the repository's default branch, from the event
        "ci_token": actions.ci_token,
        "push_token": actions.token,
        "run_url": actions.run_url,
        "env": env,
        "summary_path": actions.step_summary,
    }
    # With a fan-out folder the event job only plans and hands the items to the workflow's matrix
    # of work jobs, which hold no write token; without one, it runs them itself.
    if fanout is not None:
        # Follow-ups run model-written code and push: never in the fan-out's event job, which holds
        # a write token. It collects their items and hands them to the work jobs, as for a run.
        handed = FanoutFollowUps(folder=fanout, output=actions.output, **options)
        return EventHandler(gateway=gateway, config=config, work=handed, followups=handed)
    work = RepoFollowUps(**options)
    return EventHandler(gateway=gateway, config=config, work=work, followups=work)


# The execution layer's entry points, importable from the composition root as before the move.
from bot.execution.jobs import publish_artifacts as publish_artifacts  # noqa: E402
from bot.execution.jobs import work_items as work_items  # noqa: E402
from bot.execution.plan import plan_issue as plan_issue  # noqa: E402
from bot.execution.plan import plan_source as plan_source  # noqa: E402
from bot.execution.run import RunOutcome as RunOutcome  # noqa: E402
from bot.execution.run import run_milestone as run_milestone  # noqa: E402
from bot.execution.run import save_checklist as save_checklist  # noqa: E402
from bot.execution.run import validate_working_tree as validate_working_tree  # noqa: E402
from bot.execution.services import SKIP_TIERS_ENV as SKIP_TIERS_ENV  # noqa: E402
from bot.execution.services import build_provider as build_provider  # noqa: E402
from bot.execution.services import build_router as build_router  # noqa: E402
from bot.execution.services import cost_summary as cost_summary  # noqa: E402
from bot.execution.services import open_ledger as open_ledger  # noqa: E402
from bot.execution.services import skipped_tiers as skipped_tiers  # noqa: E402
