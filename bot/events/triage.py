"""Red-build triage before any model is paid: infrastructure, pre-existing, flaky, or a regression.

Pure decisions over what the gateway reports (jobs, their logs, runs of the base commit). The
handler acts on them: infrastructure and pre-existing failures are reported, not fixed; a first
failure gets GitHub's rerun of the failed jobs (once per run); the rerun's outcome arrives as the
next ``workflow_run`` event and says flaky (it passed) or regression (it failed again).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.github.gateway import JobData, RunData


class Triage(StrEnum):
    INFRASTRUCTURE = "infrastructure"
    PRE_EXISTING = "pre-existing"
    RERUN = "rerun"  # not known yet: rerun the failed jobs and look again
    FLAKY = "flaky"
    REGRESSION = "regression"


# Signs that the machine or the network failed, not the code. Matched in the failed jobs' logs.
_INFRA = re.compile(
    "|".join(
        (
            r"The runner has received a shutdown signal",
            r"lost communication with the server",
            r"The hosted runner: .* lost communication",
            r"No space left on device",
            r"Could not resolve host",
            r"Temporary failure in name resolution",
            r"Connection reset by peer",
            r"ECONNRESET|ETIMEDOUT|EAI_AGAIN",
            r"Read timed out\.|ReadTimeoutError",
            r"(?:429|502|503) (?:Too Many Requests|Bad Gateway|Service Unavailable)",
            r"The operation was canceled\.",
            r"The job running on runner .* has exceeded the maximum execution time",
        )
    ),
    re.I,
)


@dataclass(frozen=True)
class Decision:
    triage: Triage
    reason: str


def infrastructure(jobs: Sequence[JobData], logs: dict[int, str]) -> str | None:
    """Why the failure is the infrastructure's, or None."""
    if not jobs:
        return "the run failed with no failed job (cancelled or never started)"
    for job in jobs:
        if job.conclusion in ("cancelled", "timed_out"):
            return f"job {job.name!r} was {job.conclusion.replace('_', ' ')}"
    for job in jobs:
        match = _INFRA.search(logs.get(job.id, ""))
        if match and not job.failed_steps:
            return f"job {job.name!r}: {match.group(0)}"
        if match and all(
            step.lower().startswith(("set up", "checkout", "post ")) for step in job.failed_steps
        ):
            return f"job {job.name!r} failed while setting up: {match.group(0)}"
    return None


def pre_existing(
    jobs: Sequence[JobData], base_runs: Iterable[tuple[RunData, Sequence[JobData]]], path: str
) -> str | None:
    """Why the failure was there before this commit (the same workflow's same jobs failed on the
    base commit), or None."""
    failing = {j.name for j in jobs}
    for run, base_jobs in base_runs:
        if run.path != path or run.conclusion != "failure":
            continue
        before = {j.name for j in base_jobs}
        if failing <= before:
            return (
                f"the same jobs ({', '.join(sorted(failing))}) failed on the base commit {run.head_sha[:10]}"
            )
    return None


def decide(
    run: RunData,
    jobs: Sequence[JobData],
    logs: dict[int, str],
    base_runs: Iterable[tuple[RunData, Sequence[JobData]]],
    *,
    rerun_by_bot: bool,
) -> Decision:
    """What to do about a completed run. ``rerun_by_bot``: this run's current attempt is the rerun
    the bot asked for."""
    if run.conclusion == "success":
        if rerun_by_bot:
            return Decision(Triage.FLAKY, f"attempt {run.run_attempt - 1} failed and the rerun passed")
        raise ValueError("a successful run that the bot did not rerun needs no triage")
    reason = infrastructure(jobs, logs)
    if reason:
        return Decision(Triage.INFRASTRUCTURE, reason)
    reason = pre_existing(jobs, base_runs, run.path)
    if reason:
        return Decision(Triage.PRE_EXISTING, reason)
    if rerun_by_bot:
        return Decision(Triage.REGRESSION, "it failed again when rerun")
    if run.run_attempt > 1:
        return Decision(Triage.REGRESSION, f"attempt {run.run_attempt} failed (rerun by someone else)")
    return Decision(Triage.RERUN, "first failure: rerunning the failed jobs once to rule out flakiness")
