"""Spend that outlives a job: the ``milestone-bot-state`` branch of the repository.

In Actions every job starts in a fresh folder, so a job's own ledger forgets what earlier waves,
earlier runs and other issues spent today. The publish job therefore appends each model call of its
wave to ``spend.jsonl`` on the ``milestone-bot-state`` branch (one JSON object a line: when, which
run, which key, provider, tier, tokens, USD) and pushes it; the event job of the next wave or run
reads it back before it hands out budgets. A person audits it with
``git log -p origin/milestone-bot-state`` or on GitHub. Concurrent publishes retry on a rejected
push, so no line is lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bot.budget.guard import utc_midnight
from bot.budget.ledger import CallRecord
from bot.config import Budget
from bot.errors import WorkspaceError
from bot.models.base import Usage

STATE_BRANCH = "milestone-bot-state"
SPEND_FILE = "spend.jsonl"
PUSH_ATTEMPTS = 5


@dataclass(frozen=True)
class SpendLine:
    at: float
    key: str  # the milestone or issue the run works on
    run: str  # one `/bot run`, across all its waves
    job: str
    provider: str
    tier: str
    input_tokens: int
    output_tokens: int
    usd: Decimal
    budget: str = ""  # on a run's first line: the run's limit, so later waves know it

    def to_json(self) -> str:
        raw = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in self.__dict__.items()}
        return json.dumps(raw, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SpendLine:
        raw = json.loads(text)
        return cls(
            float(raw["at"]), str(raw["key"]), str(raw["run"]), str(raw.get("job", "")),
            str(raw.get("provider", "")), str(raw.get("tier", "")), int(raw.get("input_tokens", 0)),
            int(raw.get("output_tokens", 0)), Decimal(str(raw["usd"])), str(raw.get("budget", "")),
        )  # fmt: skip

    def as_call(self) -> CallRecord:
        """The line as a ledger call of an earlier job: it counts towards the day and the quotas."""
        return CallRecord(
            run_id=f"carried:{self.run}", item_id="", attempt=0, purpose="carried", tier=self.tier,
            provider=self.provider, model="", usage=Usage(self.input_tokens, self.output_tokens),
            cost=self.usd, latency_s=0.0, outcome="ok", ts=self.at,
        )  # fmt: skip


def lines_for(calls: Iterable[CallRecord], *, key: str, run: str, job: str) -> list[SpendLine]:
    return [
        SpendLine(c.ts, key, run, job, c.provider, c.tier, c.usage.input_tokens, c.usage.output_tokens,
                  c.cost)
        for c in calls
    ]  # fmt: skip


def parse(text: str) -> list[SpendLine]:
    return [SpendLine.from_json(line) for line in text.splitlines() if line.strip()]


def _git(
    repo: Path, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "core.hooksPath=/dev/null", *args], input=stdin, capture_output=True,
        text=True, check=False, env={**os.environ, **env} if env else None,
    )  # fmt: skip


def read(repo: Path, *, remote: str = "origin", env: Mapping[str, str] | None = None) -> list[SpendLine]:
    """The state branch's lines (none when the branch does not exist yet). ``env``: the remote's
    credentials for the fetch and the push only."""
    head = _fetch(repo, remote, env)
    if head is None:
        return []
    shown = _git(repo, "show", f"{head}:{SPEND_FILE}")
    return parse(shown.stdout) if shown.returncode == 0 else []


def _fetch(repo: Path, remote: str, env: Mapping[str, str] | None) -> str | None:
    ref = f"refs/milestone-bot/{STATE_BRANCH}"
    fetched = _git(repo, "fetch", "--quiet", remote, f"+refs/heads/{STATE_BRANCH}:{ref}", env=env)
    if fetched.returncode != 0:
        if "couldn't find remote ref" in fetched.stderr or "not found" in fetched.stderr.lower():
            return None
        raise WorkspaceError(f"cannot read {STATE_BRANCH} from {remote}: {fetched.stderr.strip()}")
    return _git(repo, "rev-parse", ref).stdout.strip()


def append(
    repo: Path, lines: Sequence[SpendLine], *, message: str, remote: str = "origin",
    env: Mapping[str, str] | None = None,
) -> None:  # fmt: skip
    """Append ``lines`` to the state branch and push; on a rejected push (another publish got there
    first) fetch and append again."""
    if not lines:
        return
    last = ""
    for _ in range(PUSH_ATTEMPTS):
        parent = _fetch(repo, remote, env)
        old = _git(repo, "show", f"{parent}:{SPEND_FILE}").stdout if parent else ""
        text = old + "".join(line.to_json() + "\n" for line in lines)
        commit = _commit(repo, text, parent, message)
        pushed = _git(repo, "push", "--quiet", remote, f"{commit}:refs/heads/{STATE_BRANCH}", env=env)
        if pushed.returncode == 0:
            return
        last = pushed.stderr.strip()
    raise WorkspaceError(f"cannot push {STATE_BRANCH} to {remote}: {last}")


def _commit(repo: Path, text: str, parent: str | None, message: str) -> str:
    # Plumbing on a private index: the checkout, its index and its branches are left alone.
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        blob = _git(repo, "hash-object", "-w", "--stdin", stdin=text).stdout.strip()
        subprocess.run(
            ["git", "-C", str(repo), "update-index", "--add", "--cacheinfo", f"100644,{blob},{SPEND_FILE}"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        tree = subprocess.run(
            ["git", "-C", str(repo), "write-tree"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
    args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
    made = _git(repo, *args)
    if made.returncode != 0:
        raise WorkspaceError(f"cannot commit {SPEND_FILE}: {made.stderr.strip()}")
    return made.stdout.strip()


def run_budget(lines: Sequence[SpendLine], run: str) -> Decimal | None:
    """The limit a run's first wave recorded for it, if any."""
    for line in lines:
        if line.run == run and line.budget:
            return Decimal(line.budget)
    return None


def remaining(
    lines: Sequence[SpendLine], *, run: str, run_limit: Decimal | None, budget: Budget, now: float
) -> Decimal | None:
    """What the run may still spend: its limit less what its earlier waves spent, and the day's
    limit less what every run spent today (UTC). None: no limit at all."""
    limits: list[Decimal] = []
    if run_limit is not None:
        limits.append(run_limit - sum((x.usd for x in lines if x.run == run), Decimal(0)))
    if budget.per_day_usd is not None:
        today = utc_midnight(now)
        limits.append(budget.per_day_usd - sum((x.usd for x in lines if x.at >= today), Decimal(0)))
    return max(Decimal(0), min(limits)) if limits else None
